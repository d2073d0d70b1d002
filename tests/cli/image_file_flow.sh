#!/usr/bin/env bash
# The image as one file, as a user moves it (issue 17): an image with an interrupted run, a
# finished one, memories and goals is saved while `a4ps serve` holds it, verified, restored
# elsewhere, and the copy goes on where the saved image stood; bad files are refused with the
# member and the reason, and a restore never writes over an image.
# usage: image_file_flow.sh A4PS_BIN FORGE_RECORDER WORK_DIR
set -u
a4ps=$1
recorder=$2
work=$3
rm -rf "$work" && mkdir -p "$work"
export A4PS_IMAGE="$work/image"
failures=0
source "$(dirname "$0")/lib.sh"

step 0 "created image" init
printf '[memory]\nembedder = "lexical"\n[server]\ntoken = "s3cret"\n' >"$A4PS_IMAGE/config.toml"
step 0 "interrupted" graph check --thread waiting
step 0 "interrupted" graph check --thread finished
step 0 '"status": "done"' resume finished --value true --json
step 0 "remembered as memory" memory add "The atlas lists the food banks of the valley" --namespace notes
step 0 "goal [0-9]+ queued" goals add "Tidy the notes"
"$recorder" "$work/forge.jsonl" || fail "could not record the scripted forge"
step 0 "created tool word_count" tools forge "count the words in a text" --replay "$work/forge.jsonl"

# Saved while a4ps serve holds the image's lock.
serve_in_background "$work/serve.log"
[[ -n "$SERVE_PORT" ]] || fail "serve did not start: $(cat "$work/serve.log")"
step 0 "saved .* [0-9]+ files" image save "$work/atlas.a4ps"
grep -q "left out the secret \[server\] token" <<<"$LAST_OUTPUT" || fail "save did not say it left the token out"
kill -TERM "$SERVE_PID"
wait "$SERVE_PID"
[[ ! -e "$work/atlas.a4ps.tmp" ]] || fail "save left atlas.a4ps.tmp behind"
step 0 "atlas.a4ps: ok, [0-9]+ files .* match the manifest" image verify "$work/atlas.a4ps"
step 0 '"ok": true' image verify "$work/atlas.a4ps" --json

step 0 "restored .* as image img-[0-9a-f]+" image restore "$work/atlas.a4ps" "$work/copy"
for args in "threads list" "goals list" "memory search atlas --namespace notes" "tools list"; do
  # shellcheck disable=SC2086 # the words of $args are the arguments
  here=$("$a4ps" $args 2>&1 | sed 's/ *[0-9-]* [0-9:]*$//')
  # shellcheck disable=SC2086
  there=$("$a4ps" --image "$work/copy" $args 2>&1 | sed 's/ *[0-9-]* [0-9:]*$//')
  [[ "$here" == "$there" ]] || fail "a4ps $args differs after the restore:
$here
---
$there"
done
grep -q 's3cret' "$work/copy/config.toml" && fail "the token travelled"
[[ $(grep '^id' "$work/copy/image.toml") != $(grep '^id' "$A4PS_IMAGE/image.toml") ]] ||
  fail "the copy has the saved image's id"
step 0 "4" --image "$work/copy" tools run word_count --args '{"text": "one two three four"}'
# The interrupted run goes on in the copy.
step 0 '"status": "done"' --image "$work/copy" resume waiting --value true --json

# Never over an image; bad files named with the reason; nothing written by a failed restore.
step 7 "already exists and is not empty" image restore "$work/atlas.a4ps" "$work/copy"
head -c 2000 "$work/atlas.a4ps" >"$work/cut.a4ps"
step 8 "cut.a4ps: is truncated" image verify "$work/cut.a4ps"
step 8 "cut.a4ps" image restore "$work/cut.a4ps" "$work/none"
[[ ! -e "$work/none" ]] || fail "a failed restore left $work/none"
[[ -e "$work/.none.restore" ]] && fail "a failed restore left its staging folder"
step 3 "no such image file" image verify "$work/nothing.a4ps"
step 2 "is a directory, not an image file" image verify "$work/copy"
step 3 "no image here" image save "$work/x.a4ps" "$work/nowhere"
step 2 "is inside the image .*save it elsewhere" image save "$A4PS_IMAGE/datasets/x.a4ps"

# A full disk during save: refused, and neither FILE nor its temporary or staging files stay.
head -c 3000000 /dev/urandom >"$A4PS_IMAGE/datasets/noise.bin"
small="$work/small-disk"
mkdir -p "$small"
if mount -t tmpfs -o size=1m tmpfs "$small" 2>/dev/null; then
  step 5 "x.a4ps.tmp: cannot write .*No space left on device.*nothing was saved" image save "$small/x.a4ps"
  [[ -z $(ls -A "$small") ]] || fail "a save onto a full disk left: $(ls -A "$small")"
  umount "$small"
else
  echo "note: cannot mount a small tmpfs here; the full-disk case is not tried"
fi

# kill -9 during a save and during a restore: nothing half-written where the file or the image
# goes (the image is made large enough that both take a moment).
head -c 150000000 /dev/urandom >"$A4PS_IMAGE/datasets/noise.bin"
# kill_when_exists PID PATH: kills PID with SIGKILL as soon as PATH exists; says whether it was
# caught alive (it may have finished first on a fast machine).
kill_when_exists() {
  local pid=$1 path=$2
  for _ in $(seq 1 10000); do
    if [[ -e "$path" ]]; then
      kill -9 "$pid" 2>/dev/null && { wait "$pid" 2>/dev/null; return 0; }
      break
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.002
  done
  wait "$pid" 2>/dev/null
  return 1
}
"$a4ps" image save "$work/big.a4ps" >/dev/null 2>&1 &
if kill_when_exists $! "$work/big.a4ps.tmp"; then
  # Killed after the rename, FILE is whole; before it, there is none.
  [[ ! -e "$work/big.a4ps" ]] || "$a4ps" image verify "$work/big.a4ps" >/dev/null 2>&1 ||
    fail "a save killed midway left a big.a4ps that does not verify"
else
  echo "note: the save finished before it could be killed"
fi
rm -f "$work/big.a4ps"
step 0 "saved" image save "$work/big.a4ps"
"$a4ps" image restore "$work/big.a4ps" "$work/big" >/dev/null 2>&1 &
if kill_when_exists $! "$work/.big.restore"; then
  [[ ! -e "$work/big" ]] || cmp -s "$A4PS_IMAGE/datasets/noise.bin" "$work/big/datasets/noise.bin" ||
    fail "a restore killed midway left a partial $work/big"
else
  echo "note: the restore finished before it could be killed"
fi
rm -rf "$work/big"
step 0 "restored" image restore "$work/big.a4ps" "$work/big"
cmp -s "$A4PS_IMAGE/datasets/noise.bin" "$work/big/datasets/noise.bin" || fail "the dataset differs after the restore"

finish
