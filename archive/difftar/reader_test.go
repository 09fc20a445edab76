package difftar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"dupfs/archive/index"
	"dupfs/archive/tarstream"
)

// member is a raw tar member for building test volumes.
type member struct {
	name string
	flag byte
	data string
}

func reg(name, data string) member { return member{name, tarstream.TypeReg, data} }

// volume writes members as duplicity ends a volume: padded, no end marker.
func volume(t testing.TB, ms ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := tarstream.NewWriter(&buf)
	for _, m := range ms {
		if err := w.WriteHeader(&tarstream.Header{Name: m.name, Typeflag: m.flag, Mode: 0644, Size: int64(len(m.data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// closer is a volume that counts how often it is closed.
type closer struct {
	io.Reader
	closed *int
	err    error
}

func (c closer) Close() error {
	*c.closed++
	return c.err
}

// volumes returns a next function over vols and a count of closed volumes.
func volumes(vols ...[]byte) (func() (io.Reader, error), *int) {
	closed := new(int)
	i := 0
	return func() (io.Reader, error) {
		if i == len(vols) {
			return nil, io.EOF
		}
		i++
		return closer{bytes.NewReader(vols[i-1]), closed, nil}, nil
	}, closed
}

type got struct {
	e    Entry
	data string
}

// readEntries reads every entry; limit > 0 reads at most limit bytes of
// each entry's data, leaving the rest to Next.
func readEntries(r *Reader, limit int) ([]got, error) {
	var all []got
	for {
		e, err := r.Next()
		if err == io.EOF {
			return all, nil
		}
		if err != nil {
			return all, err
		}
		var src io.Reader = r
		if limit > 0 {
			src = io.LimitReader(r, int64(limit))
		}
		d, err := io.ReadAll(src)
		if err != nil {
			return all, err
		}
		all = append(all, got{*e, string(d)})
	}
}

func TestReaderMultivol(t *testing.T) {
	vols := [][]byte{
		volume(t,
			member{"snapshot/./", tarstream.TypeDir, ""},
			reg("snapshot/a", "A"),
			reg("multivol_snapshot/big/1", "0123"),
			reg("multivol_snapshot/big/2", "4567"),
		),
		volume(t,
			reg("multivol_snapshot/big/3", "89"),
			reg("multivol_snapshot/big/4", ""), // a final empty chunk
			reg("multivol_diff/big/1", "d1"),   // same index, other kind: a new entry
			reg("multivol_diff/big/2", "d2"),
		),
		volume(t), // a volume with no entries
		volume(t,
			reg("multivol_snapshot/c/1", "x"),
			reg("multivol_snapshot/d/1", "y"), // same kind, other index
			reg("deleted/e", ""),
			reg("multivol_snapshot/f/7", "la"),
		),
		volume(t, reg("multivol_snapshot/f/8", "st")),
	}
	want := []struct {
		kind     Kind
		idx      string
		multivol bool
		data     string
	}{
		{Snapshot, "", false, ""},
		{Snapshot, "a", false, "A"},
		{Snapshot, "big", true, "0123456789"},
		{Diff, "big", true, "d1d2"},
		{Snapshot, "c", true, "x"},
		{Snapshot, "d", true, "y"},
		{Deleted, "e", false, ""},
		{Snapshot, "f", true, "last"},
	}
	for _, limit := range []int{0, 1, 5} {
		t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
			next, closed := volumes(vols...)
			r := NewReader(next)
			all, err := readEntries(r, limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(all) != len(want) {
				t.Fatalf("got %d entries %+v", len(all), all)
			}
			for i, w := range want {
				g := all[i]
				data := w.data
				if limit > 0 && len(data) > limit {
					data = data[:limit]
				}
				if g.e.Kind != w.kind || g.e.Index != w.idx || g.e.Multivol != w.multivol || g.data != data {
					t.Errorf("entry %d: got %+v %q, want %+v", i, g.e, g.data, w)
				}
				if w.multivol != (g.e.Size == -1) {
					t.Errorf("entry %d: size %d", i, g.e.Size)
				}
			}
			if *closed != len(vols) {
				t.Errorf("closed %d volumes, want %d", *closed, len(vols))
			}
			if _, err := r.Next(); err != io.EOF {
				t.Errorf("Next after the end = %v", err)
			}
			if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
				t.Errorf("Read after the end = %d, %v", n, err)
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	chunked := volume(t, reg("snapshot/a", "A"), reg("multivol_snapshot/big/1", strings.Repeat("c", 1000)))
	tests := []struct {
		name   string
		vols   [][]byte
		is     error
		substr string
	}{
		{"dot-dot", [][]byte{volume(t, reg("snapshot/../../etc/passwd", "x"))}, index.ErrUnsafe, `"snapshot/../../etc/passwd"`},
		{"absolute", [][]byte{volume(t, reg("snapshot//etc/passwd", "x"))}, index.ErrUnsafe, "member"},
		{"leading slash", [][]byte{volume(t, reg("/etc/passwd", "x"))}, nil, "unknown entry name"},
		{"hard link", [][]byte{volume(t, member{"snapshot/h", tarstream.TypeLink, ""})}, nil, "hard link"},
		{"huge PAX", [][]byte{volume(t, reg("snapshot/"+strings.Repeat("n", 2<<20), ""))}, nil, "limit"},
		{"truncated chunk", [][]byte{chunked[:len(chunked)-600]}, io.ErrUnexpectedEOF, "volume 1"},
		{"error in second volume", [][]byte{volume(t, reg("snapshot/a", "")), []byte("garbage")}, io.ErrUnexpectedEOF, "volume 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next, _ := volumes(tc.vols...)
			_, err := readEntries(NewReader(next), 0)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q does not mention %q", err, tc.substr)
			}
		})
	}
}

// TestReaderMissingVolume: when the volume holding a multivol entry's next
// chunk cannot be opened, reading the entry fails instead of ending early.
func TestReaderMissingVolume(t *testing.T) {
	vol := volume(t, reg("multivol_snapshot/big/1", "0123"))
	calls := 0
	r := NewReader(func() (io.Reader, error) {
		calls++
		if calls == 1 {
			return bytes.NewReader(vol), nil
		}
		return nil, errors.New("volume 2 is sealed")
	})
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	d, err := io.ReadAll(r)
	if err == nil || !strings.Contains(err.Error(), "sealed") || string(d) != "0123" {
		t.Fatalf("ReadAll = %q, %v", d, err)
	}
	if _, err2 := r.Next(); err2 != err {
		t.Fatalf("Next after error = %v", err2)
	}
}

func TestReaderCloseError(t *testing.T) {
	closed := 0
	fail := errors.New("MDC check failed")
	first := true
	r := NewReader(func() (io.Reader, error) {
		if !first {
			return nil, io.EOF
		}
		first = false
		return closer{bytes.NewReader(volume(t, reg("snapshot/a", "A"))), &closed, fail}, nil
	})
	_, err := readEntries(r, 0)
	if !errors.Is(err, fail) {
		t.Fatalf("error %v, want the close error", err)
	}
}

func TestReaderClose(t *testing.T) {
	next, closed := volumes(volume(t, reg("snapshot/a", "A"), reg("snapshot/b", "B")))
	r := NewReader(next)
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if *closed != 1 {
		t.Errorf("closed %d volumes", *closed)
	}
	if _, err := r.Next(); err == nil {
		t.Error("Next after Close succeeded")
	}
}

func BenchmarkReaderMultivol(b *testing.B) {
	const chunk = 64 << 10
	data := strings.Repeat("\xa5", chunk)
	var vols [][]byte
	for v := range 4 {
		var ms []member
		for i := range 64 {
			ms = append(ms, reg(fmt.Sprintf("multivol_snapshot/big/%d", v*64+i+1), data))
		}
		vols = append(vols, volume(b, ms...))
	}
	b.SetBytes(int64(4 * 64 * chunk))
	b.ReportAllocs()
	buf := make([]byte, chunk)
	for b.Loop() {
		next, _ := volumes(vols...)
		r := NewReader(next)
		if _, err := r.Next(); err != nil {
			b.Fatal(err)
		}
		if n, err := io.CopyBuffer(io.Discard, struct{ io.Reader }{r}, buf); err != nil || n != 4*64*chunk {
			b.Fatal(n, err)
		}
	}
}
