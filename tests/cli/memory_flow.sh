#!/usr/bin/env bash
# The memory commands as a user runs them on a fresh image with the built-in lexical embedder.
# usage: memory_flow.sh A4PS_BIN WORK_DIR
set -u
a4ps=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
export A4PS_IMAGE="$work/image"
failures=0
source "$(dirname "$0")/lib.sh"
"$a4ps" init >/dev/null
printf '[memory]\nembedder = "lexical"\n' >"$A4PS_IMAGE/config.toml"
step 0 "remembered as memory 1" memory add "The Atlas lists food banks and clinics." --namespace docs/atlas
step 0 "remembered as memory 2" memory add "Greet newcomers by name."
step 0 "already remembered as memory 2" memory add "Greet newcomers by name."
step 0 "built-in lexical embedder" memory stats
step 0 "^\[1\] .*keyword 1, vector 1.*docs/atlas" memory search "atlas clinics"
step 0 '"similarity"' memory search "newcomers" --json
step 0 "Greet newcomers" memory search "newcomers" --namespace ""
step 0 "nothing remembered matches" memory search "atlas" --namespace elsewhere
step 0 "forgot memory 2" memory forget 2
step 3 "no such memory" memory forget 2
step 2 "memory text is empty" memory add "  "
step 2 "namespace \"/bad\"" memory add "x" --namespace /bad
step 2 "importance 2" memory add "x" --importance 2
step 0 "1 memories \(1 forgotten\)" memory stats
# The vector index is a snapshot in IMAGE/index/, replayed or rebuilt as state.db says.
step 0 "vector index: flat, 1 vectors, .*; snapshot up to memory 2$" memory stats
payload=$(ls "$A4PS_IMAGE"/index/vectors-*)
printf 'garbage' | dd of="$payload" bs=1 seek=20 conv=notrunc status=none
step 0 "rebuilt \(its file vectors-.* is missing or corrupt\)" memory stats
step 0 "snapshot up to memory 1$" memory stats
printf '[memory]\nembedder = "lexical"\nindex = "hnsw"\n' >"$A4PS_IMAGE/config.toml"
step 0 "vector index: hnsw, 1 vectors.*rebuilt \(it is a flat index and hnsw is wanted\)" memory stats
step 0 "^\[1\] .*docs/atlas" memory search "atlas clinics"
printf '[memory]\nembedder = "lexical"\n' >"$A4PS_IMAGE/config.toml"
printf '<html><body><h1>Clinic hours</h1><p>The clinics open at eight.</p></body></html>' \
  >"$work/hours.html"
for i in $(seq 1 60); do printf 'Paragraph %d of the atlas guide tells newcomers where food is.\n\n' "$i"; done \
  >"$work/guide.md"
step 0 "hours.html: 1 chunks in docs/hours \(1 new" memory import "$work/hours.html"
step 0 "guide.md: [2-9] chunks in docs/guide" memory import "$work/guide.md"
step 0 "already remembered" memory import "$work/guide.md"
step 0 "docs/hours document: .*hours.html" memory search "when do clinics open"
printf 'PK\003\004' >"$work/slides.docx"
step 2 "unsupported format \".docx\"" memory import "$work/hours.html" "$work/slides.docx"
step 3 "no such file" memory import "$work/missing.md"
# A directory: its documents, recursively; a bad one is reported and passed over, and the exit
# code is its error's; other formats and hidden entries are passed over; a FIFO is named so.
mkdir -p "$work/folder/sub" "$work/folder/.git"
printf 'The food bank on Elm Street opens at nine.\n' >"$work/folder/elm.md"
printf 'Volunteers meet on Fridays at the library.\n' >"$work/folder/sub/volunteers.txt"
printf 'a\0b' >"$work/folder/broken.txt"
printf 'x' >"$work/folder/photo.png"
printf 'The hidden config mentions zebras.\n' >"$work/folder/.git/notes.md"
step 2 "2 of 4 file\(s\) not imported; the first: .*broken.txt: not a text file" \
  memory import "$work/folder" "$work/slides.docx"
for said in "elm.md: 1 chunks in docs/elm" "volunteers.txt: 1 chunks in docs/volunteers" \
  "skipped 1 file(s) of other formats" "slides.docx: unsupported format"; do
  grep -qF -- "$said" <<<"$LAST_OUTPUT" || fail "memory import of a directory does not say: $said"
done
step 0 "volunteers.txt" memory search "Fridays library volunteers"
# The hidden file was not imported: no memory holds its words (the vector leg still answers
# with the nearest memories, which is why only the keyword leg is checked).
step 0 "" memory search "zebras"
grep -q "hidden config" <<<"$LAST_OUTPUT" && fail "a hidden file was imported: $LAST_OUTPUT"
grep -q "keyword [0-9]" <<<"$LAST_OUTPUT" && fail "a memory holds the hidden file's words"
mkfifo "$work/pipe.md"
step 2 "pipe.md: is a FIFO, not a document file" memory import "$work/pipe.md"
# Bad numbers and text that is not UTF-8 are named.
step 2 "^a4ps: error: --k: 0: must be a whole number, at least 1" memory search "atlas" --k 0
step 0 "the text is not valid UTF-8: 1 byte\(s\) replaced by U\+FFFD" memory add "$(printf 'caf\xe9 au lait')"
# Killed (SIGKILL) while importing a large file (about 16,000 chunks) into an HNSW index: the
# file is stored whole or not at all, and the index the next process loads and replays holds
# exactly SQLite's live rows.
printf '[memory]\nembedder = "lexical"\nindex = "hnsw"\nhnsw_ef_construction = 40\n' \
  >"$A4PS_IMAGE/config.toml"
seq 1 200000 | sed 's/.*/Entry &: the atlas lists a service in district & with opening hours.\n/' \
  >"$work/big.md"
before=$("$a4ps" memory stats --json 2>/dev/null | grep -Eo '"live": [0-9]+' | grep -Eo '[0-9]+')
"$a4ps" memory import "$work/big.md" >/dev/null 2>&1 &
pid=$!
sleep "0.$((RANDOM % 9 + 1))"  # somewhere while it embeds or writes
kill -9 $pid 2>/dev/null
wait $pid 2>/dev/null
"$a4ps" image unlock >/dev/null 2>&1
after=$("$a4ps" memory stats --json 2>/dev/null)
live=$(grep -Eo '"live": [0-9]+' <<<"$after" | grep -Eo '[0-9]+')
indexed=$(grep -Eo '"vectors": [0-9]+' <<<"$after" | grep -Eo '[0-9]+')
[[ "$live" == "$indexed" ]] || fail "$live live memories but $indexed in the vector index"
out=$("$a4ps" memory import "$work/big.md" --json 2>/dev/null)
chunks=$(grep -Eo '"chunks": [0-9]+' <<<"$out" | grep -Eo '[0-9]+')
final=$("$a4ps" memory stats --json 2>/dev/null | grep -Eo '"live": [0-9]+' | grep -Eo '[0-9]+')
if [[ "$live" != "$before" && "$live" != "$((before + chunks))" ]]; then
  fail "after the kill $live memories: neither $before nor $((before + chunks)) (half-written)"
fi
[[ "$final" == "$((before + chunks))" ]] || fail "after re-import $final, expected $((before + chunks))"
echo "import killed: $before before, $live after the kill, $final after re-import ($chunks chunks)"

finish
