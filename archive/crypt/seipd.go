package crypt

import (
	"crypto/cipher"
	"crypto/sha1"
	"crypto/subtle"
	"fmt"
	"hash"
	"io"
)

// tagSEIPD is the Symmetrically Encrypted Integrity Protected Data packet.
const tagSEIPD = 18

// seipdWriter writes a version 1 SEIPD packet (RFC 4880 5.13) as GnuPG
// 2.2 does: CFB with a zero IV and no resynchronization over a random
// block, its last two bytes again, the data and the MDC packet, framed with
// partial body lengths. go-crypto's writer XORs its key stream a byte at a
// time, which was 7% of a full backup's CPU; this one XORs whole blocks.
// Close ends the packet; it does not close the underlying writer.
type seipdWriter struct {
	body   *partialBody
	cfb    cfbEncrypter
	mdc    hash.Hash
	buf    []byte // ciphertext on its way to body
	closed bool
}

// mdcHeader starts the Modification Detection Code packet: tag 19, length
// 20 (a SHA-1). It is hashed along with the data it protects.
var mdcHeader = []byte{0xc0 | 19, sha1.Size}

func newSEIPDWriter(w io.Writer, block cipher.Block, rand io.Reader) (*seipdWriter, error) {
	if _, err := w.Write([]byte{0xc0 | tagSEIPD}); err != nil {
		return nil, err
	}
	s := &seipdWriter{
		body: &partialBody{w: w},
		cfb:  newCFBEncrypter(block),
		mdc:  sha1.New(),
		buf:  make([]byte, writeChunk),
	}
	if _, err := s.body.Write([]byte{1}); err != nil { // version
		return nil, err
	}
	bs := block.BlockSize()
	prefix := make([]byte, bs+2)
	if _, err := io.ReadFull(rand, prefix[:bs]); err != nil {
		return nil, fmt.Errorf("random prefix: %w", err)
	}
	// The repeated bytes let a reader spot a wrong key early.
	prefix[bs], prefix[bs+1] = prefix[bs-2], prefix[bs-1]
	if _, err := s.Write(prefix); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *seipdWriter) Write(p []byte) (int, error) {
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	s.mdc.Write(p)
	return s.encrypt(p)
}

// encrypt writes p's ciphertext without hashing it.
func (s *seipdWriter) encrypt(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		k := min(len(p), len(s.buf))
		s.cfb.xor(s.buf[:k], p[:k])
		if _, err := s.body.Write(s.buf[:k]); err != nil {
			return n, err
		}
		n += k
		p = p[k:]
	}
	return n, nil
}

// Close appends the MDC packet and ends the packet body.
func (s *seipdWriter) Close() error {
	if s.closed {
		return nil
	}
	if _, err := s.Write(mdcHeader); err != nil {
		return err
	}
	s.closed = true
	if _, err := s.encrypt(s.mdc.Sum(nil)); err != nil {
		return err
	}
	return s.body.Close()
}

// cfbEncrypter is CFB mode encryption with a zero IV, as OpenPGP uses it
// when the random prefix stands in for the IV.
type cfbEncrypter struct {
	block cipher.Block
	next  []byte // the last ciphertext block: the cipher's next input
	ks    []byte // the current key stream block
	used  int    // bytes of ks already used
}

func newCFBEncrypter(b cipher.Block) cfbEncrypter {
	bs := b.BlockSize()
	return cfbEncrypter{block: b, next: make([]byte, bs), ks: make([]byte, bs), used: bs}
}

// xor encrypts src into dst (which may be src itself).
func (c *cfbEncrypter) xor(dst, src []byte) {
	for len(src) > 0 {
		if c.used == len(c.ks) {
			c.block.Encrypt(c.ks, c.next)
			c.used = 0
		}
		n := subtle.XORBytes(dst, src, c.ks[c.used:])
		copy(c.next[c.used:], dst[:n])
		c.used += n
		dst, src = dst[n:], src[n:]
	}
}
