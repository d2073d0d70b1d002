#!/usr/bin/env bash
# HTTP throughput of a4ps serve's API with wrk (Debian), against a bare cpp-httplib server with
# the same thread pool answering the same constant, measured in the same invocation; then the
# SSE fan-out (a4ps_bench_sse). Both servers are the test fixture's (no model weights needed).
# usage: bench/http_server.sh [SECONDS] [CONNECTIONS]
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
A4PS_APT_PACKAGES+=(wrk)
ensure_packages
build_targets a4ps_test_api_server a4ps_bench_sse
seconds=${1:-10}
connections=${2:-64}
server="$A4PS_BUILD_DIR/tests/a4ps_test_api_server"

# bench_url NAME SERVER_ARGS PATH: starts a server, runs wrk on PATH, prints req/s and p99.
bench_url() {
  local name=$1 args=$2 path=$3 port out
  coproc SERVER { "$server" $args; }
  read -r -t 30 _ port <&"${SERVER[0]}"
  out=$(wrk -t 2 -c "$connections" -d "${seconds}s" --latency "http://127.0.0.1:$port$path")
  exec {SERVER[1]}>&-
  wait "$SERVER_PID" || true
  printf '  %-28s %10s req/s   p99 %s\n' "$name" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")"
  awk '/Requests\/sec/ {print $2}' <<<"$out" >"$A4PS_BUILD_DIR/bench-$name.rps"
}

say "wrk: 2 threads, $connections connections, ${seconds} s each"
bench_url bare-httplib-health --bare /health
bench_url a4ps-health "" /health
bench_url a4ps-runs-list "" /v1/runs
ref=$(cat "$A4PS_BUILD_DIR/bench-bare-httplib-health.rps")
ours=$(cat "$A4PS_BUILD_DIR/bench-a4ps-health.rps")
awk -v a="$ours" -v b="$ref" 'BEGIN { printf "  /health ratio (a4ps / bare cpp-httplib): %.2f\n", a / b }'
"$A4PS_BUILD_DIR/bin/a4ps_bench_sse" 100
