package tarstream

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// block encodes u as a header block; edit, if set, changes raw bytes before
// the checksum is recomputed.
func block(u ustar, edit func(b *[blockSize]byte)) []byte {
	buf := appendBlock(nil, u)
	if edit != nil {
		b := (*[blockSize]byte)(buf)
		edit(b)
		sum, _ := checksums(b)
		putOctal(b[offChksum:offChksum+7], sum)
		b[offChksum+7] = ' '
	}
	return buf
}

// payload pads s to whole blocks.
func payload(s string) []byte {
	return append([]byte(s), make([]byte, padding(int64(len(s))))...)
}

// paxBlock encodes key/value pairs as a PAX extended header.
func paxBlock(kv ...string) []byte {
	var recs []paxRecord
	for i := 0; i < len(kv); i += 2 {
		recs = append(recs, paxRecord{kv[i], kv[i+1]})
	}
	return paxRaw(string(paxPayload(recs)))
}

// paxRaw makes a PAX extended header with the given payload.
func paxRaw(records string) []byte {
	return append(block(ustar{name: "././@PaxHeader", typeflag: typePAX, size: int64(len(records))}, nil), payload(records)...)
}

func concat(parts ...[]byte) []byte {
	return bytes.Join(parts, nil)
}

// readAll returns every header and its data.
func readAll(t *testing.T, in []byte) ([]Header, []string, error) {
	t.Helper()
	r := NewReader(bytes.NewReader(in))
	var hs []Header
	var data []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			return hs, data, nil
		}
		if err != nil {
			return hs, data, err
		}
		d, err := io.ReadAll(r)
		if err != nil {
			return hs, data, err
		}
		hs = append(hs, *h)
		data = append(data, string(d))
	}
}

