package crypt

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"runtime"
	"testing"
	"testing/iotest"
)

// decryptAll runs Decrypt and reads to the end, as a caller must.
func decryptAll(msg []byte, k Keys) ([]byte, error) {
	r, err := Decrypt(bytes.NewReader(msg), k)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// Every truncation of a message and bit flips in all its bytes fail, with
// ErrIntegrity once past the key packets and the cipher prefix; no damage
// ever yields wrong plaintext.
func TestDecryptDamage(t *testing.T) {
	plain := testData(3000, true, 30)
	keys := Keys{Passphrase: []byte("pw")}
	tests := []struct {
		name string
		opts EncryptOptions
	}{
		{"symmetric", EncryptOptions{Passphrase: []byte("pw")}},
	}
	if kr := optionalKeys(t); kr != nil {
		keys.Secret = kr.ed
		tests = append(tests, struct {
			name string
			opts EncryptOptions
		}{"public key, signed", EncryptOptions{Recipients: kr.edPub, Signer: kr.ed[0]}})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := encryptBytes(t, plain, tt.opts, false)
			// The data packet header, its version and the 18-byte prefix
			// follow the key packets; damage there is reported like a wrong
			// key, as GnuPG does.
			keyEnd, hlen := dataStart(t, msg)
			safe := keyEnd + hlen + 1 + 18
			for n := range len(msg) {
				got, err := decryptAll(msg[:n], keys)
				if err == nil {
					t.Fatalf("truncated to %d of %d bytes: no error, %d bytes out", n, len(msg), len(got))
				}
				if n >= keyEnd && !errors.Is(err, ErrIntegrity) {
					t.Fatalf("truncated to %d: %v, want ErrIntegrity", n, err)
				}
			}
			for i := range len(msg) {
				// Two bits per byte, a different pair for neighbours.
				for _, bit := range []int{i % 8, (i + 3) % 8} {
					bad := bytes.Clone(msg)
					bad[i] ^= 1 << bit
					got, err := decryptAll(bad, keys)
					// Some bits in key packets are redundant, such as the low
					// bits of an MPI's bit count; their flips change nothing.
					if err == nil && (i >= keyEnd || !bytes.Equal(got, plain)) {
						t.Fatalf("bit %d of byte %d flipped: no error, %d bytes out", bit, i, len(got))
					}
					if i >= safe && !errors.Is(err, ErrIntegrity) {
						t.Fatalf("bit %d of byte %d flipped: %v, want ErrIntegrity", bit, i, err)
					}
				}
			}
		})
	}
}

// dataStart returns the offset of the encrypted data packet and the length
// of its header.
func dataStart(t *testing.T, msg []byte) (int, int) {
	t.Helper()
	off := 0
	for {
		br := bufio.NewReader(bytes.NewReader(msg[off:]))
		tag, hlen, blen, err := peekHeader(br)
		if err != nil {
			t.Fatal(err)
		}
		if tag != tagPKESK && tag != tagSKESK {
			return off, hlen
		}
		off += hlen + blen
	}
}

// optionalKeys returns the shared keys, or nil without gpg.
func optionalKeys(t *testing.T) *keyring {
	if !haveGPG() {
		return nil
	}
	return sharedKeys(t)
}

// Errors of the underlying reader come back as themselves, not as damage.
func TestDecryptSourceError(t *testing.T) {
	msg := encryptBytes(t, testData(100<<10, false, 31), EncryptOptions{Passphrase: []byte("pw")}, false)
	boom := errors.New("boom")
	for _, n := range []int{0, 10, 40, 50 << 10} {
		r := io.MultiReader(bytes.NewReader(msg[:n]), iotest.ErrReader(boom))
		_, err := func() ([]byte, error) {
			p, err := Decrypt(r, Keys{Passphrase: []byte("pw")})
			if err != nil {
				return nil, err
			}
			return io.ReadAll(p)
		}()
		if !errors.Is(err, boom) || errors.Is(err, ErrIntegrity) {
			t.Errorf("source fails after %d bytes: got %v, want boom and not ErrIntegrity", n, err)
		}
	}
}

