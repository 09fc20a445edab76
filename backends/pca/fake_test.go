package pca

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ncw/swift/v2/swifttest"

	"dupfs/backends/swift"
)

// pcaFake is ncw's in-process Swift made to answer as OVH PCA through
// swifttest's overrides: the container reports its storage policy, the
// listing carries policy_retrieval_state/delay and is paged, and a GET of
// a sealed or unsealing object answers 429 with Retry-After. Overrides
// match exact paths and swifttest reads them unlocked, so every object
// with a behaviour of its own is declared before the first request.
type pcaFake struct {
	t         *testing.T
	srv       *swifttest.SwiftServer
	container string

	mu        sync.Mutex
	policy    string      // X-Storage-Policy a HEAD reports ("": none)
	created   http.Header // headers of the container's PUT
	pageLimit int
	objects   map[string]*fakeObject // by full object name
	listings  []string               // listing queries
}

type fakeObject struct {
	state      string // listing's policy_retrieval_state ("": no policy fields)
	delay      any    // listing's policy_retrieval_delay
	retryAfter string // Retry-After of a 429
	getsOpen   bool   // a GET passes even while the listing says sealed
	rateLimit  int    // GETs of an unsealed object answered 429 first
	fail       int    // GETs answered 500 first
	gets       int
	ranges     []string
}

// newPCAFake serves container c with the given objects' behaviours
// (names with their prefix).
func newPCAFake(t *testing.T, c string, objects map[string]*fakeObject) *pcaFake {
	t.Helper()
	srv, err := swifttest.NewSwiftServer("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if objects == nil {
		objects = map[string]*fakeObject{}
	}
	f := &pcaFake{t: t, srv: srv, container: c, objects: objects}
	base := "/v1/AUTH_" + swifttest.TEST_ACCOUNT + "/" + c
	srv.SetOverride(base, f.containerOverride)
	for name := range objects {
		srv.SetOverride(base+"/"+name, f.objectOverride(name))
	}
	return f
}

func (f *pcaFake) env() func(string) (string, bool) {
	m := map[string]string{
		"PCA_USERNAME":    swifttest.TEST_ACCOUNT,
		"PCA_PASSWORD":    swifttest.TEST_ACCOUNT,
		"PCA_AUTHURL":     f.srv.AuthURL,
		"PCA_AUTHVERSION": "1",
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// open opens pca://container[/prefix] on the fake with a fixed clock.
func (f *pcaFake) open(prefix string, now time.Time) (*Backend, error) {
	u, _ := url.Parse("pca://" + f.container + "/" + prefix)
	conn, err := swift.Connect(f.env(), "PCA_", 2)
	if err != nil {
		return nil, err
	}
	sb, err := swift.New(u, "pca", conn)
	if err != nil {
		return nil, err
	}
	b := New(sb)
	if !now.IsZero() {
		b.now = func() time.Time { return now }
	}
	if err := b.ensureContainer(context.Background()); err != nil {
		return nil, err
	}
	return b, nil
}

func (f *pcaFake) object(name string) *fakeObject {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := *f.objects[name]
	return &o
}

// takeListings returns the listing queries seen since the last call.
func (f *pcaFake) takeListings() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := f.listings
	f.listings = nil
	return l
}

func copyRecorded(w http.ResponseWriter, rec *httptest.ResponseRecorder, body []byte) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	if body != nil {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	} else {
		body = rec.Body.Bytes()
	}
	w.WriteHeader(rec.Code)
	w.Write(body)
}

func (f *pcaFake) containerOverride(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case "PUT":
		f.created = r.Header.Clone()
		if p := r.Header.Get("X-Storage-Policy"); p != "" {
			f.policy = p
		}
	case "HEAD":
		if rec.Code/100 == 2 && f.policy != "" {
			rec.Header().Set("X-Storage-Policy", f.policy)
		}
	case "GET":
		f.listings = append(f.listings, r.URL.RawQuery)
		if rec.Code != 200 || r.URL.Query().Get("format") != "json" {
			break
		}
		var entries []map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &entries); err != nil {
			f.t.Errorf("listing: %v", err)
			break
		}
		if f.pageLimit > 0 && len(entries) > f.pageLimit {
			entries = entries[:f.pageLimit]
		}
		for _, e := range entries {
			name, _ := e["name"].(string)
			if o := f.objects[name]; o != nil && o.state != "" && r.URL.Query().Get("policy_extra") == "true" {
				e["policy_retrieval_state"] = o.state
				if o.delay != nil {
					e["policy_retrieval_delay"] = o.delay
				} else {
					e["policy_retrieval_delay"] = 0
				}
			}
		}
		if entries == nil {
			entries = []map[string]any{}
		}
		body, _ := json.Marshal(entries)
		copyRecorded(w, rec, body)
		return
	}
	copyRecorded(w, rec, nil)
}

func (f *pcaFake) objectOverride(name string) func(http.ResponseWriter, *http.Request, *httptest.ResponseRecorder) {
	return func(w http.ResponseWriter, r *http.Request, rec *httptest.ResponseRecorder) {
		f.mu.Lock()
		o := f.objects[name]
		if r.Method != "GET" || rec.Code/100 != 2 {
			f.mu.Unlock()
			copyRecorded(w, rec, nil)
			return
		}
		o.gets++
		o.ranges = append(o.ranges, r.Header.Get("Range"))
		status := 0
		switch {
		case o.fail > 0:
			o.fail--
			status = 500
		case (o.state == "sealed" || o.state == "unsealing") && !o.getsOpen:
			o.state = "unsealing"
			status = 429
		case o.rateLimit > 0:
			o.rateLimit--
			status = 429
		}
		ra := o.retryAfter
		f.mu.Unlock()
		if status == 0 {
			copyRecorded(w, rec, nil)
			return
		}
		if status == 429 && ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		http.Error(w, http.StatusText(status), status)
	}
}
