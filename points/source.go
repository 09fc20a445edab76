package points

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"dupfs/archive/collection"
	"dupfs/archive/crypt"
	"dupfs/archive/difftar"
	"dupfs/archive/librsync"
	"dupfs/archive/names"
	"dupfs/archive/tarstream"
	"dupfs/repo"
)

// keptTrees is how many points' trees stay in memory.
const keptTrees = 4

// Source builds points' trees over an opened target.
type Source struct {
	r          *repo.Repo
	archiveDir string
	// Progress, when set, is told about index builds from volumes: the set
	// and its volumes done so far.
	Progress func(set string, done, total int)

	mu     sync.Mutex
	trees  map[string]*Tree
	recent []string // point names, most recent last
	sized  map[string]bool
}

// NewSource reads r; index files for duplicity's sets go to archiveDir.
func NewSource(r *repo.Repo, archiveDir string) *Source {
	return &Source{r: r, archiveDir: archiveDir, trees: map[string]*Tree{}, sized: map[string]bool{}}
}

// Tree returns the tree of point p, building it on first use.
func (s *Source) Tree(ctx context.Context, p *Point) (*Tree, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := p.Name()
	if t, ok := s.trees[name]; ok {
		s.touch(name)
		return t, nil
	}
	var streams []EntryStream
	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	for _, set := range p.Sets {
		st, c, err := s.setEntries(ctx, p.Chain, set)
		if err != nil {
			return nil, err
		}
		streams, closers = append(streams, st), append(closers, c)
	}
	t, err := BuildTree(ctx, streams)
	if err != nil {
		return nil, fmt.Errorf("point %s: %w", name, err)
	}
	s.trees[name] = t
	s.touch(name)
	if len(s.recent) > keptTrees {
		delete(s.trees, s.recent[0])
		s.recent = s.recent[1:]
	}
	return t, nil
}

func (s *Source) touch(name string) {
	for i, n := range s.recent {
		if n == name {
			s.recent = append(s.recent[:i], s.recent[i+1:]...)
			break
		}
	}
	s.recent = append(s.recent, name)
}

// setEntries opens what one set changed, with sizes: its signature tar
// when dupfs wrote it (sizes recorded), else an index read once from its
// volumes.
func (s *Source) setEntries(ctx context.Context, chain *collection.Chain, set *collection.Set) (EntryStream, io.Closer, error) {
	if sig := s.r.Collection.SigFor(chain, set); sig != "" {
		ok, err := s.hasSizes(ctx, sig)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			rc, err := s.r.OpenSigtar(ctx, sig)
			if err != nil {
				return nil, nil, err
			}
			return difftar.NewSingleReader(rc), rc, nil
		}
	}
	path, err := s.index(ctx, set)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("index: %w", err)
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("index %s: %w", path, err)
	}
	return difftar.NewSingleReader(zr), f, nil
}

// hasSizes reports whether a signature tar records every regular file's
// size (dupfs writes them; duplicity does not).
func (s *Source) hasSizes(ctx context.Context, sig string) (bool, error) {
	if ok, known := s.sized[sig]; known {
		return ok, nil
	}
	rc, err := s.r.OpenSigtar(ctx, sig)
	if err != nil {
		return false, err
	}
	defer rc.Close()
	r := difftar.NewSingleReader(rc)
	ok := true
	for ok {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return false, fmt.Errorf("signatures %s: %w", sig, err)
		}
		// A signature longer than its header describes a non-empty file.
		ok = e.Kind != difftar.Signature || e.FileSize > 0 || e.Size <= 12
	}
	s.sized[sig] = ok
	return ok, nil
}

// index returns the archive-dir file listing what set's volumes store,
// with sizes, building it on first use. It is a tar of header-only
// members in signature-tar form, gzipped.
func (s *Source) index(ctx context.Context, set *collection.Set) (string, error) {
	typ := names.FullManifest
	if !set.Full {
		typ = names.IncManifest
	}
	stem := names.Name{Type: typ, Start: set.Start, End: set.End}.Format(names.Prefixes{}, false)
	stem = strings.TrimSuffix(stem, ".manifest")
	path := filepath.Join(s.archiveDir, "dupfs-index."+stem+".tar.gz")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	m, err := s.r.Manifest(ctx, set)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(s.archiveDir, ".dupfs-index-*")
	if err != nil {
		return "", fmt.Errorf("index: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	zw := crypt.Compress(tmp)
	tw := tarstream.NewWriter(zw)
	vs := s.r.NewVolumeStream(ctx, set, m.Volumes)
	defer vs.Close()
	done := 0
	next := func() (io.Reader, error) {
		if s.Progress != nil {
			s.Progress(stem, done, len(m.Volumes))
		}
		done++
		return vs.Next()
	}
	r := difftar.NewReader(next)
	for {
		e, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", fmt.Errorf("index of %s: %w", stem, err)
		}
		var size int64
		if e.Type == difftar.Reg && e.Kind != difftar.Deleted {
			if e.Kind == difftar.Diff {
				size, err = librsync.DeltaSize(r)
			} else {
				size, err = io.Copy(io.Discard, r)
			}
			if err != nil {
				return "", fmt.Errorf("index of %s: %s: %w", stem, e.Index, err)
			}
		}
		kind := difftar.Snapshot
		if e.Kind == difftar.Deleted {
			kind = difftar.Deleted
		}
		h := e.Header(difftar.MemberName(kind, e.Index, e.Type, false, 0, true), 0)
		h.FileSize = size
		if err := tw.WriteHeader(h); err != nil {
			return "", fmt.Errorf("index: %w", err)
		}
	}
	err = tw.Close()
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("index: %w", err)
	}
	return path, nil
}
