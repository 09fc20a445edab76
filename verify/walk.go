package verify

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
)

// localEntry is one path of the local directory.
type localEntry struct {
	idx   string // index in the backup
	path  string
	fi    os.FileInfo
	names []string // a directory's entries, sorted
	err   error    // it could not be stat'ed or listed
}

// walker lists a local tree in the backup's index order: a directory, then
// its entries by name, bytewise, each directory's subtree before the next
// name. Only the listings of the current path are held.
type walker struct {
	root    string
	rootIdx string
	head    *localEntry // peeked, not yet taken
	stack   []*localEntry
	done    bool // the root was listed
}

func newWalker(dir, prefix string) *walker {
	return &walker{root: dir, rootIdx: prefix}
}

func (w *walker) peek() *localEntry {
	if w.head == nil {
		w.head = w.advance()
	}
	return w.head
}

// next takes the peeked entry; the walk goes into it if it is a directory.
func (w *walker) next() *localEntry {
	e := w.peek()
	w.head = nil
	if e != nil && len(e.names) > 0 {
		w.stack = append(w.stack, e)
	}
	return e
}

func (w *walker) advance() *localEntry {
	if !w.done {
		w.done = true
		return w.entry(w.rootIdx, w.root)
	}
	for len(w.stack) > 0 {
		top := w.stack[len(w.stack)-1]
		if len(top.names) == 0 {
			w.stack = w.stack[:len(w.stack)-1]
			continue
		}
		name := top.names[0]
		top.names = top.names[1:]
		idx := name
		if top.idx != "" {
			idx = top.idx + "/" + name
		}
		if e := w.entry(idx, filepath.Join(top.path, name)); e != nil {
			return e
		}
	}
	return nil
}

// entry stats path; nil when it vanished or is of a type no backup
// stores.
func (w *walker) entry(idx, path string) *localEntry {
	e := &localEntry{idx: idx, path: path}
	e.fi, e.err = os.Lstat(path)
	if errors.Is(e.err, os.ErrNotExist) {
		return nil
	}
	if e.err != nil {
		return e
	}
	if _, ok := localType(e.fi.Mode()); !ok {
		return nil
	}
	if e.fi.IsDir() {
		f, err := os.Open(path)
		if err == nil {
			e.names, err = f.Readdirnames(-1)
			f.Close()
		}
		if err != nil {
			e.err, e.names = err, nil
		}
		sort.Strings(e.names)
	}
	return e
}
