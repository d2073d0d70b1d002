#!/usr/bin/env bash
# The idle cost of `a4ps live` (issue 14): the loop on, nothing queued. CPU seconds the process
# uses per hour, from the difference between a short and a long run (so start-up and shutdown
# cancel out), beside `sleep` measured the same way in the same invocation.
# usage: bench/live_idle.sh A4PS_BIN [SHORT_S] [LONG_S]   (defaults 10 and 70)
set -euo pipefail
a4ps=$1
short=${2:-10}
long=${3:-70}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export A4PS_IMAGE="$work/image"
"$a4ps" init >/dev/null
printf '[motivator]\nautonomous = true\nidle_seconds = 1\n' >"$A4PS_IMAGE/config.toml"

# cpu_seconds SECONDS CMD...: user+system CPU seconds (microsecond resolution, from the
# child's rusage) of CMD stopped by SIGTERM after SECONDS.
cpu_seconds() {
  python3 - "$@" <<'PY'
import resource, signal, subprocess, sys, time
seconds, cmd = float(sys.argv[1]), sys.argv[2:]
child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(seconds)
child.send_signal(signal.SIGTERM)
child.wait()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(f"{usage.ru_utime + usage.ru_stime:.6f}")
PY
}
per_hour() {  # per_hour CPU_SHORT CPU_LONG
  awk -v a="$1" -v b="$2" -v s="$short" -v l="$long" 'BEGIN { printf "%.4f", (b - a) / (l - s) * 3600 }'
}
live_short=$(cpu_seconds "$short" "$a4ps" live)
live_long=$(cpu_seconds "$long" "$a4ps" live)
sleep_short=$(cpu_seconds "$short" sleep 100000)
sleep_long=$(cpu_seconds "$long" sleep 100000)
echo "a4ps live, idle: ${live_short} s CPU in ${short} s, ${live_long} s in ${long} s: $(per_hour "$live_short" "$live_long") CPU s per hour"
echo "sleep (reference): ${sleep_short} s CPU in ${short} s, ${sleep_long} s in ${long} s: $(per_hour "$sleep_short" "$sleep_long") CPU s per hour"
echo "(the goal is under 1 CPU s per hour: no busy polling)"
