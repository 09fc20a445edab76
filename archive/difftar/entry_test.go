package difftar

import (
	"errors"
	"strings"
	"testing"

	"dupfs/archive/index"
	"dupfs/archive/tarstream"
)

func TestParseEntry(t *testing.T) {
	tests := []struct {
		name     string
		flag     byte
		kind     Kind
		idx      string
		typ      Type
		multivol bool
		err      string // substring of the expected error; "" = success
		unsafe   bool   // error wraps index.ErrUnsafe
	}{
		{name: "snapshot/./", flag: '5', kind: Snapshot, idx: "", typ: Dir},
		{name: "snapshot/.", flag: '5', kind: Snapshot, idx: "", typ: Dir},
		{name: "snapshot/", flag: '5', kind: Snapshot, idx: "", typ: Dir},
		{name: "snapshot", flag: '5', kind: Snapshot, idx: "", typ: Dir},
		{name: "snapshot", flag: '0', err: "unknown entry name"},
		{name: "snapshot/a/b/", flag: '5', kind: Snapshot, idx: "a/b", typ: Dir},
		{name: "snapshot/a/b//", flag: '5', kind: Snapshot, idx: "a/b", typ: Dir},
		{name: "snapshot/a.txt", flag: '0', kind: Snapshot, idx: "a.txt", typ: Reg},
		{name: "snapshot/v7", flag: 0, kind: Snapshot, idx: "v7", typ: Reg},
		{name: "snapshot/bad\xff\xfename", flag: '0', kind: Snapshot, idx: "bad\xff\xfename", typ: Reg},
		{name: "snapshot/l", flag: '2', kind: Snapshot, idx: "l", typ: Symlink},
		{name: "snapshot/p", flag: '6', kind: Snapshot, idx: "p", typ: Fifo},
		{name: "snapshot/c", flag: '3', kind: Snapshot, idx: "c", typ: Char},
		{name: "snapshot/b", flag: '4', kind: Snapshot, idx: "b", typ: Block},
		{name: "diff/x/y", flag: '0', kind: Diff, idx: "x/y", typ: Reg},
		{name: "deleted/gone", flag: '0', kind: Deleted, idx: "gone", typ: Reg},
		{name: "signature/s", flag: '0', kind: Signature, idx: "s", typ: Reg},
		{name: "multivol_snapshot/sub/big/1", flag: '0', kind: Snapshot, idx: "sub/big", typ: Reg, multivol: true},
		{name: "multivol_diff/f/1601", flag: '0', kind: Diff, idx: "f", typ: Reg, multivol: true},
		{name: "multivol_snapshot/multivol_snapshot/1/1", flag: '0', kind: Snapshot, idx: "multivol_snapshot/1", typ: Reg, multivol: true},
		{name: "multivol_snapshot/1", flag: '0', kind: Snapshot, idx: "", typ: Reg, multivol: true},
		{name: "multivol_snapshot/f/x", flag: '0', err: "chunk number"},
		{name: "multivol_snapshot/f/", flag: '0', err: "chunk number"},
		{name: "multivol_snapshot/d/1", flag: '5', err: "multivol chunk of type dir"},
		{name: "snapshot/hard", flag: '1', err: "hard link"},
		{name: "snapshot/sparse", flag: 'S', err: "unsupported tar type"},
		{name: "other/x", flag: '0', err: "unknown entry name"},
		{name: "/snapshot/x", flag: '0', err: "unknown entry name"},
		{name: "snapshot//etc/passwd", flag: '0', unsafe: true},
		{name: "snapshot/../x", flag: '0', unsafe: true},
		{name: "snapshot/a/../../x", flag: '0', unsafe: true},
		{name: "snapshot/..", flag: '5', unsafe: true},
		{name: "multivol_snapshot/../x/1", flag: '0', unsafe: true},
		{name: "deleted/a/./b", flag: '0', unsafe: true},
		{name: "snapshot/nul\x00x", flag: '0', unsafe: true},
	}
	for _, tc := range tests {
		h := &tarstream.Header{Name: tc.name, Typeflag: tc.flag, Mode: 0100644, Size: 7}
		e, err := parseEntry(h)
		switch {
		case tc.unsafe:
			if !errors.Is(err, index.ErrUnsafe) || !strings.Contains(err.Error(), "member") {
				t.Errorf("%q: error %v, want a member error wrapping ErrUnsafe", tc.name, err)
			}
			continue
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.name, err, tc.err)
			}
			continue
		case err != nil:
			t.Errorf("%q: %v", tc.name, err)
			continue
		}
		if e.Kind != tc.kind || e.Index != tc.idx || e.Type != tc.typ || e.Multivol != tc.multivol || e.Mode != 0644 {
			t.Errorf("%q: got %+v", tc.name, e)
		}
		wantSize := int64(7)
		if tc.multivol {
			wantSize = -1
		}
		if e.Size != wantSize {
			t.Errorf("%q: size %d, want %d", tc.name, e.Size, wantSize)
		}
	}
}

