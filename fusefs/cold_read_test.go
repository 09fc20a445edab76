package fusefs

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"

	"dupfs/backends/backendtest"
	"dupfs/backends/file"
	"dupfs/cache"
	"dupfs/points"
	"dupfs/repo"
	"dupfs/unseal"
	"dupfs/writer"
	"dupfs/writer/selection"
)

// coldTarget is a gzip backup (1 MiB volumes) of a, b (1 MiB each), big
// (2.5 MiB, several volumes) and small, behind a fake cold store where
// every volume is sealed and the archive dir holds the metadata.
type coldTarget struct {
	src, archive string
	store        *backendtest.Sealed
	r            *repo.Repo
}

// backup is the target and archive dir every cold test reads, written
// once: the tests share it read-only, each through its own fake store.
var backup struct {
	once                         sync.Once
	src, target, archive, failed string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if backup.src != "" {
		os.RemoveAll(filepath.Dir(backup.src))
	}
	os.Exit(code)
}

func makeBackup(t *testing.T) {
	ctx := context.Background()
	base, err := os.MkdirTemp("", "dupfs-fusefs-test")
	if err != nil {
		t.Fatal(err)
	}
	backup.src = filepath.Join(base, "src")
	backup.target = filepath.Join(base, "target")
	backup.archive = filepath.Join(base, "archive")
	for _, d := range []string{backup.src, backup.target, backup.archive} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.NewChaCha8([32]byte{3, 4})
	for n, size := range map[string]int{"a": 1 << 20, "b": 1 << 20, "big": 5 << 19, "small": 5} {
		data := make([]byte, size)
		rng.Read(data)
		if err := os.WriteFile(filepath.Join(backup.src, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	sel, err := selection.New(backup.src, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = writer.Backup(ctx, file.New(backup.target), repo.Options{ArchiveDir: backup.archive}, writer.Options{
		Source: sel.Walk(ctx), SourceDir: backup.src, Hostname: "test", NoEncryption: true, VolSize: 1 << 20,
		Notice: func(string) {}, Warn: func(err error) { t.Log(err) },
	})
	if err != nil {
		t.Fatal(err)
	}
}

func newColdTarget(t *testing.T, delay time.Duration) *coldTarget {
	t.Helper()
	ctx := context.Background()
	backup.once.Do(func() {
		backup.failed = "making the backup failed"
		makeBackup(t)
		backup.failed = ""
	})
	if backup.failed != "" {
		t.Fatal(backup.failed)
	}
	ct := &coldTarget{src: backup.src, archive: backup.archive}
	ct.store = backendtest.NewSealed(file.New(backup.target), delay)
	if err := ct.store.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	var err error
	ct.r, err = repo.Open(ctx, ct.store, repo.Options{ArchiveDir: ct.archive})
	if err != nil {
		t.Fatal(err)
	}
	if m := unseal.Metadata(ct.r); len(m) != 0 {
		t.Fatalf("the archive dir lacks %v", m)
	}
	return ct
}

// coldFS is a filesystem over ct with its own cache and tracker, as
// dupfs mount builds it, without mounting it.
type coldFS struct {
	*FS
	tracker *unseal.Tracker
	point   *points.Point
	tree    *points.Tree
	log     *syncBuf
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) logf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.b, format+"\n", args...)
}

func (s *syncBuf) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

func (ct *coldTarget) mount(t *testing.T, wait, poll time.Duration) *coldFS {
	t.Helper()
	ctx := context.Background()
	vc, err := cache.Open(t.TempDir(), 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vc.Close() })
	src := points.NewSource(ct.r, ct.archive)
	pts := points.List(ct.r.Collection)
	tree, err := src.Tree(ctx, pts[0])
	if err != nil {
		t.Fatal(err)
	}
	c := &coldFS{FS: New(src, points.NewData(src, vc), pts), point: pts[0], tree: tree, log: &syncBuf{}}
	c.Logf = c.log.logf
	c.tracker = unseal.NewTracker(ct.store, poll, c.log.logf)
	t.Cleanup(c.tracker.Close)
	var all []string
	for _, set := range pts[0].Sets {
		for _, v := range set.Volumes {
			all = append(all, v)
		}
	}
	if err := c.tracker.Learn(ctx, all); err != nil {
		t.Fatal(err)
	}
	c.SetCold(&Cold{Tracker: c.tracker, Wait: wait})
	return c
}

func (c *coldFS) file(t *testing.T, name string) *fileNode {
	t.Helper()
	n := c.tree.Lookup("", name)
	if n == nil {
		t.Fatalf("no %s in the tree", name)
	}
	return &fileNode{fsys: c.FS, pi: 0, point: c.point, node: n}
}

func (c *coldFS) volumes(t *testing.T, f *fileNode) []string {
	t.Helper()
	all, _, err := c.data.Volumes(context.Background(), f.point, f.node)
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func state(t *testing.T, f *fileNode) string {
	t.Helper()
	buf := make([]byte, 4096)
	n, errno := f.Getxattr(context.Background(), xattrState, buf)
	if errno != 0 {
		t.Fatalf("getxattr: %v", errno)
	}
	return string(buf[:n])
}

func (c *coldFS) status(t *testing.T) string {
	t.Helper()
	fh, _, errno := (&statusNode{t: c.tracker}).Open(context.Background(), syscall.O_RDONLY)
	if errno != 0 {
		t.Fatal(errno)
	}
	res, errno := fh.(*statusHandle).Read(context.Background(), make([]byte, 1<<16), 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	b, _ := res.Bytes(nil)
	return string(b)
}

func readAll(t *testing.T, f *fileNode) ([]byte, syscall.Errno) {
	t.Helper()
	fh, _, errno := f.Open(context.Background(), syscall.O_RDONLY)
	if errno != 0 {
		return nil, errno
	}
	h := fh.(*handle)
	defer h.Release(context.Background())
	out := make([]byte, f.node.Size)
	for off := 0; off < len(out); {
		res, errno := h.Read(context.Background(), out[off:min(len(out), off+128<<10)], int64(off))
		if errno != 0 {
			return nil, errno
		}
		b, _ := res.Bytes(nil)
		if len(b) == 0 {
			t.Fatalf("short read at %d", off)
		}
		off += copy(out[off:], b)
	}
	return out, 0
}

var readyAtRE = regexp.MustCompile(`ready at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)`)

// A mount over a sealed store: listing and attributes touch no volume;
// the state xattr says sealed; a read with --unseal-wait 0 asks for every
// volume of the file in one batch and fails at once with EAGAIN; the
// xattr then says unsealing with the ETA and the status file lists them;
// once ready (the tracker polls) the xattr says ready, the same read
// succeeds, and the file is cached.
func TestColdReadSealedUnsealingReadyCached(t *testing.T) {
	ctx := context.Background()
	const delay = 400 * time.Millisecond
	ct := newColdTarget(t, delay)
	c := ct.mount(t, 0, 50*time.Millisecond)
	big := c.file(t, "big")
	vols := c.volumes(t, big)
	if len(vols) < 2 {
		t.Fatalf("big spans %v, want several volumes", vols)
	}

	// ls -l, stat: nothing asked of the cold store.
	var attr fuse.AttrOut
	if errno := (&dirNode{fsys: c.FS, point: c.point}).Getattr(ctx, nil, &attr); errno != 0 {
		t.Fatal(errno)
	}
	if _, errno := (&dirNode{fsys: c.FS, point: c.point}).Readdir(ctx); errno != 0 {
		t.Fatal(errno)
	}
	if errno := big.Getattr(ctx, nil, &attr); errno != 0 || attr.Size != uint64(big.node.Size) {
		t.Fatalf("getattr: %v, size %d", errno, attr.Size)
	}
	want := fmt.Sprintf("sealed: %d volumes (%s)", len(vols), strings.Join(vols, " "))
	if got := state(t, big); got != want {
		t.Errorf("state before reading %q, want %q", got, want)
	}
	if st := ct.store.Stats(); st.UnsealCalls != 0 || len(st.Opens) != 0 {
		t.Fatalf("listing and getxattr reached the store: %+v", st)
	}
	if s := c.status(t); s != "nothing is being unsealed\n" {
		t.Errorf("status before any read: %q", s)
	}

	start := time.Now()
	if _, errno := readAll(t, big); errno != syscall.EAGAIN {
		t.Fatalf("read of a sealed file: %v, want EAGAIN", errno)
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("EAGAIN after %v with --unseal-wait 0", took)
	}
	st := ct.store.Stats()
	if st.Batches != 1 || len(st.Asked) != len(vols) || len(st.Opens) != 0 {
		t.Errorf("stats %+v: want one batch asking for each of %v, and no GET", st, vols)
	}
	for _, v := range vols {
		if st.Asked[v] != 1 {
			t.Errorf("%s asked for %d times", v, st.Asked[v])
		}
	}
	if !strings.Contains(c.log.String(), "EAGAIN") {
		t.Errorf("no log line saying why the read failed:\n%s", c.log)
	}

	s := state(t, big)
	m := readyAtRE.FindStringSubmatch(s)
	if !strings.HasPrefix(s, fmt.Sprintf("unsealing: %d volumes, ready at ", len(vols))) || m == nil {
		t.Fatalf("state after asking %q, want unsealing: N volumes, ready at T", s)
	}
	if at, err := time.Parse(time.RFC3339, m[1]); err != nil || at.Before(start.Add(-time.Second)) || at.After(start.Add(delay+2*time.Second)) {
		t.Errorf("ETA %s (%v), want about %v from the read", m[1], err, delay)
	}
	status := c.status(t)
	for _, v := range vols {
		if !strings.Contains(status, v+"\tunsealing\tready at ") {
			t.Errorf("status does not list %s as unsealing:\n%s", v, status)
		}
	}
	if want := fmt.Sprintf("%d volumes asked for: 0 readable, %d unsealing, 0 sealed; all ready at ", len(vols), len(vols)); !strings.Contains(status, want) {
		t.Errorf("status lacks %q:\n%s", want, status)
	}

	if !c.tracker.WaitReady(ctx, vols, 10*time.Second) {
		t.Fatal("the tracker never saw the volumes ready")
	}
	if s := state(t, big); s != "ready" {
		t.Errorf("state once unsealed %q, want ready", s)
	}
	got, errno := readAll(t, big)
	if errno != 0 {
		t.Fatalf("read once ready: %v\n%s", errno, c.log)
	}
	if wantData, _ := os.ReadFile(filepath.Join(ct.src, "big")); !bytes.Equal(got, wantData) {
		t.Error("big differs from the source")
	}
	if s := state(t, big); s != "cached" {
		t.Errorf("state after the read %q, want cached", s)
	}
	if st := ct.store.Stats(); st.Batches != 1 {
		t.Errorf("%d batches after the read, want still 1", st.Batches)
	}
	if status := c.status(t); !strings.Contains(status, fmt.Sprintf("%d volumes asked for: %d readable, 0 unsealing, 0 sealed\n", len(vols), len(vols))) {
		t.Errorf("status once read:\n%s", status)
	}
	// A cached file reads even when its volumes are sealed again.
	ct.store.Reseal()
	if _, errno := readAll(t, big); errno != 0 {
		t.Errorf("read of a cached file after a reseal: %v", errno)
	}
}

// --unseal-wait longer than the unseal: the read waits, then succeeds;
// a read whose request is cancelled (^C) stops waiting with EINTR.
func TestColdReadWaits(t *testing.T) {
	const delay = 300 * time.Millisecond
	ct := newColdTarget(t, delay)
	c := ct.mount(t, 20*time.Second, time.Hour) // the ETA, not the poll, wakes it
	start := time.Now()
	got, errno := readAll(t, c.file(t, "a"))
	if errno != 0 {
		t.Fatalf("read with a long wait: %v\n%s", errno, c.log)
	}
	if took := time.Since(start); took < delay || took > 10*time.Second {
		t.Errorf("read took %v, want about the %v unseal", took, delay)
	}
	if want, _ := os.ReadFile(filepath.Join(ct.src, "a")); !bytes.Equal(got, want) {
		t.Error("a differs from the source")
	}

	ct.store.Delay = time.Hour
	b := c.file(t, "b")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if _, _, errno := b.Open(ctx, syscall.O_RDONLY); errno != syscall.EINTR {
		t.Errorf("cancelled read: %v, want EINTR", errno)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the cancelled read returned after %v", took)
	}
}

// The tracker believes a volume readable, but the store sealed it again:
// the read fails with EAGAIN (its GET asked for the unseal), and the
// tracker learns the new state.
func TestColdReadStaleState(t *testing.T) {
	ct := newColdTarget(t, 0)
	c := ct.mount(t, 0, time.Hour)
	small := c.file(t, "small")
	vols := c.volumes(t, small)
	if _, err := ct.store.Unseal(context.Background(), vols); err != nil {
		t.Fatal(err)
	}
	if err := c.tracker.Learn(context.Background(), vols); err != nil {
		t.Fatal(err)
	}
	ct.store.Delay = time.Hour
	ct.store.Reseal()
	if _, errno := readAll(t, small); errno != syscall.EAGAIN {
		t.Fatalf("read of a resealed volume: %v, want EAGAIN", errno)
	}
	if s := state(t, small); !strings.HasPrefix(s, "unsealing: ") {
		t.Errorf("state after the failed read %q, want unsealing", s)
	}
}

// Read-ahead (cp -a of a volume's files) never opens a sealed volume:
// that would ask for an unseal nobody asked for.
func TestColdNoReadAheadOfSealed(t *testing.T) {
	ct := newColdTarget(t, 0)
	c := ct.mount(t, 0, time.Hour)
	if c.data.ReadAheadOK == nil {
		t.Fatal("SetCold left read-ahead unfiltered")
	}
	for _, v := range c.volumes(t, c.file(t, "big")) {
		if c.data.ReadAheadOK(v) {
			t.Errorf("%s, sealed, may be read ahead", v)
		}
	}
	a := c.volumes(t, c.file(t, "a"))
	if _, err := ct.store.Unseal(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if err := c.tracker.Learn(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	if !c.data.ReadAheadOK(a[0]) {
		t.Errorf("%s, unsealed, may not be read ahead", a[0])
	}
}

// A second read of volumes already unsealing, due after the wait, fails at
// once: a cp -a over a sealed point must not spend the wait on each file.
func TestColdReadAlreadyUnsealingFailsAtOnce(t *testing.T) {
	ct := newColdTarget(t, time.Hour)
	c := ct.mount(t, 500*time.Millisecond, time.Hour)
	start := time.Now()
	if _, _, errno := c.file(t, "a").Open(context.Background(), syscall.O_RDONLY); errno != SealedErrno {
		t.Fatalf("first read: %v, want %v", errno, SealedErrno)
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("the first read failed after %v, before its wait", took)
	}
	start = time.Now()
	if _, _, errno := c.file(t, "a").Open(context.Background(), syscall.O_RDONLY); errno != SealedErrno {
		t.Fatalf("second read: %v, want %v", errno, SealedErrno)
	}
	if took := time.Since(start); took > 300*time.Millisecond {
		t.Errorf("the second read waited %v for an unseal due in an hour", took)
	}
}
