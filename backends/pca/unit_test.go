package pca

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/backendtest"
	"dupfs/backends/retry"
)

var t0 = time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)

func mustOpen(t *testing.T, f *pcaFake, prefix string) *Backend {
	t.Helper()
	b, err := f.open(prefix, t0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func put(t *testing.T, b *Backend, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := b.Save(context.Background(), n, strings.NewReader("data "+n), int64(len("data "+n))); err != nil {
			t.Fatal(err)
		}
	}
}

// A missing container is created in the PCA policy; an existing one in
// another policy, or in none, is refused by name.
func TestContainerPolicy(t *testing.T) {
	f := newPCAFake(t, "cold", nil)
	mustOpen(t, f, "")
	if got := f.created.Get("X-Storage-Policy"); got != Policy {
		t.Fatalf("container created with X-Storage-Policy %q", got)
	}
	mustOpen(t, f, "again") // exists, in PCA
	f.mu.Lock()
	f.policy = "Policy-0"
	f.mu.Unlock()
	_, err := f.open("", t0)
	if err == nil || !strings.Contains(err.Error(), `"cold"`) || !strings.Contains(err.Error(), `"Policy-0"`) || !backends.IsPermanent(err) {
		t.Errorf("container in Policy-0: %v, want a permanent refusal naming it and its policy", err)
	}
	f.mu.Lock()
	f.policy = ""
	f.mu.Unlock()
	if _, err := f.open("", t0); err == nil || !strings.Contains(err.Error(), "no storage policy") {
		t.Errorf("container without a policy: %v", err)
	}
}

// States come from the policy_extra listing, paged, under the prefix.
func TestStates(t *testing.T) {
	objs := map[string]*fakeObject{
		"pre/a": {state: "sealed"}, "pre/b": {state: "unsealing", delay: "30"}, "pre/c": {state: "unsealing", delay: 12},
		"pre/d": {state: "unsealed"}, "pre/e": {}, "pre/f": {state: "frozen"},
		"pre/x/deep": {state: "unsealed"}, "other": {state: "unsealed"},
	}
	f := newPCAFake(t, "c", objs)
	f.pageLimit = 2
	root := mustOpen(t, f, "")
	put(t, root, "other")
	b := mustOpen(t, f, "pre")
	put(t, b, "a", "b", "c", "d", "e", "f")
	if err := root.Conn.ObjectPutString(context.Background(), "c", "pre/x/deep", "x", ""); err != nil {
		t.Fatal(err)
	}
	f.takeListings()
	st, err := b.States(context.Background(), []string{"a", "b", "c", "d", "e", "f", "missing", "x/deep", "other"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]backends.ColdState{
		"a": {State: backends.Sealed},
		"b": {State: backends.Unsealing, ReadyAt: t0.Add(30 * time.Second)},
		"c": {State: backends.Unsealing, ReadyAt: t0.Add(12 * time.Second)},
		"d": {State: backends.Unsealed},
		"e": {State: backends.Unsealed},
		"f": {State: backends.Sealed},
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("States =\n%v\nwant\n%v", st, want)
	}
	listings := f.takeListings()
	if len(listings) < 4 {
		t.Errorf("%d listing pages, want 4 or more: %v", len(listings), listings)
	}
	for _, q := range listings {
		if !strings.Contains(q, "policy_extra=true") || !strings.Contains(q, "prefix=pre%2F") {
			t.Errorf("listing query %q", q)
		}
	}
	// One name: a listing of the names that start with it.
	st, err = b.States(context.Background(), []string{"b"})
	if err != nil || len(st) != 1 || st["b"].State != backends.Unsealing {
		t.Errorf("States(b) = %v, %v", st, err)
	}
	if l := f.takeListings(); len(l) == 0 || !strings.Contains(l[0], "prefix=pre%2Fb") {
		t.Errorf("listing for one name: %v", l)
	}
}

// Open of a sealed object is a SealedError with the Retry-After as ETA,
// at once, never retried, never slept on; its GET started the unseal.
func TestOpenSealed(t *testing.T) {
	f := newPCAFake(t, "c", map[string]*fakeObject{"p/v1": {state: "sealed", retryAfter: "3600"}})
	b := mustOpen(t, f, "p")
	put(t, b, "v1")
	r := retry.New(b, retry.Options{Retries: 5, Delay: time.Second})
	start := time.Now()
	_, err := r.Open(context.Background(), "v1")
	var se *backends.SealedError
	if !errors.As(err, &se) || se.Name != "v1" || se.State != backends.Unsealing || !se.ReadyAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("Open = %v, want v1 unsealing, ready at %s", err, t0.Add(time.Hour))
	}
	if time.Since(start) > 3*time.Second || f.object("p/v1").gets != 1 {
		t.Errorf("took %s and %d GETs, want at once and 1", time.Since(start), f.object("p/v1").gets)
	}
	st, err := b.States(context.Background(), []string{"v1"})
	if err != nil || st["v1"].State != backends.Unsealing {
		t.Errorf("after Open: %v, %v", st, err)
	}
	// Without Retry-After the listing's delay is the ETA.
	f.mu.Lock()
	f.objects["p/v1"].retryAfter, f.objects["p/v1"].delay = "", 90
	f.mu.Unlock()
	_, err = b.Open(context.Background(), "v1")
	if !errors.As(err, &se) || !se.ReadyAt.Equal(t0.Add(90*time.Second)) {
		t.Errorf("Open without Retry-After = %v, want ready at +90s", err)
	}
}

// A 429 on an object the listing says is unsealed is Swift's rate limit,
// not a seal: the retry layer waits it out and the read succeeds.
func TestOpenRateLimitIsNotASeal(t *testing.T) {
	f := newPCAFake(t, "c", map[string]*fakeObject{"v": {state: "unsealed", rateLimit: 2, retryAfter: "0"}})
	b := mustOpen(t, f, "")
	put(t, b, "v")
	_, err := b.Open(context.Background(), "v")
	var se *backends.SealedError
	var ra *backends.RetryAfterError
	if errors.As(err, &se) || !errors.As(err, &ra) {
		t.Fatalf("Open of an unsealed object answered 429 = %v, want a RetryAfterError", err)
	}
	rc, err := retry.New(b, retry.Options{Retries: 3, Delay: time.Millisecond}).Open(context.Background(), "v")
	if err != nil {
		t.Fatalf("Open through the retry layer: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "data v" {
		t.Errorf("read %q", got)
	}
}

// Unseal sends one GET per sealed object and none for the others, takes
// the ETA from Retry-After, and takes a 200 as unsealed.
func TestUnseal(t *testing.T) {
	objs := map[string]*fakeObject{
		"pre/a": {state: "sealed", retryAfter: "60"},
		"pre/b": {state: "sealed", retryAfter: "120"},
		"pre/c": {state: "unsealing", delay: 5},
		"pre/d": {state: "unsealed"},
		"pre/e": {state: "sealed", getsOpen: true},
	}
	f := newPCAFake(t, "c", objs)
	b := mustOpen(t, f, "pre")
	put(t, b, "a", "b", "c", "d", "e")
	names := []string{"a", "b", "c", "d", "e", "missing", "a"}
	st, err := b.Unseal(context.Background(), names)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]backends.ColdState{
		"a": {State: backends.Unsealing, ReadyAt: t0.Add(time.Minute)},
		"b": {State: backends.Unsealing, ReadyAt: t0.Add(2 * time.Minute)},
		"c": {State: backends.Unsealing, ReadyAt: t0.Add(5 * time.Second)},
		"d": {State: backends.Unsealed},
		"e": {State: backends.Unsealed},
	}
	if fmt.Sprint(st) != fmt.Sprint(want) {
		t.Errorf("Unseal =\n%v\nwant\n%v", st, want)
	}
	for n, gets := range map[string]int{"a": 1, "b": 1, "c": 0, "d": 0, "e": 1} {
		if got := f.object("pre/" + n).gets; got != gets {
			t.Errorf("%s: %d GETs, want %d", n, got, gets)
		}
	}
	if r := f.object("pre/a").ranges; len(r) != 1 || r[0] != "bytes=0-0" {
		t.Errorf("unseal GET ranges %q", r)
	}
	// Asked again: a and b are unsealing now, so nothing is sent.
	if _, err := b.Unseal(context.Background(), names); err != nil {
		t.Fatal(err)
	}
	if f.object("pre/a").gets != 1 || f.object("pre/b").gets != 1 {
		t.Error("an unsealing object was asked again")
	}
}

// A failed unseal GET is an error naming the file; the retry layer asks
// again, for what is still sealed only.
func TestUnsealFailureRetried(t *testing.T) {
	objs := map[string]*fakeObject{"a": {state: "sealed", retryAfter: "10", fail: 1}, "b": {state: "sealed", retryAfter: "10"}}
	f := newPCAFake(t, "c", objs)
	b := mustOpen(t, f, "")
	put(t, b, "a", "b")
	if _, err := b.Unseal(context.Background(), []string{"a"}); err == nil || !strings.Contains(err.Error(), "a") {
		t.Fatalf("Unseal through a 500 = %v, want an error naming a", err)
	}
	f.mu.Lock()
	f.objects["a"].fail = 1
	f.objects["a"].gets = 0
	f.mu.Unlock()
	r := retry.New(b, retry.Options{Retries: 2, Delay: time.Millisecond})
	cold, ok := backends.AsCold(r)
	if !ok {
		t.Fatal("the retry layer hides the cold tier")
	}
	if _, ok := cold.(*retry.ColdBackend); !ok {
		t.Errorf("AsCold found %T, want the retrying tier", cold)
	}
	st, err := cold.Unseal(context.Background(), []string{"a", "b"})
	if err != nil || st["a"].State != backends.Unsealing || st["b"].State != backends.Unsealing {
		t.Fatalf("Unseal through the retry layer = %v, %v", st, err)
	}
	if f.object("b").gets != 1 {
		t.Errorf("b asked %d times, want 1", f.object("b").gets)
	}
}

// The conformance suite on the fake, in a PCA container whose objects
// are all unsealed (sealing is the real proxy's test).
func TestSuiteOnFake(t *testing.T) {
	f := newPCAFake(t, "suite", nil)
	n := 0
	backendtest.RunSuite(t, func() backends.Backend {
		n++
		b, err := f.open(fmt.Sprintf("run%d", n), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}
