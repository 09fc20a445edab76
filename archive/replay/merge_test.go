package replay

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	"dupfs/archive/difftar"
	"dupfs/archive/librsync"
)

// fakeStream serves entries with their data from memory.
type fakeStream struct {
	entries []*difftar.Entry
	data    []string
	i       int
	r       *strings.Reader
}

func (f *fakeStream) Next() (*difftar.Entry, error) {
	if f.i >= len(f.entries) {
		return nil, io.EOF
	}
	e := f.entries[f.i]
	f.r = strings.NewReader(f.data[f.i])
	f.i++
	return e, nil
}

func (f *fakeStream) Read(p []byte) (int, error) {
	if f.r == nil {
		return 0, io.EOF
	}
	return f.r.Read(p)
}

type fe struct {
	kind difftar.Kind
	idx  string
	typ  difftar.Type
	data string
}

func stream(es ...fe) *fakeStream {
	s := &fakeStream{}
	for _, e := range es {
		s.entries = append(s.entries, &difftar.Entry{Kind: e.kind, Index: e.idx, Type: e.typ, Mtime: int64(len(s.entries))})
		s.data = append(s.data, e.data)
	}
	return s
}

func delta(t *testing.T, basis, target string) string {
	t.Helper()
	var sig bytes.Buffer
	if err := librsync.WriteSignature(&sig, strings.NewReader(basis), librsync.MagicMD4Sig, 512, 8); err != nil {
		t.Fatal(err)
	}
	s, err := librsync.ReadSignature(&sig, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var d bytes.Buffer
	if err := librsync.WriteDelta(&d, s, strings.NewReader(target)); err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func scratch(t *testing.T) Scratch {
	return func() (*os.File, func(), error) {
		f, err := os.CreateTemp(t.TempDir(), "s")
		return f, func() { f.Close() }, err
	}
}

func TestReplayChain(t *testing.T) {
	v1 := strings.Repeat("a", 3000)
	v2 := v1 + "appended"
	v3 := "new start " + v2
	full := stream(
		fe{difftar.Snapshot, "", difftar.Dir, ""},
		fe{difftar.Snapshot, "dir", difftar.Dir, ""},
		fe{difftar.Snapshot, "dir/f", difftar.Reg, v1},
		fe{difftar.Snapshot, "gone", difftar.Reg, "x"},
		fe{difftar.Snapshot, "keep", difftar.Reg, "same"},
	)
	inc1 := stream(
		fe{difftar.Diff, "dir/f", difftar.Reg, delta(t, v1, v2)},
		fe{difftar.Deleted, "gone", difftar.Reg, ""},
		fe{difftar.Snapshot, "new", difftar.Symlink, ""},
	)
	inc2 := stream(
		fe{difftar.Diff, "dir/f", difftar.Reg, delta(t, v2, v3)},
		fe{difftar.Snapshot, "gone", difftar.Reg, "back"},
	)
	m := NewMerger([]Stream{full, inc1, inc2}, "")
	got := map[string]string{}
	var order []string
	for {
		g, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n, err := Resolve(g)
		if err != nil {
			t.Fatal(err)
		}
		if n == nil {
			continue
		}
		order = append(order, n.Index)
		var b bytes.Buffer
		if n.Meta.Type == difftar.Reg {
			if err := g.WriteContent(&b, n, scratch(t)); err != nil {
				t.Fatalf("%s: %v", n.Index, err)
			}
		}
		got[n.Index] = b.String()
	}
	want := map[string]string{"": "", "dir": "", "dir/f": v3, "gone": "back", "keep": "same", "new": ""}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", order, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%q = %.40q, want %.40q", k, got[k], v)
		}
	}
	if strings.Join(order, ",") != ",dir,dir/f,gone,keep,new" {
		t.Errorf("order %q", order)
	}
}

func TestMergerPrefix(t *testing.T) {
	s := stream(
		fe{difftar.Snapshot, "", difftar.Dir, ""},
		fe{difftar.Snapshot, "a", difftar.Dir, ""},
		fe{difftar.Snapshot, "a/b", difftar.Reg, "1"},
		fe{difftar.Snapshot, "a-c", difftar.Reg, "2"},
		fe{difftar.Snapshot, "b", difftar.Reg, "3"},
	)
	m := NewMerger([]Stream{s}, "a")
	var got []string
	for {
		g, err := m.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, g.Index)
	}
	if strings.Join(got, ",") != "a,a/b" {
		t.Fatalf("got %q", got)
	}
}

func TestResolveErrors(t *testing.T) {
	tests := []struct {
		name    string
		entries []*difftar.Entry
	}{
		{"delta without base", []*difftar.Entry{nil, {Kind: difftar.Diff, Type: difftar.Reg}}},
		{"delta after deletion", []*difftar.Entry{{Kind: difftar.Deleted}, {Kind: difftar.Diff, Type: difftar.Reg}}},
		{"delta on a directory", []*difftar.Entry{{Kind: difftar.Snapshot, Type: difftar.Dir}, {Kind: difftar.Diff, Type: difftar.Reg}}},
	}
	for _, tc := range tests {
		_, err := Resolve(&Group{Index: "x", Entries: tc.entries})
		if !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v", tc.name, err)
		}
	}
}

func TestMergerRejectsDisorder(t *testing.T) {
	s := stream(fe{difftar.Snapshot, "b", difftar.Reg, ""}, fe{difftar.Snapshot, "a", difftar.Reg, ""})
	m := NewMerger([]Stream{s}, "")
	if _, err := m.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Next(); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v", err)
	}
}
