package difftar

import (
	"io"
	"testing"

	"dupfs/archive/index"
)

// FuzzDifftar reads data split into two volumes at split.
func FuzzDifftar(f *testing.F) {
	v1 := volume(f, reg("snapshot/a", "A"), reg("multivol_snapshot/b/1", "0123"))
	v2 := volume(f, reg("multivol_snapshot/b/2", ""), reg("deleted/c", ""), reg("snapshot/../x", ""))
	f.Add(append(v1, v2...), uint16(len(v1)))
	f.Add(volume(f, member{"snapshot/./", '5', ""}, reg("diff/x", "delta"), member{"snapshot/h", '1', ""}), uint16(512))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		at := min(int(split), len(data))
		next, _ := volumes(data[:at], data[at:])
		r := NewReader(next)
		var total int
		for {
			e, err := r.Next()
			if err != nil {
				return
			}
			if !e.Multivol && e.Size < 0 {
				t.Fatalf("negative size %d", e.Size)
			}
			n, err := io.Copy(io.Discard, r)
			total += int(n)
			if total > len(data) {
				t.Fatalf("read %d data bytes from %d input bytes", total, len(data))
			}
			if err == nil && !e.Multivol && n != e.Size {
				t.Fatalf("%q: read %d of %d bytes", e.Index, n, e.Size)
			}
			if err != nil {
				if _, err2 := r.Next(); err2 == nil {
					t.Fatal("Next succeeded after a read error")
				}
				return
			}
			if err := index.Check(e.Index); err != nil {
				t.Fatalf("unsafe index accepted: %v", err)
			}
		}
	})
}
