#!/usr/bin/env bash
# The living loop end to end on generated tiny models through the real llama.cpp (issue 14):
# `a4ps run` the seeding task with the dissonance threshold at 0 -> a synthesis goal is queued;
# `a4ps live` runs it once the image is idle -> the goal is done, linked to its run, and its
# answer is an insight memory. Goals are steered while live holds the image; bad input is
# refused; live stops cleanly on SIGTERM; with the loop off, live says why.
# usage: live_flow.sh A4PS_BIN WORK_DIR
set -u
a4ps=$1
work=$2
rm -rf "$work" && mkdir -p "$work/models"
export A4PS_IMAGE="$work/image"
failures=0
source "$(dirname "$0")/lib.sh"

seed=51
for persona in alfred babs brick robin; do
  "$a4ps" models mktest "$work/models/$persona.gguf" --seed $seed --layers 2 --embd 128 \
    --heads 4 --ff 256 --type f16 >/dev/null || fail "mktest $persona"
  seed=$((seed + 1))
done
"$a4ps" init >/dev/null || fail "init"
write_config() {  # write_config AUTONOMOUS [GOAL_BUDGET_TOKENS]
  cat >"$A4PS_IMAGE/config.toml" <<TOML
[models]
alfred = "$work/models/alfred.gguf"
babs = "$work/models/babs.gguf"
brick = "$work/models/brick.gguf"
robin = "$work/models/robin.gguf"
[inference]
context_size = 2048
[socratic]
breadth = 2
beam = 1
max_depth = 1
max_turns = 1
[motivator]
dissonance_threshold = 0.0
autonomous = $1
idle_seconds = 1
max_chain_depth = 0
curiosity_interval_seconds = 86400
goal_budget_tokens = ${2:-100000}
TOML
}
write_config false
sed -i 's/^max_tokens = .*/max_tokens = 24/' "$A4PS_IMAGE/codex/persona_codex.toml"

# The loop off: live refuses and says how to turn it on.
step 7 'autonomous loop is off: \[motivator\] autonomous = false' live

# The seeding task: its dissonance (any score is over 0) becomes a synthesis goal at once.
"$a4ps" run "Design the core user onboarding protocol for the Community Resource Atlas." \
  --thread seed >/dev/null 2>&1 || fail "the seeding run"
step 0 'synthesis +queued' goals list
# goal_id KIND: the id of the newest goal of that kind.
goal_id() {
  "$a4ps" goals list --json | python3 -c 'import json, sys
print(next((g["id"] for g in json.load(sys.stdin) if g["kind"] == sys.argv[1]), ""))' "$1"
}
s1=$(goal_id synthesis)
[[ -n "$s1" ]] || fail "no synthesis goal after the seeding run"
json=$("$a4ps" goals show "$s1" --json)
grep -q '"cause_topic":"COGNITIVE_DISSONANCE"' <<<"$json" || fail "the goal's cause: $json"
step 0 'why: COGNITIVE_DISSONANCE' goals show "$s1"

# Bad input.
step 3 'goal 99: no such goal' goals show 99
step 2 'goal status "bogus": must be one of' goals list --status bogus
step 2 'prompt is empty' goals add "   "
step 2 'priority' goals add "x" --priority 101
# A library's hint names this invocation's image, so it works when pasted.
step 3 "no such thread \(see: a4ps --image $A4PS_IMAGE threads list\)" threads show nope
step 0 'goal [0-9]+ queued' goals add "A goal of my own" --priority 10
mine=$(goal_id user)
step 0 "goal $mine cancelled" goals cancel "$mine"
step 7 "goal $mine is cancelled: only a queued or running goal can be paused" goals pause "$mine"

# live_until_finished GOAL LOG [ARGS...]: runs `a4ps live ARGS` until GOAL is done or failed
# (or live ends by itself; at most 10 minutes), then stops it with SIGTERM.
live_until_finished() {
  local goal=$1 log=$2
  shift 2
  "$a4ps" live "$@" >"$log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 2400); do
    "$a4ps" goals show "$goal" --json 2>/dev/null | grep -Eq '"status":"(done|failed)"' && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.25
  done
  kill -TERM $pid 2>/dev/null
  wait $pid
}

