package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// data returns n bytes that differ between keys, so a mixed-up entry shows.
func data(key string, n int) []byte {
	seed := []byte(key + "|")
	b := make([]byte, n)
	for i := range b {
		b[i] = seed[i%len(seed)] ^ byte(i/len(seed))
	}
	return b
}

// writer returns a fill that writes b and counts its calls.
func writer(b []byte, calls *atomic.Int32) func(context.Context, io.Writer) error {
	return func(ctx context.Context, w io.Writer) error {
		if calls != nil {
			calls.Add(1)
		}
		_, err := w.Write(b)
		return err
	}
}

func open(t *testing.T, dir string, max int64) *Cache {
	t.Helper()
	c, err := Open(dir, max)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.running.Wait() })
	return c
}

// get fetches key, filling it with n bytes of data(key) if absent.
func get(t *testing.T, c *Cache, key string, n int, calls *atomic.Int32) *Handle {
	t.Helper()
	h, err := c.Get(context.Background(), key, writer(data(key, n), calls))
	if err != nil {
		t.Fatalf("Get %q: %v", key, err)
	}
	return h
}

func readAll(t *testing.T, h *Handle) []byte {
	t.Helper()
	b := make([]byte, h.Size())
	n, err := h.ReadAt(b, 0)
	if n != len(b) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d of %d bytes, %v", n, len(b), err)
	}
	return b
}

// check reads h whole, compares it to want and closes h.
func check(t *testing.T, h *Handle, want []byte) {
	t.Helper()
	if h.Size() != int64(len(want)) {
		t.Errorf("Size = %d, want %d", h.Size(), len(want))
	}
	if got := readAll(t, h); !bytes.Equal(got, want) {
		t.Errorf("content differs (%d bytes, want %d)", len(got), len(want))
	}
	if err := h.Close(); err != nil {
		t.Errorf("Handle.Close: %v", err)
	}
}

// waitWaiters blocks until n Gets wait on key's fill. It only polls; the
// test's own timeout catches a hang.
func waitWaiters(c *Cache, key string, n int) {
	for {
		c.mu.Lock()
		f := c.fills[key]
		ok := f != nil && f.waiters == n
		c.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// files lists dir's files with their sizes.
func files(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]int64)
	for _, de := range des {
		fi, err := de.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[de.Name()] = fi.Size()
	}
	return m
}

func du(t *testing.T, dir string) int64 {
	var n int64
	for _, s := range files(t, dir) {
		n += s
	}
	return n
}

func TestFillOnceUnderConcurrentGets(t *testing.T) {
	const n = 16
	c := open(t, t.TempDir(), 1<<20)
	want := data("k", 100000)
	var calls atomic.Int32
	release := make(chan struct{})
	fill := func(ctx context.Context, w io.Writer) error {
		calls.Add(1)
		<-release
		_, err := w.Write(want)
		return err
	}

	hs := make([]*Handle, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			hs[i], errs[i] = c.Get(context.Background(), "k", fill)
		}()
	}
	waitWaiters(c, "k", n)
	close(release)
	wg.Wait()

	if got := calls.Load(); got != 1 {
		t.Errorf("fill ran %d times, want 1", got)
	}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Get %d: %v", i, errs[i])
		}
		check(t, hs[i], want)
	}
	// All handles are closed; the entry stays and serves without a fill.
	check(t, get(t, c, "k", 1, &calls), want)
	if got := calls.Load(); got != 1 {
		t.Errorf("fill ran %d times after a hit, want 1", got)
	}
}

type fillError struct{ msg string }

func (e *fillError) Error() string { return e.msg }

