// Package verify checks a backup, as `duplicity verify` does: Tree replays
// the backup at one time and compares it with a local directory; Stored
// checks every stored file of the target against its manifest.
//
// Each difference Tree finds is one line, the kind, the path (the index in
// the backup, "." for the root), and for "changed" what differs, backup's
// value first:
//
//	changed docs/a.txt: mode 0644 != 0600, mtime 2026-11-01T12:00:00Z != 2026-11-02T08:00:00Z
//	missing docs/b.txt
//	new docs/c.txt
//
// A path holding a control byte, a double quote at its start, ": " or
// bytes that are not UTF-8 is printed Go-quoted, so a line always parses.
package verify

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/archive/librsync"
	"dupfs/archive/owners"
	"dupfs/archive/replay"
	"dupfs/repo"
	"dupfs/restore"
)

// ErrFailed reports a verify that found differences or damaged files; each
// one was reported on its own.
var ErrFailed = errors.New("verification failed")

// Options for one Tree verify.
type Options struct {
	Time time.Time // verify the backup as it was at this time
	Path string    // index of a file or subtree to verify ("" = all)
	Dir  string    // the local copy of Path
	// CompareData compares the contents of regular files too; without it
	// only metadata and sizes are compared.
	CompareData bool
	// ScratchDir holds intermediate versions of files rebuilt from deltas;
	// "" means the system temp dir.
	ScratchDir string
	// Report receives each difference, in index order.
	Report func(Difference)
	// Damaged receives each volume that cannot be read (a
	// *restore.DamageError); the paths it held are reported as changed
	// ("cannot read backup") and the rest is compared.
	Damaged func(error)
}

// Kinds of Difference.
const (
	Changed = "changed" // in both, but not alike
	Missing = "missing" // in the backup, not in the directory
	New     = "new"     // in the directory, not in the backup
)

// Difference is one path that differs between backup and directory.
type Difference struct {
	Kind   string
	Index  string
	Detail string // for Changed: what differs
}

func (d Difference) String() string {
	s := d.Kind + " " + displayPath(d.Index)
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	return s
}

// oneLine keeps a message that quotes a path with control bytes on its
// line, so the output stays one difference per line.
func oneLine(msg string) string {
	if strings.ContainsFunc(msg, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return strconv.Quote(msg)
	}
	return msg
}

func displayPath(idx string) string {
	p := index.Display(idx)
	if !utf8.ValidString(p) || strings.Contains(p, ": ") || strings.HasPrefix(p, `"`) ||
		strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return strconv.Quote(p)
	}
	return p
}

// Stats summarises a Tree verify.
type Stats struct {
	Compared    int // paths compared (in the backup, the directory or both)
	Differences int
	Damaged     int // volumes that could not be read
}

