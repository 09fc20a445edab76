// Package replay turns the entry streams of a backup chain's sets into the
// state of the tree at one point: for each index, the newest snapshot or
// deletion plus the deltas after it. Restore, list and the mount all use it.
package replay

import (
	"errors"
	"fmt"
	"io"

	"dupfs/archive/difftar"
	"dupfs/archive/index"
)

// ErrCorrupt marks archive content that is structurally impossible.
var ErrCorrupt = errors.New("corrupt archive")

// ErrLost marks a path whose state at the point depends on an entry of a
// volume that could not be read.
var ErrLost = errors.New("its data was in a damaged volume")

// Stream is one set's entries in index order (a *difftar.Reader).
type Stream interface {
	Next() (*difftar.Entry, error)
	io.Reader
}

// LostRanger is a Stream that may know a path was in a damaged part of its
// set without having an entry for it (see difftar.Lost).
type LostRanger interface {
	LostAt(index string) bool
}

// Merger walks several sets' streams (oldest set first) in step, by index.
type Merger struct {
	streams []Stream
	heads   []*difftar.Entry // current entry of each stream; nil when exhausted
	inGroup []bool           // which streams the last group consumed
	prefix  string
	started bool
}

// NewMerger merges streams, oldest set first. Only entries at prefix or
// below it are returned ("" = everything).
func NewMerger(streams []Stream, prefix string) *Merger {
	return &Merger{
		streams: streams,
		heads:   make([]*difftar.Entry, len(streams)),
		inGroup: make([]bool, len(streams)),
		prefix:  prefix,
	}
}

// Group is every set's entry for one index; Entries[i] is nil where set i
// has none. Entry data is readable with Data until the next Merger.Next.
type Group struct {
	Index   string
	Entries []*difftar.Entry
	m       *Merger
}

// Data returns the reader of set i's entry data in this group.
func (g *Group) Data(i int) io.Reader { return g.m.streams[i] }

// advance moves stream i to its next entry within the prefix.
func (m *Merger) advance(i int) error {
	prev := m.heads[i]
	for {
		e, err := m.streams[i].Next()
		if err == io.EOF {
			m.heads[i] = nil
			return nil
		}
		if err != nil {
			return err
		}
		if prev != nil && index.Compare(e.Index, prev.Index) < 0 {
			return fmt.Errorf("%s: %w: entries out of order (after %s)", index.Display(e.Index), ErrCorrupt, index.Display(prev.Index))
		}
		prev = e
		if index.Within(e.Index, m.prefix) {
			m.heads[i] = e
			return nil
		}
		if index.Compare(e.Index, m.prefix) > 0 {
			// Subtrees are contiguous in index order: the rest is past it.
			m.heads[i] = nil
			return nil
		}
	}
}

// Next returns the next index's group, or io.EOF.
func (m *Merger) Next() (*Group, error) {
	for i := range m.streams {
		if !m.started || m.inGroup[i] {
			if err := m.advance(i); err != nil {
				return nil, err
			}
		}
	}
	m.started = true
	var low *difftar.Entry
	for _, e := range m.heads {
		if e != nil && (low == nil || index.Compare(e.Index, low.Index) < 0) {
			low = e
		}
	}
	if low == nil {
		return nil, io.EOF
	}
	g := &Group{Index: low.Index, Entries: make([]*difftar.Entry, len(m.heads)), m: m}
	for i, e := range m.heads {
		m.inGroup[i] = e != nil && e.Index == low.Index
		if m.inGroup[i] {
			g.Entries[i] = e
		} else if lr, ok := m.streams[i].(LostRanger); ok && lr.LostAt(low.Index) {
			g.Entries[i] = &difftar.Entry{Index: low.Index, Kind: difftar.Lost}
		}
	}
	return g, nil
}

// Node is the state of one index at the replayed point.
type Node struct {
	Index string
	// Meta is the newest entry: its type and metadata are the node's.
	Meta *difftar.Entry
	// Base is the set whose snapshot holds the data the deltas apply to;
	// Deltas are the sets whose diff entries apply to it, oldest first.
	Base   int
	Deltas []int
}

// Resolve reduces a group to the node it leaves, or nil when the index is
// absent at that point (deleted, or never stored). Signature entries (from
// sigtars) count as snapshots. A Lost entry newer than the last snapshot
// or deletion makes the path unknowable: ErrLost.
func Resolve(g *Group) (*Node, error) {
	newest, base := -1, -1
	for i := len(g.Entries) - 1; i >= 0; i-- {
		e := g.Entries[i]
		if e == nil {
			continue
		}
		if newest < 0 {
			newest = i
		}
		if e.Kind == difftar.Lost {
			return nil, fmt.Errorf("%s: %w", index.Display(g.Index), ErrLost)
		}
		if e.Kind != difftar.Diff {
			base = i
			break
		}
	}
	if newest < 0 {
		return nil, nil
	}
	if base < 0 {
		return nil, fmt.Errorf("%s: %w: a delta with no earlier full copy", index.Display(g.Index), ErrCorrupt)
	}
	if g.Entries[base].Kind == difftar.Deleted {
		if base != newest {
			return nil, fmt.Errorf("%s: %w: a delta after a deletion", index.Display(g.Index), ErrCorrupt)
		}
		return nil, nil
	}
	n := &Node{Index: g.Index, Meta: g.Entries[newest], Base: base}
	for i := base + 1; i <= newest; i++ {
		if g.Entries[i] != nil {
			n.Deltas = append(n.Deltas, i)
		}
	}
	if len(n.Deltas) > 0 && (g.Entries[base].Type != difftar.Reg || n.Meta.Type != difftar.Reg) {
		return nil, fmt.Errorf("%s: %w: a delta on something that is not a regular file", index.Display(g.Index), ErrCorrupt)
	}
	return n, nil
}
