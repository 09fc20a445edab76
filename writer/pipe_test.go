package writer

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

type recorder struct {
	bytes.Buffer
	closed bool
	err    error // returned by Close
}

func (r *recorder) Close() error {
	r.closed = true
	return r.err
}

// The pipe makes its writer on its own goroutine, closes it at the end, and
// reports failures from either; after an abort nothing more is written.
func TestAsyncPipe(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 3*pipeBuf/16+5)
	t.Run("ok", func(t *testing.T) {
		r := &recorder{}
		p := newAsyncPipe(func() (io.WriteCloser, error) { return r, nil })
		if _, err := p.Write(data); err != nil {
			t.Fatal(err)
		}
		if err := p.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(r.Bytes(), data) || !r.closed {
			t.Fatalf("got %d bytes, closed %v; want %d bytes, closed", r.Len(), r.closed, len(data))
		}
	})
	t.Run("open fails", func(t *testing.T) {
		boom := errors.New("no key")
		p := newAsyncPipe(func() (io.WriteCloser, error) { return nil, boom })
		p.Write(data)
		if err := p.Close(); !errors.Is(err, boom) {
			t.Fatalf("Close = %v, want %v", err, boom)
		}
	})
	t.Run("close fails", func(t *testing.T) {
		boom := errors.New("disk full")
		r := &recorder{err: boom}
		p := newAsyncPipe(func() (io.WriteCloser, error) { return r, nil })
		p.Write(data)
		if err := p.Close(); !errors.Is(err, boom) {
			t.Fatalf("Close = %v, want %v", err, boom)
		}
	})
	t.Run("abort", func(t *testing.T) {
		r := &recorder{err: errors.New("ignored")}
		p := newAsyncPipe(func() (io.WriteCloser, error) { return r, nil })
		p.Write(data[:10])
		p.abort()
		if r.Len() != 0 || !r.closed {
			t.Fatalf("after abort: %d bytes written, closed %v; want none, closed", r.Len(), r.closed)
		}
	})
}
