package writer

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"sync"
	"sync/atomic"

	"dupfs/archive/crypt"
	"dupfs/archive/manifest"
	"dupfs/archive/names"
	"dupfs/archive/tarstream"
	"dupfs/backends"
	"dupfs/repo"
)

// Volume size rules of duplicity: a new volume starts before an entry when
// less than one read size remains below the limit; gpg output gets 66 KiB
// of slack for its buffering and the tar footer.
const (
	gpgFudge  = 50 << 10
	gpgFooter = 16 << 10
	record    = 10240 // tar record: gpg volumes are zero-padded to it
)

// pos is where a volume starts or ends in the entry sequence; chunk is set
// while a multivol file is unfinished there.
type pos struct {
	index string
	chunk int
}

// volumeSeq cuts the entry stream into volumes and hands finished ones to
// the uploader.
type volumeSeq struct {
	ctx   context.Context
	ropts repo.Options
	opts  *Options
	plan  *backupPlan
	limit int64
	cur   *volume
	done  []manifest.Volume
	up    *uploader
	// checkpoint records the volumes so far in the partial manifest.
	checkpoint func([]manifest.Volume) error
	keys       *keyPool // nil: Encrypt derives each key itself
}

func newVolumeSeq(ctx context.Context, ropts repo.Options, opts *Options, p *backupPlan, up *uploader, checkpoint func([]manifest.Volume) error, keys *keyPool) *volumeSeq {
	limit := opts.VolSize - chunkSize
	if !opts.NoEncryption {
		limit -= gpgFudge + gpgFooter
	}
	return &volumeSeq{ctx: ctx, ropts: ropts, opts: opts, plan: p, limit: max(limit, 0), up: up, checkpoint: checkpoint, keys: keys}
}

// block writes one tar member (header and all its data) of the entry at
// idx, first starting a new volume if the current one is full.
func (v *volumeSeq) block(idx string, chunk int, h *tarstream.Header, data []byte) error {
	if v.cur != nil && v.cur.blocks > 0 && v.cur.estimate() > v.limit {
		if err := v.finish(); err != nil {
			return err
		}
	}
	if v.cur == nil {
		c, err := v.start()
		if err != nil {
			return err
		}
		v.cur = c
	}
	c := v.cur
	if c.blocks == 0 {
		c.first = pos{idx, chunk}
	}
	c.last = pos{idx, chunk}
	c.blocks++
	if err := c.tw.WriteHeader(h); err != nil {
		return c.fail(err)
	}
	if _, err := c.tw.Write(data); err != nil {
		return c.fail(err)
	}
	return nil
}

// close finishes the last volume; a backup always has at least one, even
// an empty one, as duplicity writes.
func (v *volumeSeq) close() ([]manifest.Volume, error) {
	if v.cur == nil {
		c, err := v.start()
		if err != nil {
			return nil, err
		}
		v.cur = c
	}
	if err := v.finish(); err != nil {
		return nil, err
	}
	return v.done, nil
}

// abort drops the volume being written.
func (v *volumeSeq) abort() {
	if v.cur != nil {
		v.cur.discard()
		v.cur = nil
	}
}

func (v *volumeSeq) start() (*volume, error) {
	num := len(v.done) + 1
	typ := names.FullVolume
	if !v.plan.full {
		typ = names.IncVolume
	}
	enc := !v.opts.NoEncryption
	c := &volume{num: num, name: v.plan.fileName(v.ropts, typ, num, enc, !enc, false), encrypted: enc}
	f, err := os.CreateTemp(v.opts.TempDir, ".dupfs-vol-*")
	if err != nil {
		return nil, fmt.Errorf("volume %s: %w", c.name, err)
	}
	c.f = f
	c.out = &hashCounter{w: f, h: sha1.New()}
	// The encrypter is made on the pipe's goroutine: taking a key may wait
	// for its derivation, which the packer need not (it can fill the pipe).
	// Keys for the first volume and the end are ordered at the start;
	// every further volume orders one more.
	open := func() (io.WriteCloser, error) { return crypt.Compress(c.out), nil }
	if enc {
		open = func() (io.WriteCloser, error) {
			eo, err := v.keys.encryptOptions(v.opts.Encrypt, num > 1)
			if err != nil {
				return nil, err
			}
			return crypt.Encrypt(c.out, eo)
		}
	}
	c.pipe = newAsyncPipe(open)
	c.tw = tarstream.NewWriter(c.pipe)
	return c, nil
}

