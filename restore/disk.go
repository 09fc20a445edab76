package restore

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/archive/librsync"
	"dupfs/archive/owners"
	"dupfs/archive/replay"
)

// skipError is a problem with one entry that does not stop the restore.
type skipError struct{ err error }

func (s *skipError) Error() string { return s.err.Error() }
func (s *skipError) Unwrap() error { return s.err }

func skip(format string, a ...any) error { return &skipError{fmt.Errorf(format, a...)} }

// openDir is a directory on the current path whose metadata is applied when
// the walk leaves it, after its contents are written.
type openDir struct {
	rel  string
	meta *difftar.Entry // nil for a directory the archive does not describe
}

// diskWriter creates entries under root in index order. It never follows a
// symlink: parents are checked with Lstat as the walk enters them, and
// files are created with O_EXCL|O_NOFOLLOW.
type diskWriter struct {
	root    string
	force   bool
	asRoot  bool
	stack   []openDir
	buf     *bufio.Writer
	uids    *owners.Map
	gids    *owners.Map
	rootSet bool
}

func newDiskWriter(root string, force bool) *diskWriter {
	return &diskWriter{
		root:   filepath.Clean(root),
		force:  force,
		asRoot: os.Geteuid() == 0,
		buf:    bufio.NewWriterSize(nil, 1<<20),
		uids:   owners.Users(),
		gids:   owners.Groups(),
	}
}

func (w *diskWriter) path(rel string) string {
	if rel == "" {
		return w.root
	}
	return filepath.Join(w.root, rel)
}

// write creates one node at rel (relative to the restore root) and returns
// the data bytes written. A *skipError skips the entry; any other error
// stops the restore.
func (w *diskWriter) write(g *replay.Group, n *replay.Node, rel string) (int64, error) {
	if err := w.enter(rel); err != nil {
		return 0, err
	}
	p := w.path(rel)
	e := n.Meta
	switch e.Type {
	case difftar.Dir:
		if err := w.makeDir(p); err != nil {
			return 0, err
		}
		w.stack = append(w.stack, openDir{rel: rel, meta: e})
		return 0, nil
	case difftar.Reg:
		return w.writeFile(g, n, p)
	case difftar.Symlink:
		err := w.create(p, func() error { return os.Symlink(e.Linkname, p) })
		if err != nil {
			return 0, err
		}
		if w.asRoot {
			if err := os.Lchown(p, w.uid(e), w.gid(e)); err != nil {
				return 0, skip("%s: %w", p, err)
			}
		}
		return 0, nil
	case difftar.Fifo:
		if err := w.create(p, func() error { return unix.Mkfifo(p, 0o600) }); err != nil {
			return 0, err
		}
		return 0, w.setMeta(p, e)
	case difftar.Char, difftar.Block:
		if !w.asRoot {
			return 0, skip("%s: device files can only be restored as root", p)
		}
		mode := uint32(unix.S_IFCHR)
		if e.Type == difftar.Block {
			mode = unix.S_IFBLK
		}
		dev := int(unix.Mkdev(e.Devmajor, e.Devminor))
		if err := w.create(p, func() error { return unix.Mknod(p, mode|0o600, dev) }); err != nil {
			return 0, err
		}
		return 0, w.setMeta(p, e)
	}
	return 0, skip("%s: unsupported entry type %v", index.Display(n.Index), e.Type)
}

// enter closes directories the walk has left and makes sure rel's parent
// directories exist as real directories, never symlinks.
func (w *diskWriter) enter(rel string) error {
	for len(w.stack) > 0 {
		top := w.stack[len(w.stack)-1]
		if top.rel != rel && index.Within(rel, top.rel) {
			break
		}
		if err := w.leave(); err != nil {
			return err
		}
	}
	if rel == "" {
		if w.rootSet {
			return skip("%s: root entry after its contents", w.root)
		}
		w.rootSet = true
		return nil
	}
	if !w.rootSet {
		w.rootSet = true
		if err := w.makeDir(w.root); err != nil {
			return err
		}
		w.stack = append(w.stack, openDir{rel: ""})
	}
	if len(w.stack) == 0 {
		return skip("%s: outside the restored tree", index.Display(rel))
	}
	parent := index.Parent(rel)
	top := w.stack[len(w.stack)-1].rel
	for top != parent {
		// Archives list directories before their contents; a missing one is
		// made with default permissions, a non-directory one is refused.
		next := parent
		for index.Parent(next) != top {
			next = index.Parent(next)
		}
		p := w.path(next)
		fi, err := os.Lstat(p)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(p, 0o755); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
		case err != nil:
			return fmt.Errorf("%s: %w", p, err)
		case !fi.IsDir():
			return skip("%s: refused: its parent %s is not a directory", index.Display(rel), p)
		}
		w.stack = append(w.stack, openDir{rel: next})
		top = next
	}
	return nil
}

