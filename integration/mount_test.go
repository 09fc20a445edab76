package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The mount suites: `dupfs mount` over real FUSE, read with cp, find,
// stat and ls, judged against the source trees and dupfs restore.

func TestMountDuplicityNoEncryption(t *testing.T) {
	t.Parallel()
	testMountChain(t, false, writerMode{shared: []string{"--no-encryption"}})
}

func TestMountDuplicitySymmetricPrefixes(t *testing.T) {
	t.Parallel()
	testMountChain(t, false, writerMode{shared: prefixOptions, vars: []string{"PASSPHRASE=" + keyPassphrase}})
}

func TestMountDuplicityPublicKey(t *testing.T) {
	t.Parallel()
	testMountChain(t, false, writerMode{publicKey: true})
}

func TestMountDupfsSymmetricPrefixes(t *testing.T) {
	t.Parallel()
	testMountChain(t, true, writerMode{shared: prefixOptions, vars: []string{"PASSPHRASE=" + keyPassphrase}})
}

func TestMountDupfsPublicKey(t *testing.T) {
	t.Parallel()
	testMountChain(t, true, writerMode{publicKey: true})
}

var prefixOptions = []string{
	"--file-prefix-manifest", "hot_",
	"--file-prefix-signature", "hot_",
	"--file-prefix-archive", "cold_",
}

// buildChain backs the scenario up, a full and an incremental per step,
// with dupfs or with duplicity, in 1 MiB volumes.
func buildChain(t *testing.T, byDupfs bool, mode writerMode) *writerFixture {
	t.Helper()
	f := newWriterFixture(t, mode)
	for k := range Steps {
		f.step(t, k)
		if byDupfs {
			f.dupfsBackup(t)
		} else {
			f.duplicityBackup(t, k == 0)
		}
	}
	return f
}

// testMountChain mounts a chain and checks that `cp -a` of every point
// equals the source as it was and dupfs restore of that point.
func testMountChain(t *testing.T, byDupfs bool, mode writerMode) {
	f := buildChain(t, byDupfs, mode)
	m := f.mount(t)
	defer func() {
		if t.Failed() {
			t.Logf("dupfs mount's log:\n%s", m.stderr.String())
		}
	}()
	checkRoot(t, m, f.bk.Times)
	for k, when := range f.bk.Times {
		t.Run(fmt.Sprintf("point-%d", k), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "cp")
			mustRun(t, "cp", "-a", filepath.Join(m.Dir, pointName(t, when))+"/.", out)
			checkTree(t, f.snaps[k], out)
			// The state attribute stays on the mount, not on copies.
			if n, err := unix.Listxattr(filepath.Join(out, "dir/keep.txt"), make([]byte, 1024)); err != nil || n != 0 {
				t.Errorf("cp -a copied extended attributes (%d bytes, %v)", n, err)
			}
			restored := filepath.Join(t.TempDir(), "restore")
			mustDupfs(t, f.env, f.dupfsArgs("restore", f.dupfsRead, "--time", when, f.bk.URL(), restored)...)
			a, errA := Snapshot(out)
			b, errB := Snapshot(restored)
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if d := Diff(b, a, CompareOptions{}); len(d) > 0 {
				t.Errorf("cp -a from the mount differs from dupfs restore:\n%s", strings.Join(d, "\n"))
			}
		})
	}
}

// checkRoot checks the root: one directory per set, "latest", and the
// extra entries given (the status file of a mount over cold storage).
func checkRoot(t *testing.T, m *Mounted, times []string, extra ...string) {
	t.Helper()
	ents, err := os.ReadDir(m.Dir)
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	for _, when := range times {
		want = append(want, pointName(t, when))
	}
	want = append(append(want, "latest"), extra...)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("mount root lists %q, want %q", got, want)
	}
	if l, err := os.Readlink(filepath.Join(m.Dir, "latest")); err != nil || l != pointName(t, times[len(times)-1]) {
		t.Errorf("latest -> %q (%v), want %q", l, err, pointName(t, times[len(times)-1]))
	}
}

