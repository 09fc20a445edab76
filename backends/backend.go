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
