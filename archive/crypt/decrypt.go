package crypt

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
)

const (
	// maxKeyPackets bounds the session key packets before the data, and
	// maxPassKeys the passphrase packets among them, each of which may cost
	// up to a second of key derivation. GnuPG writes one per recipient and
	// at most one passphrase packet.
	maxKeyPackets = 64
	maxPassKeys   = 4
	// maxKeyPacketLen is far above the largest real session key packet
	// (post-quantum PKESKs are about 1.6 KiB) and bounds what is buffered.
	maxKeyPacketLen = 8 << 10
	readBufSize     = 64 << 10

	tagPKESK  = 1
	tagSKESK  = 3
	tagMarker = 10
	s2kArgon2 = 4
)

// Decrypt returns the plaintext of one OpenPGP message, as GnuPG writes
// for duplicity: passphrase- or public-key-encrypted, integrity protected,
// possibly compressed and signed. Public keys are tried first, then the
// passphrase, each once. Signatures are not verified.
//
// A wrong passphrase or key is found before any data is returned
// (ErrBadPassphrase, ErrNoSecretKey). Damage is reported by Read, at the
// latest when the integrity check runs at the end of the data, wrapping
// ErrIntegrity; so callers must read to io.EOF before trusting the output.
// Errors of r itself are returned as they are, wrapped.
func Decrypt(r io.Reader, k Keys) (io.Reader, error) {
	src := &sourceReader{r: r}
	br := bufio.NewReaderSize(src, readBufSize)
	syms, pubs, err := readKeyPackets(br, src)
	if err != nil {
		return nil, err
	}
	p, err := packet.NewReader(br).Next()
	if err != nil {
		return nil, src.blame("decrypt: data packet", err)
	}
	var data packet.EncryptedDataPacket
	switch p := p.(type) {
	case *packet.SymmetricallyEncrypted:
		if !p.IntegrityProtected {
			// gpg --force-mdc, which duplicity passes, never writes these.
			return nil, fmt.Errorf("decrypt: %w: data has no integrity protection", ErrIntegrity)
		}
		data = p
	case *packet.AEADEncrypted:
		data = p
	default:
		return nil, fmt.Errorf("decrypt: %w: %T packet where encrypted data was expected", ErrIntegrity, p)
	}
	if len(syms)+len(pubs) == 0 {
		return nil, fmt.Errorf("decrypt: %w: no session key packet", ErrIntegrity)
	}
	dec, err := openData(data, syms, pubs, k, src)
	if err != nil {
		return nil, err
	}

	packets := packet.NewReader(dec)
	for {
		p, err := packets.Next()
		if err != nil {
			return nil, src.blame("decrypt: decrypted packets", err)
		}
		switch p := p.(type) {
		case *packet.Compressed:
			if err := packets.Push(p.Body); err != nil {
				return nil, src.blame("decrypt: decrypted packets", err)
			}
		case *packet.LiteralData:
			return &plainReader{body: p.Body, dec: dec, src: src}, nil
		}
		// One-pass signatures and signatures are skipped: duplicity checks
		// them only when asked to at restore.
	}
}

// plainReader yields the literal data and, at its end, runs the integrity
// check of the encrypted packet.
type plainReader struct {
	body io.Reader
	dec  io.ReadCloser
	src  *sourceReader
	err  error // sticky: io.EOF once checked, or the failure
}

func (r *plainReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.body.Read(p)
	switch {
	case err == io.EOF:
		// Close reads what follows the literal data (a trailing signature,
		// the end of the compressed stream) and checks the MDC or AEAD tag.
		if cerr := r.dec.Close(); cerr != nil {
			err = r.src.blame("decrypt", cerr)
		}
		r.err = err
	case err != nil:
		err = r.src.blame("decrypt", err)
		r.err = err
	}
	return n, err
}

