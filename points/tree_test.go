package points

import (
	"context"
	"io"
	"testing"

	"dupfs/archive/difftar"
)

type entries []*difftar.Entry

func (e *entries) Next() (*difftar.Entry, error) {
	if len(*e) == 0 {
		return nil, io.EOF
	}
	x := (*e)[0]
	*e = (*e)[1:]
	return x, nil
}

func dir(idx string) *difftar.Entry {
	return &difftar.Entry{Kind: difftar.Signature, Index: idx, Type: difftar.Dir}
}
func reg(idx string, size int64) *difftar.Entry {
	return &difftar.Entry{Kind: difftar.Signature, Index: idx, Type: difftar.Reg, FileSize: size}
}
func del(idx string) *difftar.Entry {
	return &difftar.Entry{Kind: difftar.Deleted, Index: idx, Type: difftar.Reg}
}

// TestBuildTree merges a full and two incrementals: the newest entry of a
// path decides, deletions remove, and Stored names every set with an entry.
func TestBuildTree(t *testing.T) {
	full := entries{dir(""), reg("a", 1), reg("b", 2), dir("d"), reg("d/x", 3)}
	inc1 := entries{reg("a", 10), del("b"), reg("c", 4)}
	inc2 := entries{reg("a", 100), dir("d"), reg("d/y", 5)}
	tr, err := BuildTree(context.Background(), []EntryStream{&full, &inc1, &inc2})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		dir, name string
		size      int64
		set       int
		stored    []int
	}{
		{"", "a", 100, 2, []int{0, 1, 2}},
		{"", "c", 4, 1, []int{1}},
		{"", "d", 0, 2, []int{0, 2}},
		{"d", "x", 3, 0, []int{0}},
		{"d", "y", 5, 2, []int{2}},
	}
	for _, tc := range tests {
		n := tr.Lookup(tc.dir, tc.name)
		if n == nil {
			t.Errorf("%s/%s missing", tc.dir, tc.name)
			continue
		}
		if n.Size != tc.size || n.Set != tc.set {
			t.Errorf("%s: size %d set %d, want %d %d", n.Index, n.Size, n.Set, tc.size, tc.set)
		}
		for i := range 3 {
			want := false
			for _, s := range tc.stored {
				want = want || s == i
			}
			if n.StoredIn(i) != want {
				t.Errorf("%s: StoredIn(%d) = %v", n.Index, i, !want)
			}
		}
	}
	if tr.Lookup("", "b") != nil {
		t.Error("deleted b still listed")
	}
	if got := len(tr.Children("")); got != 3 {
		t.Errorf("root has %d children, want 3", got)
	}
	if tr.Len() != 6 {
		t.Errorf("Len %d, want 6", tr.Len())
	}
	bad := entries{dir(""), reg("b", 1), reg("a", 1)}
	if _, err := BuildTree(context.Background(), []EntryStream{&bad}); err == nil {
		t.Error("out-of-order entries accepted")
	}
	noRoot := entries{reg("a", 1)}
	if _, err := BuildTree(context.Background(), []EntryStream{&noRoot}); err == nil {
		t.Error("a tree without a root accepted")
	}
}

// TestStoredBeyond63 checks that sets past the 63rd share the last bit.
func TestStoredBeyond63(t *testing.T) {
	n := &Node{Stored: storedBit(70)}
	if !n.StoredIn(64) || !n.StoredIn(100) || n.StoredIn(62) {
		t.Errorf("Stored %x", n.Stored)
	}
}
