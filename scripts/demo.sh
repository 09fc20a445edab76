#!/usr/bin/env bash
# The main job on a local file:// target, from a fresh machine: builds dupfs,
# makes a sample directory, backs it up with dupfs (full, then incremental),
# restores both points with dupfs and checks them against the source, and
# shows that the real duplicity restores the same backup; then mounts it and
# copies the latest point out of the mount with cp -a.
# DEMO_DIR (default /tmp/dupfs-demo) holds everything; it is recreated.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
go build -o bin/dupfs ./cmd/dupfs

demo=${DEMO_DIR:-/tmp/dupfs-demo}
rm -rf "$demo"; mkdir -p "$demo/src/docs"
export PASSPHRASE=${PASSPHRASE:-demo-passphrase}
target="file://$demo/target"
cache=(--archive-dir "$demo/cache")

cp -r /usr/share/doc/gnupg "$demo/src/docs/" 2>/dev/null || true
echo "first version" >"$demo/src/notes.txt"
head -c 3000000 /dev/urandom >"$demo/src/blob.bin"
echo "== dupfs backup (first run: full)"
bin/dupfs backup "${cache[@]}" --print-statistics "$demo/src" "$target"
cp -a "$demo/src" "$demo/src-at-full"

echo "second version" >>"$demo/src/notes.txt"
touch -d '2026-01-02 03:04:05' "$demo/src/notes.txt"
rm -f "$demo/src/blob.bin"; mkdir "$demo/src/new-dir"; ln -s ../notes.txt "$demo/src/new-dir/link"
echo "== dupfs backup (second run: incremental)"
bin/dupfs backup "${cache[@]}" --print-statistics "$demo/src" "$target"

echo "== dupfs collection-status"
bin/dupfs collection-status "${cache[@]}" "$target"
echo "== dupfs restore (latest)"
bin/dupfs restore "${cache[@]}" "$target" "$demo/restored-latest"
diff -r --no-dereference "$demo/src" "$demo/restored-latest" && echo "latest: identical to the source"
echo "== dupfs restore --time (the full backup)"
first=$(ls "$demo/target" | sed -n 's/^duplicity-full\.\([0-9TZ]*\)\.manifest.*/\1/p' | head -1)
bin/dupfs restore "${cache[@]}" --time "$first" "$target" "$demo/restored-full"
diff -r --no-dereference "$demo/src-at-full" "$demo/restored-full" && echo "full: identical to the source at that time"
echo "== duplicity restore of the same target"
duplicity restore --archive-dir "$demo/dupcache" "$target" "$demo/restored-by-duplicity" >/dev/null
diff -r --no-dereference "$demo/src" "$demo/restored-by-duplicity" && echo "duplicity: identical to the source"

echo "== dupfs mount: every point in time as a directory"
mnt="$demo/mnt"; mkdir -p "$mnt"
bin/dupfs mount "${cache[@]}" --cache-dir "$demo/volcache" "$target" "$mnt" &
mount_pid=$!
trap 'fusermount3 -uz "$mnt" 2>/dev/null || true; kill $mount_pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do mountpoint -q "$mnt" && break; sleep 0.1; done
ls -l "$mnt"
cp -a "$mnt/latest/." "$demo/copied-from-mount"
diff -r --no-dereference "$demo/src" "$demo/copied-from-mount" && echo "cp -a from the mount: identical to the source"
diff -r --no-dereference "$demo/src-at-full" "$mnt/$(ls "$mnt" | head -1)" && echo "the first point: identical to the source at that time"
kill -INT $mount_pid; wait $mount_pid
trap - EXIT
echo "unmounted"
