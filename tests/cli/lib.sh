# Shared by the CLI flow scripts (sourced): `a4ps`, `work` and `failures` are the caller's.

# fail MESSAGE: counts a failed check.
fail() {
  printf 'FAIL: %s\n' "$*" >&2
  failures=$((failures + 1))
}

# step EXIT_CODE REGEX ARGS...: runs a4ps ARGS, checks its exit code and output.
step() {
  local expected=$1 regex=$2
  shift 2
  local output rc
  output=$("$a4ps" "$@" 2>&1)
  rc=$?
  if ((rc >= 128)) || [[ "$rc" != "$expected" ]] || ! grep -Eq -- "$regex" <<<"$output"; then
    printf 'FAIL: a4ps %s\n  exit %s (expected %s), output:\n%s\n  expected to match: %s\n' \
      "$*" "$rc" "$expected" "$output" "$regex" >&2
    failures=$((failures + 1))
  else
    printf 'ok: a4ps %s\n' "$*"
  fi
  LAST_OUTPUT=$output
}

# signal_run_when SIGNAL PID THREAD PATTERN: sends SIGNAL to PID as soon as an event of the
# thread's newest run matches PATTERN (as `a4ps runs show RUN --events` prints it), waits for
# PID and sets SIGNALLED_RC to its exit status; fails if the run ends first.
signal_run_when() {
  local signal=$1 pid=$2 thread=$3 pattern=$4 run seen=""
  for _ in $(seq 1 600); do
    run=$("$a4ps" runs list --thread "$thread" --json 2>/dev/null | grep -Eo 'r-[0-9a-f]{12}' | head -1)
    if [[ -n "$run" ]] && "$a4ps" runs show "$run" --events 2>/dev/null | grep -q -- "$pattern"; then
      seen=yes
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill "-$signal" "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  SIGNALLED_RC=$?
  [[ -n "$seen" ]] || fail "thread $thread ended before an event matched: $pattern"
}

# kill_run_when PID THREAD PATTERN: SIGKILLs PID as signal_run_when says.
kill_run_when() {
  signal_run_when KILL "$@"
}

# finish: the script's exit status from the failures counted.
finish() {
  if ((failures > 0)); then
    echo "$failures check(s) failed" >&2
    exit 1
  fi
  echo "all checks passed"
}

# serve_in_background LOG [ARGS...]: starts `a4ps serve --port 0 ARGS` with stderr in LOG and
# sets SERVE_PID and SERVE_PORT once it has printed its address (SERVE_PORT empty if it never
# did; the log then says why).
serve_in_background() {
  local log=$1
  shift
  "$a4ps" serve --port 0 "$@" 2>"$log" &
  SERVE_PID=$!
  SERVE_PORT=""
  for _ in $(seq 1 600); do
    SERVE_PORT=$(grep -Eo 'http://127.0.0.1:[0-9]+' "$log" | grep -Eo '[0-9]+$')
    [[ -n "$SERVE_PORT" ]] && return
    kill -0 "$SERVE_PID" 2>/dev/null || return
    sleep 0.1
  done
}
