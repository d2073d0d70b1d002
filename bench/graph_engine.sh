#!/usr/bin/env bash
# Graph engine benchmarks: per-run overhead of a 3-node chain and a 5-way fan-out + join with
# checkpointing on (in memory, on disk with durability "normal", and "sync": fsync per step),
# against the node functions called directly; and bytes for a 500-turn dialogue.
# usage: bench/graph_engine.sh [RUNS]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
ensure_packages
build_targets a4ps_bench_graph
dir="$A4PS_BUILD_DIR/bench-graph"
mkdir -p "$dir"
"$A4PS_BUILD_DIR/bin/a4ps_bench_graph" "$dir" "${1:-2000}"
