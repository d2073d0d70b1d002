#!/usr/bin/env bash
# a4ps sandbox check and run as a user runs them, with both runtimes (CI installs both).
# usage: sandbox_flow.sh A4PS_BIN WORK_DIR
set -u
a4ps=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
failures=0
source "$(dirname "$0")/lib.sh"
step 0 "^runsc: works" sandbox check
step 0 "^bwrap: works" sandbox check
step 0 '"auto": "runsc"' sandbox check --json
printf 'import json, sys\nprint(json.dumps({"sum": sum(json.load(sys.stdin))}))\n' >"$work/tool.py"
printf '[1, 2, 3]' >"$work/args.json"
for runtime in runsc bwrap; do
  step 0 '\{"sum": 6\}' sandbox run --runtime $runtime --file "$work/tool.py" \
    --stdin "$work/args.json" -- /usr/bin/python3 /work/tool.py
  step 0 "sandbox: exited 0 after [0-9]+ ms in $runtime" sandbox run --runtime $runtime \
    --file "$work/tool.py:renamed.py" --stdin "$work/args.json" -- /usr/bin/python3 /work/renamed.py
  step 3 "exited 3" sandbox run --runtime $runtime -- /usr/bin/python3 -c 'import sys; sys.exit(3)'
  step 124 "wall_timeout after [0-9]+ ms in $runtime" sandbox run --runtime $runtime --wall-ms 1000 \
    -- /usr/bin/python3 -c 'import time; time.sleep(30)'
  step 125 '"stop": "output_limit"' sandbox run --runtime $runtime --json --max-output-bytes 100 \
    -- /usr/bin/python3 -c 'print("x" * 100000)'
  step 1 "refused" sandbox run --runtime $runtime -- /usr/bin/python3 -c \
    'import socket
try: socket.create_connection(("1.1.1.1", 80), timeout=1)
except OSError: print("refused"); raise SystemExit(1)'
done
# Not valid UTF-8 (runsc's bundle is JSON): refused up front, not an internal error.
step 2 "argument 2 is not valid UTF-8" sandbox run --json -- /usr/bin/python3 -c $'print(1)#\xff'
# Run directories lie in a private parent (0700, ours), and no run's is left there.
parent="${TMPDIR:-/tmp}/a4ps-sandbox-$(id -u)"
if [[ "$(stat -c '%a %u %F' "$parent")" != "700 $(id -u) directory" ]]; then
  printf 'FAIL: %s is %s, expected a directory of uid %s with mode 700\n' "$parent" \
    "$(stat -c '%a %u %F' "$parent")" "$(id -u)" >&2
  failures=$((failures + 1))
fi
step 2 "--runtime: foo not in" sandbox run --runtime foo -- /usr/bin/true
step 2 "command is required" sandbox run --runtime bwrap
step 3 "no such file" sandbox run --file "$work/missing.py" -- /usr/bin/true
finish