func TestDecryptNotEncrypted(t *testing.T) {
	for name, input := range map[string][]byte{
		"empty":   nil,
		"text":    []byte("hello world"),
		"tar":     make([]byte, 1024),
		"literal": {0xcb, 0x06, 'b', 0, 0, 0, 0, 0},
	} {
		if _, err := Decrypt(bytes.NewReader(input), Keys{Passphrase: []byte("pw")}); !errors.Is(err, ErrIntegrity) {
			t.Errorf("%s: got %v, want ErrIntegrity", name, err)
		}
	}
}

// Hostile key packets are refused before any key derivation.
func TestDecryptHostileKeyPackets(t *testing.T) {
	argon2 := []byte{0xc3, 23, 4, 9, 4} // SKESK v4, AES-256, Argon2 S2K
	argon2 = append(argon2, make([]byte, 16)...)
	argon2 = append(argon2, 255, 255, 31) // passes, parallelism, 2 TiB
	pass := []byte{0xc3, 13, 4, 9, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 255}
	many := bytes.Repeat(pass, maxPassKeys+1)
	marker := []byte{0xca, 3, 'P', 'G', 'P'}
	manyMarkers := bytes.Repeat(marker, maxKeyPackets+1)
	huge := []byte{0xc3, 0xff, 0, 1, 0, 0} // 64 KiB SKESK
	for name, input := range map[string][]byte{"argon2": argon2, "many": many, "many markers": manyMarkers, "huge": huge} {
		if _, err := Decrypt(bytes.NewReader(input), Keys{Passphrase: []byte("pw")}); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// genReader produces size deterministic bytes in 64 KiB pieces, random or
// a repeated 4 KiB random block in turn, holding only one piece.
type genReader struct {
	left int
	seed uint64
	buf  []byte
}

func (g *genReader) Read(p []byte) (int, error) {
	if len(g.buf) == 0 {
		if g.left == 0 {
			return 0, io.EOF
		}
		n := min(64<<10, g.left)
		if g.seed%2 == 0 {
			g.buf = bytes.Repeat(testData(4<<10, false, g.seed), 16)[:n]
		} else {
			g.buf = testData(n, false, g.seed)
		}
		g.seed++
		g.left -= n
	}
	n := copy(p, g.buf)
	g.buf = g.buf[n:]
	return n, nil
}

// A 64 MB message streams through Encrypt and Decrypt without the heap
// growing with it: what is in use is the compressors and blocks in flight
// on each core (about 4 MB per core), whatever the size.
func TestStreamingBoundedMemory(t *testing.T) {
	const size = 64 << 20
	want := sha256.New()
	io.Copy(want, &genReader{left: size})

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse

	pr, pw := io.Pipe()
	go func() {
		w, err := encrypt(pw, EncryptOptions{Passphrase: []byte("pw")}, 0)
		if err == nil {
			_, err = io.Copy(w, &genReader{left: size})
		}
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err)
	}()
	r, err := Decrypt(pr, Keys{Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	got := sha256.New()
	buf := make([]byte, 32<<10)
	var peak uint64
	for n, total := 0, 0; err == nil; total += n {
		n, err = r.Read(buf)
		got.Write(buf[:n])
		if total>>20 != (total+n)>>20 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	}
	if err != io.EOF {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Sum(nil), want.Sum(nil)) {
		t.Fatal("plaintext differs")
	}
	if grow := int64(peak) - int64(base); grow > 32<<20 {
		t.Fatalf("heap grew by %d MB while streaming %d MB", grow>>20, size>>20)
	}
	t.Logf("heap in use grew by at most %d KiB", (int64(peak)-int64(base))>>10)
}
