package librsync

import (
	"bytes"
	"io"
	"testing"
)

const benchSize = 16 << 20

func BenchmarkSignature(b *testing.B) {
	data := randBytes(1, benchSize)
	for _, magic := range []uint32{MagicMD4Sig, MagicRKBlake2Sig} {
		b.Run(magicName(magic), func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if err := WriteSignature(io.Discard, bytes.NewReader(data), magic, 2048, 8); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDelta(b *testing.B) {
	basis := randBytes(1, benchSize)
	cases := []struct {
		name    string
		newData []byte
	}{
		{"unchanged", basis},
		// A byte inserted every 256 KiB: mostly matches, some rolling.
		{"edited", func() []byte {
			var out []byte
			for p := 0; p < len(basis); p += 256 << 10 {
				out = append(out, 'x')
				out = append(out, basis[p:min(len(basis), p+256<<10)]...)
			}
			return out
		}()},
		// Nothing matches: every byte is rolled and looked up.
		{"new", randBytes(2, benchSize)},
	}
	for _, magic := range []uint32{MagicMD4Sig, MagicRKBlake2Sig} {
		sig := signature(b, basis, magic, 2048, 8)
		for _, c := range cases {
			b.Run(magicName(magic)+"/"+c.name, func(b *testing.B) {
				b.SetBytes(int64(len(c.newData)))
				for b.Loop() {
					if err := WriteDelta(io.Discard, sig, bytes.NewReader(c.newData)); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkPatch(b *testing.B) {
	basis := randBytes(1, benchSize)
	sig := signature(b, basis, MagicMD4Sig, 2048, 8)
	newData := concat(basis[:benchSize/2], randBytes(3, 1<<20), basis[benchSize/2+4096:])
	d := delta(b, sig, newData)
	b.SetBytes(int64(len(newData)))
	for b.Loop() {
		if err := Patch(io.Discard, bytes.NewReader(basis), bytes.NewReader(d)); err != nil {
			b.Fatal(err)
		}
	}
}

func magicName(m uint32) string {
	switch m {
	case MagicMD4Sig:
		return "md4"
	case MagicBlake2Sig:
		return "blake2"
	case MagicRKMD4Sig:
		return "rk-md4"
	}
	return "rk-blake2"
}
