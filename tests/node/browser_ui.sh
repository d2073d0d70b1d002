#!/usr/bin/env bash
# Serves a copy of the demo image (made by scripts/demo.sh: generated models, real llama.cpp)
# with a4ps serve and runs the browser test against it in headless chromium. The copy's models
# are links in WORK_DIR/models, so that the test can take ALFRED's away for a run that fails;
# its dissonance threshold is 0, so that the demo task's run leaves a synthesis goal.
# Leaves a screenshot of each state the test checks in WORK_DIR/screens.
# usage: browser_ui.sh A4PS_BIN WORK_DIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
a4ps=$1
work=$2
for need in "$here/node_modules/playwright-core" "$root/demo/image/config.toml"; do
  [[ -e "$need" ]] || { echo "missing $need: run scripts/test.sh (it makes both)" >&2; exit 1; }
done
command -v chromium >/dev/null || { echo "chromium is not installed (apt-get install chromium)" >&2; exit 1; }
rm -rf "$work" && mkdir -p "$work/models"
cp -r "$root/demo/image" "$work/image"
rm -f "$work/image/lock"
for model in "$root"/demo/models/*.gguf; do
  ln -s "$model" "$work/models/$(basename "$model")"
done
sed -i "s|$root/demo/models/|$work/models/|" "$work/image/config.toml"
grep -q "alfred = \"$work/models/alfred.gguf\"" "$work/image/config.toml" ||
  { echo "the demo image's config names no $root/demo/models/alfred.gguf" >&2; exit 1; }
# Dissonance threshold 0: the demo task's run always leaves a synthesis goal, whose reason the
# Goals panel must say. The living loop stays as the demo image has it (off): no goal runs.
config="$work/image/config.toml"
if grep -q '^\[motivator\]' "$config"; then
  sed -i '/^dissonance_threshold *=/d; /^\[motivator\]/a dissonance_threshold = 0.0' "$config"
else
  printf '\n[motivator]\ndissonance_threshold = 0.0\n' >>"$config"
fi
# The strategic loop for the Adapters panel: the demo adopted ROBIN's first adapter; here a
# harmful one (a learning rate that wrecks the model) is trained and rejected by the gate, and
# one from an external trainer (a copy of the adopted file) stays a candidate, undecided.
# Each config is the copy's own with [evolve] changed, for one command.
evolve_config() {  # evolve_config FILE KEY=VALUE...: the copy's config.toml with those keys
  sed "/^\[evolve\]/,/^\[/{/^learning_rate *=/d; /^epochs *=/d; /^trainer_command *=/d}" \
    "$config" >"$1"
  grep -q '^\[evolve\]' "$1" || printf '\n[evolve]\n' >>"$1"
  local line
  for line in "${@:2}"; do sed -i "/^\[evolve\]/a $line" "$1"; done
}
evolve() { "$a4ps" --image "$work/image" "$@" >>"$work/evolve.log" 2>&1 ||
  { echo "a4ps $*: failed" >&2; cat "$work/evolve.log" >&2; exit 1; }; }
robin_json() { "$a4ps" --image "$work/image" evolve status robin --json 2>/dev/null; }
adopted=$(robin_json | node -e 'const s = JSON.parse(require("fs").readFileSync(0));
  process.stdout.write(String(s.adopted ?? ""))')
[[ -n "$adopted" ]] ||
  { echo "the demo image's ROBIN has no adopted adapter: run scripts/demo.sh" >&2; exit 1; }
evolve_config "$work/harmful.toml" "learning_rate = 0.05" "epochs = 1"
evolve --config "$work/harmful.toml" evolve train robin
harmful=$(robin_json | node -e 'process.stdout.write(String(
  JSON.parse(require("fs").readFileSync(0)).adapters[0].version))')
evolve --config "$work/harmful.toml" evolve adopt robin "$harmful"
evolve_config "$work/external.toml" \
  "trainer_command = 'cp \"$work/image/adapters/robin/v$adopted/adapter.gguf\" \"\$A4PS_ADAPTER_OUT\"'"
evolve --config "$work/external.toml" evolve train robin
"$a4ps" --image "$work/image" evolve status robin >>"$work/evolve.log" 2>&1

"$a4ps" --image "$work/image" serve --port 0 2>"$work/serve.log" &
pid=$!
# Whatever happens, the server goes (its own SIGTERM handling is cli.serve_flow's to test).
stop_server() {
  kill "$pid" 2>/dev/null || true
  local rc=0
  wait "$pid" 2>/dev/null || rc=$?
  echo "a4ps serve exited $rc after SIGTERM" >&2
}
trap stop_server EXIT
port=""
for _ in $(seq 1 600); do
  port=$(grep -Eo 'http://127.0.0.1:[0-9]+' "$work/serve.log" | grep -Eo '[0-9]+$' || true)
  [[ -n "$port" ]] && break
  kill -0 $pid 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$port" ]] || { echo "a4ps serve printed no address" >&2; cat "$work/serve.log" >&2; exit 1; }
status=0
node "$here/browser_ui.mjs" "http://127.0.0.1:$port" "$work/screens" \
  "$root/data/demo/seeding-task.md" "$work/models/alfred.gguf" || status=$?
exit $status
