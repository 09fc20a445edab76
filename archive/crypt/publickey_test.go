package crypt

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// gpg public-key output, as duplicity has it made with --encrypt-key,
// --hidden-encrypt-key and --sign-key, decrypts with the exported keys.
func TestDecryptGPGPublicKey(t *testing.T) {
	kr := sharedKeys(t)
	both := append(append(openpgp.EntityList{}, kr.rsa...), kr.ed...)
	tests := []struct {
		name string
		args []string
		keys openpgp.EntityList
	}{
		{"rsa", []string{"-r", rsaUID}, kr.rsa},
		{"cv25519", []string{"-r", edUID}, kr.ed},
		{"hidden rsa", []string{"--hidden-recipient", rsaUID}, kr.rsa},
		{"hidden cv25519", []string{"--hidden-recipient", edUID}, both},
		{"two recipients, second key", []string{"-r", rsaUID, "-r", edUID}, kr.ed},
		{"signed by rsa", []string{"-r", rsaUID, "--sign", "--local-user", rsaUID, "--passphrase", rsaKeyPass}, kr.rsa},
		{"signed by ed25519", []string{"-r", rsaUID, "--sign", "--local-user", edUID, "--passphrase", edKeyPass}, kr.rsa},
		{"signed, uncompressed", []string{"-r", edUID, "--sign", "--local-user", edUID, "--passphrase", edKeyPass, "--compress-algo", "none"}, kr.ed},
	}
	plain := testData(200<<10, true, 20)
	in := writeTemp(t, "plain", plain)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--encrypt", "--output", "-"}, tt.args...)
			ct := kr.run(t, nil, append(args, in)...)
			r, err := Decrypt(bytes.NewReader(ct), Keys{Secret: tt.keys})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readAll(t, r), plain) {
				t.Fatal("plaintext differs")
			}
		})
	}
}