func TestReaderDialects(t *testing.T) {
	gnuMagic := func(b *[blockSize]byte) { copy(b[offMagic:], "ustar  \x00") }
	tests := []struct {
		name string
		in   []byte
		want []Header
		data []string
	}{
		{
			name: "GNU long name and link",
			in: concat(
				block(ustar{name: "././@LongLink", typeflag: typeLongName, size: 151}, gnuMagic),
				payload(strings.Repeat("n", 150)+"\x00"),
				block(ustar{name: "././@LongLink", typeflag: typeLongLink, size: 3}, gnuMagic),
				payload("t\xffx"),
				block(ustar{name: "nnn", typeflag: TypeSymlink, linkname: "ttt"}, gnuMagic),
			),
			want: []Header{{Name: strings.Repeat("n", 150), Typeflag: TypeSymlink, Linkname: "t\xffx"}},
			data: []string{""},
		},
		{
			name: "ustar prefix",
			in:   block(ustar{name: "c", typeflag: TypeReg}, func(b *[blockSize]byte) { copy(b[offPrefix:], "a/b") }),
			want: []Header{{Name: "a/b/c", Typeflag: TypeReg}},
			data: []string{""},
		},
		{
			name: "GNU header ignores prefix area",
			in: block(ustar{name: "c", typeflag: TypeReg}, func(b *[blockSize]byte) {
				gnuMagic(b)
				copy(b[offPrefix:], "\x01\x02atime")
			}),
			want: []Header{{Name: "c", Typeflag: TypeReg}},
			data: []string{""},
		},
		{
			name: "v7",
			in: concat(
				block(ustar{name: "dir/", mode: 0755}, func(b *[blockSize]byte) {
					b[offTypeflag] = TypeRegA
					clear(b[offMagic:])
				}),
				block(ustar{name: "dir/f", mode: 0644, size: 2, mtime: 5}, func(b *[blockSize]byte) {
					b[offTypeflag] = TypeRegA
					clear(b[offMagic:])
				}),
				payload("hi"),
			),
			want: []Header{
				{Name: "dir/", Typeflag: TypeDir, Mode: 0755},
				{Name: "dir/f", Typeflag: TypeRegA, Mode: 0644, Size: 2, Mtime: 5},
			},
			data: []string{"", "hi"},
		},
		{
			name: "base-256 numbers and spaces around octal",
			in: concat(
				block(ustar{name: "f", typeflag: TypeReg}, func(b *[blockSize]byte) {
					copy(b[offUid:], "\x80\x00\x00\x00\x00\x2d\xc6\xc0")                   // 3000000
					copy(b[offSize:], "\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x03")  // 3
					copy(b[offMtime:], "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xfe") // -2
					copy(b[offGid:], "  17 \x00\x00\x00")
				}),
				payload("abc"),
			),
			want: []Header{{Name: "f", Typeflag: TypeReg, Uid: 3000000, Gid: 15, Size: 3, Mtime: -2}},
			data: []string{"abc"},
		},
		{
			name: "signed checksum",
			in: func() []byte {
				buf := block(ustar{typeflag: TypeReg}, func(b *[blockSize]byte) { copy(b[offName:], "\xff\xfe") })
				b := (*[blockSize]byte)(buf)
				_, signed := checksums(b)
				putOctal(b[offChksum:offChksum+7], signed)
				return buf
			}(),
			want: []Header{{Name: "\xff\xfe", Typeflag: TypeReg}},
			data: []string{""},
		},
		{
			name: "PAX records",
			in: concat(
				paxBlock("path", "dir/\xffname", "linkpath", "target", "mtime", "1700000000.987654321",
					"uid", "3000000", "gid", "-5", "uname", "\xe9", "gname", "", "atime", "1.5", "comment", "hi=x"),
				block(ustar{name: "dir/?name", typeflag: TypeSymlink, mtime: 7, gname: "staff"}, nil),
				paxBlock("size", "10", "mtime", "-1.5"),
				block(ustar{name: "big", typeflag: TypeReg, size: 0}, nil),
				payload("0123456789"),
			),
			want: []Header{
				{Name: "dir/\xffname", Typeflag: TypeSymlink, Linkname: "target", Mtime: 1700000000, Uid: 3000000, Gid: -5, Uname: "\xe9", Gname: "staff"},
				{Name: "big", Typeflag: TypeReg, Size: 10, Mtime: -1},
			},
			data: []string{"", "0123456789"},
		},
		{
			name: "global PAX header ignored",
			in: concat(
				block(ustar{name: "pax_global_header", typeflag: typePAXGlobal, size: 17}, nil),
				payload("17 comment=hello\n"),
				block(ustar{name: "f", typeflag: TypeReg}, nil),
			),
			want: []Header{{Name: "f", Typeflag: TypeReg}},
			data: []string{""},
		},
		{
			name: "header-only types carry no data whatever the size field says",
			in: concat(
				block(ustar{name: "d/", typeflag: TypeDir, size: 1024}, nil),
				block(ustar{name: "hard", typeflag: TypeLink, linkname: "f", size: 5}, nil),
				block(ustar{name: "f", typeflag: TypeReg, size: 1}, nil),
				payload("x"),
			),
			want: []Header{
				{Name: "d/", Typeflag: TypeDir},
				{Name: "hard", Typeflag: TypeLink, Linkname: "f"},
				{Name: "f", Typeflag: TypeReg, Size: 1},
			},
			data: []string{"", "", "x"},
		},
		{
			name: "zero block then garbage",
			in: concat(
				block(ustar{name: "f", typeflag: TypeReg, size: 1}, nil),
				payload("x"),
				make([]byte, blockSize),
				[]byte("garbage that is not a tar header at all"),
			),
			want: []Header{{Name: "f", Typeflag: TypeReg, Size: 1}},
			data: []string{"x"},
		},
		{
			name: "end of input without marker",
			in:   concat(block(ustar{name: "f", typeflag: TypeReg, size: 512}, nil), payload(strings.Repeat("y", 512))),
			want: []Header{{Name: "f", Typeflag: TypeReg, Size: 512}},
			data: []string{strings.Repeat("y", 512)},
		},
		{name: "empty input"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs, data, err := readAll(t, tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if len(hs) != len(tc.want) {
				t.Fatalf("got %d members %+v, want %d", len(hs), hs, len(tc.want))
			}
			for i := range hs {
				if hs[i] != tc.want[i] {
					t.Errorf("member %d:\n got %+v\nwant %+v", i, hs[i], tc.want[i])
				}
				if data[i] != tc.data[i] {
					t.Errorf("member %d data %q, want %q", i, data[i], tc.data[i])
				}
			}
		})
	}
}

