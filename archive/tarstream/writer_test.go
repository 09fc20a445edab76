package tarstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestWriterDocExample checks the header of snapshot/a.txt field by field
// as the format notes give it (section 5.3).
func TestWriterDocExample(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	h := &Header{Name: "snapshot/a.txt", Typeflag: TypeReg, Mode: 0644, Uname: "root", Gname: "root", Size: 6, Mtime: 1795353031}
	if err := w.WriteHeader(h); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("hello\n")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	if len(got) != 2*blockSize {
		t.Fatalf("wrote %d bytes, want %d", len(got), 2*blockSize)
	}
	want := make([]byte, blockSize)
	for off, s := range map[int]string{
		0: "snapshot/a.txt", 100: "0000644\x00", 108: "0000000\x00", 116: "0000000\x00",
		124: "00000000006\x00", 136: "15300564707\x00", 148: "012437\x00 ", 156: "0",
		257: "ustar\x0000", 265: "root", 297: "root",
	} {
		copy(want[off:], s)
	}
	if !bytes.Equal(got[:blockSize], want) {
		t.Errorf("header\n got %q\nwant %q", got[:blockSize], want)
	}
	if string(got[blockSize:]) != "hello\n"+strings.Repeat("\x00", blockSize-6) {
		t.Errorf("data block %q", got[blockSize:])
	}
}

// TestWriterNonUTF8Name checks the example of a PAX header with
// hdrcharset=BINARY from the format notes.
func TestWriterNonUTF8Name(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteHeader(&Header{Name: "snapshot/bad\xff\xfename", Typeflag: TypeReg, Size: 3}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if len(b) != 3*blockSize {
		t.Fatalf("wrote %d bytes", len(b))
	}
	if name := cstr(b[:100]); name != "././@PaxHeader" || b[offTypeflag] != typePAX {
		t.Errorf("extended header %q type %q", name, b[offTypeflag])
	}
	if s := string(b[offSize : offSize+12]); s != "00000000060\x00" {
		t.Errorf("extended header size field %q", s)
	}
	if p := string(b[blockSize : blockSize+48]); p != "21 hdrcharset=BINARY\n27 path=snapshot/bad\xff\xfename\n" {
		t.Errorf("records %q", p)
	}
	if name := cstr(b[2*blockSize : 2*blockSize+100]); name != "snapshot/bad??name" {
		t.Errorf("ustar name %q", name)
	}
}

func TestWriterClose(t *testing.T) {
	for _, size := range []int{0, 1, 512, 8*blockSize + 7, 10240 - 3*blockSize, 10240 - 2*blockSize} {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.WriteHeader(&Header{Name: "f", Typeflag: TypeReg, Size: int64(size)}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(make([]byte, size)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		body := blockSize + size + int(padding(int64(size)))
		n := buf.Len()
		if n%recordSize != 0 || n < body+2*blockSize || n >= body+2*blockSize+recordSize {
			t.Errorf("size %d: archive of %d bytes", size, n)
		}
		if !bytes.Equal(buf.Bytes()[body:], make([]byte, n-body)) {
			t.Errorf("size %d: end marker not zero", size)
		}
		if err := w.WriteHeader(&Header{Name: "g"}); err == nil {
			t.Error("WriteHeader after Close succeeded")
		}
	}
	// An empty signature tar is one record of zeros.
	var buf bytes.Buffer
	if err := NewWriter(&buf).Close(); err != nil || !bytes.Equal(buf.Bytes(), make([]byte, recordSize)) {
		t.Errorf("empty archive: %d bytes, %v", buf.Len(), err)
	}
}

func TestWriterErrors(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteHeader(&Header{Name: "f", Typeflag: TypeReg, Size: 4}); err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write([]byte("abcdef")); n != 4 || !errors.Is(err, ErrWriteTooLong) {
		t.Errorf("Write too long = %d, %v", n, err)
	}
	if err := w.WriteHeader(&Header{Name: "g", Typeflag: TypeReg, Size: 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Flush with a missing byte = %v", err)
	}

	for _, h := range []Header{
		{Name: "neg", Typeflag: TypeReg, Size: -1},
		{Name: "dir", Typeflag: TypeDir, Size: 1},
		{Name: "dev", Typeflag: TypeChar, Devmajor: 1 << 21},
		{Name: "dev", Typeflag: TypeBlock, Devminor: -1},
	} {
		if err := NewWriter(io.Discard).WriteHeader(&h); err == nil {
			t.Errorf("WriteHeader(%+v) succeeded", h)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriterStickyError(t *testing.T) {
	w := NewWriter(failWriter{})
	err := w.WriteHeader(&Header{Name: "f", Typeflag: TypeReg})
	if err == nil {
		t.Fatal("no error")
	}
	if err2 := w.Close(); err2 != err {
		t.Errorf("Close = %v, want %v", err2, err)
	}
}

func TestRoundTrip(t *testing.T) {
	members := pythonMembers()
	members = append(members,
		member{Header{Name: "negative", Typeflag: TypeReg, Uid: -1, Mtime: -5}, "n"},
		member{Header{Name: "huge", Typeflag: TypeReg, Mtime: 1 << 40, Uid: 1 << 40}, strings.Repeat("h", 1000)},
	)
	in := writeMembers(t, members)
	hs, data, err := readAll(t, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(hs) != len(members) {
		t.Fatalf("read %d members, wrote %d", len(hs), len(members))
	}
	for i, m := range members {
		want := m.h
		want.Size = int64(len(m.data))
		if want.Typeflag == TypeDir && !strings.HasSuffix(want.Name, "/") {
			want.Name += "/"
		}
		if hs[i] != want || data[i] != m.data {
			t.Errorf("member %d:\n got %+v %q\nwant %+v %q", i, hs[i], data[i], want, m.data)
		}
	}
}
