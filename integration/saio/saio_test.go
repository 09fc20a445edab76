package saio_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ncw/swift/v2"

	"dupfs/integration/saio"
)

func TestMain(m *testing.M) { saio.Main(m) }

// Every test of this package shares one server with listing pages of 2.
var opts = saio.Options{ListingLimit: 2}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestStartReusesAndEnv(t *testing.T) {
	s := saio.Start(t, opts)
	if again := saio.Start(t, opts); again != s {
		t.Fatalf("second Start gave another server: %s vs %s", again.URL, s.URL)
	}
	if s.ListingLimit != 2 {
		t.Errorf("listing limit %d, want 2", s.ListingLimit)
	}
	want := []string{
		"SWIFT_AUTHURL=" + s.AuthURL, "SWIFT_USERNAME=test:tester", "SWIFT_PASSWORD=testing", "SWIFT_AUTHVERSION=1",
		"ST_AUTH=" + s.AuthURL, "ST_USER=test:tester", "ST_KEY=testing",
	}
	if got := s.Env(); !slices.Equal(got, want) {
		t.Errorf("Env() = %q, want %q", got, want)
	}
	a, b := saio.ContainerName(t), saio.ContainerName(t)
	if a == b || !strings.HasPrefix(a, "TestStartReusesAndEnv-") {
		t.Errorf("container names %q, %q", a, b)
	}
}

