package crypt

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"math/rand/v2"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// cfbEncrypter matches the standard library's CFB mode, however the input
// is split.
func TestCFBEncrypter(t *testing.T) {
	block, err := aes.NewCipher(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	plain := testData(100<<10+13, false, 40)
	want := make([]byte, len(plain))
	// Deprecated for new protocols, but the reference here.
	cipher.NewCFBEncrypter(block, make([]byte, aes.BlockSize)).XORKeyStream(want, plain)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 20 {
		c := newCFBEncrypter(block)
		got := bytes.Clone(plain)
		for p := 0; p < len(got); {
			n := min(len(got)-p, rng.IntN(3*aes.BlockSize+1), 1+round*997)
			c.xor(got[p:p+n], got[p:p+n]) // in place, as the standard says is allowed
			p += n
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("round %d: ciphertext differs from crypto/cipher's CFB", round)
		}
	}
}

// Messages longer than one partial body chunk, of any length around the
// chunk edges, read back with go-crypto (which checks the MDC).
func TestSEIPDPartialLengths(t *testing.T) {
	for _, n := range []int{0, 1, partialChunk - 40, partialChunk, 3*partialChunk + 5} {
		plain := testData(n, false, uint64(41+n))
		ct := encryptBytes(t, plain, EncryptOptions{Passphrase: []byte("pw")}, false)
		md, err := openpgp.ReadMessage(bytes.NewReader(ct), nil, func([]openpgp.Key, bool) ([]byte, error) {
			return []byte("pw"), nil
		}, nil)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if got := readAll(t, md.UnverifiedBody); !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: go-crypto read %d bytes that differ", n, len(got))
		}
		if md.SignatureError != nil {
			t.Fatalf("%d bytes: %v", n, md.SignatureError)
		}
	}
}

// A key derived ahead encrypts one message, which decrypts with the
// passphrase; a second message with the same key is refused.
func TestPassphraseKeyAhead(t *testing.T) {
	k, err := DerivePassphraseKey([]byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	plain := testData(10<<10, true, 42)
	o := EncryptOptions{Passphrase: []byte("pw"), Key: k}
	ct := encryptBytes(t, plain, o, true)
	r, err := Decrypt(bytes.NewReader(ct), Keys{Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, r), plain) {
		t.Fatal("plaintext differs")
	}
	if _, err := Encrypt(&bytes.Buffer{}, o); err == nil {
		t.Fatal("a second message with the same key was encrypted")
	}
}
