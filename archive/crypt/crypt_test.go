package crypt

import (
	"bytes"
	"compress/gzip"
	"crypto"
	"encoding/binary"
	"errors"
	"io"
	"os/exec"
	"testing"
	"testing/iotest"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp/s2k"
)

func compressBytes(t *testing.T, plain []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := Compress(&buf)
	if _, err := w.Write(plain); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestCompress(t *testing.T) {
	plain := testData(300<<10, true, 40)
	before := time.Now().Unix()
	gz := compressBytes(t, plain)

	// Header as Python's gzip module writes it: deflate, no flags (no
	// name), mtime now, XFL 0 for level 6, OS 255.
	if len(gz) < 10 || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 || gz[3] != 0 || gz[8] != 0 || gz[9] != 255 {
		t.Fatalf("header % x", gz[:10])
	}
	if m := int64(binary.LittleEndian.Uint32(gz[4:8])); m < before || m > time.Now().Unix() {
		t.Errorf("mtime %d, want now", m)
	}

	r, err := Open(bytes.NewReader(gz), false, true, Keys{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, r), plain) {
		t.Fatal("Open plaintext differs")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}

	if _, err := exec.LookPath("gzip"); err != nil {
		t.Skip("gzip not on PATH")
	}
	cmd := exec.Command("gzip", "-d", "-c")
	cmd.Stdin = bytes.NewReader(gz)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("gzip -d: %v", err)
	}
	if !bytes.Equal(out, plain) {
		t.Fatal("gzip -d plaintext differs")
	}
}

func TestOpen(t *testing.T) {
	plain := testData(64<<10, true, 41)
	gz := compressBytes(t, plain)
	ct := encryptBytes(t, plain, EncryptOptions{Passphrase: []byte("pw")}, false)
	keys := Keys{Passphrase: []byte("pw")}
	boom := errors.New("boom")
	tests := []struct {
		name                  string
		input                 io.Reader
		encrypted, compressed bool
		want                  error // nil: plaintext must come out
	}{
		{"plain", bytes.NewReader(plain), false, false, nil},
		{"gzip", bytes.NewReader(gz), false, true, nil},
		{"gpg", bytes.NewReader(ct), true, false, nil},
		{"gzip truncated", bytes.NewReader(gz[:len(gz)-5]), false, true, ErrIntegrity},
		{"gzip checksum", bytes.NewReader(flip(gz, len(gz)-6)), false, true, ErrIntegrity},
		{"gzip corrupt data", bytes.NewReader(flip(gz, 100)), false, true, ErrIntegrity},
		{"gzip empty", bytes.NewReader(nil), false, true, ErrIntegrity},
		{"not gzip", bytes.NewReader(plain), false, true, ErrIntegrity},
		{"gzip source error", io.MultiReader(bytes.NewReader(gz[:1000]), iotest.ErrReader(boom)), false, true, boom},
		{"gpg corrupt", bytes.NewReader(flip(ct, len(ct)/2)), true, false, ErrIntegrity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Open(tt.input, tt.encrypted, tt.compressed, keys)
			var got []byte
			if err == nil {
				got, err = io.ReadAll(r)
				r.Close()
			}
			if tt.want == nil {
				if err != nil || !bytes.Equal(got, plain) {
					t.Fatalf("err %v, %d bytes; want plaintext", err, len(got))
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if tt.want == boom && errors.Is(err, ErrIntegrity) {
				t.Fatalf("source error reported as damage: %v", err)
			}
		})
	}
	if _, err := Open(bytes.NewReader(ct), true, true, keys); err == nil {
		t.Error("encrypted and compressed accepted")
	}
}

func flip(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x10
	return b
}

// deriveKey matches go-crypto's reference S2K on every shape of input.
func TestDeriveKey(t *testing.T) {
	tests := []struct {
		name    string
		h       crypto.Hash
		salt    string
		pass    string
		count   int
		keySize int
	}{
		{"iterated sha1", crypto.SHA1, "saltsalt", "passphrase", decodeCount(96), 32},
		{"count not a multiple of input or chunk", crypto.SHA256, "12345678", "pw!!", decodeCount(150), 32},
		{"key longer than digest", crypto.SHA1, "saltsalt", "pw", 65536, 32},
		{"three digests", crypto.SHA1, "saltsalt", "pw", 1024, 56},
		{"count below input", crypto.SHA256, "saltsalt", "a passphrase longer than the count", 16, 32},
		{"long passphrase", crypto.SHA512, "saltsalt", string(testData(100<<10, true, 1)), 65536, 32},
		{"salted", crypto.SHA256, "saltsalt", "pw", 0, 16},
		{"simple", crypto.SHA1, "", "pw", 0, 24},
		{"simple empty", crypto.SHA1, "", "", 0, 32},
		{"iterated empty passphrase", crypto.SHA256, "saltsalt", "", 65536, 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := make([]byte, tt.keySize)
			deriveKey(got, tt.h, []byte(tt.salt), []byte(tt.pass), tt.count)
			want := make([]byte, tt.keySize)
			switch {
			case tt.count > 0:
				s2k.Iterated(want, tt.h.New(), []byte(tt.pass), []byte(tt.salt), tt.count)
			default:
				s2k.Salted(want, tt.h.New(), []byte(tt.pass), []byte(tt.salt))
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %x, want %x", got, want)
			}
		})
	}
}

func TestOpenGzipMembers(t *testing.T) {
	// Concatenated members, as gzip -c a b writes, read as one stream.
	a, b := compressBytes(t, []byte("first ")), compressBytes(t, []byte("second"))
	r, err := Open(bytes.NewReader(append(a, b...)), false, true, Keys{})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(readAll(t, r)); got != "first second" {
		t.Fatalf("got %q", got)
	}
	zr, err := gzip.NewReader(bytes.NewReader(a))
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || zr.OS != 255 {
		t.Fatalf("name %q, OS %d", zr.Name, zr.OS)
	}
}
