// Package retry wraps a backend so transient failures (server errors,
// resets, timeouts, rate limits) are tried again with exponential backoff
// and jitter, up to a bound. Backends classify their errors
// (backends.IsPermanent, *backends.RetryAfterError); this layer decides
// when to try again:
//
//   - a cancelled context stops at once, before an attempt or during a wait;
//   - permanent errors (a missing file, a sealed file, a refused login or
//     request) are returned at once;
//   - a rate limit with Retry-After waits at least that long, unless it is
//     longer than Options.MaxRetryAfter (an outage, not a retry);
//   - Save rewinds its reader before each attempt; List starts over;
//     Delete takes a file gone on a retry as deleted by the attempt whose
//     answer was lost;
//   - Open is retried until the body starts; a body that breaks later
//     resumes where it stopped when the store can open from an offset
//     (Resumer), and fails otherwise;
//   - the cold tier of the store (backends.Cold), if any, is retried too.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"dupfs/backends"
)

// Options bound the retries.
type Options struct {
	// Retries is how many times a failed call is tried again (duplicity's
	// --num-retries counts attempts, so it is that less one; 0 here means
	// one attempt only).
	Retries int
	// Delay is the first wait (default 1s); each later one doubles, up to
	// MaxDelay (default 30s or Delay). Each wait is drawn at random
	// between half and all of it, so parallel transfers spread apart.
	Delay, MaxDelay time.Duration
	// MaxRetryAfter is the longest Retry-After that is waited out
	// (default 5 minutes); a longer one is returned as the error.
	MaxRetryAfter time.Duration
	// Report, when set, hears of each failure that will be retried: the
	// operation ("put NAME"), how many attempts failed so far, the wait
	// before the next one, and the error.
	Report func(op string, attempt int, wait time.Duration, err error)
}

