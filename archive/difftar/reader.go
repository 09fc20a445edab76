package difftar

import (
	"errors"
	"fmt"
	"io"

	"dupfs/archive/tarstream"
)

// errClosed is returned by a Reader after Close.
var errClosed = errors.New("difftar: reader closed")

// Reader reads entries from a sequence of volumes (or one signature tar).
// Errors are sticky: once one is returned, every later call returns it,
// unless the reader resumes after damaged volumes (see Resume).
type Reader struct {
	next   func() (io.Reader, error)
	vol    int               // volumes opened so far, for error messages
	src    io.Reader         // current volume
	tr     *tarstream.Reader // nil between volumes
	cur    *Entry            // entry whose data Read returns
	done   bool              // cur's data is exhausted
	ahead  *Entry            // next entry, read while looking for more chunks of cur
	err    error
	resume bool
}

// DamageError reports a volume that could not be read to its end. A
// resuming reader has dropped the rest of it and goes on with the next
// volume; the entries (or the part of one) it held are lost.
type DamageError struct {
	Volume int // 1-based position among the volumes the reader was given
	Err    error
}

func (e *DamageError) Error() string { return fmt.Sprintf("volume %d: %v", e.Volume, e.Err) }
func (e *DamageError) Unwrap() error { return e.Err }

// Resume makes r go on with the next volume after one that fails, instead
// of failing for good: the failing call returns a *DamageError, and the
// caller decides what the lost part of the volume held. Entries of the
// next volume that continue a lost entry are returned as they are (with
// Multivol set); callers skip them by index.
func (r *Reader) Resume() { r.resume = true }

// NewReader reads entries from the volumes next returns in order; next
// returns io.EOF when there are no more. Chunks of a multivol entry are
// joined, also across volumes. A volume that is an io.Closer is closed once
// exhausted, and a close error (say, a failed integrity check) is returned.
func NewReader(next func() (io.Reader, error)) *Reader {
	return &Reader{next: next}
}

// NewSingleReader reads entries from one tar stream: a signature tar, an
// index, or a volume read on its own.
func NewSingleReader(r io.Reader) *Reader {
	return NewReader(func() (io.Reader, error) {
		if r == nil {
			return nil, io.EOF
		}
		v := r
		r = nil
		return v, nil
	})
}

// Next returns the next entry, skipping unread data of the current one.
// It returns io.EOF after the last volume.
func (r *Reader) Next() (*Entry, error) {
	if r.err != nil {
		return nil, r.err
	}
	if r.cur != nil && r.cur.Multivol && !r.done {
		if _, err := io.Copy(io.Discard, r); err != nil {
			return nil, err
		}
		if r.err != nil { // the volumes ended inside the entry
			return nil, r.err
		}
	}
	e := r.ahead
	r.ahead = nil
	if e == nil {
		var err error
		if e, err = r.member(); err != nil {
			if d := r.damaged(err); d != nil {
				r.cur, r.done = nil, true
				return nil, d
			}
			return nil, r.fail(err)
		}
	}
	r.cur, r.done = e, false
	out := *e
	return &out, nil
}

// Read reads the current entry's data.
func (r *Reader) Read(p []byte) (int, error) {
	if r.cur == nil || r.done {
		if r.err != nil && r.err != io.EOF {
			return 0, r.err
		}
		return 0, io.EOF
	}
	if r.err != nil {
		return 0, r.err
	}
	for {
		n, err := r.tr.Read(p)
		if err != io.EOF {
			if err != nil {
				err = fmt.Errorf("volume %d: %w", r.vol, err)
				if d := r.damaged(err); d != nil {
					r.done = true
					return n, d
				}
				return n, r.fail(err)
			}
			return n, nil
		}
		if !r.cur.Multivol {
			r.done = true
			return 0, io.EOF
		}
		// This chunk is exhausted; the next member may continue it.
		e, err := r.member()
		if err == io.EOF {
			r.done = true
			r.err = io.EOF
			return 0, io.EOF
		}
		if err != nil {
			if d := r.damaged(err); d != nil {
				r.done = true
				return 0, d
			}
			return 0, r.fail(err)
		}
		if !e.Multivol || e.Kind != r.cur.Kind || e.Index != r.cur.Index {
			r.ahead = e
			r.done = true
			return 0, io.EOF
		}
	}
}

// Close closes the current volume if it is an io.Closer. It is only needed
// when reading stops before the last volume is exhausted.
func (r *Reader) Close() error {
	err := r.closeVolume()
	if r.err == nil || r.err == io.EOF {
		r.err = errClosed
	}
	return err
}

// member reads and parses the next tar member, moving on to the next
// volume when the current one ends.
func (r *Reader) member() (*Entry, error) {
	for {
		if r.tr == nil {
			src, err := r.next()
			if err == io.EOF {
				return nil, io.EOF
			}
			r.vol++
			if err == nil && src == nil {
				err = errors.New("no reader")
			}
			if err != nil {
				return nil, fmt.Errorf("volume %d: %w", r.vol, err)
			}
			r.src, r.tr = src, tarstream.NewReader(src)
		}
		h, err := r.tr.Next()
		if err == io.EOF {
			if err := r.closeVolume(); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("volume %d: %w", r.vol, err)
		}
		e, err := parseEntry(h)
		if err != nil {
			return nil, fmt.Errorf("volume %d: %w", r.vol, err)
		}
		return e, nil
	}
}

func (r *Reader) closeVolume() error {
	src := r.src
	r.src, r.tr = nil, nil
	if c, ok := src.(io.Closer); ok {
		if err := c.Close(); err != nil {
			return fmt.Errorf("volume %d: close: %w", r.vol, err)
		}
	}
	return nil
}

// damaged drops the current volume after err when the reader resumes, and
// returns the error to report; nil means err ends the reader.
func (r *Reader) damaged(err error) *DamageError {
	if !r.resume || err == io.EOF || r.vol == 0 {
		return nil
	}
	if r.src != nil {
		if c, ok := r.src.(io.Closer); ok {
			c.Close() // the volume is already known bad
		}
	}
	r.src, r.tr, r.ahead = nil, nil, nil
	return &DamageError{Volume: r.vol, Err: err}
}

func (r *Reader) fail(err error) error {
	if r.err == nil {
		r.err = err
	}
	return r.err
}
