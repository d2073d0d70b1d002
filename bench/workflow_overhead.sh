#!/usr/bin/env bash
# The persona workflow's share of wall time outside model evaluation, for one demo cycle on the
# demo's generated models (scripts/demo.sh makes them). usage: bench/workflow_overhead.sh
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
ensure_packages
build_targets a4ps a4ps_bench_workflow
a4ps="$A4PS_BUILD_DIR/bin/a4ps"
models="$A4PS_BUILD_DIR/bench-models/workflow"
mkdir -p "$models"
seed=11
for persona in alfred babs brick robin; do
  [[ -f "$models/$persona.gguf" ]] || "$a4ps" models mktest "$models/$persona.gguf" --seed $seed \
    --layers 4 --embd 256 --heads 8 --ff 768 --type f16 >/dev/null
  seed=$((seed + 1))
done
[[ -f "$models/embedding.gguf" ]] || "$a4ps" models mktest "$models/embedding.gguf" --seed 15 \
  --layers 4 --embd 256 --heads 8 --ff 768 --type f16 --embedding >/dev/null
"$A4PS_BUILD_DIR/bin/a4ps_bench_workflow" "$A4PS_BUILD_DIR/bench-graph" "$models/alfred.gguf" \
  "$models/babs.gguf" "$models/brick.gguf" "$models/robin.gguf" "$models/embedding.gguf"