func TestFillErrorIsReturnedAndNotCached(t *testing.T) {
	sentinel := errors.New("remote gone")
	typed := &fillError{"bad volume"}
	tests := []struct {
		name string
		fill func(context.Context, io.Writer) error
		want error
	}{
		{"before writing", func(context.Context, io.Writer) error { return sentinel }, sentinel},
		{"after partial write", func(_ context.Context, w io.Writer) error {
			w.Write(make([]byte, 200000)) // past the write buffer, so it reaches the file
			return typed
		}, typed},
		{"wrapped", func(context.Context, io.Writer) error { return fmt.Errorf("replay: %w", sentinel) }, sentinel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir, 1<<20)
			h, err := c.Get(context.Background(), "k", tt.fill)
			if h != nil || !errors.Is(err, tt.want) {
				t.Fatalf("Get = %v, %v; want error %v", h, err, tt.want)
			}
			var fe *fillError
			if errors.As(tt.want, &fe) && !errors.As(err, &fe) {
				t.Errorf("error %v lost its type", err)
			}
			if c.Has("k") || c.Size() != 0 {
				t.Errorf("failed fill kept: Has %v, Size %d", c.Has("k"), c.Size())
			}
			if fs := files(t, dir); len(fs) != 0 {
				t.Errorf("files left after failed fill: %v", fs)
			}

			var calls atomic.Int32
			check(t, get(t, c, "k", 1000, &calls), data("k", 1000))
			if calls.Load() != 1 {
				t.Errorf("retry did not call fill")
			}
		})
	}
}

func TestWaiterCancelLeavesFillToOthers(t *testing.T) {
	c := open(t, t.TempDir(), 1<<20)
	want := data("k", 5000)
	started := make(chan context.Context, 1)
	release := make(chan struct{})
	fill := func(ctx context.Context, w io.Writer) error {
		started <- ctx
		<-release
		_, err := w.Write(want)
		return err
	}

	ctxA, cancelA := context.WithCancel(context.Background())
	defer cancelA()
	errA := make(chan error, 1)
	go func() {
		h, err := c.Get(ctxA, "k", fill)
		if h != nil {
			h.Close()
		}
		errA <- err
	}()
	fctx := <-started
	type result struct {
		h   *Handle
		err error
	}
	resB := make(chan result, 1)
	go func() {
		h, err := c.Get(context.Background(), "k", fill)
		resB <- result{h, err}
	}()
	waitWaiters(c, "k", 2)

	cancelA()
	if err := <-errA; err != context.Canceled {
		t.Fatalf("cancelled waiter got %v, want context.Canceled", err)
	}
	if err := fctx.Err(); err != nil {
		t.Fatalf("fill cancelled while a waiter remains: %v", err)
	}
	close(release)
	r := <-resB
	if r.err != nil {
		t.Fatalf("remaining waiter: %v", r.err)
	}
	check(t, r.h, want)
	if !c.Has("k") {
		t.Errorf("entry not kept")
	}
}

func TestLastWaiterCancelStopsFill(t *testing.T) {
	tests := []struct {
		name string
		// result is what the abandoned fill returns once allowed to.
		result func(ctx context.Context, w io.Writer) error
	}{
		{"fill stops", func(ctx context.Context, w io.Writer) error { return ctx.Err() }},
		{"fill finishes anyway", func(ctx context.Context, w io.Writer) error {
			_, err := w.Write(data("old", 3000))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir, 1<<20)
			started := make(chan context.Context, 1)
			proceed := make(chan struct{})
			abandoned := func(ctx context.Context, w io.Writer) error {
				started <- ctx
				<-ctx.Done()
				<-proceed
				return tt.result(ctx, w)
			}

			ctx, cancel := context.WithCancel(context.Background())
			errc := make(chan error, 1)
			go func() {
				_, err := c.Get(ctx, "k", abandoned)
				errc <- err
			}()
			fctx := <-started
			cancel()
			if err := <-errc; err != context.Canceled {
				t.Fatalf("Get = %v, want context.Canceled", err)
			}
			if fctx.Err() == nil {
				t.Fatalf("fill not cancelled when its last waiter left")
			}

			// A new Get must not join the cancelled fill.
			var calls atomic.Int32
			want := data("new", 2000)
			h, err := c.Get(context.Background(), "k", writer(want, &calls))
			if err != nil {
				t.Fatalf("Get after abandoned fill: %v", err)
			}
			check(t, h, want)
			if calls.Load() != 1 {
				t.Errorf("new Get joined the cancelled fill")
			}

			close(proceed)
			c.running.Wait()
			if c.Size() != int64(len(want)) {
				t.Errorf("Size = %d, want %d", c.Size(), len(want))
			}
			if fs := files(t, dir); len(fs) != 1 || du(t, dir) != int64(len(want)) {
				t.Errorf("files = %v, want one entry of %d bytes", fs, len(want))
			}
			check(t, get(t, c, "k", 1, &calls), want)
		})
	}
}

