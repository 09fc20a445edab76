package crypt

import (
	"bufio"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

// ReadSecretKeys reads secret keys as `gpg --export-secret-keys` writes
// them, armored or binary, and unlocks every protected primary key and
// subkey with passphrase (empty for unprotected keys). The keys come back
// unlocked, ready for Keys.Secret and EncryptOptions.Signer.
func ReadSecretKeys(r io.Reader, passphrase []byte) (openpgp.EntityList, error) {
	keys, err := readKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("read secret keys: %w", err)
	}
	found := false
	for _, e := range keys {
		if !hasSecret(e) {
			continue
		}
		found = true
		if err := e.DecryptPrivateKeys(passphrase); err != nil {
			return nil, fmt.Errorf("unlock secret key %X: %w (%v)", e.PrimaryKey.Fingerprint, ErrBadPassphrase, err)
		}
	}
	if !found {
		return nil, errors.New("read secret keys: input holds only public keys")
	}
	return keys, nil
}

// ReadPublicKeys reads public keys as `gpg --export` writes them, armored
// or binary; the input may hold several keys and several armor blocks.
func ReadPublicKeys(r io.Reader) (openpgp.EntityList, error) {
	keys, err := readKeyRing(r)
	if err != nil {
		return nil, fmt.Errorf("read public keys: %w", err)
	}
	return keys, nil
}

func hasSecret(e *openpgp.Entity) bool {
	if e.PrivateKey != nil && !e.PrivateKey.Dummy() {
		return true
	}
	for _, s := range e.Subkeys {
		if s.PrivateKey != nil && !s.PrivateKey.Dummy() {
			return true
		}
	}
	return false
}

// readKeyRing accepts binary key packets or one or more armor blocks (a
// concatenation of exports is common when keys are kept in one file).
func readKeyRing(r io.Reader) (openpgp.EntityList, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, err := br.Peek(1)
	if err != nil {
		if err == io.EOF {
			return nil, errors.New("no keys in input")
		}
		return nil, err
	}
	// Every binary packet starts with a byte that has the top bit set;
	// armor is ASCII.
	if head[0]&0x80 != 0 {
		return openpgp.ReadKeyRing(br)
	}
	var all openpgp.EntityList
	for {
		// armor.Decode keeps reading from br itself when br is already
		// buffered, so successive calls see successive blocks.
		block, err := armor.Decode(br)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("armor: %w", err)
		}
		if block.Type != openpgp.PublicKeyType && block.Type != openpgp.PrivateKeyType {
			return nil, fmt.Errorf("armor block %q is not a key block", block.Type)
		}
		keys, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, err
		}
		all = append(all, keys...)
	}
	if len(all) == 0 {
		return nil, errors.New("no keys in input")
	}
	return all, nil
}
