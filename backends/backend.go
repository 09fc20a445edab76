// Package backends defines the storage contract dupfs needs from a target:
// a flat namespace of files that can be listed, streamed, stored and removed.
// It knows nothing of duplicity's format; one package per URL scheme
// implements it, and package all maps schemes to them.
package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// FileInfo describes one stored file.
type FileInfo struct {
	Name string
	Size int64
}

// Backend is a flat store of named files.
type Backend interface {
	// List returns every file in the store.
	List(ctx context.Context) ([]FileInfo, error)
	// Open streams a file. A missing file is an error wrapping ErrNotExist;
	// a cold-stored file that cannot be read yet is a *SealedError.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Save stores size bytes from r under name, replacing any file there.
	// r is seekable so a failed attempt can be retried from the start.
	Save(ctx context.Context, name string, r io.ReadSeeker, size int64) error
	// Delete removes a file; a missing file is an error wrapping ErrNotExist.
	Delete(ctx context.Context, name string) error
	// String names the store for messages, without secrets.
	String() string
	Close() error
}

// Env looks up a store's configuration variable (SWIFT_USERNAME, ...), as
// os.LookupEnv does. Stores read their settings through it, not from the
// process environment, so multi:// can give each store its own variables
// without them leaking from one store to the next.
type Env func(key string) (string, bool)

// LocalFiler is implemented by backends whose files are plain local files;
// readers may then use the file in place instead of copying it.
type LocalFiler interface {
	LocalPath(name string) (string, bool)
}

// ErrNotExist reports that a file is not in the store.
var ErrNotExist = errors.New("file does not exist")

// SealState is where a cold-stored file stands.
type SealState int

// Seal states of a cold-stored file.
const (
	Sealed SealState = iota
	Unsealing
	Unsealed
)

func (s SealState) String() string {
	switch s {
	case Sealed:
		return "sealed"
	case Unsealing:
		return "unsealing"
	case Unsealed:
		return "unsealed"
	}
	return fmt.Sprintf("SealState(%d)", int(s))
}

// ColdState is where one cold-stored file stands.
type ColdState struct {
	State SealState
	// ReadyAt is when an unsealing file is expected to be readable; zero
	// when unknown or not unsealing.
	ReadyAt time.Time
}

// Cold is implemented by stores whose files must be unsealed (brought back
// from cold storage, minutes to hours) before they can be read. Nothing in
// it waits for an unseal: callers ask for a batch, then poll States under
// their own context and interval.
type Cold interface {
	// States reports where each named file stands. Names the store does
	// not hold are left out of the map.
	States(ctx context.Context, names []string) (map[string]ColdState, error)
	// Unseal asks, in one batch, for the named files to be made readable,
	// and returns their states once asked. Files already unsealed or
	// unsealing are not asked for again.
	Unseal(ctx context.Context, names []string) (map[string]ColdState, error)
}

// Unwrapper is implemented by decorators (retries, limits), so callers can
// reach the capabilities of the store beneath them.
type Unwrapper interface {
	Unwrap() Backend
}

// AsCold finds the Cold tier of b, looking through decorators. Stores
// without one (file://, plain swift://) return false: every file is
// always readable there.
func AsCold(b Backend) (Cold, bool) {
	for b != nil {
		if c, ok := b.(Cold); ok {
			return c, true
		}
		u, ok := b.(Unwrapper)
		if !ok {
			break
		}
		b = u.Unwrap()
	}
	return nil, false
}

// SealedError reports a file that is in cold storage and cannot be read now.
type SealedError struct {
	Name    string
	State   SealState
	ReadyAt time.Time // zero when unknown
}

func (e *SealedError) Error() string {
	if e.ReadyAt.IsZero() {
		return fmt.Sprintf("%s is %s", e.Name, e.State)
	}
	return fmt.Sprintf("%s is %s, ready at %s", e.Name, e.State, e.ReadyAt.UTC().Format(time.RFC3339))
}

// PermanentError marks a failure that trying again cannot fix (a refused
// login, a forbidden container): retry layers give up at once.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent; nil stays nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{err}
}

// IsPermanent reports whether retrying err is pointless: marked permanent,
// a missing file, a sealed file (its wait is hours, not a retry's), or a
// cancelled context.
func IsPermanent(err error) bool {
	var p *PermanentError
	var s *SealedError
	return errors.As(err, &p) || errors.As(err, &s) || errors.Is(err, ErrNotExist) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// RetryAfterError is a store asking to be called again later (HTTP 429 rate
// limiting with Retry-After). It is not a seal: the wait is seconds.
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// ContextReader stops a long copy from r once ctx is cancelled.
func ContextReader(ctx context.Context, r io.Reader) io.Reader { return ctxReader{ctx, r} }

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