// leave pops the innermost directory and applies its metadata.
func (w *diskWriter) leave() error {
	d := w.stack[len(w.stack)-1]
	w.stack = w.stack[:len(w.stack)-1]
	if d.meta == nil {
		return nil
	}
	return w.setMeta(w.path(d.rel), d.meta)
}

func (w *diskWriter) finish() error {
	for len(w.stack) > 0 {
		if err := w.leave(); err != nil {
			return err
		}
	}
	return nil
}

// makeDir creates a directory owner-writable (its real mode is applied when
// the walk leaves it), replacing a non-directory when forced.
func (w *diskWriter) makeDir(p string) error {
	fi, err := os.Lstat(p)
	if err == nil && fi.IsDir() {
		return os.Chmod(p, fi.Mode().Perm()|0o700)
	}
	return w.create(p, func() error { return os.Mkdir(p, 0o700) })
}

// create runs mk, which makes p and fails if p exists. With --force an
// existing p is removed first and mk retried once.
func (w *diskWriter) create(p string, mk func() error) error {
	err := mk()
	if errors.Is(err, os.ErrExist) && w.force {
		if err = os.RemoveAll(p); err == nil {
			err = mk()
		}
	}
	if errors.Is(err, syscall.ENAMETOOLONG) {
		// Longer than this file system allows: that entry alone is lost.
		return skip("create %s: %w", p, err)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", p, err)
	}
	return nil
}

func (w *diskWriter) writeFile(g *replay.Group, n *replay.Node, p string) (int64, error) {
	var f *os.File
	err := w.create(p, func() error {
		// unix.Open rather than os.OpenFile: os registers every file with
		// its poller, several syscalls wasted per file on a regular file.
		fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return &os.PathError{Op: "open", Path: p, Err: err}
		}
		f = os.NewFile(uintptr(fd), p)
		return nil
	})
	if err != nil {
		return 0, err
	}
	cw := &countWriter{w: f}
	w.buf.Reset(cw)
	err = g.WriteContent(w.buf, n, w.scratch)
	if err == nil {
		err = w.buf.Flush()
	}
	if err == nil {
		err = w.setFileMeta(f, n.Meta)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = setTimes(p, n.Meta.Mtime)
	}
	if err != nil {
		// A bad delta or a damaged volume spoils one file, which is not
		// left half-written; anything else (a full disk) stops the restore.
		var damage *DamageError
		if errors.As(err, &damage) {
			os.Remove(p)
			return cw.n, &skipError{&NotRestoredError{Path: index.Display(n.Index), Err: damage}}
		}
		if errors.Is(err, librsync.ErrCorruptDelta) || errors.Is(err, replay.ErrCorrupt) {
			os.Remove(p)
			return cw.n, &skipError{err}
		}
		return cw.n, err
	}
	return cw.n, nil
}

// scratch holds intermediate versions of a file being patched, on the
// destination's file system. The file is unlinked at once, so nothing is
// left behind even if the restore is killed.
func (w *diskWriter) scratch() (*os.File, func(), error) {
	dir := w.root
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		dir = filepath.Dir(w.root)
	}
	f, err := os.CreateTemp(dir, ".dupfs-scratch-*")
	if err != nil {
		return nil, nil, fmt.Errorf("scratch file: %w", err)
	}
	os.Remove(f.Name())
	return f, func() { f.Close() }, nil
}

func (w *diskWriter) setFileMeta(f *os.File, e *difftar.Entry) error {
	if w.asRoot {
		if err := f.Chown(w.uid(e), w.gid(e)); err != nil {
			return fmt.Errorf("chown %s: %w", f.Name(), err)
		}
	}
	// chmod after chown: chown clears setuid/setgid bits.
	if err := f.Chmod(fileMode(e.Mode)); err != nil {
		return fmt.Errorf("chmod %s: %w", f.Name(), err)
	}
	return nil
}

func (w *diskWriter) setMeta(p string, e *difftar.Entry) error {
	if w.asRoot {
		if err := os.Lchown(p, w.uid(e), w.gid(e)); err != nil {
			return fmt.Errorf("chown %s: %w", p, err)
		}
	}
	if err := os.Chmod(p, fileMode(e.Mode)); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	return setTimes(p, e.Mtime)
}

func setTimes(p string, mtime int64) error {
	ts := []unix.Timespec{{Nsec: unix.UTIME_NOW}, unix.NsecToTimespec(time.Unix(mtime, 0).UnixNano())}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("set mtime of %s: %w", p, err)
	}
	return nil
}

// fileMode converts permission bits incl. setuid/setgid/sticky to os.FileMode.
func fileMode(m uint32) os.FileMode {
	mode := os.FileMode(m & 0o777)
	if m&0o4000 != 0 {
		mode |= os.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= os.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= os.ModeSticky
	}
	return mode
}

func (w *diskWriter) uid(e *difftar.Entry) int { return w.uids.ID(e.Uname, e.Uid) }
func (w *diskWriter) gid(e *difftar.Entry) int { return w.gids.ID(e.Gname, e.Gid) }

type countWriter struct {
	w interface{ Write([]byte) (int, error) }
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
