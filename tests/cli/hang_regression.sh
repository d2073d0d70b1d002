#!/usr/bin/env bash
# The run that hung for good (shared/repro/brick-tools-hang, kept in tests/fixtures): resuming
# thread t-7b870f5a3d56 on the demo's models sat in BRICK's tool step at full CPU, deep in
# llama.cpp's grammar, whose free-form "arguments" object the model nested without end. Now
# the resume finishes. `timeout` only turns a regression into a failure instead of a stuck CI;
# the run takes seconds.
# usage: hang_regression.sh A4PS_BIN WORK_DIR
set -u
a4ps=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
failures=0
source "$here/lib.sh"
rm -rf "$work" && mkdir -p "$work/models"

# The demo's models (scripts/demo.sh), byte for byte: the repro depends on their weights.
seed=11
for persona in alfred babs brick robin; do
  "$a4ps" models mktest "$work/models/$persona.gguf" --seed $seed --layers 4 --embd 256 \
    --heads 8 --ff 768 --type f16 >/dev/null || fail "mktest $persona"
  seed=$((seed + 1))
done
"$a4ps" models mktest "$work/models/embedding.gguf" --seed 15 --layers 4 --embd 256 --heads 8 \
  --ff 768 --type f16 --embedding >/dev/null || fail "mktest embedding"

image="$work/image"
cp -r "$here/../fixtures/brick-tools-hang" "$image"
mkdir -p "$image"/{adapters,datasets,models,tools}
sed -i "s#@MODELS@#$work/models#" "$image/config.toml"

out=$(timeout 600 "$a4ps" --image "$image" resume t-7b870f5a3d56 2>&1)
rc=$?
[[ $rc == 0 ]] || fail "resume exited $rc (124: it hung again): $(tail -20 <<<"$out")"
grep -q "BRICK considers his tools" <<<"$out" || fail "the resume did not reach BRICK's tool step"
grep -q "══ Answer" <<<"$out" || fail "the resumed run did not answer"
"$a4ps" --image "$image" runs list --thread t-7b870f5a3d56 | grep -q "done" ||
  fail "the resumed run is not done"
finish
