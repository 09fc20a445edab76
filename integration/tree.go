// Package integration holds the end-to-end tests that check dupfs against
// the real duplicity 0.8.22, plus the helpers those suites share: running
// commands, building a source tree step by step, and snapshotting and
// comparing trees.
package integration

import (
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"dupfs/archive/index"
)

// Entry is what a restore must reproduce for one path.
type Entry struct {
	Type   string // "file", "dir", "symlink", "fifo", "other"
	Perm   uint32 // permission bits incl. setuid/setgid/sticky
	UID    uint32
	GID    uint32
	Size   int64
	SHA256 [32]byte // regular files only
	Target string   // symlinks only
	Mtime  int64    // integer seconds, as duplicity stores it
}

// Tree maps an index (components joined by "/", root "") to its entry.
type Tree map[string]Entry

// Snapshot records root and everything below it without following symlinks.
// root may itself be a file, which is then the entry for index "".
func Snapshot(root string) (Tree, error) {
	tree := Tree{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		if rel == "." {
			rel = ""
		}
		e, err := statEntry(p)
		if err != nil {
			return err
		}
		tree[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", root, err)
	}
	return tree, nil
}

func statEntry(p string) (Entry, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return Entry{}, &os.PathError{Op: "lstat", Path: p, Err: err}
	}
	e := Entry{
		Perm:  st.Mode & 07777,
		UID:   st.Uid,
		GID:   st.Gid,
		Mtime: st.Mtim.Sec,
	}
	switch st.Mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		e.Type = "file"
		e.Size = st.Size
		sum, err := hashFile(p)
		if err != nil {
			return Entry{}, err
		}
		e.SHA256 = sum
	case syscall.S_IFDIR:
		e.Type = "dir"
	case syscall.S_IFLNK:
		e.Type = "symlink"
		target, err := os.Readlink(p)
		if err != nil {
			return Entry{}, err
		}
		e.Target = target
	case syscall.S_IFIFO:
		e.Type = "fifo"
	default:
		e.Type = "other"
	}
	return e, nil
}

func hashFile(p string) ([32]byte, error) {
	var sum [32]byte
	f, err := os.Open(p)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return sum, fmt.Errorf("hash %s: %w", p, err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// Sub returns the part of t at and below rel, re-rooted at rel, which is
// what a restore of that path alone produces.
func (t Tree) Sub(rel string) Tree {
	sub := Tree{}
	for p, e := range t {
		if index.Within(p, rel) {
			sub[index.Rel(p, rel)] = e
		}
	}
	return sub
}

// Paths lists the indexes of t in duplicity's walk order.
func (t Tree) Paths() []string {
	paths := make([]string, 0, len(t))
	for p := range t {
		paths = append(paths, p)
	}
	sort.Slice(paths, func(i, j int) bool { return index.Compare(paths[i], paths[j]) < 0 })
	return paths
}

// CompareOptions says which attributes a comparison may not rely on.
type CompareOptions struct {
	IgnoreOwner bool // set when not running as root: chown is impossible
}

// Diff lists every difference between want and got, one line per path and
// attribute, in walk order; an empty result means the trees match. Symlink
// mtimes are never compared: no restore can set them.
func Diff(want, got Tree, opt CompareOptions) []string {
	all := Tree{}
	for p, e := range want {
		all[p] = e
	}
	for p, e := range got {
		all[p] = e
	}
	var out []string
	for _, p := range all.Paths() {
		w, inWant := want[p]
		g, inGot := got[p]
		name := fmt.Sprintf("%q", index.Display(p))
		switch {
		case !inGot:
			out = append(out, fmt.Sprintf("%s: missing (want %s)", name, w.Type))
			continue
		case !inWant:
			out = append(out, fmt.Sprintf("%s: unexpected %s", name, g.Type))
			continue
		}
		if w.Type != g.Type {
			out = append(out, fmt.Sprintf("%s: type %s, want %s", name, g.Type, w.Type))
			continue
		}
		var bad []string
		if w.Perm != g.Perm && w.Type != "symlink" {
			bad = append(bad, fmt.Sprintf("mode %04o, want %04o", g.Perm, w.Perm))
		}
		if !opt.IgnoreOwner && (w.UID != g.UID || w.GID != g.GID) {
			bad = append(bad, fmt.Sprintf("owner %d:%d, want %d:%d", g.UID, g.GID, w.UID, w.GID))
		}
		if w.Size != g.Size {
			bad = append(bad, fmt.Sprintf("size %d, want %d", g.Size, w.Size))
		} else if w.SHA256 != g.SHA256 {
			bad = append(bad, "content differs")
		}
		if w.Target != g.Target {
			bad = append(bad, fmt.Sprintf("target %q, want %q", g.Target, w.Target))
		}
		if w.Mtime != g.Mtime && w.Type != "symlink" {
			bad = append(bad, fmt.Sprintf("mtime %d, want %d", g.Mtime, w.Mtime))
		}
		if len(bad) > 0 {
			out = append(out, name+": "+strings.Join(bad, ", "))
		}
	}
	return out
}