// passKey is one passphrase-encrypted session key packet.
type passKey struct {
	pkt  *packet.SymmetricKeyEncrypted
	body []byte // raw packet body, for the fast derivation of v4 packets
}

// unlock derives the session key from pass. It derives keys of v4 packets
// with the common S2K modes itself, several times faster than go-crypto,
// and leaves other packets to go-crypto.
func (s passKey) unlock(pass []byte) (packet.CipherFunction, []byte, error) {
	if p, ok := parseV4(s.body); ok {
		return p.unwrap(pass)
	}
	key, c, err := s.pkt.Decrypt(pass)
	return c, key, err
}

// v4Params are the fields of a SKESK v4 (RFC 4880 5.3).
type v4Params struct {
	cipher packet.CipherFunction
	hash   crypto.Hash
	salt   []byte
	count  int    // 0 for simple and salted S2K: hash salt+passphrase once
	esk    []byte // encrypted session key, usually absent
}

// parseV4 accepts v4 bodies with simple, salted or iterated+salted S2K
// over a hash deriveKey knows.
func parseV4(b []byte) (v4Params, bool) {
	if len(b) < 4 || b[0] != 4 {
		return v4Params{}, false
	}
	p := v4Params{cipher: packet.CipherFunction(b[1])}
	var ok bool
	if p.hash, ok = s2kHashes[b[3]]; !ok || p.cipher.KeySize() == 0 {
		return v4Params{}, false
	}
	rest := b[4:]
	switch mode := b[2]; {
	case mode == 0:
		p.esk = rest
	case mode == 1 && len(rest) >= 8:
		p.salt, p.esk = rest[:8], rest[8:]
	case mode == 3 && len(rest) >= 9:
		p.salt, p.count, p.esk = rest[:8], decodeCount(rest[8]), rest[9:]
	default:
		return v4Params{}, false
	}
	return p, true
}

var errWrongKey = errors.New("session key does not decrypt")

// unwrap derives the key-encryption key. Without an encrypted session key
// (what GnuPG writes) that is the session key itself; otherwise the
// session key is decrypted with it in CFB mode, zero IV.
func (p v4Params) unwrap(pass []byte) (packet.CipherFunction, []byte, error) {
	kek := make([]byte, p.cipher.KeySize())
	deriveKey(kek, p.hash, p.salt, pass, p.count)
	if len(p.esk) == 0 {
		return p.cipher, kek, nil
	}
	block := newBlock(p.cipher, kek)
	if block == nil {
		return 0, nil, errWrongKey
	}
	plain := make([]byte, len(p.esk))
	cipher.NewCFBDecrypter(block, make([]byte, block.BlockSize())).XORKeyStream(plain, p.esk)
	c := packet.CipherFunction(plain[0])
	if c.KeySize() == 0 || len(plain)-1 != c.KeySize() {
		return 0, nil, errWrongKey
	}
	return c, plain[1:], nil
}

