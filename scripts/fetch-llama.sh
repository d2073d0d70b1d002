#!/usr/bin/env bash
# Fetches llama.cpp's source from the pinned npm package node-llama-cpp (its
# llama/gitRelease.bundle), verifies the package integrity and the bundle's commit, and
# clones it into third_party/llama.cpp. Does nothing when that clone is already the pinned
# commit, so running it again costs nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=/dev/null
source <(grep -E '^[A-Z_]+=' "$root/third_party/llama.pin")

dest="$root/third_party/llama.cpp"
stamp="$dest/.a4ps-pinned-commit"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$LLAMA_CPP_COMMIT" ]]; then
  exit 0
fi

cache="$root/third_party/.cache"
mkdir -p "$cache"
tarball="$cache/node-llama-cpp-$NODE_LLAMA_CPP_VERSION.tgz"
if [[ ! -f "$tarball" ]]; then
  echo "fetch-llama: downloading node-llama-cpp@$NODE_LLAMA_CPP_VERSION from npm" >&2
  (cd "$cache" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null)
fi

actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [[ "$actual" != "$NODE_LLAMA_CPP_INTEGRITY" ]]; then
  rm -f "$tarball"
  echo "fetch-llama: $tarball: integrity $actual does not match the pinned" \
    "$NODE_LLAMA_CPP_INTEGRITY; the file was removed, run again to re-download" >&2
  exit 1
fi

work=$(mktemp -d "$cache/unpack.XXXXXX")
trap 'rm -rf "$work"' EXIT
tar -xzf "$tarball" -C "$work" package/llama/gitRelease.bundle
bundle="$work/package/llama/gitRelease.bundle"
head=$(git bundle list-heads "$bundle" | awk '$2 == "HEAD" {print $1}')
if [[ "$head" != "$LLAMA_CPP_COMMIT" ]]; then
  echo "fetch-llama: the bundle's HEAD is $head, expected the pinned $LLAMA_CPP_COMMIT" >&2
  exit 1
fi

echo "fetch-llama: cloning llama.cpp $LLAMA_CPP_COMMIT into third_party/llama.cpp" >&2
git -c advice.detachedHead=false clone --quiet "$bundle" "$work/llama.cpp"
[[ "$(git -C "$work/llama.cpp" rev-parse HEAD)" == "$LLAMA_CPP_COMMIT" ]]
echo "$LLAMA_CPP_COMMIT" >"$work/llama.cpp/.a4ps-pinned-commit"
rm -rf "$dest"
mv "$work/llama.cpp" "$dest"
