#!/usr/bin/env bash
# The persona workflow end to end on generated tiny models through the real llama.cpp: a run
# completes and every persona speaks; bad input is refused; a run killed (SIGKILL) in the middle
# of a step with several model calls is resumed to the end without repeating any model call
# whose result was journaled (compared through --record files).
# usage: workflow_flow.sh A4PS_BIN WORK_DIR
set -u
a4ps=$1
work=$2
rm -rf "$work" && mkdir -p "$work/models"
export A4PS_IMAGE="$work/image"
failures=0
source "$(dirname "$0")/lib.sh"

seed=31
for persona in alfred babs brick robin; do
  "$a4ps" models mktest "$work/models/$persona.gguf" --seed $seed --layers 2 --embd 128 \
    --heads 4 --ff 256 --type f16 >/dev/null || fail "mktest $persona"
  seed=$((seed + 1))
done
"$a4ps" models mktest "$work/models/embedding.gguf" --seed 40 --layers 2 --embd 128 --heads 4 \
  --ff 256 --type f16 --embedding >/dev/null || fail "mktest embedding"
"$a4ps" init >/dev/null || fail "init"
cat >"$A4PS_IMAGE/config.toml" <<TOML
[models]
alfred = "$work/models/alfred.gguf"
babs = "$work/models/babs.gguf"
brick = "$work/models/brick.gguf"
robin = "$work/models/robin.gguf"
embedding = "$work/models/embedding.gguf"
[inference]
context_size = 2048
[socratic]
breadth = 2
beam = 1
max_depth = 1
max_turns = 2
TOML
sed -i 's/^max_tokens = .*/max_tokens = 24/' "$A4PS_IMAGE/codex/persona_codex.toml"
printf 'The Community Resource Atlas lists food banks and clinics.\n' >"$work/atlas.md"

# A whole run: every persona speaks (BABS because a document came with the task).
out=$("$a4ps" run "Design a gentle onboarding" --thread w1 --doc "$work/atlas.md" 2>&1)
rc=$?
[[ $rc == 0 ]] || fail "run exited $rc: $out"
# ALFRED's route may give a task no dialogue (turns 0; the model chooses): the dialogue's turns
# are checked on the run killed in the middle of its dialogue, below.
for said in "ALFRED routes the task" "BABS researches" "BRICK proposes candidate thoughts" \
  "ROBIN scores the candidates" "ALFRED writes the final answer" \
  "ALFRED judges the conflict" "══ Answer" "dissonance [0-9.]+ \(threshold 0.80\)"; do
  grep -Eq -- "$said" <<<"$out" || fail "the transcript lacks: $said"
done
json=$("$a4ps" run "Now make it shorter" --thread w1 --json 2>/dev/null)
grep -q '"status": "done"' <<<"$json" || fail "a --json run did not finish: $json"
grep -q '"score":' <<<"$json" || fail "the --json result has no dissonance score"
"$a4ps" threads list | grep -Eq "^w1 +a4ps.workflow" || fail "threads list lacks w1"

# Bad input.
out=$("$a4ps" run "   " 2>&1)
[[ $? == 2 ]] && grep -q "the task is empty" <<<"$out" || fail "an empty task: $out"
out=$("$a4ps" run "x" --doc "$work/nope.md" 2>&1)
[[ $? == 3 ]] && grep -q "no such file" <<<"$out" || fail "a missing --doc: $out"
out=$("$a4ps" run "x" --doc "$work" 2>&1)
[[ $? == 2 ]] && grep -q "is a directory, not a text file" <<<"$out" || fail "a directory --doc: $out"
head -c 5000000 /dev/zero | tr '\0' 'a' >"$work/big.md"
out=$("$a4ps" run "x" --doc "$work/big.md" 2>&1)
[[ $? == 5 ]] && grep -q "larger than 4 MiB; put it in the image's memory with \`a4ps --image $A4PS_IMAGE memory import" \
  <<<"$out" || fail "a --doc over 4 MiB: $out"
rm -f "$work/big.md"