func TestGetWithCancelledContext(t *testing.T) {
	c := open(t, t.TempDir(), 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	if _, err := c.Get(ctx, "k", writer(nil, &calls)); err != context.Canceled {
		t.Errorf("Get = %v, want context.Canceled", err)
	}
	if calls.Load() != 0 {
		t.Errorf("fill ran for a cancelled Get")
	}
}

func TestEvictionByBytesInLRUOrder(t *testing.T) {
	type step struct {
		op   string // "get" or "has"
		key  string
		size int
	}
	tests := []struct {
		name  string
		max   int64
		steps []step
		keep  []string
		fills int32
	}{
		{"oldest goes first", 300,
			[]step{{"get", "a", 100}, {"get", "b", 100}, {"get", "c", 100}, {"get", "d", 100}},
			[]string{"b", "c", "d"}, 4},
		{"hit refreshes recency", 300,
			[]step{{"get", "a", 100}, {"get", "b", 100}, {"get", "c", 100}, {"get", "a", 100}, {"get", "d", 100}},
			[]string{"a", "c", "d"}, 4},
		{"Has does not refresh", 300,
			[]step{{"get", "a", 100}, {"get", "b", 100}, {"get", "c", 100}, {"has", "a", 0}, {"get", "d", 100}},
			[]string{"b", "c", "d"}, 4},
		{"big entry evicts several", 300,
			[]step{{"get", "a", 100}, {"get", "b", 100}, {"get", "c", 100}, {"get", "e", 250}},
			[]string{"e"}, 4},
		{"exact fit keeps all", 300,
			[]step{{"get", "a", 150}, {"get", "b", 150}},
			[]string{"a", "b"}, 2},
		{"evicted entry is filled again", 200,
			[]step{{"get", "a", 100}, {"get", "b", 100}, {"get", "c", 100}, {"get", "a", 100}},
			[]string{"c", "a"}, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir, tt.max)
			var calls atomic.Int32
			sizes := map[string]int{}
			for _, s := range tt.steps {
				if s.op == "has" {
					c.Has(s.key)
					continue
				}
				sizes[s.key] = s.size
				check(t, get(t, c, s.key, s.size, &calls), data(s.key, s.size))
				if c.Size() > tt.max || du(t, dir) > tt.max {
					t.Fatalf("after %s: Size %d, du %d, max %d", s.key, c.Size(), du(t, dir), tt.max)
				}
			}
			var want int64
			for _, k := range tt.keep {
				want += int64(sizes[k])
				if !c.Has(k) {
					t.Errorf("%s evicted, want kept", k)
				}
			}
			for k := range sizes {
				if !contains(tt.keep, k) && c.Has(k) {
					t.Errorf("%s kept, want evicted", k)
				}
			}
			if c.Size() != want || du(t, dir) != want {
				t.Errorf("Size %d, du %d, want %d", c.Size(), du(t, dir), want)
			}
			if got := calls.Load(); got != tt.fills {
				t.Errorf("%d fills, want %d", got, tt.fills)
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func TestOversizeEntryServedNotKept(t *testing.T) {
	tests := []struct {
		name  string
		max   int64
		small int // an entry present before, 0 for none
	}{
		{"others stay", 100, 60},
		{"zero budget", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := open(t, dir, tt.max)
			var calls atomic.Int32
			if tt.small > 0 {
				check(t, get(t, c, "small", tt.small, nil), data("small", tt.small))
			}
			for i := 1; i <= 2; i++ {
				h := get(t, c, "big", 150, &calls)
				if fs := files(t, dir); len(fs) != min(tt.small, 1) {
					t.Errorf("files while big is open: %v", fs)
				}
				check(t, h, data("big", 150))
				if c.Has("big") {
					t.Errorf("oversize entry kept")
				}
				if got := calls.Load(); got != int32(i) {
					t.Errorf("get %d: %d fills, want %d", i, got, i)
				}
			}
			if c.Size() != int64(tt.small) || du(t, dir) != int64(tt.small) {
				t.Errorf("Size %d, du %d, want %d", c.Size(), du(t, dir), tt.small)
			}
			if tt.small > 0 && !c.Has("small") {
				t.Errorf("oversize entry evicted a smaller one")
			}
		})
	}
}

func TestReopenReusesEntries(t *testing.T) {
	// setup leaves a, b and c (100 bytes each) from an earlier run, with a
	// used last, b least recently, plus a dead fill and a foreign file.
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		c := open(t, dir, 1000)
		for _, k := range []string{"a", "b", "c"} {
			check(t, get(t, c, k, 100, nil), data(k, 100))
		}
		base := time.Now().Add(-24 * time.Hour)
		for i, k := range []string{"a", "b", "c"} {
			mt := base.Add(time.Duration(i) * time.Hour)
			if err := os.Chtimes(c.path(entryName(k)), mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		check(t, get(t, c, "a", 100, nil), data("a", 100)) // the hit moves a's mtime to now
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		for name, b := range map[string]string{".fill-12345": "partial", "notes": "mine"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(b), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	tests := []struct {
		max  int64
		keep []string
	}{
		{1000, []string{"a", "b", "c"}},
		{200, []string{"a", "c"}},
		{199, []string{"a"}},
		{50, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			dir := setup(t)
			c := open(t, dir, tt.max)
			fs := files(t, dir)
			if _, ok := fs[".fill-12345"]; ok {
				t.Errorf("stale fill file not removed")
			}
			if _, ok := fs["notes"]; !ok {
				t.Errorf("foreign file removed")
			}
			if len(fs) != len(tt.keep)+1 {
				t.Errorf("files = %v, want %d entries and notes", fs, len(tt.keep))
			}
			if want := int64(100 * len(tt.keep)); c.Size() != want {
				t.Errorf("Size = %d, want %d", c.Size(), want)
			}
			var calls atomic.Int32
			for _, k := range []string{"a", "b", "c"} {
				if c.Has(k) != contains(tt.keep, k) {
					t.Errorf("Has(%s) = %v, want %v", k, c.Has(k), contains(tt.keep, k))
				}
			}
			for _, k := range tt.keep {
				check(t, get(t, c, k, 1, &calls), data(k, 100))
			}
			if calls.Load() != 0 {
				t.Errorf("reused entries were filled again")
			}
		})
	}
}

func TestPermissions(t *testing.T) {
	tests := []struct {
		name    string
		prepare func(t *testing.T, dir string) // dir does not exist yet
	}{
		{"new nested dir", func(*testing.T, string) {}},
		{"existing 0755", func(t *testing.T, dir string) { mkdir(t, dir, 0o755) }},
		{"existing 0777", func(t *testing.T, dir string) { mkdir(t, dir, 0o777) }},
		{"existing 0700", func(t *testing.T, dir string) { mkdir(t, dir, 0o700) }},
		{"old entry 0644", func(t *testing.T, dir string) {
			mkdir(t, dir, 0o755)
			p := filepath.Join(dir, entryName("old"))
			if err := os.WriteFile(p, data("old", 10), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(p, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "x", "cache")
			tt.prepare(t, dir)
			c := open(t, dir, 1<<20)
			check(t, get(t, c, "k", 10, nil), data("k", 10))
			fi, err := os.Stat(dir)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
			}
			for name := range files(t, dir) {
				fi, err := os.Stat(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				if fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
				}
			}
		})
	}
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func TestReadAfterEviction(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 100000)
	want := data("a", 100000)
	h := get(t, c, "a", len(want), nil)
	check(t, get(t, c, "b", 100000, nil), data("b", 100000))
	if c.Has("a") {
		t.Fatalf("a not evicted")
	}
	if _, err := os.Stat(c.path(entryName("a"))); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("evicted entry still on disk: %v", err)
	}

	// Concurrent reads of the unlinked file, each over its own stretch.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			off := int64(i) * 12345
			b := make([]byte, 20000)
			n, err := h.ReadAt(b, off)
			end := min(off+int64(len(b)), int64(len(want)))
			if int64(n) != end-off || (err != nil && err != io.EOF) {
				t.Errorf("ReadAt %d: %d bytes, %v", off, n, err)
				return
			}
			if !bytes.Equal(b[:n], want[off:end]) {
				t.Errorf("ReadAt %d: wrong bytes", off)
			}
		}()
	}
	wg.Wait()
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := h.ReadAt(make([]byte, 1), 0); !errors.Is(err, os.ErrClosed) {
		t.Errorf("ReadAt after Close: %v, want os.ErrClosed", err)
	}
	if err := h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestClose(t *testing.T) {
	dir := t.TempDir()
	c := open(t, dir, 1<<20)
	h := get(t, c, "a", 1000, nil)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	for _, key := range []string{"a", "b"} {
		if _, err := c.Get(context.Background(), key, writer(nil, &calls)); err != ErrClosed {
			t.Errorf("Get %s after Close = %v, want ErrClosed", key, err)
		}
	}
	if calls.Load() != 0 {
		t.Errorf("fill ran after Close")
	}
	check(t, h, data("a", 1000))
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestAnyKeyIsSafe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	c := open(t, dir, 1<<20)
	keys := []string{"", "../../etc/passwd", "a/b", "/abs", "nul\x00byte", ".fill-x", strings.Repeat("long", 1000), "file 20240101T000000Z dir/ü"}
	for _, k := range keys {
		check(t, get(t, c, k, 64, nil), data(k, 64))
	}
	fs := files(t, dir)
	if len(fs) != len(keys) {
		t.Errorf("%d files for %d keys", len(fs), len(keys))
	}
	for name := range fs {
		if !isEntryName(name) {
			t.Errorf("unexpected file %q", name)
		}
	}
	for _, k := range keys {
		if !c.Has(k) {
			t.Errorf("Has(%q) = false", k)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(dir)); len(entries) != 1 {
		t.Errorf("files written outside the cache dir: %d entries", len(entries))
	}
}

// TestConcurrentMixedKeys runs many Gets of overlapping keys through a
// small cache, for the race detector and the byte bound.
func TestConcurrentMixedKeys(t *testing.T) {
	dir := t.TempDir()
	const max = 5000
	c := open(t, dir, max)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				key := fmt.Sprint((g*7 + i) % 13)
				n := 300 + len(key)*500
				h, err := c.Get(context.Background(), key, writer(data(key, n), nil))
				if err != nil {
					t.Error(err)
					return
				}
				b := make([]byte, h.Size())
				if _, err := h.ReadAt(b, 0); err != nil || !bytes.Equal(b, data(key, n)) {
					t.Errorf("key %s: wrong content (%v)", key, err)
				}
				h.Close()
				c.Has(key)
				if s := c.Size(); s > max {
					t.Errorf("Size %d > %d", s, max)
				}
			}
		}()
	}
	wg.Wait()
	c.running.Wait()
	if got := du(t, dir); got != c.Size() || got > max {
		t.Errorf("du %d, Size %d, max %d", got, c.Size(), max)
	}
	for name := range files(t, dir) {
		if strings.HasPrefix(name, tempPrefix) {
			t.Errorf("temp file left: %s", name)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		dir  func(t *testing.T) string
		max  int64
	}{
		{"negative budget", func(t *testing.T) string { return t.TempDir() }, -1},
		{"dir is a file", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "f")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			if c, err := Open(dir, tt.max); err == nil {
				c.Close()
				t.Fatalf("Open(%s, %d) succeeded", dir, tt.max)
			} else if !strings.Contains(err.Error(), "cache") {
				t.Errorf("error %q does not say what failed", err)
			}
		})
	}
}

func TestEntryRemovedBehindOurBack(t *testing.T) {
	c := open(t, t.TempDir(), 1000)
	check(t, get(t, c, "a", 100, nil), data("a", 100))
	if err := os.Remove(c.path(entryName("a"))); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	check(t, get(t, c, "a", 100, &calls), data("a", 100))
	if calls.Load() != 1 || c.Size() != 100 {
		t.Errorf("fills %d, Size %d; want 1, 100", calls.Load(), c.Size())
	}
}