// TestMountBehaviour checks, on one dupfs chain without encryption (so
// that the test can list volumes with the standard library): listings
// fetch nothing, a read fetches exactly the volumes holding the file,
// extended attributes, EROFS, the cache bound, a damaged volume, and
// unmounting by signal and by fusermount3.
func TestMountBehaviour(t *testing.T) {
	t.Parallel()
	f := buildChain(t, true, writerMode{shared: []string{"--no-encryption"}})
	cacheDir := filepath.Join(t.TempDir(), "cache")
	const cacheSize = 3 << 20
	m := f.mount(t, "--cache-dir", cacheDir, "--cache-size", "3M", "-v", "info")
	latest := filepath.Join(m.Dir, "latest")
	last := len(f.bk.Times) - 1

	t.Run("find-fetches-nothing", func(t *testing.T) {
		w := watchOpens(t, f.bk.Target)
		for _, when := range f.bk.Times {
			r := mustRun(t, "find", filepath.Join(m.Dir, pointName(t, when)), "-ls")
			if len(r.Stdout) == 0 {
				t.Fatal("find printed nothing")
			}
		}
		mustRun(t, "ls", "-lR", latest+"/")
		if vols := volumesIn(w.stop()); len(vols) > 0 {
			t.Errorf("listing fetched volumes %q", vols)
		}
		// Sizes and modes come from metadata alone, and are exact.
		for _, rel := range []string{"big.bin", "append.log", "dir/keep.txt", "over64k.bin"} {
			var st unix.Stat_t
			if err := unix.Lstat(filepath.Join(latest, rel), &st); err != nil {
				t.Fatal(err)
			}
			want := f.snaps[last][rel]
			if st.Size != want.Size || st.Mode&07777 != want.Perm {
				t.Errorf("%s: size %d mode %o, want %d %o", rel, st.Size, st.Mode&07777, want.Size, want.Perm)
			}
		}
	})

	t.Run("read-fetches-holders", func(t *testing.T) {
		for _, rel := range []string{"dir/keep.txt", "append.log"} {
			// A mount of its own: an empty cache.
			m := f.mount(t)
			p := filepath.Join(m.Dir, "latest", rel)
			state := xattr(t, p)
			if !strings.HasPrefix(state, "needs ") {
				t.Errorf("%s: state %q before reading, want needs ...", rel, state)
			}
			w := watchOpens(t, f.bk.Target)
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			fetched := volumesIn(w.stop())
			want := holders(t, f.bk.Target, f.bk.Times[:last+1], rel)
			if !slices.Equal(fetched, want) {
				t.Errorf("reading %s fetched %q, want the volumes holding it %q", rel, fetched, want)
			}
			if st := xattr(t, p); st != "cached" {
				t.Errorf("%s: state %q after reading, want cached", rel, st)
			}
			if !bytes.Equal(got, readSource(t, f, rel)) {
				t.Errorf("%s: content differs from the source", rel)
			}
			m.stop(t, syscall.SIGTERM)
		}
	})

	t.Run("random-reads", func(t *testing.T) {
		want := readSource(t, f, "big.bin")
		r := mustRun(t, "tail", "-c", "1000", filepath.Join(latest, "big.bin"))
		if !bytes.Equal(r.Stdout, want[len(want)-1000:]) {
			t.Error("tail -c differs from the source")
		}
		r = mustRun(t, "dd", "if="+filepath.Join(latest, "big.bin"), "bs=4096", "skip=100", "count=3", "status=none")
		if !bytes.Equal(r.Stdout, want[409600:409600+3*4096]) {
			t.Error("dd skip= differs from the source")
		}
	})

	t.Run("read-only", func(t *testing.T) {
		for _, try := range []func() error{
			func() error { return os.WriteFile(filepath.Join(latest, "a.txt"), []byte("x"), 0o644) },
			func() error { return os.WriteFile(filepath.Join(latest, "brand-new"), []byte("x"), 0o644) },
			func() error { return os.Mkdir(filepath.Join(latest, "newdir"), 0o755) },
			func() error { return os.Remove(filepath.Join(latest, "dir/keep.txt")) },
			func() error { return os.Rename(filepath.Join(latest, "a.txt"), filepath.Join(latest, "b.txt")) },
			func() error { return os.Chmod(filepath.Join(latest, "a.txt"), 0o600) },
			func() error { return os.Symlink("x", filepath.Join(latest, "newlink")) },
		} {
			if err := try(); !errors.Is(err, syscall.EROFS) {
				t.Errorf("write attempt: %v, want EROFS", err)
			}
		}
	})

	t.Run("cache-bound", func(t *testing.T) {
		// Read every file of every point: far more than 3 MiB of volumes.
		for _, when := range f.bk.Times {
			mustRun(t, "cp", "-a", filepath.Join(m.Dir, pointName(t, when))+"/.", t.TempDir()+"/out")
			if n := dirBytes(t, cacheDir); n > cacheSize {
				t.Errorf("cache holds %d bytes, over --cache-size %d", n, cacheSize)
			}
		}
		if fi, err := os.Stat(cacheDir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Errorf("cache dir mode: %v %v", fi.Mode(), err)
		}
	})

	t.Run("damaged-volume", func(t *testing.T) {
		// Flip a byte of the first incremental's only volume holding
		// new1.txt, then read with an empty cache.
		m.stop(t, syscall.SIGTERM)
		vols := holders(t, f.bk.Target, f.bk.Times[:2], "new1.txt")
		bad := vols[len(vols)-1]
		flipByte(t, filepath.Join(f.bk.Target, bad))
		m2 := f.mount(t, "--cache-dir", filepath.Join(t.TempDir(), "cache2"))
		p1 := filepath.Join(m2.Dir, pointName(t, f.bk.Times[1]))
		if _, err := os.ReadFile(filepath.Join(p1, "new1.txt")); !errors.Is(err, syscall.EIO) {
			t.Errorf("read through a damaged volume: %v, want EIO", err)
		}
		if got, err := os.ReadFile(filepath.Join(p1, "dir/keep.txt")); err != nil || string(got) != "kept\n" {
			t.Errorf("a file in an intact volume: %q %v", got, err)
		}
		m2.stop(t, syscall.SIGTERM)
		if !strings.Contains(m2.stderr.String(), bad) {
			t.Errorf("the mount's log does not name %s:\n%s", bad, m2.stderr.String())
		}
	})

	t.Run("fusermount3", func(t *testing.T) {
		m3 := f.mount(t)
		// Another test walking the temp dir can hold the mount for a
		// moment (EBUSY), as it would a user's: try again, as they would.
		var out []byte
		var err error
		for try := 0; try < 10; try++ {
			if out, err = exec.Command("fusermount3", "-u", m3.Dir).CombinedOutput(); err == nil {
				break
			}
			time.Sleep(300 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("fusermount3 -u %s: %v\n%s", m3.Dir, err, out)
		}
		if err := m3.wait(30 * time.Second); err != nil {
			t.Errorf("dupfs mount after fusermount3 -u: %v\n%s", err, m3.stderr.String())
		}
	})
}

// mount starts `dupfs mount` of the fixture's target.
func (f *writerFixture) mount(t *testing.T, extra ...string) *Mounted {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := f.dupfsArgs("mount", f.dupfsRead, extra...)
	if !slices.Contains(extra, "--cache-dir") {
		args = append(args, "--cache-dir", filepath.Join(t.TempDir(), "cache"))
	}
	return Mount(t, f.env, dir, append(args, f.bk.URL(), dir)...)
}

// Mounted is a running `dupfs mount`.
type Mounted struct {
	Dir    string
	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan error
}

// Mount runs dupfs with args (which mount dir) and waits until the mount
// is live. It is unmounted and stopped when t ends.
func Mount(t *testing.T, env Env, dir string, args ...string) *Mounted {
	t.Helper()
	NeedDupfs(t)
	cmd := exec.Command(dupfsBin, args...)
	cmd.Env = env.List()
	return MountCmd(t, cmd, dir)
}

// MountCmd is Mount of a prepared dupfs command (extra descriptors, say).
func MountCmd(t *testing.T, cmd *exec.Cmd, dir string) *Mounted {
	t.Helper()
	if _, err := exec.LookPath("fusermount3"); err != nil {
		t.Fatal("fusermount3 not found: run scripts/install-test-deps.sh")
	}
	m := &Mounted{Dir: dir, cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	m.cmd.Stdout, m.cmd.Stderr = m.stderr, m.stderr
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.done <- m.cmd.Wait() }()
	t.Cleanup(func() { m.stop(t, syscall.SIGTERM) })
	deadline := time.Now().Add(2 * time.Minute)
	for !isMounted(dir) {
		select {
		case err := <-m.done:
			m.done <- err
			t.Fatalf("dupfs mount exited before mounting: %v\n%s", err, m.stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dupfs mount not ready after 2 minutes:\n%s", m.stderr.String())
		}
	}
	return m
}

// stop signals the mount process and checks that it unmounts and exits
// cleanly; it is a no-op once the process has gone.
func (m *Mounted) stop(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if m.cmd.ProcessState != nil {
		return
	}
	select {
	case err := <-m.done:
		m.done <- err
		return
	default:
	}
	m.cmd.Process.Signal(sig)
	if err := m.wait(30 * time.Second); err != nil {
		t.Errorf("dupfs mount after %v: %v\n%s", sig, err, m.stderr.String())
	}
	if isMounted(m.Dir) {
		t.Errorf("%s still mounted after dupfs exited", m.Dir)
		exec.Command("fusermount3", "-uz", m.Dir).Run()
	}
}

// wait waits for the process to exit; a stuck one is unmounted lazily
// and killed, so that no test leaves a mount behind.
func (m *Mounted) wait(d time.Duration) error {
	select {
	case err := <-m.done:
		m.done <- err
		return err
	case <-time.After(d):
		exec.Command("fusermount3", "-uz", m.Dir).Run()
		m.cmd.Process.Kill()
		err := <-m.done
		m.done <- err
		return fmt.Errorf("did not exit within %v (killed): %v", d, err)
	}
}

// isMounted reports whether dir is a mount point, from /proc/self/mounts.
func isMounted(dir string) bool {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == dir {
			return true
		}
	}
	return false
}

// syncBuffer collects a process's output for several readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pointName turns a set time (20261122T130736Z) into its mount directory
// name (2026-11-22T13:07:36Z).
func pointName(t *testing.T, when string) string {
	t.Helper()
	tm, err := time.Parse("20060102T150405Z", when)
	if err != nil {
		t.Fatal(err)
	}
	return tm.UTC().Format("2006-01-02T15:04:05Z")
}

func mustRun(t *testing.T, name string, args ...string) Result {
	t.Helper()
	r := Run(t.Context(), os.Environ(), name, args...)
	if r.Code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

// openWatch records the files opened in one directory, with inotify: the
// test's own count of backend reads, independent of dupfs's reports.
type openWatch struct {
	f      *os.File
	dir    string
	mu     sync.Mutex
	opened []string
	done   chan struct{}
}

const sentinel = ".inotify-sentinel"

func watchOpens(t *testing.T, dir string) *openWatch {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_OPEN); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	w := &openWatch{f: os.NewFile(uintptr(fd), "inotify"), dir: dir, done: make(chan struct{})}
	go w.read()
	t.Cleanup(func() { w.f.Close() })
	return w
}

func (w *openWatch) read() {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if err != nil {
			return
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := strings.TrimRight(string(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)]), "\x00")
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if name == sentinel {
				close(w.done)
				return
			}
			w.mu.Lock()
			w.opened = append(w.opened, name)
			w.mu.Unlock()
		}
	}
}

