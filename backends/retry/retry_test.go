package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
)

// flaky fails List with the errors it is given, in order, then succeeds.
type flaky struct {
	backends.Backend
	errs  []error
	calls int
}

func (f *flaky) List(context.Context) ([]backends.FileInfo, error) {
	f.calls++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return nil, nil
}

func (f *flaky) Open(context.Context, string) (io.ReadCloser, error) { return nil, nil }

func TestRetry(t *testing.T) {
	transient := errors.New("503 Service Unavailable")
	for _, tc := range []struct {
		name    string
		errs    []error
		retries int
		calls   int
		fail    bool
	}{
		{"transient then fine", []error{transient, transient}, 3, 3, false},
		{"past the bound", []error{transient, transient, transient}, 1, 2, true},
		{"no retries", []error{transient}, 0, 1, true},
		{"missing file is final", []error{fmt.Errorf("x: %w", backends.ErrNotExist)}, 3, 1, true},
		{"sealed is final", []error{&backends.SealedError{Name: "v"}}, 3, 1, true},
		{"permanent is final", []error{backends.Permanent(errors.New("403"))}, 3, 1, true},
		{"rate limit waits its time", []error{&backends.RetryAfterError{After: 20 * time.Millisecond, Err: transient}}, 1, 2, false},
		{"rate limit of an hour is an outage", []error{&backends.RetryAfterError{After: time.Hour, Err: transient}}, 3, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{errs: tc.errs}
			var reports int
			b := New(f, Options{Retries: tc.retries, Delay: time.Millisecond, Report: func(string, int, time.Duration, error) { reports++ }})
			_, err := b.List(context.Background())
			if (err != nil) != tc.fail || f.calls != tc.calls {
				t.Fatalf("err %v after %d calls; want failure %v after %d", err, f.calls, tc.fail, tc.calls)
			}
			if reports != tc.calls-1 {
				t.Errorf("%d retries reported, want %d", reports, tc.calls-1)
			}
		})
	}
}

// A cancelled context ends the wait between attempts at once.
func TestRetryCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &flaky{errs: []error{errors.New("reset"), errors.New("reset")}}
	b := New(f, Options{Retries: 5, Delay: time.Hour, Report: func(string, int, time.Duration, error) { cancel() }})
	start := time.Now()
	if _, err := b.List(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("List = %v, want cancelled", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the wait ignored the cancel")
	}
	if _, ok := backends.AsCold(b); ok {
		t.Error("AsCold found a tier in a plain store")
	}
}

// store is an in-memory backend whose calls fail as told.
type store struct {
	backends.Backend
	data      []byte
	saveErrs  []error
	saved     [][]byte // what each Save attempt read
	openErrs  []error
	breakAt   []int64 // each body opened breaks after this many bytes (-1: never)
	opened    []int64 // offsets opened
	versions  []string
	deleteErr []error
	deletes   int
}

func (s *store) Save(_ context.Context, _ string, r io.ReadSeeker, size int64) error {
	b, _ := io.ReadAll(io.LimitReader(r, size))
	s.saved = append(s.saved, b)
	if len(s.saveErrs) > 0 {
		err := s.saveErrs[0]
		s.saveErrs = s.saveErrs[1:]
		return err
	}
	s.data = b
	return nil
}

func (s *store) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.OpenFrom(ctx, name, 0, "")
}

func (s *store) OpenFrom(_ context.Context, _ string, off int64, version string) (io.ReadCloser, error) {
	s.opened = append(s.opened, off)
	s.versions = append(s.versions, version)
	if len(s.openErrs) > 0 {
		err := s.openErrs[0]
		s.openErrs = s.openErrs[1:]
		if err != nil {
			return nil, err
		}
	}
	limit := int64(-1)
	if len(s.breakAt) > 0 {
		limit = s.breakAt[0]
		s.breakAt = s.breakAt[1:]
	}
	return &body{data: s.data[off:], limit: limit}, nil
}

func (s *store) Delete(context.Context, string) error {
	s.deletes++
	if len(s.deleteErr) > 0 {
		err := s.deleteErr[0]
		s.deleteErr = s.deleteErr[1:]
		return err
	}
	return nil
}

// body reads data and breaks with a reset after limit bytes.
type body struct {
	data  []byte
	limit int64
	n     int64
}

func (b *body) Read(p []byte) (int, error) {
	if b.limit >= 0 && b.n >= b.limit {
		return 0, errors.New("connection reset by peer")
	}
	if len(b.data) == 0 {
		return 0, io.EOF
	}
	if b.limit >= 0 {
		p = p[:min(int64(len(p)), b.limit-b.n)]
	}
	n := copy(p, b.data)
	b.data = b.data[n:]
	b.n += int64(n)
	return n, nil
}

func (b *body) Close() error    { return nil }
func (b *body) Version() string { return "v1" }

func fast(s backends.Backend, retries int) backends.Backend {
	return New(s, Options{Retries: retries, Delay: time.Millisecond, MaxDelay: 2 * time.Millisecond})
}

// Each attempt of Save reads the source from its start.
func TestSaveRewinds(t *testing.T) {
	s := &store{saveErrs: []error{errors.New("reset"), errors.New("503")}}
	src := strings.NewReader("payload")
	src.Seek(3, io.SeekStart)
	if err := fast(s, 3).Save(context.Background(), "f", src, 7); err != nil {
		t.Fatal(err)
	}
	if len(s.saved) != 3 {
		t.Fatalf("%d attempts, want 3", len(s.saved))
	}
	for i, b := range s.saved {
		if string(b) != "payload" {
			t.Errorf("attempt %d read %q", i+1, b)
		}
	}
}

