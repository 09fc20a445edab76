package writer

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// spillLimit is how much of a signature is kept in memory; larger ones
// (files of hundreds of MB and more) go to a temporary file.
const spillLimit = 1 << 20

// spill buffers one signature, in memory while small, else on disk.
type spill struct {
	dir    string
	mem    bytes.Buffer
	f      *os.File // unlinked, reused; nil until first needed
	onDisk bool
	n      int64
}

func (s *spill) reset() {
	s.mem.Reset()
	s.n, s.onDisk = 0, false
}

func (s *spill) Write(p []byte) (int, error) {
	if !s.onDisk && s.mem.Len()+len(p) <= spillLimit {
		s.n += int64(len(p))
		return s.mem.Write(p)
	}
	if !s.onDisk {
		if err := s.toDisk(); err != nil {
			return 0, fmt.Errorf("signature spill: %w", err)
		}
	}
	n, err := s.f.Write(p)
	s.n += int64(n)
	if err != nil {
		return n, fmt.Errorf("signature spill: %w", err)
	}
	return n, nil
}

func (s *spill) toDisk() error {
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, ".dupfs-sig-*")
		if err != nil {
			return err
		}
		os.Remove(f.Name())
		s.f = f
	}
	if err := s.f.Truncate(0); err != nil {
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if _, err := s.f.Write(s.mem.Bytes()); err != nil {
		return err
	}
	s.mem.Reset()
	s.onDisk = true
	return nil
}

func (s *spill) size() int64 { return s.n }

// writeTo copies the buffered bytes to w.
func (s *spill) writeTo(w io.Writer) error {
	if !s.onDisk {
		_, err := w.Write(s.mem.Bytes())
		return err
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.CopyN(w, s.f, s.n)
	return err
}

func (s *spill) close() {
	if s.f != nil {
		s.f.Close()
	}
}
