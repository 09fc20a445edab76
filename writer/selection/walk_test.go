package selection

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"dupfs/archive/index"
)

func mkTree(t *testing.T, root string, dirs, files []string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func walkAll(t *testing.T, sel *Selector) []Entry {
	t.Helper()
	w := sel.Walk(context.Background())
	var out []Entry
	for {
		e, err := w.Next()
		if err == io.EOF {
			if _, err := w.Next(); err != io.EOF {
				t.Errorf("Next after EOF: %v", err)
			}
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
}

func indexes(es []Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Index)
	}
	return strings.Join(s, " ")
}

func TestWalkOrderAndTypes(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root, []string{"a/b", "a.d"}, []string{"a/b/f", "a-c", "a0", "a.d/g"})
	if err := os.Symlink("a", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(root, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	sel, err := New(root+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	es := walkAll(t, sel)
	// Sockets are skipped; the symlink is not followed.
	if got, want := indexes(es), " a a/b a/b/f a-c a.d a.d/g a0 fifo link"; got != want {
		t.Errorf("walk: %q, want %q", got, want)
	}
	for i, e := range es {
		if i > 0 && index.Compare(es[i-1].Index, e.Index) >= 0 {
			t.Errorf("%q after %q", e.Index, es[i-1].Index)
		}
		if e.Err != nil || e.Info == nil {
			t.Errorf("%q: err %v info %v", e.Index, e.Err, e.Info)
			continue
		}
		if want := filepath.Join(root, e.Index); e.Path != want {
			t.Errorf("Path %q, want %q", e.Path, want)
		}
		if _, ok := e.Info.Sys().(*syscall.Stat_t); !ok {
			t.Errorf("%q: Sys() is %T", e.Index, e.Info.Sys())
		}
	}
	if es[len(es)-1].Info.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("link: mode %v", es[len(es)-1].Info.Mode())
	}
}

func TestWalkRootKinds(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	mkTree(t, dir, []string{"d"}, []string{"file", "d/x"})
	link := filepath.Join(dir, "link")
	if err := os.Symlink("d", link); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{file, link} {
		sel, err := New(root, nil)
		if err != nil {
			t.Fatal(err)
		}
		if es := walkAll(t, sel); len(es) != 1 || es[0].Index != "" || es[0].Path != root {
			t.Errorf("%s: %+v", root, es)
		}
	}
	sel, err := New(filepath.Join(dir, "missing"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sel.Walk(context.Background()).Next(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing source: %v", err)
	}
}

func TestWalkCancel(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root, []string{"a"}, []string{"a/f"})
	sel, err := New(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w := sel.Walk(ctx)
	if _, err := w.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := w.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
}

// TestWalkLongPath makes paths longer than PATH_MAX: they cannot be
// lstat'ed, are yielded with Err, and the walk goes on.
func TestWalkLongPath(t *testing.T) {
	root := t.TempDir()
	mkTree(t, root, nil, []string{"z"})
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("d", 250)
	depth := 0
	for ; len(root)+depth*251 < unix.PathMax+300; depth++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = next
	}
	unix.Close(fd)
	t.Cleanup(func() { removeDeep(root, name, depth) })

	sel, err := New(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := walkAll(t, sel)
	var failed *Entry
	for i := range es {
		if es[i].Err != nil {
			failed = &es[i]
			break
		}
	}
	if failed == nil || failed.Info != nil || !errors.Is(failed.Err, syscall.ENAMETOOLONG) {
		t.Fatalf("no ENAMETOOLONG entry: %+v", failed)
	}
	if last := es[len(es)-1]; last.Index != "z" || last.Err != nil {
		t.Errorf("walk stopped early: last %q %v", last.Index, last.Err)
	}
}

// removeDeep removes a chain of directories too long for os.RemoveAll's
// paths, deepest first, through chdir-free *at calls.
func removeDeep(root, name string, depth int) {
	fds := []int{}
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	for i := 0; err == nil && i < depth-1; i++ {
		fds = append(fds, fd)
		fd, err = unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	}
	if err == nil {
		fds = append(fds, fd)
	}
	for i := len(fds) - 1; i >= 0; i-- {
		unix.Unlinkat(fds[i], name, unix.AT_REMOVEDIR)
		unix.Close(fds[i])
	}
}

const unreadableEnv = "DUPFS_SELECTION_UNREADABLE"

// TestWalkUnreadable checks paths the walker may not read. Root ignores
// permissions, so as root the test reruns itself as nobody.
func TestWalkUnreadable(t *testing.T) {
	if src := os.Getenv(unreadableEnv); src != "" {
		checkUnreadable(t, src)
		return
	}
	base, err := os.MkdirTemp("", "dupsel")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			os.Chmod(p, 0o755)
			return nil
		})
		os.RemoveAll(base)
	})
	src := filepath.Join(base, "src")
	mkTree(t, src, []string{"locked", "noexec", "noexec2", "ok"},
		[]string{"locked/f", "noexec/f", "noexec2/.nobackup", "ok/f", "secret"})
	for p, mode := range map[string]os.FileMode{base: 0o755, "locked": 0, "noexec": 0o744, "noexec2": 0o744, "secret": 0} {
		if p != base {
			p = filepath.Join(src, p)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() != 0 {
		checkUnreadable(t, src)
		return
	}
	self, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Skipf("cannot copy the test binary: %v", err)
	}
	bin := filepath.Join(base, "selection.test")
	if err := os.WriteFile(bin, self, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-test.run=^TestWalkUnreadable$", "-test.v")
	cmd.Dir = base
	cmd.Env = append(os.Environ(), unreadableEnv+"="+src)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil && len(out) == 0 {
		t.Skipf("cannot run as nobody: %v", err)
	}
	if err != nil || !strings.Contains(string(out), "--- PASS: TestWalkUnreadable") {
		t.Fatalf("as nobody: %v\n%s", err, out)
	}
}

func checkUnreadable(t *testing.T, src string) {
	sel, err := New(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	es := walkAll(t, sel)
	if got, want := indexes(es), " locked noexec noexec/f noexec2 noexec2/.nobackup ok ok/f secret"; got != want {
		t.Fatalf("walk: %q, want %q", got, want)
	}
	for _, e := range es {
		switch e.Index {
		case "locked": // cannot be listed
			if e.Info == nil || !errors.Is(e.Err, fs.ErrPermission) {
				t.Errorf("locked: info %v err %v", e.Info, e.Err)
			}
		case "noexec/f", "noexec2/.nobackup": // cannot be lstat'ed
			if e.Info != nil || !errors.Is(e.Err, fs.ErrPermission) {
				t.Errorf("%s: info %v err %v", e.Index, e.Info, e.Err)
			}
		default: // "secret" cannot be read, but that is for its reader to find
			if e.Info == nil || e.Err != nil {
				t.Errorf("%s: info %v err %v", e.Index, e.Info, e.Err)
			}
		}
	}

	// The marker in a directory that can be listed but not searched is
	// still found.
	sel, err = New(src, []Rule{{ExcludeIfPresent, ".nobackup"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := indexes(walkAll(t, sel)), " locked noexec noexec/f ok ok/f secret"; got != want {
		t.Errorf("exclude-if-present: %q, want %q", got, want)
	}

	// A scanned directory that cannot be listed is yielded with its error:
	// what it holds is unknown.
	sel, err = New(src, []Rule{{Include, src + "/locked/f"}, {Exclude, "**"}})
	if err != nil {
		t.Fatal(err)
	}
	es = walkAll(t, sel)
	if got := indexes(es); got != " locked" || es[1].Err == nil {
		t.Errorf("scanned unlistable: %q, err %v", got, es[len(es)-1].Err)
	}
}
