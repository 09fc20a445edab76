// Package retry wraps a backend so transient failures (server errors,
// resets, timeouts, rate limits) are tried again with exponential backoff,
// up to a bound. Backends classify their errors (backends.IsPermanent,
// backends.RetryAfterError); this layer decides when to try again.
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
	// --num-retries counts attempts; 0 here means one attempt only).
	Retries int
	// Delay is the first wait; each later one doubles, up to MaxDelay.
	Delay, MaxDelay time.Duration
	// Report, when set, hears of each failure that will be retried.
	Report func(op string, attempt int, wait time.Duration, err error)
}

// Backend retries the calls of the backend it wraps.
type Backend struct {
	backends.Backend
	opts Options
}

var (
	_ backends.Backend   = (*Backend)(nil)
	_ backends.Unwrapper = (*Backend)(nil)
)

// New wraps b.
func New(b backends.Backend, opts Options) *Backend {
	if opts.Delay <= 0 {
		opts.Delay = time.Second
	}
	if opts.MaxDelay < opts.Delay {
		opts.MaxDelay = max(30*time.Second, opts.Delay)
	}
	return &Backend{Backend: b, opts: opts}
}

// Unwrap returns the wrapped backend.
func (b *Backend) Unwrap() backends.Backend { return b.Backend }

// maxRetryAfter caps a rate limit's requested wait; longer is not a
// retry but an outage, reported as such.
const maxRetryAfter = 5 * time.Minute

func (b *Backend) do(ctx context.Context, op string, fn func() error) error {
	wait := b.opts.Delay
	for attempt := 0; ; attempt++ {
		err := fn()
		if err == nil || backends.IsPermanent(err) || ctx.Err() != nil {
			return err
		}
		if attempt >= b.opts.Retries {
			if attempt > 0 {
				return fmt.Errorf("%w (gave up after %d attempts)", err, attempt+1)
			}
			return err
		}
		// Jitter spreads the retries of parallel uploads apart.
		d := wait/2 + rand.N(wait/2+1)
		var ra *backends.RetryAfterError
		if errors.As(err, &ra) {
			if ra.After > maxRetryAfter {
				return err
			}
			d = max(d, ra.After)
		}
		if b.opts.Report != nil {
			b.opts.Report(op, attempt+1, d, err)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(2*wait, b.opts.MaxDelay)
	}
}

// List lists again from the start after a failure.
func (b *Backend) List(ctx context.Context) ([]backends.FileInfo, error) {
	var out []backends.FileInfo
	err := b.do(ctx, "list", func() (err error) {
		out, err = b.Backend.List(ctx)
		return err
	})
	return out, err
}

// Open retries opening; a failure while the body is read is the
// reader's (its caller re-opens if it wants to).
func (b *Backend) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := b.do(ctx, "get "+name, func() (err error) {
		rc, err = b.Backend.Open(ctx, name)
		return err
	})
	return rc, err
}

// Save uploads again from the start of r after a failure (Save rewinds).
func (b *Backend) Save(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	return b.do(ctx, "put "+name, func() error { return b.Backend.Save(ctx, name, r, size) })
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