# live runs the synthesis goal once idle; the goal list is read while live holds the image.
write_config true
"$a4ps" live >"$work/live.log" 2>&1 &
live=$!
done_seen=""
for _ in $(seq 1 1200); do
  if "$a4ps" goals list --status done --json 2>/dev/null | grep -q "\"id\":$s1,"; then
    done_seen=yes
    break
  fi
  kill -0 $live 2>/dev/null || break
  sleep 0.25
done
[[ -n "$done_seen" ]] || fail "live did not finish goal $s1: $(tail -20 "$work/live.log")"
step 7 'the image is in use by process' run "x"  # one process owns the image
kill -TERM $live
wait $live
rc=$?
[[ $rc == 0 ]] || fail "live exited $rc on SIGTERM: $(tail -5 "$work/live.log")"
grep -q "stopping" "$work/live.log" || fail "live did not say it stops"
show=$("$a4ps" goals show "$s1" --json)
grep -Eq '"run":"r-[0-9a-f]+"' <<<"$show" || fail "goal $s1 is not linked to its run: $show"
grep -Eq "\"thread\":\"goal-$s1-1\"" <<<"$show" || fail "goal $s1 did not run on a thread of its own: $show"
step 0 "goal-$s1-1" threads list
# The synthesis's answer is remembered as an insight (what BABS cites on later runs).
word=$(python3 -c 'import json, re, sys
words = re.findall(r"[A-Za-z]{3,}", json.load(sys.stdin)["result"])
print(words[0] if words else "")' <<<"$show")
if [[ -n "$word" ]]; then
  step 0 "insights/goal-$s1 insight" memory search "$word" --namespace "insights/goal-$s1"
else
  echo "note: goal $s1's answer has no word to search its insight by: $show"
fi
grep -q "goal $s1 done" "$work/live.log" || fail "live did not log the goal's end: $(tail -5 "$work/live.log")"
# The goal's own run had a dissonance too: one chain deeper than max_chain_depth 0, expired.
step 0 'expired' goals list --status expired

# kill -9 in the middle of a goal's run, then live again: the goal's run resumes from its
# checkpoint (the same run, one attempt), and the goal is not duplicated.
sed -i 's/^max_tokens = .*/max_tokens = 200/' "$A4PS_IMAGE/codex/persona_codex.toml"
g=$("$a4ps" goals add "Plan a welcome day for new volunteers" --priority 90 --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
"$a4ps" live --record "$work/calls.jsonl" >"$work/live2.log" 2>&1 &
kill_run_when $! "goal-$g-1" 'node_finished'
run=$("$a4ps" runs list --thread "goal-$g-1" --json 2>/dev/null | grep -Eo 'r-[0-9a-f]{12}' | head -1)
[[ -n "$run" ]] || fail "goal $g did not start its run: $(tail -5 "$work/live2.log")"
step 0 'image' image unlock
live_until_finished "$g" "$work/live3.log" --record "$work/calls.jsonl"
show=$("$a4ps" goals show "$g" --json)
grep -q '"status":"done"' <<<"$show" || fail "goal $g did not finish after the restart: $show $(tail -5 "$work/live3.log")"
grep -q "\"run\":\"$run\"" <<<"$show" || fail "goal $g's run is not the one resumed ($run): $show"
grep -q '"attempts":1,' <<<"$show" || fail "goal $g was attempted more than once: $show"
grep -q "resumes on thread goal-$g-1" "$work/live3.log" || fail "live did not resume goal $g's run: $(cat "$work/live3.log")"
[[ $("$a4ps" goals list --json | grep -o '"prompt":"Plan a welcome day for new volunteers"' | wc -l) == 1 ]] ||
  fail "goal $g was duplicated"
# No model call the journal holds was asked again after the restart: the two processes together
# asked the models exactly as many times as the goal's thread journaled (a call the kill cut
# short was neither recorded nor journaled).
asked=$(grep -c '"kind":"chat"' "$work/calls.jsonl")
journaled=$(python3 -c 'import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(db.execute("SELECT COUNT(*) FROM journal WHERE thread_id = ? AND kind = ?", (sys.argv[2], "model")).fetchone()[0])' \
  "$A4PS_IMAGE/state.db" "goal-$g-1")
[[ "$asked" == "$journaled" && "$asked" -gt 0 ]] ||
  fail "goal $g's model calls: $asked asked, $journaled journaled (a journaled call was repeated)"

# A goal whose run's model calls pass its token budget stops at the end of that step and fails,
# saying what it used; its run stays resumable.
write_config true 50
b=$("$a4ps" goals add "Summarise the atlas in one line" --priority 90 --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
live_until_finished "$b" "$work/live4.log"
show=$("$a4ps" goals show "$b" --json)
grep -Eq '"result":"stopped when its model calls had used [0-9]+ tokens, over its budget of 50' <<<"$show" ||
  fail "goal $b was not held to its budget: $show"
write_config true

# a4ps serve runs the loop too, and a user's run that arrives while a goal runs stops the
# goal's run at its next step; the goal is queued again and its run resumed (the same run, one
# attempt) once the image is idle.
id=$("$a4ps" goals add "Write a short welcome note for volunteers" --priority 95 --json |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
serve_in_background "$work/serve.log"
base="http://127.0.0.1:$SERVE_PORT"
# The goals' changes as Server-Sent Events, followed from the start.
curl -sN "$base/v1/goals/events" >"$work/goals.sse" 2>/dev/null &
sse=$!
running=""
for _ in $(seq 1 1200); do
  curl -s "$base/v1/goals/$id" | grep -q '"status":"running"' && running=yes && break
  sleep 0.05
done
[[ -n "$running" ]] || fail "serve did not start goal $id: $(tail -5 "$work/serve.log")"
# Looking at the goals does not wait for the goal's run (the loop's pass holds it).
curl -s -m 10 "$base/v1/goals" | grep -q "\"id\":$id," || fail "GET /v1/goals while goal $id runs"
answer=$(curl -s "$base/invoke" -H 'Content-Type: application/json' -d '{"task": "Say hello"}')
grep -q '"run_id"' <<<"$answer" || fail "the user's run while goal $id ran: $answer"
for _ in $(seq 1 2400); do
  curl -s "$base/v1/goals/$id" | grep -Eq '"status":"(done|failed)"' && break
  sleep 0.25
done
goal=$(curl -s "$base/v1/goals/$id")
grep -q '"status":"done"' <<<"$goal" || fail "goal $id did not finish under serve: $goal"
grep -q '"attempts":1,' <<<"$goal" || fail "goal $id was attempted more than once: $goal"
curl -s "$base/health" | grep -q '"living_loop":{[^}]*"on":true' || fail "/health: the loop is not on"
curl -s "$base/metrics" | grep -q '^a4ps_goals{status="done"} [1-9]' || fail "/metrics lacks the goals"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
wait $sse  # the stream ends with the server
grep -q '^event: loop' "$work/goals.sse" || fail "the goal stream sent no loop state"
states=$(python3 -c 'import json, sys
frames = open(sys.argv[1]).read().split("\n\n")
goals = [json.loads(f.split("data: ", 1)[1]) for f in frames if "event: goal" in f]
print(" ".join(g["status"] for g in goals if g["id"] == int(sys.argv[2])))' "$work/goals.sse" "$id")
for state in queued running done; do
  grep -qw "$state" <<<"$states" || fail "the goal stream did not show goal $id $state (it showed: $states)"
done
grep -q "^id: [0-9]*" "$work/goals.sse" || fail "the goal stream's frames have no id"
goal_run=$(grep -Eo '"run_id":"r-[0-9a-f]+"' <<<"$goal" | head -1 | grep -Eo 'r-[0-9a-f]+')
starts=$("$a4ps" runs show "$goal_run" --events | grep -c "run_started")
[[ "$starts" -ge 2 ]] || fail "goal $id's run $goal_run was not stopped and resumed ($starts starts)"

if ((failures)); then
  echo "live_flow: $failures check(s) failed" >&2
  exit 1
fi
echo "live_flow: all checks passed"
