package swift

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ncw/swift/v2/swifttest"
)

// fake is ncw's in-process Swift (swifttest) behind a front that injects
// faults, caps listing pages as a real Swift does (swifttest has no
// limit) and records the requests it sees.
type fake struct {
	t     *testing.T
	store *swifttest.SwiftServer
	srv   *httptest.Server
	proxy *httputil.ReverseProxy

	mu        sync.Mutex
	rules     []*rule
	pageLimit int
	log       []string // "METHOD path?query"
	headers   []http.Header
}

// rule makes the next count requests matching method and pathPrefix fail.
type rule struct {
	method, pathPrefix string
	count              int
	status             int         // answer with this status (after reading the body)
	header             http.Header // with these headers
	reset              bool        // close the connection without an answer
	cutAfter           int         // pass the request but cut the answer's body after this many bytes
}

func newFake(t *testing.T) *fake {
	t.Helper()
	store, err := swifttest.NewSwiftServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	f := &fake{t: t, store: store}
	up, _ := url.Parse(strings.TrimSuffix(store.URL, "/v1"))
	f.proxy = httputil.NewSingleHostReverseProxy(up)
	f.proxy.ModifyResponse = f.modify
	f.proxy.ErrorLog = nil
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(func() { f.srv.Close(); store.Close() })
	return f
}

// env is the SWIFT_* (or other prefix) environment of the fake's user.
func (f *fake) env(prefix string, extra ...string) func(string) (string, bool) {
	m := map[string]string{
		prefix + "USERNAME":    swifttest.TEST_ACCOUNT,
		prefix + "PASSWORD":    swifttest.TEST_ACCOUNT,
		prefix + "AUTHURL":     f.srv.URL + "/v1.0",
		prefix + "AUTHVERSION": "1",
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// objectPath is the URL path of an object of the fake's account.
func objectPath(container, obj string) string {
	return "/v1/AUTH_" + swifttest.TEST_ACCOUNT + "/" + container + "/" + obj
}

func (f *fake) inject(r rule) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.count == 0 {
		r.count = 1
	}
	f.rules = append(f.rules, &r)
}

func (f *fake) setPageLimit(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pageLimit = n
}

// requests returns the requests seen whose "METHOD path?query" contains sub.
func (f *fake) requests(sub string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, l := range f.log {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return out
}

func (f *fake) take(r *http.Request) *rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	line := r.Method + " " + r.URL.Path
	if r.URL.RawQuery != "" {
		line += "?" + r.URL.RawQuery
	}
	f.log = append(f.log, line)
	f.headers = append(f.headers, r.Header.Clone())
	for i, ru := range f.rules {
		if (ru.method == "" || ru.method == r.Method) && strings.HasPrefix(r.URL.Path, ru.pathPrefix) {
			ru.count--
			if ru.count <= 0 {
				f.rules = append(f.rules[:i:i], f.rules[i+1:]...)
			}
			c := *ru
			return &c
		}
	}
	return nil
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	ru := f.take(r)
	switch {
	case ru == nil:
	case ru.reset:
		conn, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		conn.(*net.TCPConn).SetLinger(0)
		conn.Close()
		return
	case ru.cutAfter > 0:
		rec := httptest.NewRecorder()
		f.proxy.ServeHTTP(rec, r)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		body := rec.Body.Bytes()
		w.Write(body[:min(ru.cutAfter, len(body))])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	default:
		io.Copy(io.Discard, r.Body)
		for k, v := range ru.header {
			w.Header()[k] = v
		}
		http.Error(w, "injected: "+http.StatusText(ru.status), ru.status)
		return
	}
	f.proxy.ServeHTTP(w, r)
}

// modify sends the client back through the front after a login, and cuts
// JSON listings to the page limit.
func (f *fake) modify(resp *http.Response) error {
	if u := resp.Header.Get("X-Storage-Url"); u != "" {
		resp.Header.Set("X-Storage-Url", strings.Replace(u, f.store.URL, f.srv.URL+"/v1", 1))
	}
	f.mu.Lock()
	limit := f.pageLimit
	f.mu.Unlock()
	parts := strings.Split(strings.Trim(resp.Request.URL.Path, "/"), "/")
	if limit == 0 || resp.Request.Method != "GET" || len(parts) != 3 || resp.StatusCode != 200 ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(body, &entries); err != nil {
		return err
	}
	if len(entries) > limit {
		entries = entries[:limit]
	}
	if entries == nil {
		entries = []json.RawMessage{}
	}
	body, _ = json.Marshal(entries)
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	return nil
}
