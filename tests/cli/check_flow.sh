#!/usr/bin/env bash
# What a user meets before a run: `config check` on an image reads the image's own config.toml
# and codex and every model reference, as `run` would, and names each problem; a read-only
# image can be read; the hints that continue a thread name the image they are about.
# usage: check_flow.sh A4PS_BIN MODEL_GGUF WORK_DIR
set -u
a4ps=$1
model=$2
work=$3
rm -rf "$work" && mkdir -p "$work"
unset A4PS_IMAGE A4PS_CONFIG A4PS_CODEX
failures=0
source "$(dirname "$0")/lib.sh"

img="$work/my image"  # a space, so the hints must quote it
step 0 "created image" init "$img"
codex="$img/codex/persona_codex.toml"
step 0 "$img/config.toml: valid" --image "$img" config check
step 0 "$codex: valid, personas ALFRED BABS BRICK ROBIN" --image "$img" config check
step 3 "nowhere: no image here" --image "$work/nowhere" config check

# A codex that `run` refuses is refused by `config check` too.
cp "$codex" "$work/codex.good"
printf '[persona.brick\nname = "BRICK"\n' >>"$codex"
step 2 "persona_codex.toml:[0-9]+:[0-9]+: TOML syntax error" --image "$img" config check
cp "$work/codex.good" "$codex"

# Every model reference as loading it would check it, each problem named.
cp "$img/config.toml" "$work/config.good"
cat >"$img/config.toml" <<TOML
[models]
alfred = "$model"
babs = "$model"
brick = "gguf:/nonexistent/x.gguf"
robin = "openai:foo"
embedding = "$work"
TOML
step 3 "config check: 3 problems" --image "$img" config check
for said in 'brick = "gguf:/nonexistent/x.gguf": /nonexistent/x.gguf: no such model file' \
  'robin: model reference "openai:foo": needs @URL' \
  "embedding = \"$work\": $work: is a directory, not a GGUF model file"; do
  grep -qF -- "$said" <<<"$LAST_OUTPUT" || fail "config check does not say: $said"
done
grep -q ": valid, personas" <<<"$LAST_OUTPUT" || fail "config check did not pass the codex"
printf '[models]\nalfred = "%s"\nbabs = "%s"\nbrick = "%s"\nrobin = "%s"\nembedding = "%s"\n' \
  "$model" "$model" "$model" "$model" "$model" >"$img/config.toml"
step 0 "\[models\]: 5 local GGUF model\(s\) checked" --image "$img" config check
cp "$work/config.good" "$img/config.toml"

# A model server that is down is named, with the fix, before a run starts: nothing is stored
# (no thread, no failed run), and the same for a goal a person runs and for the API.
printf '[models]\nalfred = "%s"\nbabs = "%s"\nbrick = "ollama:phi3:mini"\nrobin = "%s"\n' \
  "$model" "$model" "$model" >"$img/config.toml"
export OLLAMA_HOST=127.0.0.1:9
down='model brick \(\[models\] brick in .*config.toml\): Ollama at http://127.0.0.1:9/api/version is not reachable \(connection refused\): start it \(`ollama serve`.*; nothing was started'
step 4 "$down" --image "$img" run "hi"
step 0 "no threads" --image "$img" threads list
step 0 "goal 1 queued" --image "$img" goals add "a goal of mine"
step 4 "$down" --image "$img" goals run-next
step 0 "queued" --image "$img" goals show 1
A4PS_IMAGE="$img" serve_in_background "$work/serve.log"
answer=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$SERVE_PORT/invoke" -H 'Content-Type: application/json' -d '{"task": "hi"}')
grep -q 'Ollama at http://127.0.0.1:9/api/version is not reachable.* 503$' <<<"$answer" ||
  fail "/invoke with Ollama down: $answer"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
step 0 "no threads" --image "$img" threads list
unset OLLAMA_HOST
cp "$work/config.good" "$img/config.toml"

# The hints name the image: pasted as they are, they work.
step 0 "continue with: a4ps --image '$img' resume t1 --value JSON" --image "$img" graph check --thread t1
step 0 "answer with: a4ps --image '$img' resume t1 --interrupt" --image "$img" threads show t1
step 0 "continue it with: a4ps --image '$img' resume t2" --image "$img" threads fork t1 --as t2

# A read-only image: the reading commands need no write. Root may write anything, so the
# commands run as nobody then.
as_reader() {
  if [[ $(id -u) == 0 ]]; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
  else
    "$@"
  fi
}
as_reader "$a4ps" --version >/dev/null 2>&1 || fail "cannot run $a4ps as a user without write access"
chmod -R a-w "$img"
for args in "threads list" "threads show t1" "runs list" "threads history t1"; do
  # shellcheck disable=SC2086 # the words of $args are the arguments
  out=$(as_reader "$a4ps" --image "$img" $args 2>&1)
  rc=$?
  # History lists the thread's checkpoints by run; the others name the thread.
  if [[ $rc != 0 ]] || ! grep -Eq "t1|r-[0-9a-f]{12}" <<<"$out"; then
    fail "a4ps $args on a read-only image exited $rc: $out"
  else
    echo "ok: a4ps $args on a read-only image"
  fi
done
chmod -R u+w "$img"

finish
