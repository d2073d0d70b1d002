#!/usr/bin/env bash
# `a4ps serve` as a user runs it: it starts on a free port, answers /health and /openapi.json,
# turns bad requests into JSON errors, refuses a public address without a token, says why it
# cannot listen (a port in use, a privileged port), serves ::1 at http://[::1]:PORT, and stops
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

# A second image, for a second server while the first holds its own.
second="$work/image2"
A4PS_IMAGE="$second" "$a4ps" init >/dev/null
cp "$A4PS_IMAGE/config.toml" "$second/config.toml"
# A port below 1024 without CAP_NET_BIND_SERVICE is refused as such (exit 9), not as "in use".
# Run as root, the test drops the capability to be the user who meets this.
unprivileged=()
[[ $(id -u) == 0 ]] && unprivileged=(setpriv --inh-caps=-net_bind_service --bounding-set=-net_bind_service)
out=$(A4PS_IMAGE="$second" "${unprivileged[@]}" "$a4ps" serve --port 1 2>&1)
rc=$?
if [[ "$rc" != 9 ]] || ! grep -q "cannot listen on 127.0.0.1:1: permission denied (ports below 1024" <<<"$out"; then
  fail "serve --port 1 without the capability: exit $rc (expected 9), output: $out"
else
  echo "ok: serve --port 1 without the capability says permission denied"
fi

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
check runs_bad_status 400 'status=bogus: expected one of running' "$base/v1/runs?status=bogus"
check post_without_length 411 'has no Content-Length' -X POST "$base/invoke"
check empty_body 400 'does not match the schema' -X POST -H 'Content-Length: 0' "$base/invoke"
head -c 1100000 /dev/zero | tr '\0' a >"$work/big.json"
check too_large 413 "over this server's limit of 1048576 bytes" -H 'Content-Type: application/json' \
  --data-binary "@$work/big.json" "$base/invoke"
check favicon 200 '^<svg' "$base/favicon.ico"
check metrics_ui 200 'route="GET /favicon.ico",status="200"' "$base/metrics"
out=$(A4PS_IMAGE="$second" "$a4ps" serve --port "$port" 2>&1)
rc=$?
if [[ "$rc" != 4 ]] || ! grep -q "cannot listen on 127.0.0.1:$port: the port is in use" <<<"$out"; then
  fail "a second serve on port $port: exit $rc (expected 4), output: $out"
else
  echo "ok: a second serve on the same port says it is in use"
fi
kill -TERM $pid
wait $pid
rc=$?
[[ "$rc" == 0 ]] || fail "serve exited $rc after SIGTERM"
grep -q "stopping; runs in flight stay resumable" "$work/serve.log" || fail "no stop message"

# IPv6 loopback: served, and its address printed as a URL can be (in brackets).
"$a4ps" serve --host ::1 --port 0 2>"$work/serve6.log" &
pid=$!
port6=""
for _ in $(seq 1 600); do
  port6=$(grep -Eo 'http://\[::1\]:[0-9]+' "$work/serve6.log" | grep -Eo '[0-9]+$')
  [[ -n "$port6" ]] && break
  kill -0 $pid 2>/dev/null || break
  sleep 0.1
done
if [[ -z "$port6" ]]; then
  fail "serve --host ::1 printed no http://[::1]:PORT: $(cat "$work/serve6.log")"
else
  check health_ipv6 200 '"status":"ok"' -g "http://[::1]:$port6/health"
fi
kill -TERM $pid
wait $pid
finish
