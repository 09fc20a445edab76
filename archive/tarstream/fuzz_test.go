package tarstream

import (
	"bytes"
	"io"
	"path/filepath"
	"testing"
)

func FuzzReader(f *testing.F) {
	// Seeds stay a few KiB: minimizing each new input costs execs per byte.
	f.Add(writeMembers(f, pythonMembers()[2:10])[:4096])
	f.Add(concat(paxBlock("path", "a\xff", "size", "3", "mtime", "1.5"), block(ustar{name: "a", typeflag: TypeReg}, nil), payload("abc")))
	f.Add(concat(block(ustar{name: "././@LongLink", typeflag: typeLongName, size: 4}, nil), payload("long"), block(ustar{name: "l", typeflag: TypeDir}, nil)))
	f.Add(concat(block(ustar{name: "f", typeflag: TypeReg, size: 1}, nil), payload("x"), make([]byte, blockSize), []byte("junk")))
	plain := gunzipFile(f, filepath.Join("testdata", "full.difftar.gz"))
	f.Add(plain[:4096])
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		var total int64
		for {
			h, err := r.Next()
			if err != nil {
				return
			}
			if h.Size < 0 {
				t.Fatalf("negative size %d", h.Size)
			}
			n, err := io.Copy(io.Discard, r)
			total += n
			if total > int64(len(data)) {
				t.Fatalf("read %d data bytes from %d input bytes", total, len(data))
			}
			if err == nil && n != h.Size {
				t.Fatalf("%q: read %d of %d bytes without error", h.Name, n, h.Size)
			}
			if err != nil {
				if _, err2 := r.Next(); err2 == nil {
					t.Fatal("Next succeeded after a read error")
				}
				return
			}
		}
	})
}
