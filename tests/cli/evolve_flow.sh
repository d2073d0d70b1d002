#!/usr/bin/env bash
# The strategic loop end to end on generated F32 models through the real llama.cpp (issue 15):
# finished episodes are judged by the Oracle, a dataset is made of ROBIN's golden turns (with
# its held-out split frozen), A4PS's trainer makes a candidate that the gate adopts because it
# lowers the held-out loss, ROBIN then speaks with it, a deliberately harmful candidate is
# rejected, a tampered adapter is refused by its hash, kill -9 during training resumes from the
# checkpoint with the adopted adapter untouched, external trainers that fail, hang or write
# garbage are refused, a rollback restores ROBIN's output byte for byte, and new golden turns
# become an evolve goal that the living loop runs. ROBIN, because
# half of his turns are grammar-constrained JSON (his scores of BRICK's candidates): even a
# random model's turns then share enough for an adapter trained on some to help the others.
# usage: evolve_flow.sh A4PS_BIN WORK_DIR
set -u
a4ps=$1
work=$2
rm -rf "$work" && mkdir -p "$work/models"
export A4PS_IMAGE="$work/image"
export OMP_WAIT_POLICY=passive
failures=0
source "$(dirname "$0")/lib.sh"

seed=71
for persona in alfred babs brick robin; do
  "$a4ps" models mktest "$work/models/$persona.gguf" --seed $seed --layers 2 --embd 64 \
    --heads 4 --ff 128 >/dev/null || fail "mktest $persona"
  seed=$((seed + 1))
done
"$a4ps" init >/dev/null || fail "init"
write_config() {  # write_config MIN_EXAMPLES LEARNING_RATE EPOCHS [EVOLVE_LINES...]
  cat >"$A4PS_IMAGE/config.toml" <<TOML
[models]
alfred = "$work/models/alfred.gguf"
babs = "$work/models/babs.gguf"
brick = "$work/models/brick.gguf"
robin = "$work/models/robin.gguf"
[inference]
context_size = 2048
[motivator]
dissonance_threshold = 1.0
[tools]
forge = false
[socratic]
breadth = 2
beam = 1
max_depth = 1
max_turns = 1
[evolve]
golden_threshold = 0.0
require_evidence = false
held_out_fraction = 0.4
lora_targets = ["all"]
max_tokens = 4096
min_examples = $1
learning_rate = $2
epochs = $3
$(printf '%s\n' "${@:4}")
TOML
}
write_config 40 0.003 4
# Short turns, and ROBIN decodes greedily: what he says to a prompt is then the same however
# loaded the machine is, and his turns have more in common.
sed -i 's/^max_tokens = .*/max_tokens = 32/' "$A4PS_IMAGE/codex/persona_codex.toml"
python3 - "$A4PS_IMAGE/codex/persona_codex.toml" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
text = re.sub(r"(\[persona\.robin\.sampling\]\ntemperature = )[0-9.]+", r"\g<1>0.0", text)
# His turns short too: mostly the JSON of his scores, which an adapter learns the same way
# whatever the random words in them, so the held-out gain does not hang on a few examples.
robin = text.index("[persona.robin]")
text = text[:robin] + re.sub(r"max_tokens = [0-9]+", "max_tokens = 12", text[robin:], count=1)
open(path, "w").write(text)
PY

step 7 "ROBIN has 0 usable golden turns; a dataset needs \[evolve\] min_examples = 40" evolve dataset robin
step 7 "ROBIN has no dataset yet; make one with .a4ps --image .* evolve dataset robin" evolve train robin
step 3 "--data .*none.jsonl: no such file" evolve train --base "$work/models/robin.gguf" --data "$work/none.jsonl" --out "$work/x.gguf"
step 2 "give a PERSONA or --base/--data/--out, not both" evolve train robin --base "$work/models/robin.gguf"

for task in "Plan a small garden" "Write a haiku about rain" "Explain why the sky is blue" \
  "Sort these numbers: 3 1 2" "Name a bird that cannot fly" "Count to five in French"; do
  "$a4ps" run "$task" >/dev/null 2>&1 || fail "run: $task"
done
step 0 "judgements \(.* golden, .* uncertain\); 0 judged before" evolve judge
step 0 "^0 judgements .* judged before" evolve judge
step 0 "ROBIN: [0-9]+ judged, [0-9]+ golden" evolve status
step 0 '"golden_since_last_dataset"' evolve status --json
step 7 "ROBIN has [0-9]+ usable golden turns; a dataset needs \[evolve\] min_examples = 40" evolve dataset robin
write_config 10 0.003 4
step 0 "made robin dataset v1 in .*: [0-9]+ to train on, [0-9]+ held out \(frozen\)" evolve dataset robin
[[ -f "$A4PS_IMAGE/datasets/robin/v1/manifest.json" && -f "$A4PS_IMAGE/datasets/robin/v1/held_out.jsonl" ]] ||
  fail "dataset v1's files"

