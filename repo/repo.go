// Package repo is a duplicity target opened for reading: the backend, the
// grouping of its files into sets and chains, the local archive-dir copy of
// manifests and signatures, and volumes fetched, verified and decrypted.
// Restore, list and the mount all read a target through it.
package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"dupfs/archive/collection"
	"dupfs/archive/crypt"
	"dupfs/archive/manifest"
	"dupfs/archive/names"
	"dupfs/backends"
)

// Options say how to read the target's names and contents.
type Options struct {
	Prefixes names.Prefixes
	Short    bool // --short-filenames
	Keys     crypt.Keys
	// ArchiveDir is this target's local metadata cache (duplicity's
	// --archive-dir joined with --name); "" disables it.
	ArchiveDir string
	// ScratchDir holds volumes downloaded from remote backends while they
	// are verified; "" means the system temp dir.
	ScratchDir string
	// KeepPartial keeps interrupted sets (a local partial manifest, no
	// remote one) in their chains, as duplicity's collection-status shows
	// them; readers leave it false and never see such sets.
	KeepPartial bool
}

// Repo is an opened target.
type Repo struct {
	backend    backends.Backend
	opts       Options
	Collection *collection.Collection
	sizes      map[string]int64

	mu        sync.Mutex
	manifests map[string]*manifest.Manifest // by remote manifest name
}

// Open lists the target and groups its files.
func Open(ctx context.Context, b backends.Backend, opts Options) (*Repo, error) {
	files, err := b.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", b, err)
	}
	remote := make([]string, 0, len(files))
	sizes := make(map[string]int64, len(files))
	for _, f := range files {
		remote = append(remote, f.Name)
		sizes[f.Name] = f.Size
	}
	var local []string
	if opts.ArchiveDir != "" {
		if err := os.MkdirAll(opts.ArchiveDir, 0o700); err != nil {
			return nil, fmt.Errorf("archive dir: %w", err)
		}
		ents, err := os.ReadDir(opts.ArchiveDir)
		if err != nil {
			return nil, fmt.Errorf("archive dir: %w", err)
		}
		for _, e := range ents {
			local = append(local, e.Name())
		}
	}
	col := collection.Build(remote, local, opts.Prefixes, opts.Short)
	if !opts.KeepPartial {
		col.DropPartial()
	}
	return &Repo{
		backend:    b,
		opts:       opts,
		Collection: col,
		sizes:      sizes,
		manifests:  map[string]*manifest.Manifest{},
	}, nil
}

// Backend returns the store the repo reads.
func (r *Repo) Backend() backends.Backend { return r.backend }

// Size returns the stored size of a remote file, from the listing.
func (r *Repo) Size(name string) (int64, bool) {
	s, ok := r.sizes[name]
	return s, ok
}

// localName is the archive-dir name duplicity uses for a remote metadata
// file: manifests plain, signature tars gzipped.
func (r *Repo) localName(remote string) (string, bool) {
	n, ok := names.Parse(remote, r.opts.Prefixes, r.opts.Short)
	if !ok {
		return "", false
	}
	n.Encrypted, n.Partial = false, false
	n.Compressed = n.Type == names.FullSignature || n.Type == names.NewSignature
	return n.Format(r.opts.Prefixes, r.opts.Short), true
}

// Manifest returns a set's parsed manifest, from the archive dir when it
// holds a copy, else from the target (storing a plain copy locally).
func (r *Repo) Manifest(ctx context.Context, set *collection.Set) (*manifest.Manifest, error) {
	if set.Manifest == "" {
		return nil, fmt.Errorf("backup set %s has no manifest", names.FormatTime(set.End))
	}
	r.mu.Lock()
	m, ok := r.manifests[set.Manifest]
	r.mu.Unlock()
	if ok {
		return m, nil
	}
	m, err := r.loadManifest(ctx, set.Manifest)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", set.Manifest, err)
	}
	r.mu.Lock()
	r.manifests[set.Manifest] = m
	r.mu.Unlock()
	return m, nil
}

func (r *Repo) loadManifest(ctx context.Context, remote string) (*manifest.Manifest, error) {
	local, cacheable := r.localName(remote)
	cacheable = cacheable && r.opts.ArchiveDir != ""
	if cacheable {
		if f, err := os.Open(filepath.Join(r.opts.ArchiveDir, local)); err == nil {
			defer f.Close()
			m, err := manifest.ParseWith(f, nil)
			if err == nil {
				return m, nil
			}
			// A damaged local copy is not fatal: the target is authoritative.
		}
	}
	rc, err := r.openMeta(ctx, remote)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var src io.Reader = rc
	var tmp *os.File
	if cacheable {
		if tmp, err = os.CreateTemp(r.opts.ArchiveDir, ".tmp-manifest-*"); err == nil {
			defer os.Remove(tmp.Name())
			defer tmp.Close()
			src = io.TeeReader(rc, tmp)
		}
	}
	m, err := manifest.ParseWith(src, nil)
	if err != nil {
		return nil, err
	}
	if tmp != nil {
		// Drain so the local copy is whole, then publish it.
		if _, err := io.Copy(tmp, rc); err == nil && tmp.Close() == nil {
			_ = os.Rename(tmp.Name(), filepath.Join(r.opts.ArchiveDir, local))
		}
	}
	return m, nil
}