// finish closes the current volume, records it and queues its upload.
func (v *volumeSeq) finish() error {
	c := v.cur
	v.cur = nil
	if err := c.close(); err != nil {
		c.discard()
		return err
	}
	vol := manifest.Volume{
		Number: c.num, Start: c.first.index, StartChunk: c.first.chunk,
		End: c.last.index, EndChunk: c.last.chunk,
		HashAlg: "SHA1", Hash: hex.EncodeToString(c.out.h.Sum(nil)),
	}
	v.done = append(v.done, vol)
	if err := v.checkpoint(v.done); err != nil {
		c.discard()
		return err
	}
	return v.up.put(v.ctx, c.name, c.f, c.out.n.Load())
}

// volume is one volume being written: tar -> gzip or gpg -> temp file.
type volume struct {
	num         int
	name        string
	encrypted   bool
	f           *os.File
	out         *hashCounter
	pipe        *asyncPipe
	tw          *tarstream.Writer
	blocks      int
	first, last pos
}

// estimate is the stored size the volume will have with what has been
// written so far: bytes on disk plus plaintext not yet compressed, as if
// it did not compress (so volumes err on the small side).
func (c *volume) estimate() int64 { return c.out.n.Load() + c.pipe.pending.Load() }

func (c *volume) fail(err error) error {
	return fmt.Errorf("volume %s: %w", c.name, err)
}

func (c *volume) close() error {
	if err := c.tw.Flush(); err != nil {
		return c.fail(err)
	}
	if c.encrypted {
		// duplicity ends gpg volumes with zeros up to a tar record.
		pad := make([]byte, record-c.tw.Written()%record)
		if _, err := c.pipe.Write(pad); err != nil {
			return c.fail(err)
		}
	}
	if err := c.pipe.Close(); err != nil {
		return c.fail(err)
	}
	return nil
}

func (c *volume) discard() {
	if c.pipe != nil {
		c.pipe.abort()
	}
	c.f.Close()
	os.Remove(c.f.Name())
}

// hashCounter hashes and counts what goes to the volume file: the hash
// duplicity records is of the stored bytes.
type hashCounter struct {
	w io.Writer
	h hash.Hash
	n atomic.Int64
}

func (h *hashCounter) Write(p []byte) (int, error) {
	n, err := h.w.Write(p)
	h.h.Write(p[:n])
	h.n.Add(int64(n))
	return n, err
}

// asyncPipe hands the tar stream to a goroutine that compresses and
// encrypts it, so reading and deltas (here) overlap with compression and
// encryption (there). A few buffers in flight bound the memory.
type asyncPipe struct {
	open    func() (io.WriteCloser, error) // makes dst, on the goroutine
	ch      chan []byte
	free    chan []byte
	cur     []byte
	pending atomic.Int64
	failed  atomic.Bool
	dropped atomic.Bool // abort: finish nothing, write nothing more
	done    chan struct{}
	err     error
	closed  bool
}

const (
	pipeBuf   = 1 << 20
	pipeDepth = 4
)

func newAsyncPipe(open func() (io.WriteCloser, error)) *asyncPipe {
	p := &asyncPipe{open: open, ch: make(chan []byte, pipeDepth), free: make(chan []byte, pipeDepth+1), done: make(chan struct{})}
	go p.drain()
	return p
}