# `generate --persona` speaks as the persona does in runs (the image's adopted adapter).
generate="--config $A4PS_IMAGE/config.toml --codex $A4PS_IMAGE/codex/persona_codex.toml generate --persona robin --seed 5"
speak() { "$a4ps" $generate --json "Describe the moon" 2>/dev/null; }
before=$(speak)
grep -q '"adapters": \[\]' <<<"$before" || fail "ROBIN spoke with an adapter before any: $before"

write_config 10 0.003 5
step 0 "trained robin v1 on dataset v1 \(a4ps trainer\): a candidate; held-out loss after each epoch: [0-9.]+ [0-9.]+ [0-9.]+ [0-9.]+ [0-9.]+" evolve train robin
[[ -f "$A4PS_IMAGE/adapters/robin/v1/train.ckpt" ]] && fail "the checkpoint outlived its run"

# The gate adopts it for its held-out improvement; a tampered file is refused by its hash.
step 0 "robin v1: would be adopted — held-out loss improvement [0-9]+\.[0-9]+ \(95% interval [0-9]+\.[0-9]+ to" evolve eval robin 1
cp "$A4PS_IMAGE/adapters/robin/v1/adapter.gguf" "$work/v1.gguf"
printf 'X' | dd of="$A4PS_IMAGE/adapters/robin/v1/adapter.gguf" bs=1 seek=4000 conv=notrunc 2>/dev/null
step 8 "does not match the SHA-256 recorded for robin v1 \(changed or damaged\); it is refused" evolve adopt robin 1
cp "$work/v1.gguf" "$A4PS_IMAGE/adapters/robin/v1/adapter.gguf"
step 0 "robin v1: adopted — held-out loss improvement" evolve adopt robin 1
step 0 "ROBIN uses v1" evolve status robin
with_v1=$(speak)
grep -q 'adapters/robin/v1/adapter.gguf' <<<"$with_v1" || fail "generate did not apply v1: $with_v1"
[[ "$(grep '"text"' <<<"$with_v1")" != "$(grep '"text"' <<<"$before")" ]] ||
  fail "ROBIN says the same with adapter v1 adopted"
"$a4ps" run "Name a colour" --record "$work/adopted.jsonl" >/dev/null 2>&1 || fail "run with v1"
grep -q "adapters/robin/v1/adapter.gguf" "$work/adopted.jsonl" || fail "ROBIN's turns did not use v1"
printf 'X' | dd of="$A4PS_IMAGE/adapters/robin/v1/adapter.gguf" bs=1 seek=4000 conv=notrunc 2>/dev/null
step 8 "robin/v1/adapter.gguf: does not match the SHA-256 .* roll back with .*evolve rollback robin" run "Name a colour"
step 0 "ROBIN uses v1" evolve status robin  # still readable, to see what to roll back
cp "$work/v1.gguf" "$A4PS_IMAGE/adapters/robin/v1/adapter.gguf"

# kill -9 while the next candidate trains (the checkpoint is written every 20 steps): the
# adopted adapter is untouched, and the same command resumes and ends where an uninterrupted
# run does (these are v1's settings, so v2 comes out byte for byte as v1).
"$a4ps" evolve train robin >"$work/train-killed.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [[ -f "$A4PS_IMAGE/adapters/robin/v2/train.ckpt" ]] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
[[ -f "$A4PS_IMAGE/adapters/robin/v2/train.ckpt" ]] || fail "no checkpoint before the kill"
[[ -f "$A4PS_IMAGE/adapters/robin/v2/adapter.gguf" ]] && fail "the killed run left an adapter"
step 0 "unlocked" image unlock
step 0 "ROBIN uses v1" evolve status robin
cmp -s "$work/v1.gguf" "$A4PS_IMAGE/adapters/robin/v1/adapter.gguf" || fail "the kill touched v1"
[[ "$(speak | grep '"text"')" == "$(grep '"text"' <<<"$with_v1")" ]] ||
  fail "ROBIN speaks otherwise after the kill"
write_config 10 0.003 4
step 7 "belongs to another training run" evolve train robin  # other options: refused, kept
write_config 10 0.003 5
step 0 "trained robin v2 on dataset v1 \(a4ps trainer, resumed from its checkpoint at step [1-9][0-9]*\)" evolve train robin
cmp -s "$A4PS_IMAGE/adapters/robin/v1/adapter.gguf" "$A4PS_IMAGE/adapters/robin/v2/adapter.gguf" ||
  fail "the resumed run did not end where the uninterrupted one did"