// ncw/swift/v2 against the real server: v1 auth, a PCA container, paging.
func TestSwiftPCAContainerPaging(t *testing.T) {
	s := saio.Start(t, opts)
	ctx := ctxT(t)
	c := s.Conn(t)
	if !strings.HasPrefix(c.StorageUrl, s.URL+"/v1/"+saio.Account) {
		t.Errorf("storage URL %s", c.StorageUrl)
	}
	cont := saio.ContainerName(t)
	if err := c.ContainerCreate(ctx, cont, swift.Headers{"X-Storage-Policy": saio.PCAPolicy}); err != nil {
		t.Fatal(err)
	}
	_, h, err := c.Container(ctx, cont)
	if err != nil {
		t.Fatal(err)
	}
	if h["X-Storage-Policy"] != saio.PCAPolicy {
		t.Errorf("X-Storage-Policy %q, want PCA", h["X-Storage-Policy"])
	}
	var names []string
	for i := range 5 {
		n := fmt.Sprintf("dir/obj-%d", i)
		names = append(names, n)
		if err := c.ObjectPutString(ctx, cont, n, strings.Repeat(n, i+1), "text/plain"); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c.ObjectNames(ctx, cont, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(page) != 2 {
		t.Errorf("one listing page has %d names, want the limit 2", len(page))
	}
	all, err := c.ObjectNamesAll(ctx, cont, &swift.ObjectsOpts{Limit: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, names) {
		t.Errorf("paged listing %q, want %q", all, names)
	}
	got, err := c.ObjectGetString(ctx, cont, "dir/obj-3")
	if err != nil || got != strings.Repeat("dir/obj-3", 4) {
		t.Errorf("get: %q, %v", got, err)
	}
}

type entry struct {
	Name  string `json:"name"`
	Bytes int64  `json:"bytes"`
	State string `json:"policy_retrieval_state"`
	Delay int    `json:"policy_retrieval_delay"`
}

// listing reads the whole listing with policy_extra=true, as duplicity does.
func listing(t *testing.T, c *swift.Connection, cont string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	marker := ""
	for {
		resp, _, err := c.Call(ctxT(t), c.StorageUrl, swift.RequestOpts{
			Container: cont, Operation: "GET", ErrorMap: swift.ContainerErrorMap,
			Parameters: url.Values{"format": {"json"}, "policy_extra": {"true"}, "marker": {marker}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var page []entry
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			return out
		}
		for _, e := range page {
			out[e.Name] = e
		}
		marker = page[len(page)-1].Name
	}
}

func pcaContainer(t *testing.T, c *swift.Connection) string {
	t.Helper()
	cont := saio.ContainerName(t)
	if err := c.ContainerCreate(ctxT(t), cont, swift.Headers{"X-Storage-Policy": saio.PCAPolicy}); err != nil {
		t.Fatal(err)
	}
	return cont
}

func retryAfter(t *testing.T, h swift.Headers) int {
	t.Helper()
	n, err := strconv.Atoi(h["Retry-After"])
	if err != nil {
		t.Fatalf("Retry-After %q: %v", h["Retry-After"], err)
	}
	return n
}

func TestSealProxyUnseal(t *testing.T) {
	s := saio.Start(t, opts)
	p := s.SealProxy(t, 2*time.Second)
	p.Logf = t.Logf
	ctx := ctxT(t)
	c := p.Conn(t)
	if !strings.HasPrefix(c.StorageUrl, p.URL+"/") {
		t.Fatalf("storage URL %s does not point at the proxy %s", c.StorageUrl, p.URL)
	}
	cont := pcaContainer(t, c)
	data := bytes.Repeat([]byte("0123456789"), 1000)
	for _, n := range []string{"a", "b", "vol"} {
		if err := c.ObjectPutBytes(ctx, cont, n, data, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
	}
	key := cont + "/vol"

	l := listing(t, c, cont)
	if len(l) != 3 || l["vol"].State != saio.Sealed || l["vol"].Delay != 0 || l["vol"].Bytes != int64(len(data)) {
		t.Fatalf("listing after upload: %+v", l)
	}
	info, h, err := c.Object(ctx, cont, "vol")
	if err != nil {
		t.Fatalf("HEAD of a sealed object: %v", err)
	}
	if info.Bytes != int64(len(data)) || h["X-Ovh-Retrieval-State"] != saio.Sealed {
		t.Errorf("HEAD sealed: bytes %d, headers %v", info.Bytes, h)
	}

	_, err = c.ObjectGetBytes(ctx, cont, "vol")
	if !errors.Is(err, swift.TooManyRequests) {
		t.Fatalf("GET of a sealed object: %v, want 429", err)
	}
	_, h, err = c.ObjectOpen(ctx, cont, "vol", false, nil)
	if !errors.Is(err, swift.TooManyRequests) {
		t.Fatalf("GET while unsealing: %v, want 429", err)
	}
	if ra := retryAfter(t, h); ra < 1 || ra > 2 {
		t.Errorf("Retry-After while unsealing %d, want 1..2", ra)
	}
	if e := listing(t, c, cont)["vol"]; e.State != saio.Unsealing || e.Delay < 1 || e.Delay > 2 {
		t.Errorf("listing while unsealing: %+v", e)
	}
	if l := listing(t, c, cont); l["a"].State != saio.Sealed {
		t.Errorf("another object: %+v", l["a"])
	}
	if _, h, err = c.Object(ctx, cont, "vol"); err != nil || h["X-Ovh-Retrieval-State"] != saio.Unsealing || h["X-Ovh-Retrieval-Delay"] == "" {
		t.Errorf("HEAD while unsealing: %v %v", h, err)
	}

	deadline := time.Now().Add(30 * time.Second)
	for p.State(key) != saio.Unsealed {
		if time.Now().After(deadline) {
			t.Fatalf("still %s after 30 s", p.State(key))
		}
		time.Sleep(200 * time.Millisecond)
	}
	got, err := c.ObjectGetBytes(ctx, cont, "vol")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GET after the delay: %d bytes, %v", len(got), err)
	}
	f, _, err := c.ObjectOpen(ctx, cont, "vol", false, swift.Headers{"Range": "bytes=10-19"})
	if err != nil {
		t.Fatal(err)
	}
	part, err := io.ReadAll(f)
	f.Close()
	if err != nil || string(part) != "0123456789" {
		t.Errorf("Range GET: %q, %v", part, err)
	}
	if e := listing(t, c, cont)["vol"]; e.State != saio.Unsealed || e.Delay != 0 {
		t.Errorf("listing when unsealed: %+v", e)
	}

	st := p.Stats()
	if st.Unseals != 1 || st.Throttled != 2 || st.Passed != 2 || st.Sealed != 3 {
		t.Errorf("stats %+v", st)
	}
	if o := st.Objects[key]; o.State != saio.Unsealed || o.Throttled != 2 || o.Unseals != 1 || o.Passed != 2 {
		t.Errorf("object stats %+v", o)
	}
	// The same over HTTP.
	resp, err := http.Get(p.URL + "/_pca/stats")
	if err != nil {
		t.Fatal(err)
	}
	var hs saio.Stats
	err = json.NewDecoder(resp.Body).Decode(&hs)
	resp.Body.Close()
	if err != nil || hs.Objects[key].Throttled != 2 {
		t.Errorf("/_pca/stats: %+v, %v", hs, err)
	}

	// Reseal over HTTP, then a rewrite seals too.
	resp, err = http.Post(p.URL+"/_pca/reseal?name="+url.QueryEscape(key), "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("reseal: %v %v", resp, err)
	}
	resp.Body.Close()
	if st := p.State(key); st != saio.Sealed {
		t.Errorf("after reseal: %s", st)
	}
	p.Unseal(key)
	if err := c.ObjectPutBytes(ctx, cont, "vol", data, ""); err != nil {
		t.Fatal(err)
	}
	if st := p.State(key); st != saio.Sealed {
		t.Errorf("after a rewrite: %s", st)
	}
	// Delay 0: the first GET still answers 429 (Retry-After 0), the next passes.
	p.SetDelay(0)
	if _, h, err := c.ObjectOpen(ctx, cont, "vol", false, nil); !errors.Is(err, swift.TooManyRequests) || retryAfter(t, h) != 0 {
		t.Errorf("GET with delay 0: %v %v", h, err)
	}
	if _, err := c.ObjectGetBytes(ctx, cont, "vol"); err != nil {
		t.Errorf("second GET with delay 0: %v", err)
	}
}

func TestSealProxyMissingAndPlain(t *testing.T) {
	s := saio.Start(t, opts)
	p := s.SealProxy(t, time.Hour)
	ctx := ctxT(t)
	c := p.Conn(t)
	cont := pcaContainer(t, c)
	if _, err := c.ObjectGetBytes(ctx, cont, "missing"); !errors.Is(err, swift.ObjectNotFound) {
		t.Errorf("GET of a missing PCA object: %v, want 404", err)
	}
	if _, _, err := c.Object(ctx, cont, "missing"); !errors.Is(err, swift.ObjectNotFound) {
		t.Errorf("HEAD of a missing PCA object: %v, want 404", err)
	}
	// Written straight to Swift: sealed all the same.
	direct := s.Conn(t)
	if err := direct.ObjectPutString(ctx, cont, "direct", "x", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ObjectGetBytes(ctx, cont, "direct"); !errors.Is(err, swift.TooManyRequests) {
		t.Errorf("GET of an object written around the proxy: %v, want 429", err)
	}

	plain := saio.ContainerName(t)
	if err := c.ContainerCreate(ctx, plain, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.ObjectPutString(ctx, plain, "o", "plain", ""); err != nil {
		t.Fatal(err)
	}
	if got, err := c.ObjectGetString(ctx, plain, "o"); err != nil || got != "plain" {
		t.Errorf("GET in a plain container: %q %v", got, err)
	}
	if l := listing(t, c, plain); l["o"].State != "" {
		t.Errorf("plain listing got a retrieval state: %+v", l["o"])
	}
	if st := p.Stats(); st.Unseals != 1 || st.Throttled != 1 || st.Passed != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestSealProxyFaults(t *testing.T) {
	s := saio.Start(t, opts)
	p := s.SealProxy(t, 0)
	ctx := ctxT(t)
	c := p.Conn(t)
	cont := saio.ContainerName(t)
	if err := c.ContainerCreate(ctx, cont, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.ObjectPutString(ctx, cont, "o", "payload", ""); err != nil {
		t.Fatal(err)
	}
	// A new connection each time: Go's transport would retry a GET on a
	// reused connection that breaks.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() (*http.Response, error) {
		req, _ := http.NewRequestWithContext(ctx, "GET", c.StorageUrl+"/"+cont+"/o", nil)
		req.Header.Set("X-Auth-Token", c.AuthToken)
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	prefix := "/v1/" + saio.Account + "/" + cont + "/"
	p.InjectFault(saio.Fault{Method: "GET", PathPrefix: prefix, Count: 2, Status: 503, Header: http.Header{"Retry-After": {"1"}}})
	// Does not match: another method.
	if _, _, err := c.Object(ctx, cont, "o"); err != nil {
		t.Fatalf("HEAD hit a GET fault: %v", err)
	}
	for i := range 2 {
		resp, err := get()
		if err != nil || resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("faulted GET %d: %v %v", i, resp, err)
		}
	}
	if resp, err := get(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET after the faults: %v %v", resp, err)
	}

	// Over HTTP: reset the connection once.
	resp, err := http.Post(p.URL+"/_pca/fault?method=GET&prefix="+url.QueryEscape(prefix)+"&reset=1", "", nil)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("fault hook: %v %v", resp, err)
	}
	resp.Body.Close()
	if resp, err := get(); err == nil {
		t.Fatalf("GET through a reset: %v, want an error", resp.Status)
	} else if !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
		t.Errorf("reset shows as: %v", err)
	}

	// ncw/swift retries a GET that hits a transport error: the reset is
	// invisible to it, and the fault counter shows it happened.
	p.InjectFault(saio.Fault{Method: "GET", PathPrefix: prefix, Reset: true})
	if got, err := c.ObjectGetString(ctx, cont, "o"); err != nil || got != "payload" {
		t.Errorf("GET with a retried reset: %q %v", got, err)
	}
	if st := p.Stats(); st.Faults != 4 {
		t.Errorf("faults %d, want 4", st.Faults)
	}
	// A 500 on PUT is not retried by ncw/swift: the caller sees it.
	p.InjectFault(saio.Fault{Method: "PUT", PathPrefix: prefix, Status: 500})
	err = c.ObjectPutString(ctx, cont, "o2", "x", "")
	var se *swift.Error
	if !errors.As(err, &se) || se.StatusCode != 500 {
		t.Errorf("PUT with a 500 fault: %v", err)
	}
	if err := c.ObjectPutString(ctx, cont, "o2", "x", ""); err != nil {
		t.Errorf("PUT after the fault: %v", err)
	}
}

// TestSealProxyFaultRate: with FaultRate.Every, every other request to an
// upstream that is not Swift fails, each kind in turn: a 503, a stall
// after the headers and a byte of the body, a stall before the answer, a
// reset. A stall ends when the client gives up.
func TestSealProxyFaultRate(t *testing.T) {
	up := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello, world")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(ln)
	defer up.Close()
	p := saio.NewSealProxy("http://"+ln.Addr().String(), 0)
	defer p.Close()
	stall := time.Minute
	p.SetFaultRate(&saio.FaultRate{PathPrefix: "/v1/", Every: 2, Kinds: []saio.Fault{
		{Status: 503}, {Stall: stall, StallBody: true}, {Stall: stall}, {Reset: true},
	}})
	// New connections: Go retries a GET reset on a reused one.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var got []string
	start := time.Now()
	for range 8 {
		resp, err := client.Get(p.URL + "/v1/AUTH_a/c/o")
		if err != nil {
			got = append(got, "error")
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			got = append(got, fmt.Sprintf("%d, body broken after %q", resp.StatusCode, b))
		default:
			got = append(got, fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))))
		}
	}
	want := []string{
		"200 hello, world", "503 injected fault: Service Unavailable",
		"200 hello, world", `200, body broken after "h"`,
		"200 hello, world", "error",
		"200 hello, world", "error",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if took := time.Since(start); took > stall/2 {
		t.Errorf("the stalls did not end with the client: %v", took)
	}
	st := p.Stats()
	if st.Faults != 4 || st.Statuses != 1 || st.Stalls != 2 || st.BodyStalls != 1 || st.Resets != 1 {
		t.Errorf("stats %+v", st)
	}
}
