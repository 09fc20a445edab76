package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// candidate is a file or symlink the corpus may copy.
type candidate struct {
	src  string // absolute source path
	rel  string // path inside the corpus
	size int64
	link bool
	key  uint64 // deterministic pseudo-random rank
}

// listCandidates walks roots in lexical order. Each root becomes a top
// directory of the corpus named after its path ("/usr/share" -> "usr-share").
func listCandidates(roots []string) ([]candidate, error) {
	var out []candidate
	for _, root := range roots {
		top := strings.ReplaceAll(strings.Trim(filepath.Clean(root), "/"), "/", "-")
		if top == "" {
			top = "root"
		}
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				if d != nil && d.IsDir() && path != root {
					return fs.SkipDir // unreadable directory: leave it out
				}
				return err
			}
			t := d.Type()
			if !t.IsRegular() && t&fs.ModeSymlink == 0 {
				return nil
			}
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			c := candidate{src: path, rel: filepath.Join(top, rel), link: t&fs.ModeSymlink != 0}
			if !c.link {
				info, err := d.Info()
				if err != nil {
					return nil // vanished
				}
				c.size = info.Size()
			}
			sum := sha256.Sum256([]byte(c.rel))
			c.key = binary.BigEndian.Uint64(sum[:8])
			out = append(out, c)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", root, err)
		}
	}
	return out, nil
}

// pick chooses a deterministic, tree-wide sample of about maxFiles entries
// and maxBytes bytes (0 = no limit): candidates are taken in hash order, and
// a file is admitted while the running total stays near the average size
// the two budgets imply, so the sample holds both many small files and a
// few large ones. The result is in path order.
func pick(cands []candidate, maxBytes int64, maxFiles int) []candidate {
	order := slices.Clone(cands)
	slices.SortFunc(order, func(a, b candidate) int {
		return cmpUint(a.key, b.key)
	})
	var chosen []candidate
	var total int64
	slack := maxBytes / 50
	for _, c := range order {
		if maxFiles > 0 && len(chosen) >= maxFiles {
			break
		}
		if maxBytes > 0 {
			if total+c.size > maxBytes {
				continue
			}
			if maxFiles > 0 && total+c.size > maxBytes*int64(len(chosen)+1)/int64(maxFiles)+slack {
				continue
			}
		}
		chosen = append(chosen, c)
		total += c.size
	}
	slices.SortFunc(chosen, func(a, b candidate) int { return strings.Compare(a.rel, b.rel) })
	return chosen
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// copyCorpus copies the chosen entries into dst, keeping modes and mtimes.
func copyCorpus(chosen []candidate, dst string) error {
	for _, c := range chosen {
		to := filepath.Join(dst, c.rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("corpus dir: %w", err)
		}
		if c.link {
			target, err := os.Readlink(c.src)
			if err != nil {
				continue // vanished since the walk
			}
			if err := os.Symlink(target, to); err != nil {
				return fmt.Errorf("corpus symlink %s: %w", to, err)
			}
			continue
		}
		if err := copyFile(c.src, to); err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				continue
			}
			return err
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	info, err := in.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", src, err)
	}
	// Owner read/write so every tool can read it and the rounds can change it.
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm()|0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", dst, err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("close %s: %w", dst, err)
	}
	return os.Chtimes(dst, info.ModTime(), info.ModTime())
}

// entry is one regular file of the corpus.
type entry struct {
	rel  string
	size int64
}

// regularFiles lists the regular files under root, in path order.
func regularFiles(root string) ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		out = append(out, entry{rel: rel, size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	return out, nil
}

// mutate applies change round n (1-based) to root in place: about 1% of the
// files, a quarter each appended to, rewritten in the middle (large files),
// deleted, and added. The same round on the same tree makes the same changes.
// It returns the paths it wrote, for the content checks.
func mutate(root string, n int) ([]string, error) {
	files, err := regularFiles(root)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("round %d: corpus %s has no files", n, root)
	}
	rng := rand.New(rand.NewPCG(uint64(n), 0x64757066)) // "dupf"
	data := rand.NewChaCha8([32]byte{byte(n), 'd', 'u', 'p', 'f', 's'})
	each := max(1, len(files)/400) // 4 kinds x 0.25% = 1%
	var large []entry
	for _, f := range files {
		if f.size >= 256<<10 {
			large = append(large, f)
		}
	}
	if len(large) == 0 {
		large = files
	}
	when := time.Now()
	var touched []string
	touch := func(rel string) error {
		touched = append(touched, rel)
		return os.Chtimes(filepath.Join(root, rel), when, when)
	}

	for range each { // appends
		f := files[rng.IntN(len(files))]
		if err := appendRandom(filepath.Join(root, f.rel), 1+rng.Int64N(16<<10), data); err != nil {
			return nil, err
		}
		if err := touch(f.rel); err != nil {
			return nil, err
		}
	}
	for range each { // rewrites in the middle
		f := large[rng.IntN(len(large))]
		size := fileSize(filepath.Join(root, f.rel))
		if size == 0 {
			continue
		}
		length := min(64<<10, max(1, size/4))
		off := size/2 - length/2 + rng.Int64N(length) - length/2
		off = max(0, min(off, size-length))
		if err := writeRandomAt(filepath.Join(root, f.rel), off, length, data); err != nil {
			return nil, err
		}
		if err := touch(f.rel); err != nil {
			return nil, err
		}
	}
	for range each { // deletions
		f := files[rng.IntN(len(files))]
		err := os.Remove(filepath.Join(root, f.rel))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("round %d: %w", n, err)
		}
	}
	for i := range each { // additions, next to existing files
		dir := filepath.Dir(files[rng.IntN(len(files))].rel)
		rel := filepath.Join(dir, fmt.Sprintf("bench-added-r%d-%d.bin", n, i))
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			return nil, fmt.Errorf("round %d: %w", n, err)
		}
		size := min(files[rng.IntN(len(files))].size, 1<<20)
		if err := appendRandom(filepath.Join(root, rel), size, data); err != nil {
			return nil, err
		}
		if err := touch(rel); err != nil {
			return nil, err
		}
	}
	return touched, nil
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}