// openData finds the session key and starts decrypting data.
func openData(data packet.EncryptedDataPacket, syms []passKey, pubs []*packet.EncryptedKey, k Keys, src *sourceReader) (io.ReadCloser, error) {
	// SEIPD v1 repeats two prefix bytes, GnuPG's "quick check": it tells a
	// wrong passphrase from damaged data before any output. go-crypto
	// skips the check, so it is done here on the peeked prefix.
	check := func(packet.CipherFunction, []byte) (bool, error) { return true, nil }
	if se, ok := data.(*packet.SymmetricallyEncrypted); ok && se.Version == 1 {
		pr := bufio.NewReaderSize(se.Contents, 64)
		se.Contents = pr
		check = func(c packet.CipherFunction, key []byte) (bool, error) {
			return quickCheck(pr, c, key)
		}
	}
	open := func(c packet.CipherFunction, key []byte) (io.ReadCloser, bool, error) {
		ok, err := check(c, key)
		if err != nil {
			return nil, false, src.blame("decrypt: data prefix", err)
		}
		if !ok {
			return nil, false, nil
		}
		dec, err := data.Decrypt(c, key)
		if err != nil {
			return nil, false, src.blame("decrypt", err)
		}
		return dec, true, nil
	}

	// Public keys first, as GnuPG does: they cost no key derivation.
	var locked, keyFound bool
	var ids []uint64
	for _, ek := range pubs {
		ids = append(ids, ek.KeyId)
		for _, key := range candidateKeys(k.Secret, ek.KeyId) {
			priv := key.PrivateKey
			if priv == nil || priv.Dummy() {
				continue
			}
			if priv.Encrypted {
				locked = true
				continue
			}
			if ek.Decrypt(priv, nil) != nil {
				continue // another recipient's packet, or a hidden one
			}
			keyFound = true
			dec, ok, err := open(ek.CipherFunc, ek.Key)
			if ok || err != nil {
				return dec, err
			}
		}
	}
	for _, s := range syms {
		c, key, err := s.unlock(k.Passphrase)
		if err != nil {
			continue
		}
		dec, ok, err := open(c, key)
		if ok || err != nil {
			return dec, err
		}
	}

	switch {
	case keyFound:
		return nil, fmt.Errorf("decrypt: %w: session key does not fit the data", ErrIntegrity)
	case len(syms) > 0:
		return nil, fmt.Errorf("decrypt: %w", ErrBadPassphrase)
	case locked:
		return nil, fmt.Errorf("decrypt: %w: the matching secret key is still locked", ErrNoSecretKey)
	default:
		return nil, fmt.Errorf("decrypt: %w (encrypted to key ids %s)", ErrNoSecretKey, formatIDs(ids))
	}
}

// candidateKeys lists the keys that may open a PKESK; key id 0 is a hidden
// recipient, which every decryption key may be.
func candidateKeys(secret openpgp.EntityList, id uint64) []openpgp.Key {
	if id == 0 {
		return secret.DecryptionKeys()
	}
	return secret.KeysById(id)
}

func formatIDs(ids []uint64) string {
	var b bytes.Buffer
	for i, id := range ids {
		if i > 0 {
			b.WriteString(", ")
		}
		if id == 0 {
			b.WriteString("hidden")
		} else {
			fmt.Fprintf(&b, "%016X", id)
		}
	}
	return b.String()
}

// quickCheck decrypts the blockSize+2 byte prefix of SEIPD v1 data with key
// and compares the repeated bytes. Ciphers it cannot run pass unchecked.
func quickCheck(pr *bufio.Reader, c packet.CipherFunction, key []byte) (bool, error) {
	block := newBlock(c, key)
	if block == nil {
		return true, nil
	}
	bs := block.BlockSize()
	prefix, err := pr.Peek(bs + 2)
	if err != nil {
		return false, err
	}
	plain := bytes.Clone(prefix)
	packet.NewOCFBDecrypter(block, plain, packet.OCFBNoResync) // writes the plaintext prefix into plain
	return plain[bs-2] == plain[bs] && plain[bs-1] == plain[bs+1], nil
}

