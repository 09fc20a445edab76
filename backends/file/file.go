// Package file is the file:// backend: a local directory.
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"dupfs/backends"
)

// Backend stores files in one local directory.
type Backend struct {
	dir   string
	sweep sync.Once // stale temporary files, on the first Save
}

// tmpPrefix starts the names of files being saved. They are never listed;
// one left by a killed run is removed by a later Save once it is older
// than staleTmp (no local save takes that long).
const (
	tmpPrefix = ".dupfs-tmp-"
	staleTmp  = time.Hour
)

var (
	_ backends.Backend    = (*Backend)(nil)
	_ backends.LocalFiler = (*Backend)(nil)
)

// Open opens file:///abs/dir (or file://relative/dir, as duplicity allows).
// The directory is created on first Save, not here, so a typo in a restore
// URL is reported as "no backups found" rather than creating directories.
func Open(_ context.Context, u *url.URL, _ backends.Env) (backends.Backend, error) {
	p := u.Host + u.Path
	if p == "" {
		return nil, fmt.Errorf("file URL %q: no path", u.String())
	}
	return New(p), nil
}

// New returns a backend over dir.
func New(dir string) *Backend { return &Backend{dir: filepath.Clean(dir)} }

func (b *Backend) String() string { return "file://" + b.dir }

// Close releases nothing: the backend holds no resources.
func (b *Backend) Close() error { return nil }

func (b *Backend) path(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return "", fmt.Errorf("%s: invalid file name %q", b, name)
	}
	return filepath.Join(b.dir, name), nil
}

// LocalPath returns where name lives on disk.
func (b *Backend) LocalPath(name string) (string, bool) {
	p, err := b.path(name)
	return p, err == nil
}

// List returns the regular files of the directory; a missing directory is
// an empty store.
func (b *Backend) List(ctx context.Context) ([]backends.FileInfo, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(b.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b, err)
	}
	out := make([]backends.FileInfo, 0, len(ents))
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed while listing
		}
		out = append(out, backends.FileInfo{Name: e.Name(), Size: info.Size()})
	}
	return out, nil
}

// Open streams a file.
func (b *Backend) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := b.path(name)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %s: %w", b, name, backends.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b, err)
	}
	return f, nil
}

// Save writes to a temporary file and renames it into place, so a reader
// or a crash never sees a partial file under the final name.
func (b *Backend) Save(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	p, err := b.path(name)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return fmt.Errorf("%s: %w", b, err)
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("save %s: rewind: %w", name, err)
	}
	b.sweep.Do(b.removeStale)
	tmp, err := os.CreateTemp(b.dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("%s: %w", b, err)
	}
	defer os.Remove(tmp.Name())
	n, err := io.Copy(tmp, backends.ContextReader(ctx, r))
	if err == nil && n != size {
		err = fmt.Errorf("wrote %d bytes, expected %d", n, size)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		return fmt.Errorf("save %s to %s: %w", name, b, err)
	}
	return nil
}

// removeStale removes what killed runs left of their saves. It is a
// courtesy: failures are ignored, the files are never listed anyway.
func (b *Backend) removeStale() {
	ents, err := os.ReadDir(b.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), tmpPrefix) {
			continue
		}
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() && time.Since(info.ModTime()) > staleTmp {
			os.Remove(filepath.Join(b.dir, e.Name()))
		}
	}
}

// Delete removes a file.
func (b *Backend) Delete(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := b.path(name)
	if err != nil {
		return err
	}
	err = os.Remove(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: %s: %w", b, name, backends.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", b, err)
	}
	return nil
}
