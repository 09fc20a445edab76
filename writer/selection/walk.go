package selection

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// Entry is one selected path.
type Entry struct {
	Index string // relative to the source: components joined by "/", "" for the source itself
	Path  string // the canonical source directory joined with Index
	// Info is from Lstat (Sys() is *syscall.Stat_t); nil when Lstat failed.
	Info fs.FileInfo
	// Err is set when the path could not be examined: Lstat failed (Info is
	// nil), or it is a directory (Info set) that could not be listed. What
	// is under it is then unknown, not gone: a backup must keep the
	// previous state of the whole subtree rather than record its old
	// children as deleted. (duplicity instead drops such paths with a
	// warning, which loses them from the new backup.)
	Err error
}

// Walker yields a Selector's paths one at a time; see Selector.Walk.
type Walker struct {
	sel     *Selector
	ctx     context.Context
	started bool
	stack   []*frame // the directories on the current path
	pending int      // the top frames that are scanned but not yet yielded
	queue   []Entry  // entries ready to return, in order
	head    int
}

type frame struct {
	entry Entry
	names []string // sorted by raw bytes
	next  int
}

// Walk starts a walk of the source tree. Next yields the source directory
// itself first, then the selected paths in duplicity's order: depth first,
// a directory before its contents, siblings by raw byte names (so indexes
// ascend component by component: "a/b" < "a-c" < "a.d"). Symlinks are not
// followed; sockets and unknown file types are skipped as duplicity skips
// them. A scanned directory is yielded just before the first path selected
// inside it. Only the sorted names of the directories on the current path
// are held in memory.
func (s *Selector) Walk(ctx context.Context) *Walker {
	return &Walker{sel: s, ctx: ctx}
}

// Next returns the next selected path, io.EOF after the last one, or the
// context's error once it is done. An unreadable path is an Entry with Err
// set, not an error; only a source directory that cannot be lstat'ed (or
// is a socket) fails the walk.
func (w *Walker) Next() (Entry, error) {
	for w.head == len(w.queue) {
		if err := w.ctx.Err(); err != nil {
			return Entry{}, err
		}
		w.queue, w.head = w.queue[:0], 0
		switch {
		case !w.started:
			w.started = true
			if err := w.start(); err != nil {
				return Entry{}, err
			}
		case len(w.stack) == 0:
			return Entry{}, io.EOF
		default:
			w.advance()
		}
	}
	e := w.queue[w.head]
	w.queue[w.head] = Entry{}
	w.head++
	return e, nil
}

// start yields the source directory whatever the rules say, as duplicity
// does.
func (w *Walker) start() error {
	root := w.sel.root
	info, err := os.Lstat(root)
	if err != nil {
		return fmt.Errorf("source directory: %w", err)
	}
	if !supported(info.Mode()) {
		return fmt.Errorf("source directory %s: unsupported file type %s", root, info.Mode().Type())
	}
	e := Entry{Path: root, Info: info}
	if info.IsDir() {
		names, err := readNames(root)
		if err != nil {
			e.Err = err
		} else {
			w.stack = append(w.stack, &frame{entry: e, names: names})
		}
	}
	w.queue = append(w.queue, e)
	return nil
}

// advance examines the next name of the innermost directory, queueing
// whatever that makes ready to yield.
func (w *Walker) advance() {
	f := w.stack[len(w.stack)-1]
	if f.next == len(f.names) {
		w.stack[len(w.stack)-1] = nil
		w.stack = w.stack[:len(w.stack)-1]
		w.pending = max(0, w.pending-1) // a scanned directory with nothing selected is dropped
		return
	}
	name := f.names[f.next]
	f.next++
	e := Entry{Index: joinIndex(f.entry.Index, name), Path: join(f.entry.Path, name)}
	info, err := os.Lstat(e.Path)
	switch {
	case err == nil:
		if !supported(info.Mode()) {
			return
		}
		e.Info = info
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR):
		return // gone since it was listed
	default:
		e.Err = err
	}
	v := w.sel.selectPath(&candidate{path: e.Path, info: e.Info})
	isDir := info != nil && info.IsDir()
	if v == excluded || v == scanned && info != nil && !isDir {
		return
	}
	var names []string
	if isDir {
		if names, err = readNames(e.Path); err != nil {
			e.Err = err
		}
	}
	if isDir && e.Err == nil && v == scanned {
		w.stack = append(w.stack, &frame{entry: e, names: names})
		w.pending++
		return
	}
	w.flushPending()
	w.queue = append(w.queue, e)
	if isDir && e.Err == nil {
		w.stack = append(w.stack, &frame{entry: e, names: names})
	}
}

// flushPending queues the scanned directories leading to a selected path.
func (w *Walker) flushPending() {
	for _, f := range w.stack[len(w.stack)-w.pending:] {
		w.queue = append(w.queue, f.entry)
	}
	w.pending = 0
}

// supported excludes what duplicity's Path cannot represent: sockets and
// unknown file types.
func supported(m fs.FileMode) bool {
	return m&(fs.ModeSocket|fs.ModeIrregular) == 0
}

func joinIndex(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// readNames lists a directory without following a symlink that replaced
// it since it was lstat'ed.
func readNames(dir string) ([]string, error) {
	f, err := os.OpenFile(dir, os.O_RDONLY|syscall.O_DIRECTORY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	slices.Sort(names)
	return names, nil
}