func (o Options) withDefaults() Options {
	if o.Delay <= 0 {
		o.Delay = time.Second
	}
	if o.MaxDelay < o.Delay {
		o.MaxDelay = max(30*time.Second, o.Delay)
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = 5 * time.Minute
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	return o
}

// Resumer is implemented by stores that can open a file from an offset.
// version is the Version() of the reader that broke ("" if it has none);
// a store refuses, permanently, a file whose content changed since.
type Resumer interface {
	OpenFrom(ctx context.Context, name string, offset int64, version string) (io.ReadCloser, error)
}

// Backend retries the calls of the backend it wraps.
type Backend struct {
	backends.Backend
	opts Options
}

// ColdBackend is a Backend over a store with a cold tier, whose States
// and Unseal are retried as well.
type ColdBackend struct {
	*Backend
	cold backends.Cold
}

var (
	_ backends.Backend   = (*Backend)(nil)
	_ backends.Unwrapper = (*Backend)(nil)
	_ backends.Cold      = (*ColdBackend)(nil)
	_ backends.Unwrapper = (*ColdBackend)(nil)
)

// New wraps b: a *ColdBackend when b has a cold tier (backends.AsCold),
// a *Backend otherwise, so AsCold of the result answers as it does for b.
func New(b backends.Backend, opts Options) backends.Backend {
	r := &Backend{Backend: b, opts: opts.withDefaults()}
	if c, ok := backends.AsCold(b); ok {
		return &ColdBackend{Backend: r, cold: c}
	}
	return r
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backends.Backend { return b.Backend }

// Do runs fn until it succeeds, fails permanently or the retries in opts
// are spent, as the methods of Backend do; op names the call in reports
// and in the final error.
func Do(ctx context.Context, opts Options, op string, fn func() error) error {
	return loop(ctx, opts.withDefaults(), op, 0, nil, fn)
}

func (b *Backend) do(ctx context.Context, op string, fn func() error) error {
	return loop(ctx, b.opts, op, 0, nil, fn)
}

// loop tries fn until it succeeds or gives up. failed, when not nil, is
// the error of attempt number done (the attempts already made and lost):
// loop waits before its first call then.
func loop(ctx context.Context, o Options, op string, done int, failed error, fn func() error) error {
	err := failed
	if err == nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		err = fn()
		done++
	}
	wait := o.Delay
	for i := 1; i < done; i++ {
		wait = min(2*wait, o.MaxDelay)
	}
	for {
		if err == nil || backends.IsPermanent(err) {
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			if errors.Is(err, cerr) {
				return err
			}
			return fmt.Errorf("%w (after: %v)", cerr, err)
		}
		if done > o.Retries {
			if done > 1 {
				return fmt.Errorf("%w (gave up after %d attempts)", err, done)
			}
			return err
		}
		d := wait/2 + rand.N(wait/2+1)
		var ra *backends.RetryAfterError
		if errors.As(err, &ra) {
			if ra.After > o.MaxRetryAfter {
				return err
			}
			d = max(d, ra.After)
		}
		if o.Report != nil {
			o.Report(op, done, d, err)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, o.MaxDelay)
		err = fn()
		done++
	}
}

// List lists again from the start after a failure: what a failed attempt
// listed is dropped.
func (b *Backend) List(ctx context.Context) ([]backends.FileInfo, error) {
	var out []backends.FileInfo
	err := b.do(ctx, "list", func() (err error) {
		out, err = b.Backend.List(ctx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Open retries until the body starts. When the store is a Resumer, a body
// that breaks later (a reset, a timeout) is opened again from where it
// stopped, with the same bound on attempts without progress.
func (b *Backend) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := b.do(ctx, "get "+name, func() (err error) {
		rc, err = b.Backend.Open(ctx, name)
		return err
	})
	if err != nil {
		return nil, err
	}
	res, ok := b.Backend.(Resumer)
	if !ok {
		return rc, nil
	}
	r := &resumingReader{b: b, res: res, ctx: ctx, name: name, rc: rc}
	if v, ok := rc.(interface{ Version() string }); ok {
		r.version = v.Version()
	}
	return r, nil
}

// resumingReader reads a body, opening it again from its offset when it
// breaks.
type resumingReader struct {
	b       *Backend
	res     Resumer
	ctx     context.Context
	name    string
	version string
	rc      io.ReadCloser
	off     int64
	fails   int   // failures since the last byte read
	pending error // a failure behind bytes already returned
	err     error // final
}

func (r *resumingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	for {
		err := r.pending
		r.pending = nil
		if err == nil {
			var n int
			n, err = r.rc.Read(p)
			r.off += int64(n)
			if n > 0 {
				r.fails = 0
			}
			if err == nil || err == io.EOF {
				return n, err
			}
			if r.ctx.Err() != nil || backends.IsPermanent(err) {
				r.err = err
				return n, err
			}
			if n > 0 {
				r.pending = err
				return n, nil
			}
		}
		r.rc.Close()
		r.fails++
		op := fmt.Sprintf("get %s (resume at byte %d)", r.name, r.off)
		var rc io.ReadCloser
		err = loop(r.ctx, r.b.opts, op, r.fails, err, func() (err error) {
			rc, err = r.res.OpenFrom(r.ctx, r.name, r.off, r.version)
			return err
		})
		if err != nil {
			r.rc, r.err = io.NopCloser(nil), err
			return 0, err
		}
		r.rc = rc
	}
}

func (r *resumingReader) Close() error {
	if r.err == nil {
		r.err = errors.New("read after close")
	}
	return r.rc.Close()
}

// Save uploads again from the start of r after a failure: r is rewound
// before each attempt.
func (b *Backend) Save(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	return b.do(ctx, "put "+name, func() error {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			return backends.Permanent(fmt.Errorf("save %s: rewind: %w", name, err))
		}
		return b.Backend.Save(ctx, name, r, size)
	})
}

// Delete retries; a file gone on a retry was removed by the attempt whose
// answer was lost.
func (b *Backend) Delete(ctx context.Context, name string) error {
	tried := false
	return b.do(ctx, "delete "+name, func() error {
		err := b.Backend.Delete(ctx, name)
		if tried && errors.Is(err, backends.ErrNotExist) {
			return nil
		}
		tried = true
		return err
	})
}

// States asks again after a failure.
func (b *ColdBackend) States(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	var out map[string]backends.ColdState
	err := b.do(ctx, "seal states", func() (err error) {
		out, err = b.cold.States(ctx, names)
		return err
	})
	return out, err
}

// Unseal asks again after a failure: the store asks only for what is
// still sealed, so a retry does not ask twice.
func (b *ColdBackend) Unseal(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	var out map[string]backends.ColdState
	err := b.do(ctx, "unseal", func() (err error) {
		out, err = b.cold.Unseal(ctx, names)
		return err
	})
	return out, err
}
