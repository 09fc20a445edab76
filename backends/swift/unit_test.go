package swift

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/backendtest"
	"dupfs/backends/retry"
)

// openFake opens swift://rawPath on the fake, without the retry layer.
func openFake(t *testing.T, f *fake, rawPath string) *Backend {
	t.Helper()
	u, err := url.Parse("swift://" + rawPath)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Open(context.Background(), u, f.env("SWIFT_"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.(*Backend)
}

// fastRetry wraps b in the retry layer with millisecond waits.
func fastRetry(b backends.Backend, retries int) backends.Backend {
	return retry.New(b, retry.Options{Retries: retries, Delay: time.Millisecond, MaxDelay: 4 * time.Millisecond})
}

// The conformance suite on ncw's fake Swift, with listings paged three
// by three, each store under its own prefix of one container.
func TestSuiteOnFake(t *testing.T) {
	f := newFake(t)
	f.setPageLimit(3)
	n := 0
	backendtest.RunSuite(t, func() backends.Backend {
		n++
		return openFake(t, f, fmt.Sprintf("suite/run%d/sub", n))
	})
}

func sortedNames(t *testing.T, b backends.Backend) []string {
	t.Helper()
	l, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, fi := range l {
		out = append(out, fi.Name)
	}
	sort.Strings(out)
	return out
}

// Listings page with the marker until a page is empty, and only the
// prefix's own files come back, without the prefix.
func TestListPagesUnderPrefix(t *testing.T) {
	f := newFake(t)
	f.setPageLimit(2)
	ctx := context.Background()
	root := openFake(t, f, "c")
	for _, n := range []string{"outside", "pre", "prefix-sibling"} {
		if err := root.Save(ctx, n, strings.NewReader("x"), 1); err != nil {
			t.Fatal(err)
		}
	}
	// A deeper name, as another target under pre/x would write.
	if err := root.Conn.ObjectPutString(ctx, "c", "pre/x/deeper", "x", ""); err != nil {
		t.Fatal(err)
	}
	b := openFake(t, f, "c/pre")
	if got := b.String(); got != "swift://c/pre" {
		t.Errorf("String() = %q", got)
	}
	want := []string{"1", "2", "3", "4", "5", "6", "7"}
	for _, n := range want {
		if err := b.Save(ctx, n, strings.NewReader(n), 1); err != nil {
			t.Fatal(err)
		}
	}
	before := len(f.requests("GET /v1/AUTH_swifttest/c?"))
	got := sortedNames(t, b)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("List = %v, want %v", got, want)
	}
	pages := f.requests("GET /v1/AUTH_swifttest/c?")[before:]
	if len(pages) < 5 {
		t.Errorf("%d listing requests, want at least 5 (pages of 2 and an empty one): %v", len(pages), pages)
	}
	for _, p := range pages {
		if !strings.Contains(p, "prefix=pre%2F") {
			t.Errorf("listing without the prefix: %s", p)
		}
	}
	if got := sortedNames(t, root); strings.Join(got, ",") != "outside,pre,prefix-sibling" {
		t.Errorf("root List = %v", got)
	}
}

func TestOpenCreatesContainer(t *testing.T) {
	f := newFake(t)
	openFake(t, f, "fresh/a/b")
	if got := f.requests("PUT /v1/AUTH_swifttest/fresh"); len(got) != 1 {
		t.Errorf("container PUTs: %v", got)
	}
	openFake(t, f, "fresh")
	if got := f.requests("PUT /v1/AUTH_swifttest/fresh"); len(got) != 1 {
		t.Errorf("an existing container was created again: %v", got)
	}
}

func TestConnectEnv(t *testing.T) {
	env := func(kv ...string) backends.Env {
		m := map[string]string{}
		for _, s := range kv {
			k, v, _ := strings.Cut(s, "=")
			m[k] = v
		}
		return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
	}
	base := []string{"P_USERNAME=u", "P_PASSWORD=s3cret-pw", "P_AUTHURL=https://auth.example/v3"}
	for _, missing := range []string{"P_USERNAME", "P_PASSWORD", "P_AUTHURL"} {
		var kv []string
		for _, s := range base {
			if !strings.HasPrefix(s, missing+"=") {
				kv = append(kv, s)
			}
		}
		_, err := Connect(env(kv...), "P_", 1)
		if err == nil || !strings.Contains(err.Error(), missing) || !backends.IsPermanent(err) {
			t.Errorf("without %s: %v, want a permanent error naming it", missing, err)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret-pw") {
			t.Errorf("the password is in %q", err)
		}
	}
	c, err := Connect(env(base...), "P_", 1)
	if err != nil || c.AuthVersion != 1 || c.UserName != "u" || c.ApiKey != "s3cret-pw" {
		t.Fatalf("default (swift): %+v, %v", c, err)
	}
	if c, _ := Connect(env(append(base, "P_TIMEOUT=1.5")...), "P_", 1); c.Timeout != 1500*time.Millisecond || c.ConnectTimeout != c.Timeout {
		t.Errorf("P_TIMEOUT=1.5: timeouts %v and %v, want 1.5s", c.ConnectTimeout, c.Timeout)
	}
	for _, bad := range []string{"0", "-1", "soon"} {
		if _, err := Connect(env(append(base, "P_TIMEOUT="+bad)...), "P_", 1); err == nil || !strings.Contains(err.Error(), "P_TIMEOUT") {
			t.Errorf("P_TIMEOUT=%s: %v, want an error naming it", bad, err)
		}
	}
	if c, _ := Connect(env(base...), "P_", 2); c.AuthVersion != 2 {
		t.Errorf("default (pca): version %d, want 2", c.AuthVersion)
	}
	c, err = Connect(env(append(base, "P_AUTHVERSION=3.0", "P_TENANTNAME=proj", "P_TENANTID=pid",
		"P_PROJECT_DOMAIN_NAME=Default", "P_REGIONNAME=GRA", "P_ENDPOINT_TYPE=internalURL", "P_USERID=uid")...), "P_", 1)
	if err != nil {
		t.Fatal(err)
	}
	if c.AuthVersion != 3 || c.Tenant != "proj" || c.TenantId != "pid" || c.TenantDomain != "Default" ||
		c.Domain != "Default" || c.Region != "GRA" || c.UserId != "uid" || c.EndpointType != "internal" {
		t.Errorf("v3: %+v", c)
	}
	c, _ = Connect(env(append(base, "P_AUTHVERSION=3", "P_USER_DOMAIN_NAME=users", "P_USER_DOMAIN_ID=ud", "P_PROJECT_DOMAIN_ID=pd")...), "P_", 1)
	if c.Domain != "users" || c.DomainId != "ud" || c.TenantDomainId != "pd" {
		t.Errorf("v3 domains: %+v", c)
	}
	if _, err := Connect(env(append(base, "P_AUTHVERSION=4")...), "P_", 1); err == nil || !strings.Contains(err.Error(), "P_AUTHVERSION") {
		t.Errorf("version 4: %v", err)
	}
	c, err = Connect(env("P_PREAUTHURL=https://st.example/v1/AUTH_x", "P_PREAUTHTOKEN=tok"), "P_", 1)
	if err != nil || c.StorageUrl != "https://st.example/v1/AUTH_x" || c.AuthToken != "tok" {
		t.Errorf("preauth: %+v, %v", c, err)
	}
}

// A refused login is permanent: one re-login (ncw), no retry, and neither
// the password nor a token in the error or the name.
func TestBadPasswordNotRetried(t *testing.T) {
	f := newFake(t)
	u, _ := url.Parse("swift://c")
	b, err := Open(context.Background(), u, f.env("SWIFT_", "SWIFT_PASSWORD=wrong-s3cret"))
	if err == nil {
		b.Close()
		t.Fatal("a wrong password was accepted")
	}
	if !backends.IsPermanent(err) || strings.Contains(err.Error(), "wrong-s3cret") {
		t.Errorf("error %q: want permanent, without the password", err)
	}
	if n := len(f.requests("GET /v1.0")); n > 2 {
		t.Errorf("%d logins, want at most 2", n)
	}
}

// Saving more than Swift's object limit is refused before anything is sent.
func TestSaveTooLarge(t *testing.T) {
	f := newFake(t)
	b := openFake(t, f, "c")
	before := len(f.requests("PUT"))
	err := fastRetry(b, 3).Save(context.Background(), "huge", strings.NewReader(""), MaxObject+1)
	if err == nil || !backends.IsPermanent(err) || !strings.Contains(err.Error(), "5 GiB") {
		t.Errorf("Save of 5 GiB + 1 = %v", err)
	}
	if n := len(f.requests("PUT")) - before; n != 0 {
		t.Errorf("%d PUTs sent", n)
	}
}

// An expired token on an upload is renewed and the body sent again.
func TestSaveRelogin(t *testing.T) {
	f := newFake(t)
	b := openFake(t, f, "c")
	logins := len(f.requests("GET /v1.0"))
	f.inject(rule{method: "PUT", pathPrefix: objectPath("c", "f"), status: 401})
	data := bytes.Repeat([]byte("0123456789"), 10000)
	if err := b.Save(context.Background(), "f", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Save after a 401: %v", err)
	}
	if n := len(f.requests("GET /v1.0")) - logins; n != 1 {
		t.Errorf("%d logins after the 401, want 1", n)
	}
	rc, _ := b.Open(context.Background(), "f")
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes, want %d", len(got), len(data))
	}
}