// readKeyPackets reads the session key packets at the start of a message,
// leaving br at the data packet. It frames them itself so that their size
// and number are bounded and hostile parameters are refused before any key
// derivation runs: Argon2 S2K, which GnuPG never writes, may ask for
// terabytes of memory.
func readKeyPackets(br *bufio.Reader, src *sourceReader) ([]passKey, []*packet.EncryptedKey, error) {
	var syms []passKey
	var pubs []*packet.EncryptedKey
	for n := 0; ; n++ {
		tag, hlen, blen, err := peekHeader(br)
		if err != nil {
			return nil, nil, src.blame("decrypt: packet header", err)
		}
		if tag != tagPKESK && tag != tagSKESK && tag != tagMarker {
			return syms, pubs, nil
		}
		if n == maxKeyPackets {
			return nil, nil, fmt.Errorf("decrypt: more than %d session key packets", maxKeyPackets)
		}
		if blen < 0 || blen > maxKeyPacketLen {
			return nil, nil, fmt.Errorf("decrypt: %w: session key packet of unusable length", ErrIntegrity)
		}
		raw, err := br.Peek(hlen + blen)
		if err != nil {
			return nil, nil, src.blame("decrypt: session key packet", err)
		}
		raw = bytes.Clone(raw)
		if _, err := br.Discard(len(raw)); err != nil {
			return nil, nil, src.blame("decrypt: session key packet", err)
		}
		body := raw[hlen:]
		if tag == tagSKESK && s2kMode(body) == s2kArgon2 {
			return nil, nil, errors.New("decrypt: Argon2 passphrase derivation is not supported (GnuPG does not write it)")
		}
		if tag == tagSKESK && len(syms) == maxPassKeys {
			return nil, nil, fmt.Errorf("decrypt: more than %d passphrase packets", maxPassKeys)
		}
		p, err := packet.Read(bytes.NewReader(raw))
		if err != nil {
			var unsupported pgperrors.UnsupportedError
			if errors.As(err, &unsupported) {
				continue // like GnuPG, skip what cannot be used
			}
			return nil, nil, fmt.Errorf("decrypt: session key packet: %w: %w", ErrIntegrity, err)
		}
		switch p := p.(type) {
		case *packet.SymmetricKeyEncrypted:
			syms = append(syms, passKey{pkt: p, body: body})
		case *packet.EncryptedKey:
			pubs = append(pubs, p)
		}
	}
}

// s2kMode returns the S2K mode of a SKESK body (v4: version, cipher, S2K;
// v5: version, cipher, AEAD mode, S2K; v6 adds two count octets), or -1.
func s2kMode(body []byte) int {
	var off int
	switch {
	case len(body) == 0:
		return -1
	case body[0] == 4:
		off = 2
	case body[0] == 5:
		off = 3
	case body[0] == 6:
		off = 4
	default:
		return -1
	}
	if len(body) <= off {
		return -1
	}
	return int(body[off])
}

// peekHeader decodes the packet header at the front of br without
// consuming it (RFC 4880 4.2). blen is -1 when the length is not known up
// front (partial or indeterminate lengths) or absurdly large.
func peekHeader(br *bufio.Reader) (tag byte, hlen, blen int, err error) {
	b, err := br.Peek(1)
	if err != nil {
		return 0, 0, 0, err
	}
	ctb := b[0]
	if ctb&0x80 == 0 {
		return 0, 0, 0, errors.New("not an OpenPGP packet")
	}
	if ctb&0x40 == 0 { // old format
		tag = ctb >> 2 & 0x0f
		switch ctb & 3 {
		case 0:
			hlen = 2
		case 1:
			hlen = 3
		case 2:
			hlen = 5
		default:
			return tag, 1, -1, nil
		}
		if b, err = br.Peek(hlen); err != nil {
			return 0, 0, 0, err
		}
		var n uint64
		for _, c := range b[1:] {
			n = n<<8 | uint64(c)
		}
		return tag, hlen, clampLen(n), nil
	}
	tag = ctb & 0x3f
	if b, err = br.Peek(2); err != nil {
		return 0, 0, 0, err
	}
	switch l := int(b[1]); {
	case l < 192:
		return tag, 2, l, nil
	case l < 224:
		if b, err = br.Peek(3); err != nil {
			return 0, 0, 0, err
		}
		return tag, 3, (l-192)<<8 + int(b[2]) + 192, nil
	case l == 255:
		if b, err = br.Peek(6); err != nil {
			return 0, 0, 0, err
		}
		return tag, 6, clampLen(uint64(binary.BigEndian.Uint32(b[2:]))), nil
	default: // partial body length
		return tag, 2, -1, nil
	}
}

func clampLen(n uint64) int {
	if n > 1<<30 {
		return -1
	}
	return int(n)
}
