package points

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"dupfs/archive/difftar"
	"dupfs/archive/index"
)

// Node is one path of a point's tree.
type Node struct {
	Name  string // last component ("" for the root)
	Index string
	Meta  difftar.Entry // type, mode, owner, mtime, link target
	Size  int64         // exact size of regular files
	// Ino numbers the node within its point, from 1 (the root), in index
	// order: stable for a given target, so inode numbers stay stable.
	Ino uint64
	// Set is the position in Point.Sets of the newest set that stored this
	// path, which decides its content.
	Set int
	// Stored has bit i set when Point.Sets[i] has an entry for this path:
	// only those sets' volumes can hold its data. Bit 63 stands for every
	// set from the 63rd on.
	Stored uint64
}

// storedBit is the Stored bit of set i.
func storedBit(i int) uint64 { return 1 << min(i, 63) }

// StoredIn reports whether set i may have an entry for n.
func (n *Node) StoredIn(i int) bool { return n.Stored&storedBit(i) != 0 }

// Tree is a point's directory structure.
type Tree struct {
	Root     *Node
	children map[string][]*Node // by directory index, sorted by name
}

// Children returns a directory's entries in name order.
func (t *Tree) Children(dir string) []*Node { return t.children[dir] }

// Lookup returns the child name of directory dir.
func (t *Tree) Lookup(dir, name string) *Node {
	kids := t.children[dir]
	i, ok := slices.BinarySearchFunc(kids, name, func(n *Node, name string) int { return strings.Compare(n.Name, name) })
	if !ok {
		return nil
	}
	return kids[i]
}

// Len is the number of nodes.
func (t *Tree) Len() int {
	n := 1
	for _, k := range t.children {
		n += len(k)
	}
	return n
}

// EntryStream is one set's entries in index order, each with its state
// after that set (FileSize set for regular files): deletions as Deleted.
type EntryStream interface {
	Next() (*difftar.Entry, error)
}

// BuildTree merges the sets' entry streams (oldest first): for every
// index, the newest entry decides whether it exists and what it is.
func BuildTree(ctx context.Context, streams []EntryStream) (*Tree, error) {
	t := &Tree{children: map[string][]*Node{}}
	heads := make([]*difftar.Entry, len(streams))
	advance := func(i int) error {
		e, err := streams[i].Next()
		switch {
		case err == io.EOF:
			heads[i] = nil
		case err != nil:
			return err
		default:
			if heads[i] != nil && index.Compare(e.Index, heads[i].Index) <= 0 {
				return fmt.Errorf("%s: entries out of order", index.Display(e.Index))
			}
			heads[i] = e
		}
		return nil
	}
	for i := range streams {
		if err := advance(i); err != nil {
			return nil, err
		}
	}
	var ino uint64
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cur := -1
		for i, h := range heads {
			if h != nil && (cur < 0 || index.Compare(h.Index, heads[cur].Index) < 0) {
				cur = i
			}
		}
		if cur < 0 {
			break
		}
		idx := heads[cur].Index
		newest := -1
		var e *difftar.Entry
		var stored uint64
		for i, h := range heads {
			if h != nil && h.Index == idx {
				newest, e = i, h
				stored |= storedBit(i)
			}
		}
		if e.Kind != difftar.Deleted {
			ino++
			n := &Node{Index: idx, Name: index.Base(idx), Meta: *e, Size: e.FileSize, Ino: ino, Set: newest, Stored: stored}
			if e.Type != difftar.Reg {
				n.Size = 0
			}
			if idx == "" {
				n.Name = ""
				t.Root = n
			} else {
				parent := index.Parent(idx)
				t.children[parent] = append(t.children[parent], n)
			}
		}
		for i, h := range heads {
			if h != nil && h.Index == idx {
				if err := advance(i); err != nil {
					return nil, err
				}
			}
		}
	}
	if t.Root == nil || t.Root.Meta.Type != difftar.Dir {
		return nil, errors.New("the backup has no root directory")
	}
	// Children arrive in index order, which sorts siblings by their bytes:
	// the order BinarySearch needs.
	return t, nil
}
