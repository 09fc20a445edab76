package repo

import (
	"context"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"dupfs/archive/collection"
	"dupfs/archive/crypt"
	"dupfs/archive/manifest"
	"dupfs/archive/names"
	"dupfs/backends"
)

// Sentinels for volume problems, so callers can tell them apart.
var (
	ErrMissingVolume = errors.New("volume missing from target")
	ErrHashMismatch  = errors.New("volume hash does not match its manifest")
	// ErrFetch marks a volume the store could not deliver (after its
	// retries): the store's fault, not the volume's.
	ErrFetch = errors.New("fetch failed")
)

// VolumeError is a problem with one stored volume; it names the volume.
type VolumeError struct {
	Name string
	Err  error
}

func (e *VolumeError) Error() string { return "volume " + e.Name + ": " + e.Err.Error() }
func (e *VolumeError) Unwrap() error { return e.Err }

// VolumeName returns the remote name of a set's volume n, or the name
// duplicity would have given it when it is missing.
func (r *Repo) VolumeName(set *collection.Set, n int) (string, bool) {
	if name, ok := set.Volumes[n]; ok {
		return name, true
	}
	typ := names.FullVolume
	if !set.Full {
		typ = names.IncVolume
	}
	nm := names.Name{Type: typ, Start: set.Start, End: set.End, Volume: n, Encrypted: set.Encrypted, Compressed: !set.Encrypted}
	return nm.Format(r.opts.Prefixes, r.opts.Short), false
}

// OpenVolume fetches one volume, checks its stored bytes against the
// manifest hash before anything is read from it, and returns the plaintext
// tar stream. Errors name the volume.
func (r *Repo) OpenVolume(ctx context.Context, set *collection.Set, vol manifest.Volume) (io.ReadCloser, error) {
	name, ok := r.VolumeName(set, vol.Number)
	if !ok {
		return nil, &VolumeError{name, ErrMissingVolume}
	}
	nm, _ := names.Parse(name, r.opts.Prefixes, r.opts.Short)
	f, cleanup, err := r.fetchVerified(ctx, name, vol)
	if err != nil {
		return nil, err
	}
	plain, err := crypt.Open(f, nm.Encrypted, nm.Compressed, r.opts.Keys)
	if err != nil {
		f.Close()
		cleanup()
		return nil, &VolumeError{name, r.describeCryptErr(err)}
	}
	return &volumeReader{name: name, describe: r.describeCryptErr, r: plain, closers: []io.Closer{plain, f}, cleanup: cleanup}, nil
}

// fetchVerified returns an open local copy of a volume whose hash matched.
func (r *Repo) fetchVerified(ctx context.Context, name string, vol manifest.Volume) (*os.File, func(), error) {
	h := newHash(vol.HashAlg)
	if lf, ok := r.backend.(backends.LocalFiler); ok {
		if p, ok := lf.LocalPath(name); ok {
			f, err := os.Open(p)
			if errors.Is(err, os.ErrNotExist) {
				return nil, nil, &VolumeError{name, ErrMissingVolume}
			}
			if err != nil {
				return nil, nil, &VolumeError{name, fmt.Errorf("%w: %w", ErrFetch, err)}
			}
			if h != nil {
				if _, err := io.Copy(h, backends.ContextReader(ctx, f)); err != nil {
					f.Close()
					return nil, nil, &VolumeError{name, fmt.Errorf("%w: %w", ErrFetch, err)}
				}
				if err := checkHash(name, vol, h); err != nil {
					f.Close()
					return nil, nil, err
				}
				if _, err := f.Seek(0, io.SeekStart); err != nil {
					f.Close()
					return nil, nil, &VolumeError{name, err}
				}
			}
			return f, func() {}, nil
		}
	}
	rc, err := r.backend.Open(ctx, name)
	if errors.Is(err, backends.ErrNotExist) {
		return nil, nil, &VolumeError{name, ErrMissingVolume}
	}
	if err != nil {
		return nil, nil, &VolumeError{name, fmt.Errorf("%w: %w", ErrFetch, err)}
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(r.opts.ScratchDir, "dupfs-volume-*")
	if err != nil {
		return nil, nil, &VolumeError{name, fmt.Errorf("scratch file: %w", err)}
	}
	cleanup := func() { os.Remove(tmp.Name()) }
	var w io.Writer = tmp
	if h != nil {
		w = io.MultiWriter(tmp, h)
	}
	if _, err := io.Copy(w, backends.ContextReader(ctx, rc)); err != nil {
		tmp.Close()
		cleanup()
		return nil, nil, &VolumeError{name, fmt.Errorf("%w: download: %w", ErrFetch, err)}
	}
	if h != nil {
		if err := checkHash(name, vol, h); err != nil {
			tmp.Close()
			cleanup()
			return nil, nil, err
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		tmp.Close()
		cleanup()
		return nil, nil, &VolumeError{name, err}
	}
	return tmp, cleanup, nil
}

func newHash(alg string) hash.Hash {
	switch strings.ToUpper(alg) {
	case "SHA1":
		return sha1.New()
	case "MD5":
		return md5.New()
	}
	return nil
}

func checkHash(name string, vol manifest.Volume, h hash.Hash) error {
	got := hex.EncodeToString(h.Sum(nil))
	if !strings.EqualFold(got, vol.Hash) {
		return &VolumeError{name, fmt.Errorf("%w: manifest has %s %s, file has %s", ErrHashMismatch, vol.HashAlg, vol.Hash, got)}
	}
	return nil
}

// volumeReader names its volume in every read error.
type volumeReader struct {
	name     string
	describe func(error) error
	r        io.Reader
	closers  []io.Closer
	cleanup  func()
}

func (v *volumeReader) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	if err != nil && err != io.EOF {
		err = &VolumeError{v.name, v.describe(err)}
	}
	return n, err
}

func (v *volumeReader) Close() error {
	var first error
	for _, c := range v.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	v.cleanup()
	return first
}