func TestReaderErrors(t *testing.T) {
	reg := block(ustar{name: "file", typeflag: TypeReg, size: 600}, nil)
	tests := []struct {
		name    string
		in      []byte
		wantErr error  // matched with errors.Is, if set
		substr  string // expected in the message
	}{
		{"bad checksum", block(ustar{name: "f", typeflag: TypeReg}, nil)[:blockSize:blockSize], nil, ""},
		{"truncated header", concat(reg, payload(strings.Repeat("a", 600)), make([]byte, 300)), io.ErrUnexpectedEOF, `after "file"`},
		{"truncated data", concat(reg, []byte("abc")), io.ErrUnexpectedEOF, `"file"`},
		{"truncated padding", concat(reg, []byte(strings.Repeat("a", 700))), io.ErrUnexpectedEOF, `"file"`},
		{"PAX over 1 MiB", block(ustar{name: "././@PaxHeader", typeflag: typePAX, size: maxMeta + 1}, nil), nil, "limit"},
		{"GNU long name over 1 MiB", block(ustar{name: "././@LongLink", typeflag: typeLongName, size: 1 << 30}, nil), nil, "limit"},
		{"extensions over 1 MiB in total", concat(
			block(ustar{name: "././@LongLink", typeflag: typeLongName, size: maxMeta}, nil),
			make([]byte, maxMeta),
			block(ustar{name: "././@LongLink", typeflag: typeLongLink, size: 1}, nil),
		), nil, "limit"},
		{"negative size", block(ustar{name: "f", typeflag: TypeReg}, func(b *[blockSize]byte) {
			copy(b[offSize:], "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff")
		}), nil, "negative size"},
		{"negative PAX size", concat(paxBlock("size", "-1"), block(ustar{name: "f", typeflag: TypeReg}, nil)), nil, "negative size"},
		{"base-256 overflow", block(ustar{name: "f", typeflag: TypeReg}, func(b *[blockSize]byte) {
			copy(b[offSize:], "\x80\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00")
		}), nil, "overflows"},
		{"bad octal", block(ustar{name: "f", typeflag: TypeReg}, func(b *[blockSize]byte) {
			copy(b[offMode:], "07x7\x00")
		}), nil, "mode"},
		{"malformed PAX length", concat(paxRaw("99 path=x\n"), block(ustar{name: "f"}, nil)), nil, "PAX"},
		{"PAX record without keyword", concat(paxRaw("6 =ab\n"), block(ustar{name: "f"}, nil)), nil, "PAX"},
		{"bad PAX number", concat(paxBlock("uid", "1x2"), block(ustar{name: "f"}, nil)), nil, "uid"},
		{"sparse PAX member", concat(paxBlock("GNU.sparse.major", "1"), block(ustar{name: "f"}, nil)), nil, "sparse"},
		{"PAX header at end of input", paxBlock("path", "x"), io.ErrUnexpectedEOF, ""},
		{"PAX header before zero block", concat(paxBlock("path", "x"), make([]byte, blockSize)), nil, "without a member"},
		{"truncated PAX payload", block(ustar{name: "././@PaxHeader", typeflag: typePAX, size: 100}, nil), io.ErrUnexpectedEOF, ""},
		{"size 8 EiB", concat(paxBlock("size", "9223372036854775807"), block(ustar{name: "f", typeflag: TypeReg}, nil), []byte("abc")), io.ErrUnexpectedEOF, `"f"`},
		// Data longer than the header says is read as the next header.
		{"data beyond its size", concat(block(ustar{name: "f", typeflag: TypeReg, size: 4}, nil), payload(strings.Repeat("x", 1000))), nil, "checksum"},
	}
	// Corrupt the first block's checksum.
	tests[0].in = append([]byte(nil), tests[0].in...)
	tests[0].in[0] ^= 1
	tests[0].substr = "checksum"

	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := readAll(t, tc.in)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v is not %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.substr) {
				t.Errorf("error %q does not mention %q", err, tc.substr)
			}
		})
	}
}