func TestDecryptPublicKeyFailures(t *testing.T) {
	kr := sharedKeys(t)
	in := writeTemp(t, "plain", []byte("data"))
	toEd := kr.run(t, nil, "--encrypt", "-r", edUID, "--output", "-", in)
	hiddenEd := kr.run(t, nil, "--encrypt", "--hidden-recipient", edUID, "--output", "-", in)
	locked, err := ReadPublicKeys(bytes.NewReader(kr.edSecret)) // secret keys left locked
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		msg  []byte
		keys Keys
		want error
	}{
		{"other key", toEd, Keys{Secret: kr.rsa}, ErrNoSecretKey},
		{"no keys", toEd, Keys{}, ErrNoSecretKey},
		{"passphrase only", toEd, Keys{Passphrase: []byte("x")}, ErrNoSecretKey},
		{"hidden, other key", hiddenEd, Keys{Secret: kr.rsa}, ErrNoSecretKey},
		{"locked key", toEd, Keys{Secret: locked}, ErrNoSecretKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decrypt(bytes.NewReader(tt.msg), tt.keys)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReadSecretKeys(t *testing.T) {
	kr := sharedKeys(t)
	binary := kr.run(t, nil, "--passphrase", edKeyPass, "--export-secret-keys", edUID)
	tests := []struct {
		name  string
		input []byte
		pass  string
		want  error
		n     int
	}{
		{"rsa armored", kr.rsaSecret, rsaKeyPass, nil, 1},
		{"ed binary", binary, edKeyPass, nil, 1},
		{"two armor blocks", append(append([]byte{}, kr.rsaSecret...), kr.edSecret...), rsaKeyPass, ErrBadPassphrase, 0},
		{"wrong passphrase", kr.rsaSecret, "wrong", ErrBadPassphrase, 0},
		{"empty passphrase", kr.edSecret, "", ErrBadPassphrase, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ReadSecretKeys(bytes.NewReader(tt.input), []byte(tt.pass))
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("got %v, want %v", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != tt.n {
				t.Fatalf("got %d keys, want %d", len(keys), tt.n)
			}
			for _, e := range keys {
				if e.PrivateKey.Encrypted {
					t.Error("primary key still locked")
				}
				for _, s := range e.Subkeys {
					if s.PrivateKey.Encrypted {
						t.Error("subkey still locked")
					}
				}
			}
		})
	}
	if _, err := ReadSecretKeys(bytes.NewReader(kr.rsaPublic), nil); err == nil {
		t.Error("public keys accepted as secret keys")
	}
}

func TestReadPublicKeys(t *testing.T) {
	kr := sharedKeys(t)
	binary := kr.run(t, nil, "--export", rsaUID, edUID)
	armoredTwo := kr.run(t, nil, "--armor", "--export", rsaUID, edUID)
	for name, input := range map[string][]byte{
		"binary":         binary,
		"one block":      armoredTwo,
		"two blocks":     append(append([]byte{}, kr.rsaPublic...), kr.edPublic...),
		"leading text":   append([]byte("my keys:\n\n"), armoredTwo...),
		"blocks and CRs": bytes.ReplaceAll(append(append([]byte{}, kr.rsaPublic...), kr.edPublic...), []byte("\n"), []byte("\r\n")),
	} {
		t.Run(name, func(t *testing.T) {
			keys, err := ReadPublicKeys(bytes.NewReader(input))
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 2 {
				t.Fatalf("got %d keys, want 2", len(keys))
			}
		})
	}
	for name, input := range map[string]string{
		"empty":     "",
		"garbage":   "hello",
		"signature": "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n",
	} {
		if _, err := ReadPublicKeys(strings.NewReader(input)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Our public-key output decrypts with gpg, which also verifies the
// signature, and with Decrypt.
func TestEncryptPublicKeyGPG(t *testing.T) {
	kr := sharedKeys(t)
	plain := testData(300<<10, true, 21)
	tests := []struct {
		name    string
		opts    EncryptOptions
		gpgPass string   // what gpg needs to decrypt: the secret key's passphrase or the message's
		status  []string // lines gpg --status-fd must print
		decrypt openpgp.EntityList
	}{
		{"rsa", EncryptOptions{Recipients: kr.rsaPub}, rsaKeyPass, []string{"ENC_TO 4EFFB20EC6D67022 1 0"}, kr.rsa},
		{"cv25519, signed by ed25519", EncryptOptions{Recipients: kr.edPub, Signer: kr.ed[0]}, edKeyPass, []string{"GOODSIG"}, kr.ed},
		{"hidden rsa, signed by rsa", EncryptOptions{Hidden: kr.rsaPub, Signer: kr.rsa[0]}, rsaKeyPass, []string{"ENC_TO 0000000000000000 1 0", "GOODSIG 3C553BEA607FEA27"}, kr.rsa},
		{"visible and hidden", EncryptOptions{Recipients: kr.edPub, Hidden: kr.rsaPub, Signer: kr.rsa[0]}, edKeyPass, []string{"ENC_TO 0000000000000000", "GOODSIG"}, kr.rsa},
		{"symmetric, signed", EncryptOptions{Passphrase: []byte("pw"), Signer: kr.ed[0]}, "pw", []string{"GOODSIG"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := encryptBytes(t, plain, tt.opts, false)
			f := writeTemp(t, "ct.gpg", ct)
			out, stderr, err := kr.try([]byte(tt.gpgPass+"\n"), "--status-fd", "2", "--passphrase-fd", "0", "--decrypt", "--output", "-", f)
			if err != nil {
				t.Fatalf("gpg --decrypt: %v\n%s", err, stderr)
			}
			if !bytes.Equal(out, plain) {
				t.Fatal("gpg plaintext differs")
			}
			for _, want := range append(tt.status, "DECRYPTION_OKAY", "GOODMDC") {
				if !strings.Contains(stderr, "[GNUPG:] "+want) {
					t.Errorf("gpg status lacks %q:\n%s", want, stderr)
				}
			}
			r, err := Decrypt(bytes.NewReader(ct), Keys{Passphrase: []byte("pw"), Secret: tt.decrypt})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readAll(t, r), plain) {
				t.Fatal("Decrypt plaintext differs")
			}
		})
	}

	locked, err := ReadPublicKeys(bytes.NewReader(kr.edSecret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Encrypt(&bytes.Buffer{}, EncryptOptions{Recipients: kr.edPub, Signer: locked[0]}); err == nil {
		t.Error("signing with a locked key succeeded")
	}
}

// One Keys value serves concurrent decryptions (the mount reads volumes in
// parallel).
func TestDecryptConcurrent(t *testing.T) {
	kr := sharedKeys(t)
	plain := testData(100<<10, true, 22)
	msgs := [][]byte{
		encryptBytes(t, plain, EncryptOptions{Recipients: kr.rsaPub}, false),
		encryptBytes(t, plain, EncryptOptions{Hidden: kr.edPub}, false),
		encryptBytes(t, plain, EncryptOptions{Passphrase: []byte("pw")}, false),
	}
	keys := Keys{Passphrase: []byte("pw"), Secret: append(append(openpgp.EntityList{}, kr.rsa...), kr.ed...)}
	errs := make(chan error, 4*len(msgs))
	for range 4 {
		for _, msg := range msgs {
			go func() {
				got, err := decryptAll(msg, keys)
				if err == nil && !bytes.Equal(got, plain) {
					err = errors.New("plaintext differs")
				}
				errs <- err
			}()
		}
	}
	for range cap(errs) {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
