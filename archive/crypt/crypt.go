// Package crypt undoes and applies the transformations duplicity puts on
// stored files: GnuPG encryption (symmetric or public-key, optionally
// signed) and, for --no-encryption archives, gzip.
//
// Everything streams: a volume is never held in memory. Encrypted data is
// authenticated only at its end (the MDC), so a reader must reach io.EOF
// before trusting what it has read.
package crypt

import (
	"errors"
	"fmt"
	"io"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/klauspost/compress/gzip"
)

var (
	// ErrBadPassphrase means the symmetric passphrase, or a secret key's
	// passphrase, is wrong.
	ErrBadPassphrase = errors.New("bad passphrase")
	// ErrNoSecretKey means none of the given secret keys can open the file.
	ErrNoSecretKey = errors.New("no secret key for this file")
	// ErrIntegrity means the stored bytes are damaged: MDC or checksum
	// mismatch, corrupt or truncated data, or not the expected format.
	ErrIntegrity = errors.New("integrity check failed")
)

// Keys holds what Decrypt may use to open a message.
type Keys struct {
	Passphrase Secret             // symmetric passphrase (duplicity's PASSPHRASE)
	Secret     openpgp.EntityList // unlocked secret keys for public-key archives
}

// Open undoes a stored file's transformation: encrypted files are
// decrypted, compressed ones gunzipped, others returned as they are.
// duplicity never gzips an encrypted file, so asking for both is an error.
// Closing the result releases its resources; it does not close r.
func Open(r io.Reader, encrypted, compressed bool, k Keys) (io.ReadCloser, error) {
	switch {
	case encrypted && compressed:
		return nil, errors.New("open: a file cannot be both encrypted and gzip-compressed")
	case encrypted:
		plain, err := Decrypt(r, k)
		if err != nil {
			return nil, err
		}
		return io.NopCloser(plain), nil
	case compressed:
		return gunzip(r)
	default:
		return io.NopCloser(r), nil
	}
}

// Compress returns a gzip writer shaped like Python's gzip module output as
// duplicity writes it: no file name, OS byte 255, mtime now. It compresses
// on all cores, at deflate.go's level. Close finishes the stream but does
// not close w.
func Compress(w io.Writer) io.WriteCloser { return newGzipWriter(w) }

func gunzip(r io.Reader) (io.ReadCloser, error) {
	src := &sourceReader{r: r}
	zr, err := gzip.NewReader(src)
	if err != nil {
		return nil, src.blame("gzip header", err)
	}
	return &gzipReader{zr: zr, src: src}, nil
}

// gzipReader reports damage in the compressed stream as ErrIntegrity and
// failures of the underlying reader as themselves.
type gzipReader struct {
	zr  *gzip.Reader
	src *sourceReader
}

func (g *gzipReader) Read(p []byte) (int, error) {
	n, err := g.zr.Read(p)
	if err != nil && err != io.EOF {
		err = g.src.blame("gzip", err)
	}
	return n, err
}

func (g *gzipReader) Close() error { return g.zr.Close() }

// sourceReader remembers the first error of the reader it wraps, so that a
// failure further up the decoding stack can be told apart: an I/O error of
// the source, or damage in the bytes it delivered.
type sourceReader struct {
	r   io.Reader
	err error
}

func (s *sourceReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// blame turns a decoding failure into the error callers can act on: the
// source's own error if it had one, else ErrIntegrity. A clean end of input
// where more was needed is truncation.
func (s *sourceReader) blame(what string, err error) error {
	if s.err != nil {
		return fmt.Errorf("%s: read: %w", what, s.err)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s: %w: %w", what, ErrIntegrity, err)
}
