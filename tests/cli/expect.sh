#!/usr/bin/env bash
# A declarative CLI check: runs COMMAND and passes when it exits with EXIT_CODE (never by a
# signal: no abort, no crash) and its output (stdout and stderr) matches the extended regex.
# usage: expect.sh EXIT_CODE REGEX -- COMMAND [ARGS...]
expected=$1
regex=$2
shift 3
output=$("$@" 2>&1)
rc=$?
printf '%s\n' "$output" | tail -n 20
if ((rc >= 128)); then
  echo "FAIL: killed by signal $((rc - 128)) (an abort or crash)" >&2
  exit 1
fi
if [[ "$rc" != "$expected" ]]; then
  echo "FAIL: exit code $rc, expected $expected" >&2
  exit 1
fi
if ! grep -Eq -- "$regex" <<<"$output"; then
  echo "FAIL: output does not match: $regex" >&2
  exit 1
fi
