package crypt

import (
	"bytes"
	"crypto"
	"io"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

const benchSize = 64 << 20

// Each operation includes one key derivation at GnuPG's count, as every
// volume does; BenchmarkDeriveKey shows its share.
func BenchmarkDecryptSymmetric(b *testing.B) {
	for _, kind := range []struct {
		name         string
		compressible bool
	}{{"incompressible", false}, {"compressible", true}} {
		b.Run(kind.name, func(b *testing.B) {
			plain := testData(benchSize, kind.compressible, 70)
			ct := encryptBytes(b, plain, EncryptOptions{Passphrase: []byte("pw")}, true)
			b.ReportMetric(float64(len(ct))/float64(len(plain)), "ratio")
			plain = nil
			b.SetBytes(benchSize)
			b.ResetTimer()
			for range b.N {
				r, err := Decrypt(bytes.NewReader(ct), Keys{Passphrase: []byte("pw")})
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.Copy(io.Discard, r); err != nil || n != benchSize {
					b.Fatal(n, err)
				}
			}
		})
	}
}

func BenchmarkEncrypt(b *testing.B) {
	for _, kind := range []struct {
		name         string
		compressible bool
	}{{"incompressible", false}, {"compressible", true}} {
		b.Run(kind.name, func(b *testing.B) {
			plain := testData(benchSize, kind.compressible, 71)
			b.SetBytes(benchSize)
			b.ResetTimer()
			for range b.N {
				w, err := Encrypt(io.Discard, EncryptOptions{Passphrase: []byte("pw")})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := w.Write(plain); err != nil {
					b.Fatal(err)
				}
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeriveKey compares our S2K with go-crypto's at GnuPG's count.
func BenchmarkDeriveKey(b *testing.B) {
	salt, pass := []byte("saltsalt"), []byte("a passphrase")
	key := make([]byte, 32)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		b.Run("dupfs-"+h.String(), func(b *testing.B) {
			for range b.N {
				deriveKey(key, h, salt, pass, decodeCount(gnupgS2KCount))
			}
		})
		b.Run("go-crypto-"+h.String(), func(b *testing.B) {
			for range b.N {
				s2k.Iterated(key, h.New(), pass, salt, decodeCount(gnupgS2KCount))
			}
		})
	}
}

func BenchmarkCompress(b *testing.B) {
	plain := testData(benchSize, true, 72)
	b.SetBytes(benchSize)
	b.ResetTimer()
	for range b.N {
		w := Compress(io.Discard)
		w.Write(plain)
		w.Close()
	}
}
