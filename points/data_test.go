package points

import (
	"bytes"
	"io"
	"testing"
)

// TestSegmentedReadAt reads a file laid out in three pieces of two
// "volumes" at every offset and length across the piece boundaries.
func TestSegmentedReadAt(t *testing.T) {
	vol1 := []byte("xxHELLO, yyyy")
	vol2 := []byte("WORLD!zz")
	s := &segmented{}
	for _, seg := range []segment{
		{h: bytes.NewReader(vol1), off: 2, size: 5},
		{h: bytes.NewReader(vol1), off: 7, size: 2},
		{h: bytes.NewReader(vol2), off: 0, size: 6},
	} {
		seg.start = s.size
		s.segs = append(s.segs, seg)
		s.size += seg.size
	}
	want := "HELLO, WORLD!"
	if s.Size() != int64(len(want)) {
		t.Fatalf("size %d", s.Size())
	}
	for off := 0; off <= len(want); off++ {
		for n := 0; off+n <= len(want)+2; n++ {
			buf := make([]byte, n)
			got, err := s.ReadAt(buf, int64(off))
			end := min(off+n, len(want))
			if got != end-off || string(buf[:got]) != want[off:end] {
				t.Fatalf("ReadAt(%d, %d) = %q", off, n, buf[:got])
			}
			if off+n > len(want) && err != io.EOF {
				t.Fatalf("ReadAt(%d, %d) past the end: err %v", off, n, err)
			}
			if off+n <= len(want) && n > 0 && err != nil {
				t.Fatalf("ReadAt(%d, %d): %v", off, n, err)
			}
		}
	}
}

// TestScanned: the scanFiles-th file read from a volume, and only that
// one, starts the read-ahead; each volume counts on its own.
func TestScanned(t *testing.T) {
	d := &Data{scans: map[string]int{}}
	for i := 1; i <= 3*scanFiles; i++ {
		if got := d.scanned("vol1"); got != (i == scanFiles) {
			t.Fatalf("read %d of vol1: scanned %v", i, got)
		}
	}
	if d.scanned("vol2") && scanFiles > 1 {
		t.Error("the first read of vol2 counted as a scan")
	}
}
