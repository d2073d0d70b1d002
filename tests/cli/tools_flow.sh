#!/usr/bin/env bash
# The tools commands as a user runs them on a fresh image, in the real sandbox: a forge answered
# from a recording of BRICK (a buggy attempt, then the fix), then list, show, run, test,
# tampering, a second version, rollback and remove; and a forge with a random model that gives
# up with its reasons.
# usage: tools_flow.sh A4PS_BIN RECORDING_BIN TINY_GGUF WORK_DIR
set -u
a4ps=$1
recorder=$2
tiny=$3
work=$4
rm -rf "$work" && mkdir -p "$work"
export A4PS_IMAGE="$work/image"
failures=0
source "$(dirname "$0")/lib.sh"
"$a4ps" init >/dev/null
"$recorder" "$work/forge.jsonl" || fail "could not record the scripted forge"

step 0 "no tools yet" tools list
step 0 "attempt 1: failed: 2 of 2 tests failed" tools forge "count the words in a text" \
  --replay "$work/forge.jsonl"
grep -q "attempt 2: its tests pass" <<<"$LAST_OUTPUT" || fail "attempt 2 not reported"
grep -q "created tool word_count (version 1) in 2 attempt" <<<"$LAST_OUTPUT" ||
  fail "no created line"
step 0 "word_count +v1 +def word_count\(text: str\) -> int" tools list
step 0 '"code_sha256": "[0-9a-f]{64}"' tools list --json
step 0 "# test_tool.py" tools show word_count
step 0 "^4$" tools run word_count --args '{"text": "a b  c d"}'
step 0 '"result": 2' tools run word_count --args '{"text": "x y"}' --json
step 0 "test_counts_words: passed" tools test word_count
step 2 "--args \[1\]: expected a JSON object" tools run word_count --args '[1]'
step 7 "the tool raised: TypeError: word_count\(\) got an unexpected keyword argument 'words'" tools run word_count --args '{"words": 3}'
step 3 "tool \"nope\": no such tool; known tools: word_count" tools run nope
# The files are checked before every run.
cp "$A4PS_IMAGE/tools/word_count/versions/1/tool.py" "$work/tool.py.orig"
printf '\nimport os\n' >>"$A4PS_IMAGE/tools/word_count/versions/1/tool.py"
step 8 "was changed outside A4PS" tools run word_count --args '{"text": "a"}'
cp "$work/tool.py.orig" "$A4PS_IMAGE/tools/word_count/versions/1/tool.py"
step 0 "^1$" tools run word_count --args '{"text": "a"}'
step 7 "version 1 is the first" tools rollback word_count
step 0 "removed tool word_count" tools remove word_count
step 0 "no tools yet" tools list
step 3 "it was removed" tools run word_count
step 0 "word_count is at version 1" tools rollback word_count
step 0 "^2$" tools run word_count --args '{"text": "a b"}'

# A random model cannot write a working tool: the forge gives up and says why, registering
# nothing.
printf '[models]\nbrick = "%s"\n[tools]\nmax_attempts = 2\n' "$tiny" >"$A4PS_IMAGE/config.toml"
step 7 "the forge gave up on \"reverse a string\": no attempt passed its tests in 2 attempt" \
  tools forge "reverse a string"
step 0 "word_count" tools list
step 2 "capability" tools forge

((failures == 0)) || { echo "$failures check(s) failed" >&2; exit 1; }
echo "all tools checks passed"
