package pca_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/all"
	"dupfs/backends/backendtest"
	"dupfs/backends/pca"
	"dupfs/backends/retry"
	"dupfs/integration/saio"
)

// Tests against a real Swift on loopback and the sealing proxy in front
// of it (integration/saio); skipped when the Swift packages are missing.

func TestMain(m *testing.M) { saio.Main(m) }

// PCA through the sealing proxy: written objects are sealed, Open says so
// (with when), one Unseal batch asks for each sealed one once, States
// follow them to unsealed, and then they read.
func TestPCAStore(t *testing.T) {
	ctx := context.Background()
	srv := saio.Start(t, saio.Options{ListingLimit: 2})
	p := srv.SealProxy(t, 2*time.Second)
	c := saio.ContainerName(t)
	b := saio.OpenBackend(t, "pca://"+c+"/pre", p.PCAEnv(), 1)
	cold, ok := backends.AsCold(b)
	if !ok {
		t.Fatal("pca:// has no cold tier")
	}
	files := []string{"v1", "v2", "v3"}
	for _, n := range files {
		if err := b.Save(ctx, n, strings.NewReader("data "+n), int64(len("data "+n))); err != nil {
			t.Fatal(err)
		}
	}
	st, err := cold.States(ctx, append(files, "nope"))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 3 || st["v1"].State != backends.Sealed {
		t.Fatalf("States = %v, want 3 sealed", st)
	}
	_, err = b.Open(ctx, "v1")
	var se *backends.SealedError
	if !errors.As(err, &se) || se.ReadyAt.IsZero() {
		t.Fatalf("Open of a sealed object = %v, want a SealedError with a time", err)
	}
	st, err = cold.Unseal(ctx, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range files {
		if st[n].State != backends.Unsealing || st[n].ReadyAt.IsZero() {
			t.Errorf("%s after Unseal: %+v, want unsealing with a time", n, st[n])
		}
	}
	if u := p.Stats().Unseals; u != 3 {
		t.Errorf("%d unseals started, want 3 (v1 by its Open, v2 and v3 by the batch)", u)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err = cold.States(ctx, files)
		if err != nil {
			t.Fatal(err)
		}
		if st["v1"].State == backends.Unsealed && st["v2"].State == backends.Unsealed && st["v3"].State == backends.Unsealed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not unsealed after 20s: %v", st)
		}
		time.Sleep(200 * time.Millisecond)
	}
	rc, err := b.Open(ctx, "v2")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "data v2" {
		t.Errorf("read %q", got)
	}
	if _, err := b.Open(ctx, "missing"); !errors.Is(err, backends.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
}

// An existing container in another policy is refused, by name.
func TestPCARefusesOtherPolicy(t *testing.T) {
	srv := saio.Start(t, saio.Options{})
	p := srv.SealProxy(t, time.Second)
	c := saio.ContainerName(t)
	saio.OpenBackend(t, "swift://"+c, srv.Env(), 0).Save(context.Background(), "f", strings.NewReader("x"), 1)
	_, err := all.OpenWith(context.Background(), "pca://"+c, all.Options{Env: saio.EnvOf(p.PCAEnv())})
	if err == nil || !strings.Contains(err.Error(), c) || !strings.Contains(err.Error(), pca.Policy) {
		t.Fatalf("pca:// over a Policy-0 container = %v, want a refusal naming it", err)
	}
}

// The conformance suite through the sealing proxy: every file written is
// sealed, and the suite's reads unseal it (100 ms) before reading.
func TestSuiteRealPCA(t *testing.T) {
	srv := saio.Start(t, saio.Options{ListingLimit: 2})
	p := srv.SealProxy(t, 100*time.Millisecond)
	c := saio.ContainerName(t)
	n := 0
	backendtest.RunSuite(t, func() backends.Backend {
		n++
		b, err := all.OpenWith(context.Background(), fmt.Sprintf("pca://%s/run%d", c, n), all.Options{Env: saio.EnvOf(p.PCAEnv()),
			Retry: retry.Options{Retries: 4, Delay: 10 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
	if st := p.Stats(); st.Unseals == 0 || st.Throttled == 0 {
		t.Errorf("proxy stats %+v: the suite never met a seal", st)
	}
}

// A 429 on an unsealed object is Swift's rate limit: waited out for its
// Retry-After, not reported as a seal.
func TestRateLimitOnUnsealed(t *testing.T) {
	ctx := context.Background()
	srv := saio.Start(t, saio.Options{})
	p := srv.SealProxy(t, time.Second)
	c := saio.ContainerName(t)
	b := saio.OpenBackend(t, "pca://"+c, p.PCAEnv(), 2)
	if err := b.Save(ctx, "v", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	p.Unseal(c + "/v")
	p.InjectFault(saio.Fault{Method: "GET", PathPrefix: "/v1/" + saio.Account + "/" + c + "/v", Status: http.StatusTooManyRequests,
		Header: http.Header{"Retry-After": {"1"}}})
	start := time.Now()
	rc, err := b.Open(ctx, "v")
	if err != nil {
		t.Fatalf("Open through a rate limit: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "data" || time.Since(start) < time.Second {
		t.Errorf("read %q after %s, want the data after the Retry-After", got, time.Since(start))
	}
	var se *backends.SealedError
	if errors.As(err, &se) {
		t.Error("a rate limit reported as a seal")
	}
}
