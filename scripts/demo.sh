#!/usr/bin/env bash
# The main job on a local file:// target, from a fresh machine: builds dupfs,
# makes a sample directory, backs it up with duplicity (full + incremental),
# then restores both points with dupfs and checks them against the source.
# DEMO_DIR (default /tmp/dupfs-demo) holds everything; it is recreated.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
go build -o bin/dupfs ./cmd/dupfs

demo=${DEMO_DIR:-/tmp/dupfs-demo}
rm -rf "$demo"; mkdir -p "$demo/src/docs"
export PASSPHRASE=${PASSPHRASE:-demo-passphrase}
target="file://$demo/target"

cp -r /usr/share/doc/gnupg "$demo/src/docs/" 2>/dev/null || true
echo "first version" >"$demo/src/notes.txt"
head -c 3000000 /dev/urandom >"$demo/src/blob.bin"
duplicity full --archive-dir "$demo/dupcache" "$demo/src" "$target" >/dev/null
cp -a "$demo/src" "$demo/src-at-full"

sleep 1
echo "second version" >>"$demo/src/notes.txt"
touch -d '2026-01-02 03:04:05' "$demo/src/notes.txt"
rm -f "$demo/src/blob.bin"; mkdir "$demo/src/new-dir"; ln -s ../notes.txt "$demo/src/new-dir/link"
duplicity incremental --archive-dir "$demo/dupcache" "$demo/src" "$target" >/dev/null

echo "== dupfs collection-status"
bin/dupfs collection-status --archive-dir "$demo/cache" "$target"
echo "== dupfs restore (latest)"
bin/dupfs restore --archive-dir "$demo/cache" "$target" "$demo/restored-latest"
diff -r --no-dereference "$demo/src" "$demo/restored-latest" && echo "latest: identical to the source"
echo "== dupfs restore --time (the full backup)"
first=$(ls "$demo/target" | sed -n 's/^duplicity-full\.\([0-9TZ]*\)\.manifest.*/\1/p' | head -1)
bin/dupfs restore --archive-dir "$demo/cache" --time "$first" "$target" "$demo/restored-full"
diff -r --no-dereference "$demo/src-at-full" "$demo/restored-full" && echo "full: identical to the source at that time"
