package backendtest_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/backendtest"
	"dupfs/backends/file"
)

// clock is a hand-moved time for the fake.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func save(t *testing.T, b backends.Backend, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := b.Save(context.Background(), n, strings.NewReader("data of "+n), int64(len("data of "+n))); err != nil {
			t.Fatal(err)
		}
	}
}

func read(b backends.Backend, name string) (string, error) {
	rc, err := b.Open(context.Background(), name)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

// A file goes sealed → unsealing (with its ETA) → unsealed → sealed again,
// one batch per Unseal that asks for something; Open tells the state with
// a SealedError and counts.
func TestSealedLifecycle(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
	s := backendtest.NewSealed(file.New(t.TempDir()), time.Minute)
	s.Now = c.now
	s.SealOnSave = true
	save(t, s, "v1", "v2", "v3")
	if cold, ok := backends.AsCold(s); !ok || cold != s {
		t.Fatal("AsCold does not find the fake")
	}

	_, err := read(s, "v1")
	var se *backends.SealedError
	if !errors.As(err, &se) || se.Name != "v1" || se.State != backends.Unsealing || !se.ReadyAt.Equal(c.now().Add(time.Minute)) {
		t.Fatalf("Open of a sealed file = %v, want unsealing (the GET asked), ready in a minute", err)
	}
	st, err := s.States(ctx, []string{"v1", "v2", "v3", "absent"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || st["v1"].State != backends.Unsealing || st["v2"].State != backends.Sealed {
		t.Fatalf("States = %v", st)
	}
	if _, err := s.Unseal(ctx, []string{"v1", "v2", "v3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Unseal(ctx, []string{"v1", "v2"}); err != nil { // nothing left to ask
		t.Fatal(err)
	}
	stats := s.Stats()
	if stats.UnsealCalls != 2 || stats.Batches != 1 || stats.Asked["v1"] != 1 || stats.Asked["v2"] != 1 || stats.Opens["v1"] != 1 {
		t.Errorf("stats %+v: want 2 calls, 1 batch, each file asked for once", stats)
	}
	c.add(59 * time.Second)
	if _, err := read(s, "v2"); !errors.As(err, &se) || se.State != backends.Unsealing {
		t.Fatalf("v2 before its time: %v", err)
	}
	c.add(time.Minute)
	for _, n := range []string{"v1", "v2", "v3"} {
		if got, err := read(s, n); err != nil || got != "data of "+n {
			t.Errorf("%s once unsealed: %q, %v", n, got, err)
		}
	}
	s.Reseal()
	if s.State("v3").State != backends.Sealed {
		t.Error("v3 readable after Reseal")
	}
}

// Files already in the store are readable unless sealed; Seal with no
// names seals all of them; without SealOnSave a Save stays readable.
func TestSealedExistingFiles(t *testing.T) {
	ctx := context.Background()
	under := file.New(t.TempDir())
	save(t, under, "old1", "old2")
	s := backendtest.NewSealed(under, 0)
	if got, err := read(s, "old1"); err != nil || got != "data of old1" {
		t.Fatalf("an existing file, not sealed: %q, %v", got, err)
	}
	if err := s.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	save(t, s, "new")
	if s.State("old2").State != backends.Sealed || s.State("new").State != backends.Unsealed {
		t.Errorf("old2 %v, new %v; want sealed, unsealed", s.State("old2"), s.State("new"))
	}
	// A zero delay: readable as soon as asked for.
	if _, err := s.Unseal(ctx, []string{"old2"}); err != nil {
		t.Fatal(err)
	}
	if got, err := read(s, "old2"); err != nil || got != "data of old2" {
		t.Errorf("old2 after an unseal with no delay: %q, %v", got, err)
	}
}