# Killed while BRICK proposes his third candidate thought (two are journaled), then resumed:
# the two are replayed from the journal, not generated again.
sed -i 's/^max_tokens = .*/max_tokens = 400/' "$A4PS_IMAGE/codex/persona_codex.toml"
sed -i 's/^breadth = .*/breadth = 3/' "$A4PS_IMAGE/config.toml"
"$a4ps" run "Design a gentle onboarding" --thread w2 --record "$work/rec1.jsonl" >/dev/null 2>&1 &
kill_run_when $! w2 'token .*"part":"candidate d1.3"'
"$a4ps" runs list --thread w2 | grep -q "crashed" || fail "the killed run is not listed as crashed"
out=$("$a4ps" resume w2 2>&1)
[[ $? == 7 ]] && grep -q "a4ps --image $A4PS_IMAGE image unlock" <<<"$out" || fail "resume on a stale lock: $out"
"$a4ps" image unlock >/dev/null || fail "image unlock"
out=$("$a4ps" resume w2 --record "$work/rec2.jsonl" 2>&1)
rc=$?
[[ $rc == 0 ]] || fail "resume exited $rc: $out"
grep -q "was left running by pid" <<<"$out" || fail "the crashed run was not reported at start-up"
grep -q "══ Answer" <<<"$out" || fail "the resumed run did not answer: $out"
hashes() { grep -Eo '"hash": ?"[0-9a-f]+"' "$1" | grep -Eo '[0-9a-f]{8,}' | sort; }
repeated=$(comm -12 <(hashes "$work/rec1.jsonl") <(hashes "$work/rec2.jsonl") | wc -l)
before=$(hashes "$work/rec1.jsonl" | wc -l)
echo "model calls before the kill: $before; calls repeated after resume: $repeated"
((before > 0)) || fail "nothing was recorded before the kill"
((before >= 3)) || fail "fewer calls than the route and two candidates before the kill"
# A call whose answer was recorded but not yet journaled when the kill came may run again.
((repeated <= 1)) || fail "$repeated journaled model calls ran again after resume"
"$a4ps" runs list --thread w2 | grep -Eq "done" || fail "the resumed run is not done"

# Killed in the middle of the dialogue (ROBIN's turn has begun), then resumed: the steps
# before it are not run again.
"$a4ps" run "Design a gentle onboarding" --thread w3 --record "$work/rec3.jsonl" >/dev/null 2>&1 &
kill_run_when $! w3 'node_started .*"node":"robin_respond"'
"$a4ps" image unlock >/dev/null || fail "image unlock after the second kill"
out=$("$a4ps" resume w3 --record "$work/rec4.jsonl" 2>&1)
[[ $? == 0 ]] && grep -q "══ Answer" <<<"$out" || fail "resume mid-dialogue: $out"
grep -q "ROBIN answers" <<<"$out" || fail "the resumed run did not continue with ROBIN's turn"
repeated=$(comm -12 <(hashes "$work/rec3.jsonl") <(hashes "$work/rec4.jsonl") | wc -l)
echo "mid-dialogue: calls before the kill: $(hashes "$work/rec3.jsonl" | wc -l); repeated: $repeated"
((repeated <= 1)) || fail "$repeated model calls ran again after resuming mid-dialogue"

# Ctrl-C (SIGINT) stops a run at its next step: it exits 10 (Cancelled), not 0 like success, and
# says how to continue it; a resume stopped the same way exits 10 too.
"$a4ps" run "Design a gentle onboarding" --thread w4 >"$work/w4.out" 2>&1 &
signal_run_when INT $! w4 'node_started .*"node":"alfred_route"'
[[ $SIGNALLED_RC == 10 ]] || fail "a run stopped by Ctrl-C exited $SIGNALLED_RC: $(cat "$work/w4.out")"
grep -Eq "w4 was cancelled after [0-9]+ steps; continue with: a4ps --image $A4PS_IMAGE resume w4" \
  "$work/w4.out" || fail "the cancelled run does not say how to continue: $(cat "$work/w4.out")"
"$a4ps" resume w4 >"$work/w4-resume.out" 2>&1 &
signal_run_when INT $! w4 'run_started .*"resumed":true'
[[ $SIGNALLED_RC == 10 ]] || fail "a resume stopped by Ctrl-C exited $SIGNALLED_RC: $(cat "$work/w4-resume.out")"
"$a4ps" runs list --thread w4 | grep -q "cancelled" || fail "the stopped run is not listed as cancelled"

finish