// Tree compares the backup of opts.Path at opts.Time with opts.Dir and
// reports each difference. It returns an error wrapping ErrFailed when
// there were any, and other errors when the backup cannot be read.
func Tree(ctx context.Context, r *repo.Repo, opts Options) (Stats, error) {
	var st Stats
	if err := index.Check(opts.Path); err != nil {
		return st, fmt.Errorf("path to verify: %w", err)
	}
	if _, err := os.Lstat(opts.Dir); err != nil {
		return st, fmt.Errorf("directory to verify: %w", err)
	}
	c := &comparer{opts: opts, uids: owners.Users(), gids: owners.Groups(), local: newWalker(opts.Dir, opts.Path)}
	report := func(kind, idx, detail string) {
		st.Differences++
		if opts.Report != nil {
			opts.Report(Difference{Kind: kind, Index: idx, Detail: detail})
		}
	}
	// newUntil reports the directory's entries that sort before idx.
	newUntil := func(idx string, all bool) *localEntry {
		for {
			e := c.local.peek()
			if e == nil || (!all && index.Compare(e.idx, idx) >= 0) {
				return e
			}
			c.local.next()
			st.Compared++
			report(New, e.idx, "")
		}
	}
	damaged := func(err error) {
		var d *restore.DamageError
		if errors.As(err, &d) {
			st.Damaged++
		}
		if opts.Damaged != nil {
			opts.Damaged(err)
		}
	}
	found := false
	err := eachNode(ctx, r, opts.Time, opts.Path, damaged, func(idx string, g *replay.Group, n *replay.Node, err error) error {
		found = true
		st.Compared++
		var here *localEntry
		if e := newUntil(idx, false); e != nil && e.idx == idx {
			here = c.local.next()
		}
		if err == nil {
			err = index.Check(idx)
		}
		if err != nil {
			if errors.Is(err, replay.ErrLost) {
				err = replay.ErrLost // the path is already on the line
			}
			report(Changed, idx, "cannot read backup: "+oneLine(err.Error()))
			return nil
		}
		if here == nil {
			report(Missing, idx, "")
			return nil
		}
		detail, err := c.compare(g, n, here)
		if err != nil {
			return err
		}
		if detail != "" {
			report(Changed, idx, detail)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if !found && opts.Path != "" {
		return st, fmt.Errorf("%s: %w at %s", opts.Path, restore.ErrNotFound, opts.Time.UTC().Format(time.RFC3339))
	}
	newUntil("", true)
	if st.Differences > 0 || st.Damaged > 0 {
		return st, fmt.Errorf("%d differences found, %d damaged volume(s): %w", st.Differences, st.Damaged, ErrFailed)
	}
	return st, nil
}

// eachNode replays the backup of path at t and calls fn for each index
// present at that point (see restore.Walk): verify's one seam with the
// restore engine.
func eachNode(ctx context.Context, r *repo.Repo, t time.Time, path string, damaged func(error), fn func(idx string, g *replay.Group, n *replay.Node, err error) error) error {
	plan, err := restore.MakePlan(ctx, r, t, path)
	if err != nil {
		return err
	}
	return restore.Walk(ctx, r, plan, path, damaged, fn)
}

type comparer struct {
	opts       Options
	uids, gids *owners.Map
	local      *walker
}

// compare returns what differs between node n and the local entry, ""
// when they are alike. Like duplicity, symlinks compare by target only,
// device files without mtime. The error is a backup that cannot be read.
func (c *comparer) compare(g *replay.Group, n *replay.Node, l *localEntry) (string, error) {
	if l.err != nil {
		return "cannot read: " + l.err.Error(), nil
	}
	e := n.Meta
	st, ok := l.fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "cannot read: no owner information", nil
	}
	typ, _ := localType(l.fi.Mode())
	if typ != e.Type {
		return fmt.Sprintf("type %v != %v", e.Type, typ), nil
	}
	if typ == difftar.Symlink {
		target, err := os.Readlink(l.path)
		switch {
		case err != nil:
			return "cannot read: " + err.Error(), nil
		case target != e.Linkname && target != e.Linkname+"/":
			return fmt.Sprintf("target %q != %q", e.Linkname, target), nil
		}
		return "", nil
	}
	var diffs []string
	if mode := st.Mode & 0o7777; mode != e.Mode&0o7777 {
		diffs = append(diffs, fmt.Sprintf("mode %04o != %04o", e.Mode&0o7777, mode))
	}
	uid, gid := c.uids.ID(e.Uname, e.Uid), c.gids.ID(e.Gname, e.Gid)
	if uid != int(st.Uid) || gid != int(st.Gid) {
		diffs = append(diffs, fmt.Sprintf("owner %d:%d != %d:%d", uid, gid, st.Uid, st.Gid))
	}
	switch typ {
	case difftar.Char, difftar.Block:
		if major, minor := unix.Major(uint64(st.Rdev)), unix.Minor(uint64(st.Rdev)); major != e.Devmajor || minor != e.Devminor {
			diffs = append(diffs, fmt.Sprintf("device %d,%d != %d,%d", e.Devmajor, e.Devminor, major, minor))
		}
		return strings.Join(diffs, ", "), nil
	}
	// Negative mtimes count as 0, as in duplicity.
	if bm, lm := max(e.Mtime, 0), max(l.fi.ModTime().Unix(), 0); bm != lm {
		diffs = append(diffs, fmt.Sprintf("mtime %s != %s", formatTime(bm), formatTime(lm)))
	}
	if typ == difftar.Reg {
		d, err := c.compareFile(g, n, l)
		if err != nil {
			return "", err
		}
		if d != "" {
			diffs = append(diffs, d)
		}
	}
	return strings.Join(diffs, ", "), nil
}

// compareFile compares a regular file's size and, with CompareData, its
// contents, each side hashed as it streams. The size is taken from the
// archive when it records it; a file rebuilt from deltas is replayed.
func (c *comparer) compareFile(g *replay.Group, n *replay.Node, l *localEntry) (string, error) {
	size := l.fi.Size()
	if !c.opts.CompareData && len(n.Deltas) == 0 && !n.Meta.Multivol && n.Meta.Kind == difftar.Snapshot {
		if n.Meta.Size != size {
			return fmt.Sprintf("size %d != %d", n.Meta.Size, size), nil
		}
		return "", nil
	}
	backup := &hashCounter{h: sha256.New()}
	if err := g.WriteContent(backup, n, c.scratch); err != nil {
		var damage *restore.DamageError
		if errors.Is(err, librsync.ErrCorruptDelta) || errors.Is(err, replay.ErrCorrupt) || errors.As(err, &damage) {
			return "cannot read backup: " + oneLine(err.Error()), nil
		}
		return "", err
	}
	if backup.n != size {
		return fmt.Sprintf("size %d != %d", backup.n, size), nil
	}
	if !c.opts.CompareData {
		return "", nil
	}
	f, err := os.Open(l.path)
	if err != nil {
		return "cannot read: " + err.Error(), nil
	}
	defer f.Close()
	local := &hashCounter{h: sha256.New()}
	if _, err := io.Copy(local, f); err != nil {
		return "cannot read: " + err.Error(), nil
	}
	if local.n != backup.n || string(local.h.Sum(nil)) != string(backup.h.Sum(nil)) {
		return "data differs", nil
	}
	return "", nil
}

// scratch holds intermediate versions of a file being patched, unlinked at
// once so nothing is left behind.
func (c *comparer) scratch() (*os.File, func(), error) {
	f, err := os.CreateTemp(c.opts.ScratchDir, ".dupfs-verify-*")
	if err != nil {
		return nil, nil, fmt.Errorf("scratch file: %w", err)
	}
	os.Remove(f.Name())
	return f, func() { f.Close() }, nil
}

type hashCounter struct {
	h hash.Hash
	n int64
}

func (w *hashCounter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

func formatTime(sec int64) string { return time.Unix(sec, 0).UTC().Format(time.RFC3339) }

// localType is the archive type of a local file; false for what no backup
// stores (sockets).
func localType(m os.FileMode) (difftar.Type, bool) {
	switch {
	case m.IsRegular():
		return difftar.Reg, true
	case m.IsDir():
		return difftar.Dir, true
	case m&os.ModeSymlink != 0:
		return difftar.Symlink, true
	case m&os.ModeNamedPipe != 0:
		return difftar.Fifo, true
	case m&os.ModeCharDevice != 0:
		return difftar.Char, true
	case m&os.ModeDevice != 0:
		return difftar.Block, true
	}
	return 0, false
}
