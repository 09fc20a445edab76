#!/bin/sh
# Regenerates the duplicity fixtures in this directory: a --no-encryption
# full backup of a fixed tree, then an incremental after some changes.
# Needs duplicity 0.8 and python3. The tests in archive/tarstream and
# archive/difftar know the tree's contents.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
src=$tmp/src
long=$(python3 -c 'print("d" * 120)')
pattern() { python3 -c "import sys; sys.stdout.buffer.write(bytes(i * 7 % 251 for i in range($1)))"; }

mkdir -p "$src/sub" "$src/$long"
printf 'hello\n' >"$src/a.txt"
printf 'x' >"$src/$(printf 'bad\377\376name')"
printf 'x\n' >"$src/$long/f"
ln -s a.txt "$src/link"
mkfifo "$src/fifo"
pattern 70000 >"$src/sub/big"
pattern 65536 >"$src/sub/exact"
: >"$src/sub/empty"
chmod 4750 "$src/sub/empty"
find "$src" -exec touch -h -d @1700000000 {} +

dup() { duplicity "$@" --no-encryption --archive-dir "$tmp/cache" --name fixture "$src" "file://$tmp/out" >/dev/null; }
dup full
rm "$src/a.txt"
printf 'more' >>"$src/sub/big"
printf 'new\n' >"$src/new.txt"
find "$src" -exec touch -h -d @1700000100 {} +
sleep 1
dup incremental

cd "$tmp/out"
cp duplicity-full.*.vol1.difftar.gz "$here/full.difftar.gz"
cp duplicity-full-signatures.*.sigtar.gz "$here/full.sigtar.gz"
cp duplicity-inc.*.vol1.difftar.gz "$here/inc.difftar.gz"
cp duplicity-new-signatures.*.sigtar.gz "$here/inc.sigtar.gz"
