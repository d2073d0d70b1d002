#!/usr/bin/env bash
# The image file (issue 17): `a4ps image save` and `a4ps image restore` of an image holding
# MEMORIES memories (each ~200 bytes of text and a 384-float embedding, as [models] embedding
# would store), against `tar --zstd` of the same directory (create, and extract) in the same
# run: wall seconds of each and the file sizes, with their ratios.
# usage: bench/image_file.sh A4PS_BIN [MEMORIES] (default 100000)
set -euo pipefail
a4ps=$1
n=${2:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$a4ps" init "$work/image" >/dev/null
python3 - "$work/image/state.db" "$n" <<'PY'
import hashlib, random, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
rng = random.Random(7)
words = "atlas food bank shelter volunteer map river clinic school library bus route night".split()
with db:
    for i in range(int(sys.argv[2])):
        text = " ".join(rng.choice(words) for _ in range(30)) + f" #{i}"
        cur = db.execute(
            "INSERT INTO memories (namespace, source_kind, text, content_hash, created_ms, accessed_ms)"
            " VALUES ('bench', 'note', ?, ?, 0, 0)", (text, hashlib.sha256(text.encode()).hexdigest()))
        vector = struct.pack("384f", *(rng.uniform(-1, 1) for _ in range(384)))
        db.execute("INSERT INTO memory_embeddings VALUES (?, 'bench-embedder', 384, ?)",
                   (cur.lastrowid, vector))
db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
PY
seconds() {  # seconds CMD...: wall seconds of CMD
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s.%N)
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
size() { stat -c %s "$1"; }
image_mb=$(du -sm "$work/image" | cut -f1)
tar_save=$(seconds tar --zstd -cf "$work/ref.tar.zst" -C "$work" image)
mkdir "$work/ref"
tar_restore=$(seconds tar --zstd -xf "$work/ref.tar.zst" -C "$work/ref")
save=$(seconds "$a4ps" image save "$work/bench.a4ps" "$work/image")
restore=$(seconds "$a4ps" image restore "$work/bench.a4ps" "$work/copy")
verify=$(seconds "$a4ps" image verify "$work/bench.a4ps")
ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
echo "image of $n memories: ${image_mb} MiB on disk"
printf '  %-28s %8s s   %s\n' "tar --zstd create (ref)" "$tar_save" ""
printf '  %-28s %8s s   %sx the reference\n' "a4ps image save" "$save" "$(ratio "$save" "$tar_save")"
printf '  %-28s %8s s   %s\n' "tar --zstd extract (ref)" "$tar_restore" ""
printf '  %-28s %8s s   %sx the reference\n' "a4ps image restore" "$restore" "$(ratio "$restore" "$tar_restore")"
printf '  %-28s %8s s\n' "a4ps image verify" "$verify"
printf '  %-28s %8s bytes\n' "tar.zst size (ref)" "$(size "$work/ref.tar.zst")"
printf '  %-28s %8s bytes   %sx the reference\n' "image file size" "$(size "$work/bench.a4ps")" \
  "$(ratio "$(size "$work/bench.a4ps")" "$(size "$work/ref.tar.zst")")"
"$a4ps" --image "$work/copy" memory stats 2>/dev/null | head -3
