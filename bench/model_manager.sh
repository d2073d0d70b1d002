#!/usr/bin/env bash
# ModelManager benchmarks (figures are ratios within one run): fit vs sequential over ten
# Socratic cycles on four generated ~300 MB models, and time to first token with vs without the
# persona prefix cache for a ~1,000-token codex prompt, and OpenAIBackend streaming overhead
# against a bare HTTP client on one llama-server. usage: bench/model_manager.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
ensure_packages
build_targets a4ps a4ps_bench_models
dir="$A4PS_BUILD_DIR/bench-models"
models=()
for seed in 201 202 203 204; do
  model="$dir/persona-$seed-f16.gguf"
  [[ -f "$model" ]] || "$A4PS_BUILD_DIR/bin/a4ps" models mktest "$model" --seed "$seed" \
    --layers 12 --embd 1024 --heads 16 --ff 2816 --ctx 2048 --type f16
  models+=("$model")
done
"$A4PS_BUILD_DIR/bin/a4ps_bench_models" prefix "${models[0]}"
"$A4PS_BUILD_DIR/bin/a4ps_bench_models" budget "${models[@]}"
build_targets a4ps_bench_openai
"$A4PS_BUILD_DIR/bin/a4ps_bench_openai" "${models[0]}" 5
