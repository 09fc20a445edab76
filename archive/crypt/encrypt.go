package crypt

import (
	"crypto"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

// EncryptOptions selects how Encrypt protects a message.
type EncryptOptions struct {
	Passphrase Secret             // symmetric when Recipients and Hidden are empty
	Recipients openpgp.EntityList // public-key encryption, key ids visible
	Hidden     openpgp.EntityList // public-key encryption, key id 0 (gpg --hidden-recipient)
	Signer     *openpgp.Entity    // optional, unlocked; signs the plaintext
	// Key, with a Passphrase, is this message's key derived ahead by
	// DerivePassphraseKey from that same passphrase; nil derives one.
	Key *PassphraseKey
}

// PassphraseKey is the key of one passphrase-encrypted message, with the
// packet that tells a reader how to derive it: a fresh salt and GnuPG's
// S2K count. Deriving it is most of the cost of encrypting a small file,
// so a caller can do it ahead, on another goroutine. Each is for one
// message only, as GnuPG uses a new salt for every message.
type PassphraseKey struct {
	packet []byte // the SKESK
	key    []byte
	used   atomic.Bool
}

// DerivePassphraseKey derives a message key from pass, for
// EncryptOptions.Key.
func DerivePassphraseKey(pass []byte) (*PassphraseKey, error) {
	return derivePassphraseKey(pass, gnupgS2KCount, rand.Reader)
}

// gnupgS2KCount is the coded S2K count GnuPG 2.2 writes: 65011712 bytes.
const gnupgS2KCount = 255

// Encrypt returns a writer that encrypts what is written to it as GnuPG
// 2.2 does for duplicity: AES-256, SEIPD v1 with MDC, ZIP compression to
// about GnuPG's default ratio (on all cores, see deflate.go), one binary
// literal packet with no name, and with a Signer a one-pass signature
// around it. A passphrase goes through iterated+salted SHA-1 S2K with
// GnuPG's count, 65011712 bytes, which costs 75-250 ms of CPU per message
// here (see EncryptOptions.Key to do it ahead). Close finishes the
// message; it does not close w.
func Encrypt(w io.Writer, o EncryptOptions) (io.WriteCloser, error) {
	return encrypt(w, o, gnupgS2KCount)
}

// encrypt takes the coded S2K count so that tests can use a cheap one.
func encrypt(w io.Writer, o EncryptOptions, s2kCount byte) (io.WriteCloser, error) {
	cfg := &packet.Config{
		DefaultHash: crypto.SHA512, // the signature digest GnuPG picks for its own keys
		// GnuPG adds no salt notation, and prints any it finds.
		NonDeterministicSignaturesViaNotation: packet.BoolPointer(false),
	}
	var key []byte
	var err error
	switch {
	case len(o.Recipients)+len(o.Hidden) > 0:
		key, err = writeRecipientPackets(w, o, cfg)
	case len(o.Passphrase) > 0:
		k := o.Key
		if k == nil {
			k, err = derivePassphraseKey(o.Passphrase, s2kCount, cfg.Random())
		} else if k.used.Swap(true) {
			err = errors.New("passphrase key already used for another message")
		}
		if err == nil {
			key = k.key
			_, err = w.Write(k.packet)
		}
	default:
		err = errors.New("no passphrase and no recipient")
	}
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	block := newBlock(packet.CipherAES256, key)
	if block == nil {
		return nil, errors.New("encrypt: no AES-256 cipher for the session key")
	}
	enc, err := newSEIPDWriter(w, block, cfg.Random())
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	comp, err := newCompressedPacket(enc)
	if err != nil {
		return nil, fmt.Errorf("encrypt: %w", err)
	}
	if o.Signer == nil {
		lit, err := packet.SerializeLiteral(comp, true, "", 0)
		if err != nil {
			return nil, fmt.Errorf("encrypt: %w", err)
		}
		return &messageWriter{WriteCloser: lit}, nil
	}
	// Sign writes the one-pass signature, literal and signature packets
	// into comp without closing it.
	lit, err := openpgp.Sign(comp, o.Signer, &openpgp.FileHints{IsBinary: true}, cfg)
	if err != nil {
		return nil, fmt.Errorf("encrypt: sign: %w", err)
	}
	return &messageWriter{WriteCloser: lit, comp: comp}, nil
}

// writeChunk caps what is handed to go-crypto at once: its packet writers
// buffer a whole Write before framing it.
const writeChunk = 64 << 10

// messageWriter feeds the literal packet in bounded pieces and closes the
// packet layers in order.
type messageWriter struct {
	io.WriteCloser           // literal data, through the signer when signing
	comp           io.Closer // compressed packet still open after a signed literal
	closed         bool
}

func (m *messageWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k, err := m.WriteCloser.Write(p[:min(len(p), writeChunk)])
		n += k
		if err != nil {
			return n, fmt.Errorf("encrypt: %w", err)
		}
		p = p[k:]
	}
	return n, nil
}

func (m *messageWriter) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	// Closing the literal closes the compressed and encrypted packets
	// behind it, writing the MDC, unless a signature had to follow it.
	if err := m.WriteCloser.Close(); err != nil {
		return fmt.Errorf("encrypt: finish: %w", err)
	}
	if m.comp != nil {
		if err := m.comp.Close(); err != nil {
			return fmt.Errorf("encrypt: finish: %w", err)
		}
	}
	return nil
}

// writeRecipientPackets writes one PKESK v3 per recipient encryption
// subkey and returns the random session key they carry.
func writeRecipientPackets(w io.Writer, o EncryptOptions, cfg *packet.Config) ([]byte, error) {
	key := make([]byte, packet.CipherAES256.KeySize())
	if _, err := io.ReadFull(cfg.Random(), key); err != nil {
		return nil, err
	}
	write := func(e *openpgp.Entity, hidden bool) error {
		ek, ok := e.EncryptionKey(cfg.Now())
		if !ok {
			return fmt.Errorf("key %X has no valid encryption key", e.PrimaryKey.Fingerprint)
		}
		return packet.SerializeEncryptedKeyAEADwithHiddenOption(w, ek.PublicKey, packet.CipherAES256, false, key, hidden, cfg)
	}
	for _, e := range o.Recipients {
		if err := write(e, false); err != nil {
			return nil, err
		}
	}
	for _, e := range o.Hidden {
		if err := write(e, true); err != nil {
			return nil, err
		}
	}
	return key, nil
}

// derivePassphraseKey makes a SKESK v4 as GnuPG does, without an
// encrypted session key: the key derived from the passphrase is the
// session key. go-crypto's writer would add an encrypted session key,
// refuses SHA-1 for S2K, and derives keys slowly (see s2kChunk).
func derivePassphraseKey(pass []byte, s2kCount byte, random io.Reader) (*PassphraseKey, error) {
	const s2kSHA1 = 2
	pkt := []byte{
		0xc0 | tagSKESK, 13, // new-format header, body length
		4, byte(packet.CipherAES256), 3, s2kSHA1, // version, cipher, iterated+salted S2K, hash
		0, 0, 0, 0, 0, 0, 0, 0, // salt
		s2kCount,
	}
	salt := pkt[6:14]
	if _, err := io.ReadFull(random, salt); err != nil {
		return nil, err
	}
	key := make([]byte, packet.CipherAES256.KeySize())
	deriveKey(key, crypto.SHA1, salt, pass, decodeCount(s2kCount))
	return &PassphraseKey{packet: pkt, key: key}, nil
}