// stop returns the names opened so far: opening a sentinel file last
// makes sure every earlier event has been read.
func (w *openWatch) stop() []string {
	p := filepath.Join(w.dir, sentinel)
	os.WriteFile(p, nil, 0o600)
	defer os.Remove(p)
	select {
	case <-w.done:
	case <-time.After(30 * time.Second):
	}
	w.f.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.opened...)
}

// volumesIn keeps the volume names of a list of opened files, sorted and
// without repeats.
func volumesIn(names []string) []string {
	var out []string
	for _, n := range names {
		if strings.Contains(n, ".difftar") && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// holders lists the volumes of the sets ending at times that have a member
// for rel, read with the standard library's tar and gzip (the target is
// unencrypted).
func holders(t *testing.T, target string, times []string, rel string) []string {
	t.Helper()
	ents, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		name := e.Name()
		if !strings.Contains(name, ".difftar.gz") || !slices.ContainsFunc(times, func(when string) bool {
			return strings.Contains(name, "-full."+when+".vol") || strings.Contains(name, ".to."+when+".vol")
		}) {
			continue
		}
		if volumeHas(t, filepath.Join(target, name), rel) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func volumeHas(t *testing.T, path, rel string) bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return false
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for _, prefix := range []string{"snapshot/", "diff/", "deleted/"} {
			if h.Name == prefix+rel {
				return true
			}
		}
		for _, prefix := range []string{"multivol_snapshot/", "multivol_diff/"} {
			if strings.HasPrefix(h.Name, prefix+rel+"/") {
				return true
			}
		}
	}
}

func xattr(t *testing.T, path string) string {
	t.Helper()
	buf := make([]byte, 4096)
	n, err := unix.Getxattr(path, "user.dupfs.state", buf)
	if err != nil {
		t.Fatalf("getxattr %s: %v", path, err)
	}
	return string(buf[:n])
}

// readSource is the content of rel in the source as the last set saw it
// (the source is still in that state).
func readSource(t *testing.T, f *writerFixture, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.src, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func flipByte(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0xff
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
