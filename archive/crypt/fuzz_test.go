package crypt

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// FuzzDecrypt feeds damaged and hostile messages to Decrypt: it must fail
// cleanly, never panic, and never accept damage.
func FuzzDecrypt(f *testing.F) {
	plain := testData(2000, true, 60)
	f.Add(encryptBytes(f, plain, EncryptOptions{Passphrase: []byte("pw")}, false))
	f.Add(encryptBytes(f, nil, EncryptOptions{Passphrase: []byte("pw")}, false))
	var keys Keys
	keys.Passphrase = []byte("pw")
	if armored, err := os.ReadFile("testdata/rsa-secret.asc"); err == nil {
		if keys.Secret, err = ReadSecretKeys(bytes.NewReader(armored), []byte(rsaKeyPass)); err != nil {
			f.Fatal(err)
		}
		pub, err := ReadPublicKeys(bytes.NewReader(armored))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(encryptBytes(f, plain, EncryptOptions{Recipients: pub, Signer: keys.Secret[0]}, false))
		f.Add(encryptBytes(f, plain, EncryptOptions{Hidden: pub}, false))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := Decrypt(bytes.NewReader(msg), keys)
		if err != nil {
			return
		}
		// Bounded: a hostile message may decompress to a lot.
		got, err := io.ReadAll(io.LimitReader(r, 64<<20))
		if err == nil && len(got) > 0 && !bytes.Equal(got, plain) {
			t.Fatalf("accepted %d bytes of wrong plaintext", len(got))
		}
	})
}
