// Package cache keeps fetched volumes and replayed file contents on disk,
// bounded in bytes, so the FUSE mount pays for a remote fetch and a delta
// replay once per version rather than once per open.
//
// Entries are plain files in one directory, named by the SHA-256 of their
// key. The least recently used ones are unlinked when the total passes
// the budget; a reader that still holds one keeps reading the unlinked
// file, so eviction never has to wait for readers.
package cache

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// ErrClosed is returned by Get after Close.
var ErrClosed = errors.New("cache closed")

const (
	dirMode  = 0o700
	fileMode = 0o600
	// tempPrefix marks files being filled; Open removes any it finds,
	// since they can only be left over from a run that died mid-fill.
	tempPrefix = ".fill-"
	// writeBuffer batches a fill's small writes into fewer syscalls
	// while keeping memory bounded whatever the entry's size.
	writeBuffer = 64 << 10
)

// Cache is a size-bounded LRU set of files in one directory. It is safe
// for concurrent use. Only one Cache should use a directory at a time.
type Cache struct {
	dir string
	max int64

	mu     sync.Mutex
	lru    *simplelru.LRU[string, int64] // entry file name -> size; only complete entries
	total  int64                         // sum of the sizes in lru
	fills  map[string]*flight            // by key; fills callers may still join
	closed bool

	running sync.WaitGroup // fill goroutines, so tests can wait for them
}

// flight is one run of a fill, shared by every Get of its key that
// arrives while it runs.
type flight struct {
	key, name string
	cancel    context.CancelFunc
	done      chan struct{} // closed, under Cache.mu, once file and err are set

	// Guarded by Cache.mu.
	waiters int // Gets still waiting; each owns one reference of file once done

	file *shared
	err  error
}

// shared is an open entry file that several handles read; the last
// handle to close it closes the file.
type shared struct {
	f    *os.File
	size int64
	refs atomic.Int32
}

func (s *shared) release() {
	if s.refs.Add(-1) == 0 {
		s.f.Close() // read-only use: a close error loses nothing
	}
}

// Open opens or creates a cache in dir holding at most maxBytes of
// entries. Entries left by an earlier run are kept, their recency taken
// from their modification times, and evicted now if over budget.
func Open(dir string, maxBytes int64) (*Cache, error) {
	if maxBytes < 0 {
		return nil, fmt.Errorf("cache %s: negative size limit %d", dir, maxBytes)
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	// Entries hold decrypted backup data: only the owner may see them,
	// whatever mode the directory was made with before.
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	if fi.Mode().Perm() != dirMode {
		if err := os.Chmod(dir, dirMode); err != nil {
			return nil, fmt.Errorf("cache dir: %w", err)
		}
	}

	c := &Cache{dir: dir, max: maxBytes, fills: make(map[string]*flight)}
	// The LRU's own count limit is never reached: eviction is by bytes,
	// done in evict.
	c.lru, err = simplelru.NewLRU[string, int64](math.MaxInt, c.evicted)
	if err != nil {
		return nil, fmt.Errorf("cache %s: %w", dir, err)
	}
	if err := c.load(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.evict()
	c.mu.Unlock()
	return c, nil
}

// load adopts the entries of an earlier run and removes its unfinished fills.
func (c *Cache) load() error {
	des, err := os.ReadDir(c.dir)
	if err != nil {
		return fmt.Errorf("cache dir: %w", err)
	}
	type old struct {
		name  string
		size  int64
		mtime time.Time
	}
	var olds []old
	for _, de := range des {
		name := de.Name()
		p := filepath.Join(c.dir, name)
		if strings.HasPrefix(name, tempPrefix) {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cache: remove stale %s: %w", name, err)
			}
			continue
		}
		if !isEntryName(name) || !de.Type().IsRegular() {
			continue // not ours: leave it alone and out of the budget
		}
		fi, err := de.Info()
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("cache: stat %s: %w", name, err)
		}
		if fi.Mode().Perm() != fileMode {
			if err := os.Chmod(p, fileMode); err != nil {
				return fmt.Errorf("cache: chmod %s: %w", name, err)
			}
		}
		olds = append(olds, old{name, fi.Size(), fi.ModTime()})
	}
	// Oldest first, so the most recently used ends up at the front.
	sort.Slice(olds, func(i, j int) bool {
		if !olds[i].mtime.Equal(olds[j].mtime) {
			return olds[i].mtime.Before(olds[j].mtime)
		}
		return olds[i].name < olds[j].name
	})
	for _, o := range olds {
		c.lru.Add(o.name, o.size)
		c.total += o.size
	}
	return nil
}

