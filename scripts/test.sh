#!/usr/bin/env bash
# The README's test command: installs what is missing, builds what the tests need (the normal
# and the ASan+UBSan variants, and llama-server as the HTTP backends' peer) and runs the whole
# suite through ctest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
A4PS_APT_PACKAGES+=(chromium)  # the browser UI's end-to-end test drives it
ensure_packages
ensure_node_test_deps
ensure_web_deps
build_targets a4ps_test_deps
say "running the tests"
cd "$A4PS_BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" "$@"