// drain writes the buffers to the writer open makes, then closes it (which
// also ends its own goroutines); after an abort or a failure only the
// latter, and its error does not count.
func (p *asyncPipe) drain() {
	defer close(p.done)
	dst, err := p.open()
	p.setErr(err)
	for b := range p.ch {
		if p.err == nil && !p.dropped.Load() {
			_, err := dst.Write(b)
			p.setErr(err)
		}
		p.pending.Add(-int64(len(b)))
		select {
		case p.free <- b[:0]:
		default:
		}
	}
	if dst != nil {
		err := dst.Close()
		if !p.dropped.Load() {
			p.setErr(err)
		}
	}
}

func (p *asyncPipe) setErr(err error) {
	if err != nil && p.err == nil {
		p.err = err
		p.failed.Store(true)
	}
}

func (p *asyncPipe) Write(b []byte) (int, error) {
	n := len(b)
	if p.closed {
		return 0, errors.New("write after close")
	}
	for len(b) > 0 {
		if p.failed.Load() {
			return 0, p.Close()
		}
		if p.cur == nil {
			select {
			case p.cur = <-p.free:
			default:
				p.cur = make([]byte, 0, pipeBuf)
			}
		}
		k := copy(p.cur[len(p.cur):cap(p.cur)], b)
		p.cur = p.cur[:len(p.cur)+k]
		b = b[k:]
		p.pending.Add(int64(k))
		if len(p.cur) == cap(p.cur) {
			p.ch <- p.cur
			p.cur = nil
		}
	}
	return n, nil
}

// abort ends the pipe without finishing the stream.
func (p *asyncPipe) abort() {
	p.dropped.Store(true)
	p.Close()
}

// Close sends what is buffered, waits for the goroutine to write it and
// close the writer; it returns the first error.
func (p *asyncPipe) Close() error {
	if !p.closed {
		p.closed = true
		if len(p.cur) > 0 {
			p.ch <- p.cur
			p.cur = nil
		}
		close(p.ch)
	}
	<-p.done
	return p.err
}

// uploader stores finished volumes one at a time while the next ones are
// packed, as duplicity's asynchronous upload does.
type uploader struct {
	b      backends.Backend
	ch     chan upload
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	err    error
	bytes  atomic.Int64
}

type upload struct {
	name string
	f    *os.File
	size int64
}

func newUploader(ctx context.Context, b backends.Backend, cancel context.CancelFunc) *uploader {
	u := &uploader{b: b, ch: make(chan upload, 1), cancel: cancel}
	u.wg.Add(1)
	go u.run(ctx)
	return u
}

func (u *uploader) run(ctx context.Context) {
	defer u.wg.Done()
	for up := range u.ch {
		if u.failed() == nil {
			if err := u.save(ctx, up); err != nil {
				u.mu.Lock()
				u.err = err
				u.mu.Unlock()
				u.cancel()
			}
		}
		up.f.Close()
		os.Remove(up.f.Name())
	}
}

func (u *uploader) save(ctx context.Context, up upload) error {
	if _, err := up.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("volume %s: %w", up.name, err)
	}
	if err := u.b.Save(ctx, up.name, up.f, up.size); err != nil {
		return fmt.Errorf("upload: %w", err) // the store names the file and itself
	}
	u.bytes.Add(up.size)
	return nil
}

func (u *uploader) failed() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

// put queues a volume; it waits while one is already waiting.
func (u *uploader) put(ctx context.Context, name string, f *os.File, size int64) error {
	if err := u.failed(); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	select {
	case u.ch <- upload{name, f, size}:
		return nil
	case <-ctx.Done():
		f.Close()
		os.Remove(f.Name())
		if err := u.failed(); err != nil {
			return err
		}
		return ctx.Err()
	}
}

// wait lets queued uploads finish and returns the first failure.
func (u *uploader) wait() error {
	close(u.ch)
	u.wg.Wait()
	return u.failed()
}
