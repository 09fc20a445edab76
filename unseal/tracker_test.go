package unseal_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/backendtest"
	"dupfs/backends/file"
	"dupfs/unseal"
)

// The tracker answers from memory, asks for a batch, follows it to
// readable in the background and lists what it asked for.
func TestTracker(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	store := file.New(dir)
	for _, n := range []string{"v1", "v2", "hot"} {
		if err := store.Save(ctx, n, strings.NewReader(n), int64(len(n))); err != nil {
			t.Fatal(err)
		}
	}
	s := backendtest.NewSealed(store, 200*time.Millisecond)
	s.Seal(ctx, "v1", "v2")
	tr := unseal.NewTracker(s, 20*time.Millisecond, nil)
	defer tr.Close()
	if _, all := tr.Known([]string{"v1"}); all {
		t.Fatal("known before anything was learnt")
	}
	if err := tr.Learn(ctx, []string{"v1", "v2", "hot", "elsewhere"}); err != nil {
		t.Fatal(err)
	}
	k, all := tr.Known([]string{"v1", "hot", "elsewhere"})
	if !all || k["v1"].State != backends.Sealed || k["hot"].State != backends.Unsealed || k["elsewhere"].State != backends.Unsealed {
		t.Fatalf("Known = %v", k)
	}
	if tr.WaitReady(ctx, []string{"v1"}, 30*time.Millisecond) {
		t.Fatal("ready without an unseal")
	}
	if err := tr.Request(ctx, []string{"v1", "v2", "hot"}); err != nil {
		t.Fatal(err)
	}
	if b, asked, _ := s.Counts(); b != 1 || len(asked) != 2 {
		t.Fatalf("%d batches asking for %v, want one for v1 and v2", b, asked)
	}
	if p := tr.Pending(); len(p) != 2 || p[0].State != backends.Unsealing || p[0].ReadyAt.IsZero() {
		t.Fatalf("Pending = %+v, want v1 and v2 unsealing with a time", p)
	}
	if !tr.WaitReady(ctx, []string{"v1", "v2"}, 5*time.Second) {
		t.Fatal("not ready after the delay")
	}
	if p := tr.Pending(); p[0].State != backends.Unsealed || p[1].State != backends.Unsealed {
		t.Errorf("Pending after = %+v, want both readable", p)
	}
}

// A read's wait sees its volumes ready at their ETA, not at the next
// (hourly here) poll; with nothing pending the tracker asks nothing.
func TestTrackerPollsAtETA(t *testing.T) {
	ctx := context.Background()
	store := file.New(t.TempDir())
	if err := store.Save(ctx, "v1", strings.NewReader("v1"), 2); err != nil {
		t.Fatal(err)
	}
	s := backendtest.NewSealed(store, 150*time.Millisecond)
	s.Seal(ctx)
	tr := unseal.NewTracker(s, time.Hour, nil)
	defer tr.Close()
	if err := tr.Request(ctx, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if !tr.WaitReady(ctx, []string{"v1"}, 5*time.Second) {
		t.Fatal("not ready within 5s of a 150ms unseal, with an hourly poll")
	}
	if took := time.Since(start); took < 100*time.Millisecond || took > 3*time.Second {
		t.Errorf("ready after %v, want it soon after the 150ms ETA", took)
	}
	// Readable: no more polling.
	calls := s.Stats()
	time.Sleep(300 * time.Millisecond)
	if after := s.Stats(); after.UnsealCalls != calls.UnsealCalls {
		t.Errorf("unseal calls went from %d to %d with nothing pending", calls.UnsealCalls, after.UnsealCalls)
	}
}

// A cancelled read stops waiting at once.
func TestTrackerWaitCancel(t *testing.T) {
	ctx := context.Background()
	store := file.New(t.TempDir())
	if err := store.Save(ctx, "v1", strings.NewReader("v1"), 2); err != nil {
		t.Fatal(err)
	}
	s := backendtest.NewSealed(store, time.Hour)
	s.Seal(ctx)
	tr := unseal.NewTracker(s, 10*time.Millisecond, nil)
	defer tr.Close()
	if err := tr.Request(ctx, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	if tr.WaitReady(cctx, []string{"v1"}, time.Minute) {
		t.Fatal("ready?")
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("a cancelled wait returned after %v", took)
	}
}