func appendRandom(path string, n int64, src io.Reader) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if _, err := io.CopyN(f, src, n); err != nil {
		f.Close()
		return fmt.Errorf("append %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append %s: %w", path, err)
	}
	return nil
}

func writeRandomAt(path string, off, n int64, src io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("rewrite: %w", err)
	}
	if _, err := io.CopyN(io.NewOffsetWriter(f, off), src, n); err != nil {
		f.Close()
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("rewrite %s: %w", path, err)
	}
	return nil
}

// summary is the cheap fingerprint of a tree a restore is checked against.
type summary struct {
	Files, Dirs, Links int
	Bytes              int64
}

func (s summary) String() string {
	return fmt.Sprintf("%d files, %d dirs, %d symlinks, %d bytes", s.Files, s.Dirs, s.Links, s.Bytes)
}

func summarize(root string) (summary, error) {
	var s summary
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch t := d.Type(); {
		case path == root:
		case t.IsDir():
			s.Dirs++
		case t&fs.ModeSymlink != 0:
			s.Links++
		case t.IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			s.Files++
			s.Bytes += info.Size()
		}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("summarize %s: %w", root, err)
	}
	return s, nil
}

// sameContent reports the first of rels whose bytes differ between the two
// trees ("" if none). Files missing from want are not compared.
func sameContent(want, got string, rels []string) (string, error) {
	for _, rel := range rels {
		same, err := sameFile(filepath.Join(want, rel), filepath.Join(got, rel))
		if errors.Is(err, errNoSource) {
			continue
		}
		if err != nil {
			return "", err
		}
		if !same {
			return rel, nil
		}
	}
	return "", nil
}

var errNoSource = errors.New("source file missing")

// sameFile compares two files chunk by chunk; a missing or unreadable got
// counts as different.
func sameFile(want, got string) (bool, error) {
	a, err := os.Open(want)
	if errors.Is(err, fs.ErrNotExist) {
		return false, errNoSource
	}
	if err != nil {
		return false, err
	}
	defer a.Close()
	b, err := os.Open(got)
	if err != nil {
		return false, nil
	}
	defer b.Close()
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, errA := io.ReadFull(a, bufA)
		nb, errB := io.ReadFull(b, bufB)
		if na != nb || !bytes.Equal(bufA[:na], bufB[:nb]) {
			return false, nil
		}
		endA := errors.Is(errA, io.EOF) || errors.Is(errA, io.ErrUnexpectedEOF)
		endB := errors.Is(errB, io.EOF) || errors.Is(errB, io.ErrUnexpectedEOF)
		switch {
		case errA != nil && !endA:
			return false, fmt.Errorf("read %s: %w", want, errA)
		case errB != nil && !endB:
			return false, nil
		case endA || endB:
			return endA && endB, nil
		}
	}
}

// probeSample picks the files whose content a full restore is checked on:
// every file the rounds wrote plus every 97th file, at most limit.
func probeSample(files []entry, touched []string, limit int) []string {
	seen := map[string]bool{}
	var out []string
	add := func(rel string) {
		if !seen[rel] && len(out) < limit {
			seen[rel] = true
			out = append(out, rel)
		}
	}
	for _, rel := range touched {
		add(rel)
	}
	for i := 0; i < len(files); i += 97 {
		add(files[i].rel)
	}
	return out
}

// smallFile picks the single-file restore target: a file of about 4 KB as
// deep in the tree as possible, with a path no tool reads as a pattern.
func smallFile(files []entry) (entry, error) {
	best, found := entry{}, false
	better := func(a, b entry) bool {
		da, db := strings.Count(a.rel, "/"), strings.Count(b.rel, "/")
		if da != db {
			return da > db
		}
		ea, eb := abs64(a.size-4096), abs64(b.size-4096)
		if ea != eb {
			return ea < eb
		}
		return a.rel < b.rel
	}
	for _, f := range files {
		if f.size < 2048 || f.size > 8192 || !plainPath(f.rel) {
			continue
		}
		if !found || better(f, best) {
			best, found = f, true
		}
	}
	if !found {
		return entry{}, errors.New("corpus has no plain-named file of 2-8 KB")
	}
	return best, nil
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func plainPath(p string) bool {
	for _, r := range p {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-/", r)
		if !ok {
			return false
		}
	}
	return true
}
