package crypt

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// gpg --symmetric output, as duplicity has it made, decrypts, and a wrong
// passphrase is refused at once.
func TestDecryptGPGSymmetric(t *testing.T) {
	g := newGnuPG(t)
	cheap := []string{"--s2k-count", "65536"}
	tests := []struct {
		name  string
		plain []byte
		args  []string
	}{
		{"gnupg defaults", testData(300<<10, true, 1), nil},
		{"empty", nil, cheap},
		{"one byte", []byte{0}, cheap},
		{"incompressible", testData(200<<10, false, 2), cheap},
		{"zlib", testData(100<<10, true, 3), append([]string{"--compress-algo", "zlib"}, cheap...)},
		{"bzip2", testData(100<<10, true, 4), append([]string{"--compress-algo", "bzip2"}, cheap...)},
		{"uncompressed", testData(100<<10, true, 5), append([]string{"--compress-algo", "none"}, cheap...)},
		{"aes128", testData(10<<10, true, 6), append([]string{"--cipher-algo", "aes128"}, cheap...)},
		{"cast5", testData(10<<10, true, 7), append([]string{"--cipher-algo", "cast5"}, cheap...)},
		{"3des", testData(10<<10, true, 8), append([]string{"--cipher-algo", "3des"}, cheap...)},
		{"sha256 s2k", testData(10<<10, true, 9), append([]string{"--s2k-digest-algo", "sha256"}, cheap...)},
		{"salted s2k", testData(10<<10, true, 10), []string{"--s2k-mode", "1"}},
		{"simple s2k", testData(10<<10, true, 13), []string{"--s2k-mode", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := writeTemp(t, "plain", tt.plain)
			args := append([]string{"--symmetric", "--force-mdc", "--passphrase-fd", "0", "--output", "-"}, tt.args...)
			ct := g.run(t, []byte("secret\n"), append(args, in)...)
			r, err := Decrypt(bytes.NewReader(ct), Keys{Passphrase: []byte("secret")})
			if err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, r); !bytes.Equal(got, tt.plain) {
				t.Fatalf("plaintext differs: got %d bytes, want %d", len(got), len(tt.plain))
			}
			// A wrong passphrase costs one key derivation and no more.
			start := time.Now()
			if _, err := Decrypt(bytes.NewReader(ct), Keys{Passphrase: []byte("wrong")}); !errors.Is(err, ErrBadPassphrase) {
				t.Fatalf("wrong passphrase: got %v, want ErrBadPassphrase", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("wrong passphrase took %v", d)
			}
		})
	}
}

// A wrong passphrase is refused by Decrypt itself, without output, every
// time: go-crypto alone lets about 1 in 60 through to fail at the MDC.
func TestDecryptWrongPassphrase(t *testing.T) {
	g := newGnuPG(t)
	in := writeTemp(t, "plain", testData(4<<10, true, 1))
	gpgMsg := g.run(t, []byte("right\n"), "--symmetric", "--force-mdc", "--s2k-count", "65536", "--passphrase-fd", "0", "--output", "-", in)

	// go-crypto's own writer adds an encrypted session key to the SKESK.
	var buf bytes.Buffer
	cfg := &packet.Config{DefaultCipher: packet.CipherAES256, S2KCount: 65536}
	w, err := openpgp.SymmetricallyEncrypt(&buf, []byte("right"), nil, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(testData(4<<10, true, 1))
	w.Close()

	for name, msg := range map[string][]byte{"gpg": gpgMsg, "go-crypto": buf.Bytes()} {
		t.Run(name, func(t *testing.T) {
			for i := range 300 {
				_, err := Decrypt(bytes.NewReader(msg), Keys{Passphrase: fmt.Appendf(nil, "wrong %d", i)})
				if !errors.Is(err, ErrBadPassphrase) {
					t.Fatalf("passphrase %d: got %v, want ErrBadPassphrase", i, err)
				}
			}
			if _, err := Decrypt(bytes.NewReader(msg), Keys{}); !errors.Is(err, ErrBadPassphrase) {
				t.Fatalf("no passphrase: got %v, want ErrBadPassphrase", err)
			}
			r, err := Decrypt(bytes.NewReader(msg), Keys{Passphrase: []byte("right")})
			if err != nil {
				t.Fatal(err)
			}
			readAll(t, r)
		})
	}
}

// Our output decrypts with gpg, and is shaped as GnuPG's own.
func TestEncryptSymmetricGPG(t *testing.T) {
	g := newGnuPG(t)
	plain := testData(500<<10, true, 11)
	ct := encryptBytes(t, plain, EncryptOptions{Passphrase: []byte("pw")}, true)
	// -vv makes gpg list the packets as it decrypts them.
	got, packets, err := g.try([]byte("pw\n"), "-vv", "--decrypt", "--passphrase-fd", "0", "--output", "-", writeTemp(t, "ct.gpg", ct))
	if err != nil {
		t.Fatalf("gpg --decrypt: %v\n%s", err, packets)
	}
	if !bytes.Equal(got, plain) {
		t.Fatalf("gpg decrypted %d bytes, want %d", len(got), len(plain))
	}
	for _, want := range []string{
		"symkey enc packet: version 4, cipher 9, aead 0,s2k 3, hash 2",
		"count 65011712",
		"mdc_method: 2",
		"compressed packet: algo=1",
		"literal data packet:\n\tmode b (62), created 0, name=\"\"",
	} {
		if !strings.Contains(packets, want) {
			t.Errorf("gpg -vv lacks %q:\n%s", want, packets)
		}
	}

	r, err := Decrypt(bytes.NewReader(ct), Keys{Passphrase: []byte("pw")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, r), plain) {
		t.Fatal("Decrypt of our own output differs")
	}
}

// Our SKESK reads with go-crypto's reader too: an independent check of
// the packet and of deriveKey.
func TestEncryptSymmetricGoCrypto(t *testing.T) {
	plain := testData(50<<10, false, 12)
	ct := encryptBytes(t, plain, EncryptOptions{Passphrase: []byte("pw")}, false)
	tries := 0
	md, err := openpgp.ReadMessage(bytes.NewReader(ct), nil, func([]openpgp.Key, bool) ([]byte, error) {
		if tries++; tries > 1 {
			return nil, errors.New("asked twice")
		}
		return []byte("pw"), nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readAll(t, md.UnverifiedBody), plain) {
		t.Fatal("plaintext differs")
	}
}

func TestEncryptNoKey(t *testing.T) {
	if _, err := Encrypt(&bytes.Buffer{}, EncryptOptions{}); err == nil {
		t.Fatal("Encrypt without passphrase or recipient succeeded")
	}
}