// openMeta opens a remote metadata file (manifest or sigtar) as plaintext.
func (r *Repo) openMeta(ctx context.Context, remote string) (io.ReadCloser, error) {
	n, ok := names.Parse(remote, r.opts.Prefixes, r.opts.Short)
	if !ok {
		return nil, fmt.Errorf("%s: not a duplicity file name", remote)
	}
	rc, err := r.backend.Open(ctx, remote)
	if err != nil {
		return nil, err
	}
	plain, err := crypt.Open(rc, n.Encrypted, n.Compressed, r.opts.Keys)
	if err != nil {
		rc.Close()
		return nil, r.describeCryptErr(err)
	}
	return multiCloser{plain, []io.Closer{plain, rc}}, nil
}

// OpenSigtar returns the plaintext tar of a signature file, from the archive
// dir when present (stored gzipped, as duplicity keeps it), else from the
// target, keeping a copy there for the next command.
func (r *Repo) OpenSigtar(ctx context.Context, remote string) (io.ReadCloser, error) {
	local, cacheable := r.localName(remote)
	if !cacheable || r.opts.ArchiveDir == "" {
		rc, err := r.openMeta(ctx, remote)
		if err != nil {
			return nil, fmt.Errorf("signatures %s: %w", remote, err)
		}
		return rc, nil
	}
	p := filepath.Join(r.opts.ArchiveDir, local)
	if _, err := os.Stat(p); err != nil {
		if err := r.cacheSigtar(ctx, remote, p); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("archive dir: %w", err)
	}
	plain, err := crypt.Open(f, false, true, crypt.Keys{})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("archive dir copy %s: %w", p, err)
	}
	return multiCloser{plain, []io.Closer{plain, f}}, nil
}

func (r *Repo) cacheSigtar(ctx context.Context, remote, dst string) error {
	rc, err := r.openMeta(ctx, remote)
	if err != nil {
		return fmt.Errorf("signatures %s: %w", remote, err)
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-sigtar-*")
	if err != nil {
		return fmt.Errorf("archive dir: %w", err)
	}
	defer os.Remove(tmp.Name())
	zw := crypt.Compress(tmp)
	_, err = io.Copy(zw, rc)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		return fmt.Errorf("signatures %s: %w", remote, err)
	}
	return nil
}

// describeCryptErr turns decryption failures into messages a user can act
// on; the caller names the file.
func (r *Repo) describeCryptErr(err error) error {
	switch {
	case errors.Is(err, crypt.ErrBadPassphrase) && len(r.opts.Keys.Passphrase) == 0 && len(r.opts.Keys.Secret) == 0:
		return fmt.Errorf("cannot decrypt: the target is encrypted and PASSPHRASE is not set: %w", err)
	case errors.Is(err, crypt.ErrBadPassphrase):
		return fmt.Errorf("cannot decrypt: wrong passphrase (check PASSPHRASE): %w", err)
	case errors.Is(err, crypt.ErrNoSecretKey):
		return fmt.Errorf("cannot decrypt: no matching secret key (give --secret-key-file): %w", err)
	}
	return err
}

type multiCloser struct {
	io.Reader
	closers []io.Closer
}

func (m multiCloser) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// UncachedMetadata lists the remote manifests, and with sigs the signature
// files, that the archive dir has no copy of: what reading this target
// downloads before any volume (a restore reads manifests, a mount both).
// On cold storage they must be unsealed first.
func (r *Repo) UncachedMetadata(sigs bool) []string {
	var out []string
	add := func(remote string) {
		if remote == "" {
			return
		}
		if local, ok := r.localName(remote); ok && r.opts.ArchiveDir != "" {
			if _, err := os.Stat(filepath.Join(r.opts.ArchiveDir, local)); err == nil {
				return
			}
		}
		out = append(out, remote)
	}
	for _, ch := range r.Collection.Chains {
		for _, s := range ch.Sets() {
			add(s.Manifest)
		}
	}
	for _, sc := range r.Collection.SigChains {
		if sigs && !sc.Local {
			for _, f := range sc.Files() {
				add(f)
			}
		}
	}
	return out
}
