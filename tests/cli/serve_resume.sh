#!/usr/bin/env bash
# SIGTERM to a4ps serve while a run is in flight on real (generated) models: the server exits
# 0, the run is stored cancelled at a step boundary, and a4ps resume finishes it.
# usage: serve_resume.sh A4PS_BIN WORK_DIR   (needs the demo image: the demo_image fixture)
set -u
a4ps=$1
work=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
failures=0
source "$(dirname "$0")/lib.sh"
rm -rf "$work" && mkdir -p "$work"
cp -r "$root/demo/image" "$work/image" && rm -f "$work/image/lock"
export A4PS_IMAGE="$work/image"
serve_in_background "$work/serve.log"
pid=$SERVE_PID
port=$SERVE_PORT
[[ -n "$port" ]] || { fail "serve printed no address: $(cat "$work/serve.log")"; finish; }
run=$(curl -s -H 'Content-Type: application/json' \
  -d '{"task": "Plan a welcome day for the Atlas", "background": true}' \
  "http://127.0.0.1:$port/v1/runs" | grep -Eo 'r-[0-9a-f]{12}')
[[ -n "$run" ]] || fail "no run started"
# Wait for the run's second step, then stop the server under it.
for _ in $(seq 1 600); do
  steps=$(curl -s "http://127.0.0.1:$port/v1/runs/$run" | grep -Eo '"steps":[0-9]+' | grep -Eo '[0-9]+$')
  [[ "${steps:-0}" -ge 2 ]] && break
  sleep 0.05
done
kill -TERM $pid
wait $pid
rc=$?
[[ "$rc" == 0 ]] || fail "serve exited $rc after SIGTERM"
step 0 '"status": "cancelled"' runs show "$run" --json
thread=$("$a4ps" runs show "$run" --json 2>/dev/null | grep -Eo '"thread": "[^"]+"' | head -1 |
  grep -Eo 't-[0-9a-f]+')
step 0 "══ Answer" resume "$thread"
step 0 '"status": "done"' runs show "$run" --json
finish