// TestReaderSkipsHugeSize: skipping the unread data of a member claiming
// 8 EiB fails as truncated, on seekable input too (no offset overflow).
func TestReaderSkipsHugeSize(t *testing.T) {
	in := concat(paxBlock("size", "9223372036854775807"), block(ustar{name: "huge", typeflag: TypeReg}, nil), []byte("abc"))
	for _, src := range []io.Reader{bytes.NewReader(in), io.NewSectionReader(bytes.NewReader(in), 0, int64(len(in))), strings.NewReader(string(in))} {
		r := NewReader(src)
		if _, err := r.Next(); err != nil {
			t.Fatal(err)
		}
		_, err := r.Next()
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), `"huge"`) {
			t.Errorf("%T: Next after an 8 EiB member: %v", src, err)
		}
	}
}

// failAfter fails any read past n bytes: the reader must never parse what
// follows the end-of-archive block.
type failAfter struct {
	r io.Reader
	n int
}

func (f *failAfter) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("read past the end of the archive")
	}
	if len(p) > f.n {
		p = p[:f.n]
	}
	n, err := f.r.Read(p)
	f.n -= n
	return n, err
}

func TestReaderStopsAtZeroBlock(t *testing.T) {
	in := concat(
		block(ustar{name: "f", typeflag: TypeReg, size: 1}, nil), payload("x"),
		make([]byte, blockSize),
	)
	r := NewReader(&failAfter{bytes.NewReader(append(in, "garbage"...)), len(in)})
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("Next = %v, want io.EOF", err)
		}
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read after end = %d, %v", n, err)
	}
}

func TestReaderPartialReads(t *testing.T) {
	in := concat(
		block(ustar{name: "a", typeflag: TypeReg, size: 1000}, nil), payload(strings.Repeat("a", 1000)),
		block(ustar{name: "b", typeflag: TypeReg, size: 3}, nil), payload("bbb"),
	)
	r := NewReader(bytes.NewReader(in))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := r.Read(buf); n != 10 || err != nil {
		t.Fatalf("Read = %d, %v", n, err)
	}
	// Next skips the unread rest of "a" and its padding.
	h, err := r.Next()
	if err != nil || h.Name != "b" {
		t.Fatalf("Next = %+v, %v", h, err)
	}
	if d, err := io.ReadAll(r); string(d) != "bbb" || err != nil {
		t.Fatalf("data %q, %v", d, err)
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestReaderStickyError(t *testing.T) {
	r := NewReader(bytes.NewReader(concat(block(ustar{name: "f", typeflag: TypeReg, size: 10}, nil), []byte("abc"))))
	if _, err := r.Next(); err != nil {
		t.Fatal(err)
	}
	_, err := io.ReadAll(r)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("ReadAll = %v", err)
	}
	if _, err2 := r.Next(); err2 != err {
		t.Fatalf("Next after error = %v, want %v", err2, err)
	}
}

func BenchmarkReader(b *testing.B) {
	const members, size = 256, 64 << 10
	var buf bytes.Buffer
	w := NewWriter(&buf)
	data := bytes.Repeat([]byte{0xa5}, size)
	for i := range members {
		h := &Header{Name: "multivol_snapshot/some/dir/file/" + strings.Repeat("x", i%7), Typeflag: TypeReg, Mode: 0644, Size: size, Mtime: 1795353031}
		if err := w.WriteHeader(h); err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	in := buf.Bytes()
	p := make([]byte, size)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		r := NewReader(bytes.NewReader(in))
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			for {
				if _, err := r.Read(p); err == io.EOF {
					break
				} else if err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}
