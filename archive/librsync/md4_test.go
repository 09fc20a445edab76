package librsync

import (
	"bytes"
	"testing"

	"golang.org/x/crypto/md4"
)

func refMD4(p []byte) []byte {
	h := md4.New()
	h.Write(p)
	return h.Sum(nil)
}

func TestMD4MatchesXCrypto(t *testing.T) {
	data := randBytes(4, 5000)
	lens := []int{5000, 4096, 2048, 1000}
	for n := range 200 {
		lens = append(lens, n)
	}
	for _, n := range lens {
		if got := md4Sum(data[:n]); !bytes.Equal(got[:], refMD4(data[:n])) {
			t.Errorf("md4 of %d bytes = %x, want %x", n, got, refMD4(data[:n]))
		}
	}
	// RFC 1320 test vector.
	if got := md4Sum([]byte("abc")); !bytes.Equal(got[:], unhex(t, "a448017aaf21d8525fc10ae87aa6729d")) {
		t.Errorf("md4(abc) = %x", got)
	}
}

func FuzzMD4(f *testing.F) {
	f.Add([]byte("abc"))
	f.Fuzz(func(t *testing.T, p []byte) {
		if got := md4Sum(p); !bytes.Equal(got[:], refMD4(p)) {
			t.Fatalf("md4 = %x, want %x", got, refMD4(p))
		}
	})
}

func BenchmarkMD4(b *testing.B) {
	data := randBytes(1, 2048)
	b.Run("ours", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			md4Sum(data)
		}
	})
	b.Run("xcrypto", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		h := md4.New()
		var out [16]byte
		for b.Loop() {
			h.Reset()
			h.Write(data)
			h.Sum(out[:0])
		}
	})
}
