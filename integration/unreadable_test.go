package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSourceUnreadableFile: a source file that cannot be opened (made so
// with a fanotify gate that denies its opens, since as root no mode bits
// would stop the read) during an incremental makes dupfs warn naming it,
// finish the backup and exit 3; the set keeps that file's previous state,
// which both tools restore, with every other change of the set. The next
// run, with the file readable again, backs its new content up.
func TestSourceUnreadableFile(t *testing.T) {
	t.Parallel()
	f := newWriterFixture(t, writerMode{shared: []string{"--no-encryption"}})
	locked := filepath.Join(f.src, "locked")
	secret := filepath.Join(locked, "secret.txt")
	write := func(rel, content string, mtime int64) {
		t.Helper()
		p := filepath.Join(f.src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, unixTime(mtime), unixTime(mtime)); err != nil {
			t.Fatal(err)
		}
	}
	snapshot := func() Tree {
		t.Helper()
		snap, err := Snapshot(f.src)
		if err != nil {
			t.Fatal(err)
		}
		return snap
	}

	write("a.txt", "a, first\n", mtimeBase+1)
	write("locked/secret.txt", "secret, first\n", mtimeBase+2)
	write("locked/other.txt", "other, first\n", mtimeBase+3)
	f.snaps = append(f.snaps, snapshot())
	f.dupfsBackup(t)

	// Every file changes; the secret cannot be read this time.
	write("a.txt", "a, second: longer\n", mtimeBase+11)
	write("locked/secret.txt", "secret, second: longer\n", mtimeBase+12)
	write("locked/other.txt", "other, second: longer\n", mtimeBase+13)
	want := snapshot()
	want["locked/secret.txt"] = f.snaps[0]["locked/secret.txt"]
	f.snaps = append(f.snaps, want)
	g := newDenyGate(t, locked, func(p string) bool { return p == secret })
	args := f.dupfsArgs("backup", f.dupfsWrite, "--volsize", "1", f.src, f.bk.URL())
	r := Dupfs(t, f.env, args...)
	g.close()
	if r.Code != 3 || !strings.Contains(string(r.Stderr), secret) || !strings.Contains(string(r.Stderr), "some source files could not be read (1)") {
		t.Errorf("want exit 3 and a warning naming %s, got %v", secret, r)
	}
	f.recordSet(t, "dupfs backup with an unreadable file")

	// Readable again: the next incremental stores the new content.
	f.snaps = append(f.snaps, snapshot())
	f.dupfsBackup(t)

	f.checkRestores(t)
	f.checkStatus(t)
}