// Server errors, resets and timeouts are retried up to the bound; the
// final error names the file and the attempts.
func TestTransientFaultsRetried(t *testing.T) {
	f := newFake(t)
	f.setPageLimit(2)
	ctx := context.Background()
	b := fastRetry(openFake(t, f, "c/p"), 3)
	obj := objectPath("c", "p/f")
	f.inject(rule{method: "PUT", pathPrefix: obj, status: 503})
	f.inject(rule{method: "PUT", pathPrefix: obj, reset: true})
	f.inject(rule{method: "PUT", pathPrefix: obj, status: 500})
	if err := b.Save(ctx, "f", strings.NewReader("data"), 4); err != nil {
		t.Fatalf("Save through a 503, a reset and a 500: %v", err)
	}
	if n := len(f.requests("PUT " + obj)); n != 4 {
		t.Errorf("%d PUTs, want 4", n)
	}
	// ncw retries a GET that did not connect once itself; two resets and
	// a 502 are left for the retry layer.
	f.inject(rule{method: "GET", pathPrefix: obj, reset: true, count: 4})
	f.inject(rule{method: "GET", pathPrefix: obj, status: 502})
	rc, err := b.Open(ctx, "f")
	if err != nil {
		t.Fatalf("Open through resets and a 502: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "data" {
		t.Errorf("read %q", got)
	}
	for _, n := range []string{"g", "h"} {
		if err := b.Save(ctx, n, strings.NewReader(n), 1); err != nil {
			t.Fatal(err)
		}
	}
	// A failure on the second page starts the listing over.
	f.inject(rule{method: "GET", pathPrefix: "/v1/AUTH_swifttest/c", status: 503, count: 1})
	if got, err := b.List(ctx); err != nil || len(got) != 3 {
		t.Fatalf("List through a 503 = %v, %v", got, err)
	}
	f.inject(rule{method: "GET", pathPrefix: obj, status: 503, count: 100})
	_, err = b.Open(ctx, "f")
	if err == nil || !strings.Contains(err.Error(), "f") || !strings.Contains(err.Error(), "4 attempts") {
		t.Errorf("Open past the bound = %v, want the file named and 4 attempts", err)
	}
	f.inject(rule{method: "DELETE", pathPrefix: obj, status: 504})
	if err := b.Delete(ctx, "f"); err != nil {
		t.Errorf("Delete through a 504: %v", err)
	}
}

// 404, 403 and a bad request are never retried.
func TestPermanentNotRetried(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	b := fastRetry(openFake(t, f, "c"), 5)
	obj := objectPath("c", "f")
	if _, err := b.Open(ctx, "f"); !errors.Is(err, backends.ErrNotExist) {
		t.Errorf("Open(missing) = %v", err)
	}
	if n := len(f.requests("GET " + obj)); n != 1 {
		t.Errorf("%d GETs of a missing file, want 1", n)
	}
	for _, status := range []int{403, 400, 413} {
		f.inject(rule{method: "PUT", pathPrefix: obj, status: status, count: 10})
		before := len(f.requests("PUT " + obj))
		err := b.Save(ctx, "f", strings.NewReader("x"), 1)
		if err == nil || !backends.IsPermanent(err) {
			t.Errorf("Save answered %d = %v, want permanent", status, err)
		}
		if n := len(f.requests("PUT "+obj)) - before; n != 1 {
			t.Errorf("%d PUTs answered %d, want 1", n, status)
		}
		f.mu.Lock()
		f.rules = nil
		f.mu.Unlock()
	}
}

// Swift's own 429 is a rate limit, waited out for its Retry-After; one
// longer than the bound is returned at once; a plain swift:// store never
// reports a seal.
func TestRateLimit(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	raw := openFake(t, f, "c")
	if err := raw.Save(ctx, "f", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	obj := objectPath("c", "f")
	f.inject(rule{method: "GET", pathPrefix: obj, status: 429, header: http.Header{"Retry-After": {"7"}}})
	_, err := raw.Open(ctx, "f")
	var ra *backends.RetryAfterError
	var se *backends.SealedError
	if !errors.As(err, &ra) || ra.After != 7*time.Second || errors.As(err, &se) {
		t.Fatalf("Open answered 429 = %v, want a RetryAfterError of 7s", err)
	}
	var waits []time.Duration
	b := retry.New(raw, retry.Options{Retries: 2, Delay: time.Millisecond, MaxRetryAfter: 10 * time.Second,
		Report: func(_ string, _ int, d time.Duration, _ error) { waits = append(waits, d) }})
	f.inject(rule{method: "GET", pathPrefix: obj, status: 429, header: http.Header{"Retry-After": {"1"}}})
	start := time.Now()
	rc, err := b.Open(ctx, "f")
	if err != nil {
		t.Fatalf("Open after a 429 of 1s: %v", err)
	}
	rc.Close()
	if time.Since(start) < time.Second || len(waits) != 1 || waits[0] < time.Second {
		t.Errorf("waited %s (reported %v), want at least the Retry-After", time.Since(start), waits)
	}
	f.inject(rule{method: "PUT", pathPrefix: obj, status: 429, header: http.Header{"Retry-After": {"3600"}}})
	start = time.Now()
	err = b.Save(ctx, "f", strings.NewReader("x"), 1)
	if !errors.As(err, &ra) || time.Since(start) > 5*time.Second {
		t.Errorf("Save answered 429 for an hour = %v after %s, want the RetryAfterError at once", err, time.Since(start))
	}
	if _, ok := backends.AsCold(b); ok {
		t.Error("swift:// claims a cold tier")
	}
}

// A body broken mid-way is resumed from where it stopped, with a Range.
func TestOpenResumes(t *testing.T) {
	f := newFake(t)
	ctx := context.Background()
	raw := openFake(t, f, "c/p")
	data := make([]byte, 300_000)
	for i := range data {
		data[i] = byte(i * 7 / 3)
	}
	if err := raw.Save(ctx, "v", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	obj := objectPath("c", "p/v")
	f.inject(rule{method: "GET", pathPrefix: obj, cutAfter: 100_000})
	f.inject(rule{method: "GET", pathPrefix: obj, cutAfter: 50_000})
	rc, err := fastRetry(raw, 2).Open(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (%v), want %d identical", len(got), err, len(data))
	}
	f.mu.Lock()
	var ranges []string
	for i, l := range f.log {
		if strings.HasPrefix(l, "GET "+obj) {
			ranges = append(ranges, f.headers[i].Get("Range"))
		}
	}
	f.mu.Unlock()
	if strings.Join(ranges, ",") != ",bytes=100000-,bytes=150000-" {
		t.Errorf("GETs with ranges %q", ranges)
	}
	// Without a retry layer a cut body is the reader's error.
	f.inject(rule{method: "GET", pathPrefix: obj, cutAfter: 1000})
	rc, err = raw.Open(ctx, "v")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(rc); err == nil {
		t.Error("a cut body read without error")
	}
	rc.Close()
}

// A cancelled context ends a retry wait at once.
func TestCancelStopsRetries(t *testing.T) {
	f := newFake(t)
	raw := openFake(t, f, "c")
	b := retry.New(raw, retry.Options{Retries: 5, Delay: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	f.inject(rule{method: "GET", pathPrefix: "/v1/AUTH_swifttest/c", status: 503, count: 10})
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	if _, err := b.List(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("List = %v, want cancelled", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("cancel took %s", time.Since(start))
	}
}

// Invalid names never reach the server.
func TestInvalidName(t *testing.T) {
	f := newFake(t)
	b := fastRetry(openFake(t, f, "c"), 3)
	before := len(f.log)
	for _, n := range []string{"", ".", "..", "a/b"} {
		if _, err := b.Open(context.Background(), n); err == nil || !backends.IsPermanent(err) {
			t.Errorf("Open(%q) = %v, want permanent", n, err)
		}
	}
	if len(f.log) != before {
		t.Errorf("requests sent: %v", f.log[before:])
	}
}

func TestRetryAfterHeader(t *testing.T) {
	for v, want := range map[string]time.Duration{"7": 7 * time.Second, " 0 ": 0, "-1": -1, "soon": -1, "": -1,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0} {
		got, ok := RetryAfter(map[string]string{"retry-after": v})
		if !ok {
			got = -1
		}
		if got != want {
			t.Errorf("Retry-After %q = %v, want %v", v, got, want)
		}
	}
	d, ok := RetryAfter(map[string]string{"Retry-After": time.Now().Add(time.Minute).UTC().Format(http.TimeFormat)})
	if !ok || d < 55*time.Second || d > time.Minute {
		t.Errorf("a date a minute ahead = %v, %v", d, ok)
	}
}