[[ -f "$A4PS_IMAGE/adapters/robin/v2/train.ckpt" ]] && fail "the checkpoint outlived its run"

# A deliberately harmful candidate (a learning rate that wrecks the model) is never adopted.
write_config 10 0.4 1
step 0 "trained robin v3" evolve train robin
step 0 "robin v3: rejected — held-out loss improvement -[0-9.]+ .* over v1" evolve adopt robin 3
step 0 "ROBIN uses v1" evolve status robin

# External trainers: failing, hanging, writing garbage are refused; a sound one is a candidate.
cat >"$work/fails.sh" <<'SH'
echo "out of memory, says the trainer" >&2; exit 3
SH
cat >"$work/hangs.sh" <<'SH'
sleep 60
SH
cat >"$work/garbage.sh" <<'SH'
echo "not a gguf" >"$A4PS_ADAPTER_OUT"
SH
cat >"$work/sound.sh" <<SH
test -f "\$A4PS_TRAIN_DATA" && test -f "\$A4PS_BASE_MODEL" && cp "$work/v1.gguf" "\$A4PS_ADAPTER_OUT"
SH
write_config 10 0.003 4 "trainer_command = \"sh $work/fails.sh\""
step 4 "the external trainer failed \(exit status 3\); its log ends: out of memory, says the trainer" evolve train robin
write_config 10 0.003 4 "trainer_command = \"sh $work/hangs.sh\"" "trainer_timeout_seconds = 1"
step 6 "ran past \[evolve\] trainer_timeout_seconds = 1 and was stopped" evolve train robin
write_config 10 0.003 4 "trainer_command = \"sh $work/garbage.sh\""
step 8 "wrote something that is not a LoRA adapter" evolve train robin
write_config 10 0.003 4 "trainer_command = \"sh $work/sound.sh\""
step 0 "trained robin v[0-9]+ on dataset v1 \(external trainer\): a candidate" evolve train robin
step 0 "\(dataset v1, external\): candidate" evolve status robin

# One command back: ROBIN speaks exactly as it did before any adapter.
step 0 "robin base: rollback — rolled back from v1 to the base model" evolve rollback robin
step 0 "ROBIN uses base" evolve status robin
after=$(speak)
[[ "$(grep '"text"' <<<"$after")" == "$(grep '"text"' <<<"$before")" ]] ||
  fail "after the rollback ROBIN's output differs from before: $after"
step 7 "already uses the base model" evolve rollback robin --to base
step 2 "--to later: expected an adapter version" evolve rollback robin --to later
step 0 '"action": "rollback"' evolve status robin --json

# The living loop's evolve goal: new golden turns queue one per persona (newer turns merge into
# it), and running one makes the persona's next dataset, trains a candidate on it and lets the
# gate decide, as the graph a4ps.evolve.
write_config 2 0.003 4
"$a4ps" run "Name a fruit" >/dev/null 2>&1 || fail "a run for the evolve goal"
step 0 "[1-9][0-9]* judgements" evolve judge
"$a4ps" evolve status --json >"$work/status-before.json" || fail "evolve status --json"
step 0 "goal [0-9]+: done" goals run-next
grep -Eq "(alfred|babs|brick|robin) v[0-9]+: (adopted|rejected) — held-out loss improvement" <<<"$LAST_OUTPUT" ||
  fail "the evolve goal's result does not give the gate's verdict: $LAST_OUTPUT"
step 0 "a4ps.evolve" graph list
"$a4ps" goals list --json >"$work/goals.json" || fail "goals list --json"
"$a4ps" evolve status --json >"$work/status-after.json" || fail "evolve status --json"
python3 - "$work/goals.json" "$work/status-before.json" "$work/status-after.json" <<'PY' ||
import json, sys
goals = [g for g in json.load(open(sys.argv[1])) if g["kind"] == "evolve"]
done = [g for g in goals if g["status"] == "done"]
open_ = [g for g in goals if g["status"] in ("queued", "paused", "running")]
assert len(done) == 1, [(g["id"], g["status"]) for g in goals]
personas = [g["context"]["persona"] for g in open_]
assert len(personas) == len(set(personas)), personas  # one open goal per persona
who = done[0]["context"]["persona"]
assert who not in personas, "queued again after its run"
before = {p["persona"]: p["datasets"] for p in json.load(open(sys.argv[2]))["personas"]}
after = {p["persona"]: p["datasets"] for p in json.load(open(sys.argv[3]))["personas"]}
assert after[who] == before[who] + 1, (who, before, after)
PY
  fail "the evolve goals: one done for a persona with one dataset more, one open goal per persona"

finish