func TestMemberName(t *testing.T) {
	tests := []struct {
		kind     Kind
		idx      string
		typ      Type
		multivol bool
		chunk    int
		sigtar   bool
		want     string
	}{
		{Snapshot, "", Dir, false, 0, false, "snapshot/./"},
		{Snapshot, "", Dir, false, 0, true, "snapshot/"},
		{Snapshot, "a/b", Dir, false, 0, false, "snapshot/a/b/"},
		{Snapshot, "a/b", Dir, false, 0, true, "snapshot/a/b/"},
		{Snapshot, "a.txt", Reg, false, 0, false, "snapshot/a.txt"},
		{Snapshot, "l", Symlink, false, 0, false, "snapshot/l"},
		{Snapshot, "sub/big", Reg, true, 1, false, "multivol_snapshot/sub/big/1"},
		{Diff, "f", Reg, true, 1601, false, "multivol_diff/f/1601"},
		{Diff, "bad\xff", Reg, false, 0, false, "diff/bad\xff"},
		{Deleted, "gone", Reg, false, 0, false, "deleted/gone"},
		{Deleted, "gone", Reg, false, 0, true, "deleted/gone"},
		{Deleted, "olddir", Dir, false, 0, false, "deleted/olddir"},
		{Signature, "s/t", Reg, false, 0, true, "signature/s/t"},
	}
	for _, tc := range tests {
		got := MemberName(tc.kind, tc.idx, tc.typ, tc.multivol, tc.chunk, tc.sigtar)
		if got != tc.want {
			t.Errorf("MemberName(%v, %q, %v, %v, %d, %v) = %q, want %q", tc.kind, tc.idx, tc.typ, tc.multivol, tc.chunk, tc.sigtar, got, tc.want)
			continue
		}
		flag := tc.typ.typeflag()
		if tc.kind == Deleted {
			flag = tarstream.TypeReg
		}
		e, err := parseEntry(&tarstream.Header{Name: got, Typeflag: flag})
		if err != nil || e.Kind != tc.kind || e.Index != tc.idx || e.Multivol != tc.multivol {
			t.Errorf("%q parses as %+v, %v", got, e, err)
		}
	}
}

func TestHeader(t *testing.T) {
	tests := []struct {
		e    Entry
		size int64
		want tarstream.Header
	}{
		{
			Entry{Kind: Snapshot, Index: "a.txt", Type: Reg, Mode: 04755, Uid: 3000000, Gid: 5, Uname: "u", Gname: "g", Mtime: 1795353031},
			6,
			tarstream.Header{Name: "n", Typeflag: '0', Mode: 04755, Uid: 3000000, Gid: 5, Uname: "u", Gname: "g", Mtime: 1795353031, Size: 6},
		},
		{
			Entry{Kind: Deleted, Index: "gone", Type: Reg, Mode: 0644, Uid: 1, Gid: 1, Uname: "u", Gname: "g", Mtime: 9},
			0,
			tarstream.Header{Name: "n", Typeflag: '0'},
		},
		{
			Entry{Kind: Snapshot, Type: Symlink, Mode: 0755, Linkname: "target", Mtime: -5},
			0,
			tarstream.Header{Name: "n", Typeflag: '2', Mode: 0777, Linkname: "target"},
		},
		{
			Entry{Kind: Snapshot, Type: Block, Mode: 0660, Devmajor: 8, Devminor: 1, Linkname: "ignored"},
			0,
			tarstream.Header{Name: "n", Typeflag: '4', Mode: 0660, Devmajor: 8, Devminor: 1},
		},
		{
			Entry{Kind: Snapshot, Type: Dir, Mode: 01777, Devmajor: 3},
			0,
			tarstream.Header{Name: "n", Typeflag: '5', Mode: 01777},
		},
	}
	for _, tc := range tests {
		if got := tc.e.Header("n", tc.size); *got != tc.want {
			t.Errorf("Header(%+v)\n got %+v\nwant %+v", tc.e, *got, tc.want)
		}
	}
}
