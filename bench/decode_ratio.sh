#!/usr/bin/env bash
# Decode tokens/s of LlamaBackend divided by llama-bench's tg figure on the same generated
# GGUF (about 125 M parameters, q8_0, so decode is not dominated by overhead), same threads,
# one invocation. usage: bench/decode_ratio.sh [THREADS]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
ensure_packages
build_targets a4ps a4ps_bench_decode llama-bench
threads=${1:-$(nproc)}
model="$A4PS_BUILD_DIR/bench-models/decode-125m-q8_0.gguf"
if [[ ! -f "$model" ]]; then
  "$A4PS_BUILD_DIR/bin/a4ps" models mktest "$model" --seed 100 --layers 12 --embd 768 \
    --heads 12 --ff 2048 --ctx 2048 --type q8_0
fi
"$A4PS_BUILD_DIR/bin/a4ps_bench_decode" "$model" "$A4PS_BUILD_DIR/bin/llama-bench" \
  --threads "$threads" --tokens 128 --rounds 3
