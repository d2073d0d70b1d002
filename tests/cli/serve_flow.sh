#!/usr/bin/env bash
# `a4ps serve` as a user runs it: it starts on a free port, answers /health and /openapi.json,
# turns bad requests into JSON errors, refuses a public address without a token, and stops
# cleanly on SIGTERM. (The runs themselves are tested in tests/server/ with a scripted graph.)
# usage: serve_flow.sh A4PS_BIN WORK_DIR
set -u
a4ps=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
export A4PS_IMAGE="$work/image"
failures=0
source "$(dirname "$0")/lib.sh"
"$a4ps" init >/dev/null
printf '[memory]\nembedder = "lexical"\n' >"$A4PS_IMAGE/config.toml"

step 7 "refusing to serve on 0.0.0.0 without a token" serve --host 0.0.0.0 --port 0

serve_in_background "$work/serve.log"
pid=$SERVE_PID
port=$SERVE_PORT
[[ -n "$port" ]] || fail "serve printed no address: $(cat "$work/serve.log")"
base="http://127.0.0.1:$port"
check() {  # check NAME EXPECTED_STATUS REGEX CURL_ARGS...
  local name=$1 status=$2 regex=$3 out code
  shift 3
  out=$(curl -s -w '\n%{http_code}' "$@")
  code=${out##*$'\n'}
  if [[ "$code" != "$status" ]] || ! grep -Eq -- "$regex" <<<"${out%$'\n'*}"; then
    fail "$name: HTTP $code (expected $status), body: ${out%$'\n'*}"
  else
    echo "ok: $name"
  fi
}
check health 200 '"status":"ok".*' "$base/health"
check health_degraded 200 '"degraded":\[' "$base/health"
check openapi 200 '"openapi":"3.1.0"' "$base/openapi.json"
check malformed 400 '"code":"invalid_argument"' -H 'Content-Type: application/json' \
  -d '{"task": ' "$base/invoke"
check unknown_field 400 'does not match the schema' -H 'Content-Type: application/json' \
  -d '{"task": "x", "colour": "red"}' "$base/v1/runs"
check unknown_run 404 '"code":"not_found"' "$base/v1/runs/r-000000000000"
check no_route 404 'no such endpoint' "$base/nowhere"
check runs 200 '"runs":\[\]' "$base/v1/runs"
kill -TERM $pid
wait $pid
rc=$?
[[ "$rc" == 0 ]] || fail "serve exited $rc after SIGTERM"
grep -q "stopping; runs in flight stay resumable" "$work/serve.log" || fail "no stop message"
finish