// A body that breaks is reopened where it stopped, with the version of
// the first reader; failures without progress are bounded.
func TestOpenResumes(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789"), 100)
	s := &store{data: data, breakAt: []int64{300, 250, -1}}
	rc, err := fast(s, 2).Open(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if fmt.Sprint(s.opened) != "[0 300 550]" || fmt.Sprint(s.versions) != "[ v1 v1]" {
		t.Errorf("opened at %v with versions %q", s.opened, s.versions)
	}
	// A body that breaks at once, again and again, gives up.
	s = &store{data: data, breakAt: []int64{10, 0, 0, 0, 0, 0}}
	rc, err = fast(s, 2).Open(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	got, err = io.ReadAll(rc)
	rc.Close()
	if err == nil || len(got) != 10 || !strings.Contains(err.Error(), "reset") {
		t.Errorf("read %d bytes, %v; want 10 and the reset", len(got), err)
	}
	if len(s.opened) != 3 {
		t.Errorf("opened %d times (%v), want 3", len(s.opened), s.opened)
	}
	// A reopen refused permanently ends the read at once.
	s = &store{data: data, breakAt: []int64{10}, openErrs: []error{nil, backends.Permanent(errors.New("replaced"))}}
	rc, _ = fast(s, 5).Open(context.Background(), "f")
	if _, err := io.ReadAll(rc); err == nil || !strings.Contains(err.Error(), "replaced") || len(s.opened) != 2 {
		t.Errorf("resume refused: %v after %d opens", err, len(s.opened))
	}
}

// Open is retried until the body starts.
func TestOpenRetried(t *testing.T) {
	s := &store{data: []byte("x"), openErrs: []error{errors.New("503"), errors.New("timeout")}}
	rc, err := fast(s, 2).Open(context.Background(), "f")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if len(s.opened) != 3 {
		t.Errorf("%d opens, want 3", len(s.opened))
	}
}

// A delete whose answer was lost is done.
func TestDeleteLostAnswer(t *testing.T) {
	s := &store{deleteErr: []error{errors.New("reset"), fmt.Errorf("x: %w", backends.ErrNotExist)}}
	if err := fast(s, 3).Delete(context.Background(), "f"); err != nil || s.deletes != 2 {
		t.Errorf("Delete = %v after %d calls", err, s.deletes)
	}
	s = &store{deleteErr: []error{fmt.Errorf("x: %w", backends.ErrNotExist)}}
	if err := fast(s, 3).Delete(context.Background(), "f"); !errors.Is(err, backends.ErrNotExist) {
		t.Errorf("Delete of a missing file = %v", err)
	}
}

// A cancelled context stops before the first attempt.
func TestCancelledBeforeAttempt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	called := false
	err := Do(ctx, Options{Retries: 3}, "op", func() error { called = true; return nil })
	if !errors.Is(err, context.Canceled) || called {
		t.Errorf("Do = %v, called %v", err, called)
	}
}

// Waits grow exponentially with jitter, up to MaxDelay; attempts are
// numbered from 1.
func TestBackoff(t *testing.T) {
	var waits []time.Duration
	var attempts []int
	o := Options{Retries: 5, Delay: 4 * time.Millisecond, MaxDelay: 16 * time.Millisecond,
		Report: func(_ string, a int, d time.Duration, _ error) {
			attempts = append(attempts, a)
			waits = append(waits, d)
		}}
	err := Do(context.Background(), o, "op", func() error { return errors.New("503") })
	if err == nil || !strings.Contains(err.Error(), "gave up after 6 attempts") {
		t.Errorf("Do = %v", err)
	}
	if fmt.Sprint(attempts) != "[1 2 3 4 5]" {
		t.Errorf("attempts %v", attempts)
	}
	caps := []time.Duration{4, 8, 16, 16, 16}
	for i, d := range waits {
		c := caps[i] * time.Millisecond
		if d < c/2 || d > c {
			t.Errorf("wait %d = %s, want between %s and %s", i+1, d, c/2, c)
		}
	}
}

// The cold tier of the wrapped store is found through the wrapper and
// retried; a store without one has none.
func TestColdTier(t *testing.T) {
	c := &coldStore{fails: 2}
	b := fast(c, 3)
	cold, ok := backends.AsCold(b)
	if !ok {
		t.Fatal("no cold tier")
	}
	st, err := cold.States(context.Background(), []string{"a"})
	if err != nil || st["a"].State != backends.Sealed || c.calls != 3 {
		t.Errorf("States = %v, %v after %d calls", st, err, c.calls)
	}
	if u, ok := b.(backends.Unwrapper); !ok || u.Unwrap() != c {
		t.Error("Unwrap does not give the store")
	}
	if _, ok := backends.AsCold(fast(&store{}, 1)); ok {
		t.Error("a plain store got a cold tier")
	}
}

type coldStore struct {
	store
	fails, calls int
}

func (c *coldStore) States(context.Context, []string) (map[string]backends.ColdState, error) {
	c.calls++
	if c.fails > 0 {
		c.fails--
		return nil, errors.New("503")
	}
	return map[string]backends.ColdState{"a": {State: backends.Sealed}}, nil
}

func (c *coldStore) Unseal(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	return c.States(ctx, names)
}
