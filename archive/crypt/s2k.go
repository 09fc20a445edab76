package crypt

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	_ "crypto/sha1" // S2K and MDC hashes
	_ "crypto/sha256"
	_ "crypto/sha512"

	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"golang.org/x/crypto/cast5"
)

// s2kChunk is how much repeated salt+passphrase is fed to the hash per
// Write. go-crypto's s2k.Iterated writes salt+passphrase (a few dozen
// bytes) at a time; with SHA-1 at GnuPG's count of 65011712 bytes that
// call overhead makes a derivation cost 0.6-0.8 s of CPU instead of 75 ms,
// on every volume.
const s2kChunk = 64 << 10

// s2kHashes are the S2K hashes derived here; others go through go-crypto.
var s2kHashes = map[byte]crypto.Hash{
	2:  crypto.SHA1,
	8:  crypto.SHA256,
	9:  crypto.SHA384,
	10: crypto.SHA512,
	11: crypto.SHA224,
}

// decodeCount expands the one-octet iteration count of RFC 4880 3.7.1.3.
func decodeCount(c byte) int {
	return (16 + int(c&15)) << (uint(c>>4) + 6)
}

// deriveKey computes RFC 4880's simple, salted and iterated+salted S2K,
// which differ only in salt and count: the hash input is salt+passphrase
// repeated up to count bytes (at least once), and each further hash context
// that is needed to fill out is preloaded with one more zero byte.
func deriveKey(out []byte, h crypto.Hash, salt, pass []byte, count int) {
	unit := make([]byte, 0, len(salt)+len(pass))
	unit = append(append(unit, salt...), pass...)
	count = max(count, len(unit))
	if len(unit) == 0 {
		count = 0
	}
	chunk := unit
	if count > len(unit) {
		chunk = bytes.Repeat(unit, max(1, s2kChunk/len(unit)))
	}
	var zeros []byte
	for done := 0; done < len(out); zeros = append(zeros, 0) {
		d := h.New()
		d.Write(zeros)
		// chunk holds whole units, so every Write starts on a unit boundary.
		for left := count; left > 0; {
			n := min(left, len(chunk))
			d.Write(chunk[:n])
			left -= n
		}
		done += copy(out[done:], d.Sum(nil))
	}
}

// newBlock returns the block cipher c keyed with key, or nil when c is not
// one of the ciphers go-crypto supports or key has the wrong size.
func newBlock(c packet.CipherFunction, key []byte) cipher.Block {
	if !c.IsSupported() || len(key) != c.KeySize() {
		return nil
	}
	var b cipher.Block
	var err error
	switch c {
	case packet.CipherAES128, packet.CipherAES192, packet.CipherAES256:
		b, err = aes.NewCipher(key)
	case packet.CipherCAST5:
		b, err = cast5.NewCipher(key)
	case packet.Cipher3DES:
		b, err = des.NewTripleDESCipher(key)
	}
	if err != nil {
		return nil
	}
	return b
}
