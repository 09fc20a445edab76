package repo

import (
	"context"
	"io"
	"sync"

	"dupfs/archive/collection"
	"dupfs/archive/manifest"
)

// Read-ahead bounds: how far decryption may run ahead of the consumer.
const (
	chunkSize   = 1 << 20
	chunksAhead = 16
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// chunk is one piece of plaintext, a volume boundary, or an error.
type chunk struct {
	buf *[]byte
	n   int
	end bool // the current volume ends here
	err error
}

// VolumeStream decrypts the given volumes of a set, in order, on a
// goroutine of its own, at most chunksAhead MiB ahead of the reader. Next
// has the shape difftar.NewReader wants: one reader per volume, io.EOF
// after the last. Close stops the goroutine.
type VolumeStream struct {
	ch     chan chunk
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	cur    *volumePart
}

// NewVolumeStream starts decrypting vols of set.
func (r *Repo) NewVolumeStream(ctx context.Context, set *collection.Set, vols []manifest.Volume) *VolumeStream {
	ctx, cancel := context.WithCancel(ctx)
	s := &VolumeStream{ch: make(chan chunk, chunksAhead), cancel: cancel, done: make(chan struct{})}
	go s.produce(ctx, r, set, vols)
	return s
}

func (s *VolumeStream) produce(ctx context.Context, r *Repo, set *collection.Set, vols []manifest.Volume) {
	defer close(s.done)
	defer close(s.ch)
	send := func(c chunk) bool {
		select {
		case s.ch <- c:
			return true
		case <-ctx.Done():
			if c.buf != nil {
				chunkPool.Put(c.buf)
			}
			return false
		}
	}
	for _, v := range vols {
		rc, err := r.OpenVolume(ctx, set, v)
		if err != nil {
			send(chunk{err: err})
			return
		}
		for {
			buf := chunkPool.Get().(*[]byte)
			n, err := io.ReadFull(rc, *buf)
			if n > 0 && !send(chunk{buf: buf, n: n}) {
				rc.Close()
				return
			}
			if n == 0 {
				chunkPool.Put(buf)
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				break
			}
			if err != nil {
				rc.Close()
				send(chunk{err: err})
				return
			}
		}
		if err := rc.Close(); err != nil {
			send(chunk{err: err})
			return
		}
		if !send(chunk{end: true}) {
			return
		}
	}
}

// Next returns a reader over the next volume's plaintext, or io.EOF.
func (s *VolumeStream) Next() (io.Reader, error) {
	if s.cur != nil {
		// Skip whatever the consumer left of the previous volume.
		if _, err := io.Copy(io.Discard, s.cur); err != nil {
			return nil, err
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	c, ok := <-s.ch
	if !ok {
		return nil, io.EOF
	}
	if c.err != nil {
		s.err = c.err
		return nil, c.err
	}
	s.cur = &volumePart{s: s, pending: &c}
	return s.cur, nil
}

// Close stops decryption and waits for the goroutine.
func (s *VolumeStream) Close() error {
	s.cancel()
	for c := range s.ch {
		if c.buf != nil {
			chunkPool.Put(c.buf)
		}
	}
	<-s.done
	return nil
}

// volumePart reads one volume's chunks up to its end marker.
type volumePart struct {
	s       *VolumeStream
	pending *chunk
	off     int
	eof     bool
}

func (v *volumePart) Read(p []byte) (int, error) {
	for {
		if v.eof {
			return 0, io.EOF
		}
		if v.pending == nil {
			c, ok := <-v.s.ch
			if !ok {
				v.eof = true
				return 0, io.ErrUnexpectedEOF
			}
			v.pending, v.off = &c, 0
		}
		c := v.pending
		switch {
		case c.err != nil:
			v.s.err = c.err
			return 0, c.err
		case c.end:
			v.eof = true
			v.pending = nil
			return 0, io.EOF
		}
		if v.off < c.n {
			n := copy(p, (*c.buf)[v.off:c.n])
			v.off += n
			if v.off == c.n {
				chunkPool.Put(c.buf)
				v.pending = nil
			}
			return n, nil
		}
		v.pending = nil
	}
}