// isEntryName reports whether name is what entryName produces.
func isEntryName(name string) bool {
	if len(name) != 2*sha256.Size {
		return false
	}
	for _, r := range name {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// entryName maps any key, whatever characters it holds, to a safe file name.
func entryName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

func (c *Cache) path(name string) string { return filepath.Join(c.dir, name) }

// evicted is the LRU's callback; it runs under c.mu.
func (c *Cache) evicted(name string, size int64) {
	c.total -= size
	// Open handles keep the data; a failed unlink only leaves a file
	// the next Open counts and evicts again.
	os.Remove(c.path(name))
}

// evict drops least recently used entries until the total fits. Called
// with c.mu held.
func (c *Cache) evict() {
	for c.total > c.max {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			return
		}
	}
}

// Get returns a pinned handle on key's content, calling fill to produce
// it when absent. Concurrent Gets of one key share one fill, which gets a
// context of its own: it is cancelled only when every caller waiting for
// it has given up. fill's error is returned unchanged and nothing is kept.
// w is buffered and only valid until fill returns. The caller must Close
// the handle.
func (c *Cache) Get(ctx context.Context, key string, fill func(ctx context.Context, w io.Writer) error) (*Handle, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	name := entryName(key)

	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	h, err := c.hit(name)
	if h != nil || err != nil {
		c.mu.Unlock()
		return h, err
	}
	f := c.fills[key]
	if f == nil {
		f = c.start(ctx, key, name, fill)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		return f.handle()
	case <-ctx.Done():
	}

	c.mu.Lock()
	select {
	case <-f.done:
		// It finished as we gave up and counted us in: take the result
		// rather than waste it.
		c.mu.Unlock()
		return f.handle()
	default:
	}
	f.waiters--
	if f.waiters == 0 {
		f.cancel()
		// Later Gets must not join a fill that is being cancelled.
		if c.fills[key] == f {
			delete(c.fills, key)
		}
	}
	c.mu.Unlock()
	return nil, ctx.Err()
}

// hit opens name if the cache holds it, making it the most recent entry.
// Called with c.mu held, so eviction cannot unlink it between the lookup
// and the open.
func (c *Cache) hit(name string) (*Handle, error) {
	size, ok := c.lru.Get(name)
	if !ok {
		return nil, nil
	}
	p := c.path(name)
	f, err := os.Open(p)
	if errors.Is(err, os.ErrNotExist) {
		// Removed behind our back: forget it and fill again.
		c.lru.Remove(name)
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cache: open entry: %w", err)
	}
	// The mtime carries recency over to the next run; if it cannot be
	// set, the entry is only evicted sooner then.
	now := time.Now()
	os.Chtimes(p, now, now)
	s := &shared{f: f, size: size}
	s.refs.Store(1)
	return &Handle{s: s}, nil
}

// start launches a fill for key. Called with c.mu held.
func (c *Cache) start(ctx context.Context, key, name string, fill func(context.Context, io.Writer) error) *flight {
	// Keep the first caller's values but not its cancellation: the fill
	// serves every waiter, and Get cancels it when the last one leaves.
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	f := &flight{key: key, name: name, cancel: cancel, done: make(chan struct{})}
	c.fills[key] = f
	c.running.Add(1)
	go c.run(fctx, f, fill)
	return f
}

// run produces f's content and hands it to the waiters still there.
func (c *Cache) run(ctx context.Context, f *flight, fill func(context.Context, io.Writer) error) {
	defer c.running.Done()
	tmp, size, err := produce(ctx, c.dir, fill)

	c.mu.Lock()
	defer c.mu.Unlock()
	f.cancel()
	if c.fills[f.key] == f {
		delete(c.fills, f.key)
	}
	if err == nil {
		f.file = c.install(f.name, tmp, size)
		f.file.refs.Store(int32(f.waiters))
		if f.waiters == 0 {
			f.file.f.Close()
		}
	}
	f.err = err
	close(f.done)
}

// produce runs fill into a new temp file in dir and returns it, synced
// and open for reading, with its size. On any error the temp file is gone.
func produce(ctx context.Context, dir string, fill func(context.Context, io.Writer) error) (_ *os.File, _ int64, err error) {
	tmp, err := os.CreateTemp(dir, tempPrefix+"*")
	if err != nil {
		return nil, 0, fmt.Errorf("cache: create fill file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp already uses 0600; this makes it explicit and immune to
	// any change there.
	if err := tmp.Chmod(fileMode); err != nil {
		return nil, 0, fmt.Errorf("cache: chmod fill file: %w", err)
	}
	cw := &countWriter{w: tmp}
	bw := bufio.NewWriterSize(cw, writeBuffer)
	if err := fill(ctx, bw); err != nil {
		return nil, 0, err // unchanged, so callers can match it
	}
	if err := bw.Flush(); err != nil {
		return nil, 0, fmt.Errorf("cache: write fill file: %w", err)
	}
	// Without a sync, a crash soon after the rename can leave an entry
	// of the right name but wrong content, which the next run would serve.
	if err := tmp.Sync(); err != nil {
		return nil, 0, fmt.Errorf("cache: sync fill file: %w", err)
	}
	return tmp, cw.n, nil
}

// countWriter counts what reaches the file, which is the entry's size.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// install makes a finished temp file an entry, unless it cannot be kept,
// and returns it for reading either way. Called with c.mu held.
func (c *Cache) install(name string, tmp *os.File, size int64) *shared {
	s := &shared{f: tmp, size: size}
	// Too big for the budget, cache closed (a later Cache may own the
	// directory), or an abandoned fill whose replacement already won:
	// serve the open file but keep nothing on disk.
	keep := !c.closed && s.size <= c.max && !c.lru.Contains(name)
	if keep {
		if err := os.Rename(tmp.Name(), c.path(name)); err != nil {
			keep = false
		}
	}
	if !keep {
		// Should this fail, the next Open removes the temp file.
		os.Remove(tmp.Name())
		return s
	}
	c.lru.Add(name, s.size)
	c.total += s.size
	c.evict()
	return s
}

// handle turns a finished flight into one waiter's result.
func (f *flight) handle() (*Handle, error) {
	if f.err != nil {
		return nil, f.err
	}
	return &Handle{s: f.file}, nil
}

// Has reports whether key's content is in the cache, complete, without
// making it more recent.
func (c *Cache) Has(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Contains(entryName(key))
}

// Size returns the bytes of complete entries the cache holds.
func (c *Cache) Size() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// Close makes later Gets fail with ErrClosed. Handles already returned
// stay readable, and fills under way still serve their waiters, but what
// they produce is not kept.
func (c *Cache) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}

// Handle is a pinned, read-only view of one entry's content. Its data
// stays readable until Close even if the entry is evicted meanwhile.
// ReadAt may be called concurrently.
type Handle struct {
	s      *shared
	closed atomic.Bool
}

// ReadAt reads len(p) bytes at off, as io.ReaderAt.
func (h *Handle) ReadAt(p []byte, off int64) (int, error) {
	if h.closed.Load() {
		return 0, os.ErrClosed
	}
	return h.s.f.ReadAt(p, off)
}

// Size returns the content's length in bytes.
func (h *Handle) Size() int64 { return h.s.size }

// Close releases the handle. Closing it again does nothing.
func (h *Handle) Close() error {
	if h.closed.Swap(true) {
		return nil
	}
	h.s.release()
	return nil
}
