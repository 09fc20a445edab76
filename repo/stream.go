package repo

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"dupfs/archive/collection"
	"dupfs/archive/manifest"
	"dupfs/backends"
)

// spoolChunk is the unit of spool writes.
const spoolChunk = 1 << 20

// VolumeStream yields the plaintext of a set's volumes in order. Volumes
// are fetched, verified and decrypted by up to `parallel` workers at once,
// each into an unlinked spool file that the reader follows as it grows, so
// both cores work on a restore while memory stays bounded whatever the
// volume size. At most `parallel` volumes are spooled ahead of the reader.
type VolumeStream struct {
	ctx    context.Context
	cancel context.CancelFunc
	r      *Repo
	set    *collection.Set
	vols   []manifest.Volume
	spools []*spool
	next   int // index in vols of the volume Next returns next
	wg     sync.WaitGroup
	slots  chan struct{} // one token per volume that may be spooled ahead
}

// NewVolumeStream starts decrypting vols of set.
func (r *Repo) NewVolumeStream(ctx context.Context, set *collection.Set, vols []manifest.Volume) *VolumeStream {
	ctx, cancel := context.WithCancel(ctx)
	parallel := min(runtime.GOMAXPROCS(0), 4)
	s := &VolumeStream{
		ctx: ctx, cancel: cancel, r: r, set: set, vols: vols,
		spools: make([]*spool, len(vols)),
		slots:  make(chan struct{}, parallel),
	}
	for i := range vols {
		s.spools[i] = newSpool()
	}
	s.wg.Add(1)
	go s.dispatch()
	return s
}

// dispatch starts one worker per volume, in order, as slots free up.
func (s *VolumeStream) dispatch() {
	defer s.wg.Done()
	for i := range s.vols {
		select {
		case s.slots <- struct{}{}:
		case <-s.ctx.Done():
			for _, sp := range s.spools[i:] {
				sp.finish(s.ctx.Err())
			}
			return
		}
		s.wg.Add(1)
		go func(i int) {
			defer s.wg.Done()
			s.spools[i].finish(s.decrypt(s.spools[i], s.vols[i]))
		}(i)
	}
}

// decrypt fills one spool with a volume's plaintext.
func (s *VolumeStream) decrypt(sp *spool, v manifest.Volume) error {
	f, err := os.CreateTemp(s.r.opts.ScratchDir, ".dupfs-spool-*")
	if err != nil {
		return fmt.Errorf("spool file: %w", err)
	}
	os.Remove(f.Name()) // nothing to clean up, even after a crash
	sp.setFile(f)
	rc, err := s.r.OpenVolume(s.ctx, s.set, v)
	if err != nil {
		return err
	}
	defer rc.Close()
	// Decrypters return a few KiB per Read: gather whole MiBs so the spool
	// sees few writes and the reader few wake-ups.
	buf := make([]byte, spoolChunk)
	for {
		n, err := io.ReadFull(backends.ContextReader(s.ctx, rc), buf)
		if n > 0 {
			if _, werr := sp.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return rc.Close()
		}
		if err != nil {
			return err
		}
	}
}

// Next returns a reader over the next volume's plaintext, or io.EOF.
func (s *VolumeStream) Next() (io.Reader, error) {
	if s.next > 0 {
		// The previous volume is consumed: drop its spool, free its slot.
		s.spools[s.next-1].release()
		<-s.slots
	}
	if s.next >= len(s.vols) {
		return nil, io.EOF
	}
	sp := s.spools[s.next]
	s.next++
	return bufio.NewReaderSize(&spoolReader{sp: sp}, spoolChunk/4), nil
}

// Close stops the workers and drops every spool.
func (s *VolumeStream) Close() error {
	s.cancel()
	// Unblock the dispatcher if it waits for a slot.
	go func() {
		for range s.slots {
		}
	}()
	s.wg.Wait()
	close(s.slots)
	for _, sp := range s.spools {
		sp.release()
	}
	return nil
}

// spool is a file being appended by one writer and read by one reader,
// which waits for data until the writer finishes.
type spool struct {
	mu      sync.Mutex
	cond    *sync.Cond
	f       *os.File
	size    int64
	done    bool
	err     error
	dropped bool
}

func newSpool() *spool {
	sp := &spool{}
	sp.cond = sync.NewCond(&sp.mu)
	return sp
}

func (sp *spool) setFile(f *os.File) {
	sp.mu.Lock()
	sp.f = f
	sp.mu.Unlock()
}

var errSpoolDropped = errors.New("volume stream closed")

func (sp *spool) Write(p []byte) (int, error) {
	sp.mu.Lock()
	f, off, dropped := sp.f, sp.size, sp.dropped
	sp.mu.Unlock()
	if dropped {
		return 0, errSpoolDropped
	}
	n, err := f.WriteAt(p, off)
	sp.mu.Lock()
	sp.size += int64(n)
	sp.mu.Unlock()
	sp.cond.Broadcast()
	return n, err
}

func (sp *spool) finish(err error) {
	sp.mu.Lock()
	sp.done, sp.err = true, err
	sp.closeIfUnused()
	sp.mu.Unlock()
	sp.cond.Broadcast()
}

// release says the reader is finished with the spool.
func (sp *spool) release() {
	sp.mu.Lock()
	sp.dropped = true
	sp.closeIfUnused()
	sp.mu.Unlock()
}

// closeIfUnused closes the file once neither side needs it; call with mu held.
func (sp *spool) closeIfUnused() {
	if sp.f != nil && sp.done && sp.dropped {
		sp.f.Close()
		sp.f = nil
	}
}

type spoolReader struct {
	sp  *spool
	off int64
}

func (r *spoolReader) Read(p []byte) (int, error) {
	sp := r.sp
	sp.mu.Lock()
	for r.off >= sp.size && !sp.done {
		sp.cond.Wait()
	}
	f, size, done, err := sp.f, sp.size, sp.done, sp.err
	sp.mu.Unlock()
	if r.off >= size {
		if done && err != nil {
			return 0, err
		}
		return 0, io.EOF
	}
	if avail := size - r.off; int64(len(p)) > avail {
		p = p[:avail]
	}
	n, rerr := f.ReadAt(p, r.off)
	r.off += int64(n)
	if rerr == io.EOF && n > 0 {
		rerr = nil
	}
	return n, rerr
}
