package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// lockTarget is a source, a file:// target and an archive dir shared by
// every run of a lock test (--name fixes the folder, as it does for
// duplicity).
type lockTarget struct {
	env      Env
	src      string
	snap     Tree
	base     string // --archive-dir
	lockfile string
	url      string
}

func newLockTarget(t *testing.T) *lockTarget {
	t.Helper()
	NeedDupfs(t)
	dir := t.TempDir()
	l := &lockTarget{
		env:      NewEnv(t),
		src:      filepath.Join(dir, "src"),
		base:     filepath.Join(dir, "cache"),
		lockfile: filepath.Join(dir, "cache", "lk", "lockfile"),
		url:      "file://" + filepath.Join(dir, "target"),
	}
	if err := os.MkdirAll(filepath.Dir(l.lockfile), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(l.src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ApplyStep(l.src, 0); err != nil {
		t.Fatal(err)
	}
	snap, err := Snapshot(l.src)
	if err != nil {
		t.Fatal(err)
	}
	l.snap = snap
	return l
}

// dupfsBackup is the argument list of a dupfs backup of the source.
func (l *lockTarget) dupfsBackup() []string {
	return []string{"backup", "--no-encryption", "--archive-dir", l.base, "--name", "lk", "--volsize", "1", l.src, l.url}
}

// duplicity is the argument list of a duplicity backup of the source: an
// incremental, since duplicity, unlike dupfs, does not wait for the next
// second before a full, and a full within dupfs's second would replace
// dupfs's set of the same name.
func (l *lockTarget) duplicity() []string {
	return []string{"incremental", "--no-encryption", "--archive-dir", l.base, "--name", "lk", "--volsize", "1", l.src, l.url}
}

// manifests counts the manifests in the target.
func (l *lockTarget) manifests(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir(strings.TrimPrefix(l.url, "file://"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if strings.Contains(e.Name(), ".manifest") {
			n++
		}
	}
	return n
}

// wantLocked checks that r is a dupfs run refused by the lock held by
// holder (as the message must name it).
func (l *lockTarget) wantLocked(t *testing.T, r Result, holder string) {
	t.Helper()
	want := fmt.Sprintf("dupfs: another backup of this target is running: %s holds %s\n", holder, l.lockfile)
	if r.Code != 1 || !strings.Contains(string(r.Stderr), want) {
		t.Errorf("want exit 1 and %q, got %v", want, r)
	}
}

// checkRestore restores the latest point with dupfs: the source.
func (l *lockTarget) checkRestore(t *testing.T) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	mustDupfs(t, l.env, "restore", "--no-encryption", "--archive-dir", l.base, "--name", "lk", l.url, out)
	checkTree(t, l.snap, out)
}

// TestLockHeldByAnotherProcess: while another process holds the archive
// dir's lock (taken here as duplicity's fasteners takes it: a POSIX
// record lock on "lockfile", which stays empty), dupfs backup stores
// nothing, exits 1 and names the holder by its pid, not by what a killed
// dupfs left in the lockfile. Once the lock is free the same run works.
func TestLockHeldByAnotherProcess(t *testing.T) {
	t.Parallel()
	l := newLockTarget(t)
	f, err := os.OpenFile(l.lockfile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// What a dupfs killed while holding the lock leaves behind.
	const stale = "dupfs pid 999999 on stale-host\n"
	if _, err := f.WriteString(stale); err != nil {
		t.Fatal(err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		t.Fatalf("lock %s: %v", l.lockfile, err)
	}

	r := Dupfs(t, l.env, l.dupfsBackup()...)
	l.wantLocked(t, r, fmt.Sprintf("pid %d", os.Getpid()))
	if n := l.manifests(t); n != 0 {
		t.Errorf("the refused run stored %d manifests", n)
	}
	// Read through the locking descriptor: closing any other one would
	// release this process's POSIX lock.
	buf := make([]byte, 100)
	n, _ := f.ReadAt(buf, 0)
	if got := string(buf[:n]); got != stale {
		t.Errorf("the refused run changed the lockfile to %q", got)
	}

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	mustDupfs(t, l.env, l.dupfsBackup()...)
	l.checkRestore(t)
	if b, err := os.ReadFile(l.lockfile); err != nil || len(b) != 0 {
		t.Errorf("after the backup the lockfile holds %q (%v), want it empty", b, err)
	}
}

var partialMeta = regexp.MustCompile(`^duplicity-.*\.part$`)

// TestLockConcurrentBackups runs two backups of one target and archive
// dir at once, the first frozen (see openGate) while it holds the lock
// and has started its set: a second dupfs run exits 1 naming the first
// (pid and host), and duplicity refuses too, its lock being the same. The
// first then completes and restores. The other way round, while duplicity
// (extending that chain) holds the lock, dupfs exits 1 naming duplicity's
// pid, and duplicity completes.
func TestLockConcurrentBackups(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	l := newLockTarget(t)
	archive := filepath.Dir(l.lockfile)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("dupfs-holds", func(t *testing.T) {
		// The partial signature tar is created once the lock is held.
		g := newOpenGate(t, archive, func(p string) bool { return partialMeta.MatchString(filepath.Base(p)) })
		first := startProcess(t, l.env.List(), dupfsBin, l.dupfsBackup()...)
		h := first.waitHeld(t, g, "the first dupfs to start its set")

		r := Dupfs(t, l.env, l.dupfsBackup()...)
		l.wantLocked(t, r, fmt.Sprintf("dupfs pid %d on %s", first.cmd.Process.Pid, host))
		r = Run(t.Context(), l.env.List(), "duplicity", l.duplicity()...)
		if r.Code == 0 || !strings.Contains(string(r.Stdout)+string(r.Stderr), "Another duplicity instance is already running with this archive directory") {
			t.Errorf("duplicity ran while dupfs held the lock: %v", r)
		}

		g.release(h)
		if r := first.wait(t); r.Code != 0 {
			t.Fatalf("the first dupfs failed: %v", r)
		}
		if n := l.manifests(t); n != 1 {
			t.Errorf("want the first run's manifest alone, the target holds %d", n)
		}
		l.checkRestore(t)
		ReportFault(t, FaultCase{
			Case:     "concurrent backups (dupfs first)",
			Injected: "a second dupfs and a duplicity backup of the same target while dupfs runs",
			Lost:     "nothing: both refused (exit 1, naming the holder), the first completes and restores",
		})
	})

	t.Run("duplicity-holds", func(t *testing.T) {
		g := newOpenGate(t, archive, func(p string) bool { return partialMeta.MatchString(filepath.Base(p)) })
		dup := startProcess(t, l.env.List(), "duplicity", l.duplicity()...)
		h := dup.waitHeld(t, g, "duplicity to start its set")

		r := Dupfs(t, l.env, l.dupfsBackup()...)
		l.wantLocked(t, r, fmt.Sprintf("pid %d", dup.cmd.Process.Pid))

		g.release(h)
		if r := dup.wait(t); r.Code != 0 {
			t.Fatalf("duplicity failed: %v", r)
		}
		if n := l.manifests(t); n != 2 {
			t.Errorf("want 2 manifests (dupfs's full, duplicity's incremental), the target holds %d", n)
		}
		l.checkRestore(t)
		ReportFault(t, FaultCase{
			Case:     "concurrent backups (duplicity first)",
			Injected: "a dupfs backup of the same target while duplicity runs",
			Lost:     "nothing: dupfs refused (exit 1, naming duplicity's pid), duplicity completes",
		})
	})
}
