package saio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ncw/swift/v2"
)

// Retrieval states of an object in a PCA container, as OVH names them in
// listings (policy_retrieval_state) and on HEAD (X-Ovh-Retrieval-State).
const (
	Sealed    = "sealed"
	Unsealing = "unsealing"
	Unsealed  = "unsealed"
)

// SealProxy is an HTTP proxy in front of a Swift server that behaves as OVH
// Public Cloud Archive does on the wire, for containers whose storage policy
// is PCA (learned by a HEAD with the caller's token, cached; other
// containers and the auth requests pass through untouched, with the caller's
// Host kept, so X-Storage-Url points back at the proxy):
//
//   - PUT, POST or COPY of an object seals it. An object the proxy has not
//     seen written (e.g. written straight to Swift) is sealed too.
//   - GET of a sealed object starts its unseal (ready after the delay) and
//     answers 429 with an integer Retry-After; GET while unsealing answers 429
//     with the seconds left; once ready, GET passes through (Range too),
//     until the optional reseal-after has passed since it became ready.
//   - GET of a missing object answers 404 (the proxy HEADs it upstream first).
//   - HEAD answers Swift's 200 with the real Content-Length, plus
//     X-Ovh-Retrieval-State, and X-Ovh-Retrieval-Delay while unsealing.
//   - Listings with policy_extra=true and JSON output get
//     policy_retrieval_state and policy_retrieval_delay (seconds left while
//     unsealing, else 0) on every {"name": ...} entry.
//
// Object states are kept by "container/object", whatever the account.
//
// Test hooks: Stats, State, Reseal, Unseal, SetDelay, SetResealAfter and
// InjectFault, also over HTTP under /_pca/ (see ServeHTTP), and
// SetFaultRate. Faults apply to every request, PCA or not, so the proxy
// also serves plain Swift retry tests.
type SealProxy struct {
	URL       string // base URL, e.g. http://127.0.0.1:PORT ("" for a handler)
	AuthURL   string // URL + "/auth/v1.0"
	User, Key string // credentials Conn, Env and PCAEnv use (default User, Key)
	// Logf, when set, gets one line per request the proxy answers itself
	// (429, 404, faults) and per state change.
	Logf func(format string, args ...any)

	upstream  *url.URL
	transport *http.Transport
	rp        *httputil.ReverseProxy
	srv       *httptest.Server

	mu          sync.Mutex
	delay       time.Duration
	resealAfter time.Duration
	policies    map[string]string // "account/container" -> X-Storage-Policy
	objects     map[string]*object
	faults      []*Fault
	rate        *FaultRate
	rng         *rand.Rand // draws rate's faults
	stats       Stats
}

type object struct {
	unsealing bool      // an unseal was asked for
	readyAt   time.Time // when it is unsealed, if unsealing
	ObjectStats
}

// Stats are the proxy's counters.
type Stats struct {
	Throttled int `json:"throttled"` // GETs answered 429 (sealed or unsealing)
	Unseals   int `json:"unseals"`   // GETs that started an unseal
	Passed    int `json:"passed"`    // GETs of unsealed PCA objects passed through
	Sealed    int `json:"sealed"`    // writes (PUT, POST, COPY) that sealed an object
	Faults    int `json:"faults"`    // requests answered by an injected fault
	// By kind: Faults = Statuses + Resets + Stalls.
	Statuses int `json:"statuses"` // answered with an error status
	Resets   int `json:"resets"`   // connection reset without an answer
	Stalls   int `json:"stalls"`   // held without an answer or mid-body
	// BodyStalls are the Stalls that came mid-body (a StallBody fault on
	// a GET with a body).
	BodyStalls int `json:"body_stalls"`
	// Objects are per object, by "container/object".
	Objects map[string]ObjectStats `json:"objects"`
}

// ObjectStats are the counters of one object, and its state now.
type ObjectStats struct {
	State     string `json:"state"`
	Throttled int    `json:"throttled"`
	Unseals   int    `json:"unseals"`
	Passed    int    `json:"passed"`
}

// Fault makes the next Count requests that match Method and PathPrefix fail.
type Fault struct {
	Method     string      // "" matches every method
	PathPrefix string      // prefix of the URL path, e.g. "/v1/AUTH_test/c/" or "/auth/"
	Count      int         // how many requests it answers (0: 1)
	Status     int         // status to answer with (500, 503, ...), unless Reset
	Header     http.Header // extra response headers (e.g. Retry-After)
	Reset      bool        // close the connection without an answer (TCP RST)
	// Stall holds the request this long, or until the client gives up,
	// then resets it. With StallBody a GET is passed upstream as is (no
	// PCA states) and its answer stalls after the headers and one byte of
	// the body; other requests stall before the headers, their body read.
	Stall     time.Duration
	StallBody bool
}

// FaultRate makes requests that match Method and PathPrefix (and no
// queued Fault) fail: every Every-th one, in each of Kinds in turn, or
// with Every 0, each with probability P drawn from a generator seeded
// with Seed, in one of Kinds picked at random (their Count is ignored).
// Random draws repeat for one seed only as far as the requests come in
// the same order.
type FaultRate struct {
	Method     string
	PathPrefix string
	Every      int
	P          float64
	Seed       uint64
	Kinds      []Fault

	seen, used int // matching requests, faults given
}

// SetFaultRate starts the random faults of r; nil stops them.
func (p *SealProxy) SetFaultRate(r *FaultRate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = r
	if r != nil {
		r.seen, r.used = 0, 0
		p.rng = rand.New(rand.NewPCG(r.Seed, 0x5ea1))
	}
}

// NewSealProxy starts a sealing proxy on a loopback port in front of the
// Swift server at upstream (e.g. Server.URL), with the given unseal delay.
// Close it when done (Server.SealProxy does that at the end of the test).
func NewSealProxy(upstream string, delay time.Duration) *SealProxy {
	p, err := NewSealHandler(upstream, delay)
	if err != nil {
		panic(err)
	}
	p.srv = httptest.NewServer(p)
	p.URL = p.srv.URL
	p.AuthURL = p.URL + "/auth/v1.0"
	return p
}

// NewSealHandler is NewSealProxy without a listener: serve it yourself and
// set URL and AuthURL if you need Conn, Env or PCAEnv.
func NewSealHandler(upstream string, delay time.Duration) (*SealProxy, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("seal proxy upstream: %w", err)
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("seal proxy upstream %q: want http://host:port", upstream)
	}
	p := &SealProxy{
		User: User, Key: Key,
		upstream: u, delay: delay,
		transport: http.DefaultTransport.(*http.Transport).Clone(),
		policies:  map[string]string{},
		objects:   map[string]*object{},
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.upstream)
			pr.Out.Host = pr.In.Host // tempauth builds X-Storage-Url from it
			if infoOf(pr.In.Context()).kind == kindListing {
				// The body is rewritten: let the transport deal with gzip.
				pr.Out.Header.Del("Accept-Encoding")
			}
		},
		Transport:      p.transport,
		ModifyResponse: p.modifyResponse,
		ErrorLog:       log.New(os.Stderr, "sealproxy: ", 0),
	}
	return p, nil
}

// Close stops the proxy (if NewSealProxy started it).
func (p *SealProxy) Close() {
	if p.srv != nil {
		p.srv.Close()
	}
	p.transport.CloseIdleConnections()
}

// SetDelay sets the unseal delay of the unseals started from now on.
func (p *SealProxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
}

// SetResealAfter makes unsealed objects sealed again d after they became
// unsealed (0, the default: never).
func (p *SealProxy) SetResealAfter(d time.Duration) {
	p.mu.Lock()
	p.resealAfter = d
	p.mu.Unlock()
}

// Reseal seals the named objects ("container/object") again; no names: all.
func (p *SealProxy) Reseal(names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(names) == 0 {
		for _, o := range p.objects {
			o.unsealing = false
		}
		return
	}
	for _, n := range names {
		p.obj(n).unsealing = false
	}
}

// Unseal makes the named objects ("container/object") unsealed at once, as
// if their unseal had been asked for long ago; no names: every object the
// proxy knows of.
func (p *SealProxy) Unseal(names ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if len(names) == 0 {
		for n := range p.objects {
			names = append(names, n)
		}
	}
	for _, n := range names {
		o := p.obj(n)
		o.unsealing, o.readyAt = true, now
	}
}

// State is the retrieval state of an object ("container/object") now.
func (p *SealProxy) State(name string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	st, _ := p.stateLocked(p.objects[name], time.Now())
	return st
}

// Stats returns a copy of the counters.
func (p *SealProxy) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Objects = make(map[string]ObjectStats, len(p.objects))
	now := time.Now()
	for n, o := range p.objects {
		st := o.ObjectStats
		st.State, _ = p.stateLocked(o, now)
		s.Objects[n] = st
	}
	return s
}

// InjectFault queues f; faults are tried in the order they were injected.
func (p *SealProxy) InjectFault(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	p.mu.Lock()
	p.faults = append(p.faults, &f)
	p.mu.Unlock()
}

// ClearFaults drops the faults not used up yet.
func (p *SealProxy) ClearFaults() {
	p.mu.Lock()
	p.faults = nil
	p.mu.Unlock()
}

// PCAEnv is the environment for duplicity's pca:// backend through the
// proxy: PCA_AUTHURL, PCA_USERNAME, PCA_PASSWORD, PCA_AUTHVERSION=1 (without
// it the backend uses keystone v2).
func (p *SealProxy) PCAEnv() []string {
	return []string{"PCA_AUTHURL=" + p.AuthURL, "PCA_USERNAME=" + p.User, "PCA_PASSWORD=" + p.Key, "PCA_AUTHVERSION=1"}
}

// Env is Server.Env through the proxy (swift:// with faults).
func (p *SealProxy) Env() []string { return swiftEnv(p.AuthURL, p.User, p.Key) }

// Conn returns a connection authenticated through the proxy: its
// StorageUrl points at the proxy.
func (p *SealProxy) Conn(t testing.TB) *swift.Connection {
	t.Helper()
	return Connect(t, p.AuthURL, p.User, p.Key)
}

func (p *SealProxy) logf(format string, args ...any) {
	if p.Logf != nil {
		p.Logf(format, args...)
	}
}

// obj returns the state of name, creating it (sealed). Needs p.mu.
func (p *SealProxy) obj(name string) *object {
	o := p.objects[name]
	if o == nil {
		o = &object{}
		p.objects[name] = o
	}
	return o
}

// stateLocked is o's state at now and, while unsealing, the time left.
// o may be nil (never seen: sealed). Needs p.mu.
func (p *SealProxy) stateLocked(o *object, now time.Time) (string, time.Duration) {
	switch {
	case o == nil || !o.unsealing:
		return Sealed, 0
	case now.Before(o.readyAt):
		return Unsealing, o.readyAt.Sub(now)
	case p.resealAfter > 0 && !now.Before(o.readyAt.Add(p.resealAfter)):
		o.unsealing = false
		return Sealed, 0
	}
	return Unsealed, 0
}

func seconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// What the response of a passed request needs.
type kind int

const (
	kindPlain           kind = iota
	kindContainerChange      // container PUT/POST/DELETE: forget its policy
	kindListing              // PCA listing with policy_extra: add the states
	kindSeal                 // object write: seal key on success
	kindDelete               // object DELETE: forget key's state on success
	kindHead                 // object HEAD: add the state headers
	kindGet                  // GET of an unsealed object
)

type reqInfo struct {
	kind kind
	key  string // "container/object", "account/container" for kindContainerChange, container for kindListing
}

type infoKey struct{}

func infoOf(ctx context.Context) reqInfo {
	i, _ := ctx.Value(infoKey{}).(reqInfo)
	return i
}

func (p *SealProxy) pass(w http.ResponseWriter, r *http.Request, i reqInfo) {
	p.rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), infoKey{}, i)))
}

// ServeHTTP proxies r. Besides Swift's API it answers the test hooks:
//
//	GET  /_pca/stats                          Stats as JSON
//	POST /_pca/reseal?name=c/o&name=...       Reseal (no name: all)
//	POST /_pca/unseal?name=c/o&name=...       Unseal (no name: all known)
//	POST /_pca/delay?seconds=N[&reseal_after=N]  SetDelay, SetResealAfter
//	POST /_pca/fault?method=GET&prefix=/v1/&count=2&status=503  (or reset=1)
func (p *SealProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_pca/") {
		p.control(w, r)
		return
	}
	if f := p.takeFault(r); f != nil {
		p.fault(w, r, f)
		return
	}
	acct, cont, obj, ok := splitPath(r.URL.Path)
	if !ok || cont == "" {
		p.pass(w, r, reqInfo{})
		return
	}
	if obj == "" {
		switch r.Method {
		case http.MethodPut, http.MethodPost, http.MethodDelete:
			p.pass(w, r, reqInfo{kind: kindContainerChange, key: acct + "/" + cont})
		case http.MethodGet:
			if r.URL.Query().Get("policy_extra") == "true" && p.isPCA(r, acct, cont) {
				p.pass(w, r, reqInfo{kind: kindListing, key: cont})
				return
			}
			p.pass(w, r, reqInfo{})
		default:
			p.pass(w, r, reqInfo{})
		}
		return
	}
	if !p.isPCA(r, acct, cont) {
		p.pass(w, r, reqInfo{})
		return
	}
	key := cont + "/" + obj
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		p.pass(w, r, reqInfo{kind: kindSeal, key: key})
	case "COPY":
		dest, err := url.PathUnescape(strings.TrimPrefix(r.Header.Get("Destination"), "/"))
		if err != nil || !strings.Contains(dest, "/") {
			p.pass(w, r, reqInfo{}) // Swift refuses it
			return
		}
		p.pass(w, r, reqInfo{kind: kindSeal, key: dest})
	case http.MethodDelete:
		p.pass(w, r, reqInfo{kind: kindDelete, key: key})
	case http.MethodHead:
		p.pass(w, r, reqInfo{kind: kindHead, key: key})
	case http.MethodGet:
		p.get(w, r, key)
	default:
		p.pass(w, r, reqInfo{})
	}
}

// splitPath splits /v1/account/container/object.
func splitPath(path string) (acct, cont, obj string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return "", "", "", false
	}
	parts := strings.SplitN(rest, "/", 3)
	acct = parts[0]
	if len(parts) > 1 {
		cont = parts[1]
	}
	if len(parts) > 2 {
		obj = parts[2]
	}
	return acct, cont, obj, acct != ""
}

// isPCA says whether acct/cont has the PCA policy, asking upstream with the
// caller's token the first time.
func (p *SealProxy) isPCA(r *http.Request, acct, cont string) bool {
	k := acct + "/" + cont
	p.mu.Lock()
	pol, known := p.policies[k]
	p.mu.Unlock()
	if known {
		return pol == PCAPolicy
	}
	u := *p.upstream
	u.Path, u.RawPath, u.RawQuery = "/v1/"+acct+"/"+cont, "", ""
	resp, err := p.upstreamHead(r, u.String())
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return false // not cached: it may be created later
	}
	pol = resp.Header.Get("X-Storage-Policy")
	p.mu.Lock()
	p.policies[k] = pol
	p.mu.Unlock()
	return pol == PCAPolicy
}

func (p *SealProxy) upstreamHead(r *http.Request, target string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodHead, target, nil)
	if err != nil {
		return nil, err
	}
	req.Host = r.Host
	for _, h := range []string{"X-Auth-Token", "X-Storage-Token"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	return p.transport.RoundTrip(req)
}

// get answers a GET of a PCA object.
func (p *SealProxy) get(w http.ResponseWriter, r *http.Request, key string) {
	p.mu.Lock()
	st, _ := p.stateLocked(p.objects[key], time.Now())
	p.mu.Unlock()
	if st != Unsealed {
		// 404 (or 401...) rather than 429 for what Swift would refuse.
		u := *p.upstream
		u.Path, u.RawPath, u.RawQuery = r.URL.Path, r.URL.RawPath, ""
		resp, err := p.upstreamHead(r, u.String())
		if err != nil {
			http.Error(w, "seal proxy: "+err.Error(), http.StatusBadGateway)
			return
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			p.logf("sealproxy: GET %s: %d upstream", key, resp.StatusCode)
			http.Error(w, http.StatusText(resp.StatusCode), resp.StatusCode)
			return
		}
		p.mu.Lock()
		now := time.Now()
		o := p.obj(key)
		var left time.Duration
		st, left = p.stateLocked(o, now)
		if st == Sealed {
			o.unsealing, o.readyAt = true, now.Add(p.delay)
			o.Unseals++
			p.stats.Unseals++
			left = p.delay
			p.logf("sealproxy: GET %s: unseal started, ready in %v", key, p.delay)
		}
		if st != Unsealed {
			o.Throttled++
			p.stats.Throttled++
			p.mu.Unlock()
			p.logf("sealproxy: GET %s: 429 Retry-After %d (%s)", key, seconds(left), st)
			w.Header().Set("Retry-After", strconv.Itoa(seconds(left)))
			http.Error(w, "Object is sealed; retrieval in progress", http.StatusTooManyRequests)
			return
		}
		p.mu.Unlock()
	}
	p.mu.Lock()
	o := p.obj(key)
	o.Passed++
	p.stats.Passed++
	p.mu.Unlock()
	p.pass(w, r, reqInfo{kind: kindGet, key: key})
}

func (p *SealProxy) modifyResponse(resp *http.Response) error {
	i := infoOf(resp.Request.Context())
	ok := resp.StatusCode/100 == 2
	switch i.kind {
	case kindContainerChange:
		p.mu.Lock()
		delete(p.policies, i.key)
		p.mu.Unlock()
	case kindSeal:
		if ok {
			p.mu.Lock()
			p.obj(i.key).unsealing = false
			p.stats.Sealed++
			p.mu.Unlock()
		}
	case kindDelete:
		if ok {
			p.mu.Lock()
			if o := p.objects[i.key]; o != nil {
				o.unsealing = false
			}
			p.mu.Unlock()
		}
	case kindHead:
		if ok {
			p.mu.Lock()
			st, left := p.stateLocked(p.objects[i.key], time.Now())
			p.mu.Unlock()
			resp.Header.Set("X-Ovh-Retrieval-State", st)
			if st == Unsealing {
				resp.Header.Set("X-Ovh-Retrieval-Delay", strconv.Itoa(seconds(left)))
			}
		}
	case kindListing:
		if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			return p.rewriteListing(resp, i.key)
		}
	}
	return nil
}

// rewriteListing adds the retrieval state to every object of a JSON listing.
func (p *SealProxy) rewriteListing(resp *http.Response, cont string) error {
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var entries []map[string]json.RawMessage
	if err := json.Unmarshal(body, &entries); err != nil {
		return fmt.Errorf("seal proxy: listing of %s: %w", cont, err)
	}
	now := time.Now()
	p.mu.Lock()
	for _, e := range entries {
		raw, ok := e["name"]
		if !ok {
			continue // {"subdir": ...}
		}
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			p.mu.Unlock()
			return fmt.Errorf("seal proxy: listing of %s: %w", cont, err)
		}
		st, left := p.stateLocked(p.objects[cont+"/"+name], now)
		e["policy_retrieval_state"], _ = json.Marshal(st)
		e["policy_retrieval_delay"], _ = json.Marshal(seconds(left))
	}
	p.mu.Unlock()
	out, err := json.Marshal(entries)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	resp.Header.Del("Content-Encoding")
	resp.Header.Del("Etag")
	return nil
}

// takeFault uses up one count of the first fault r matches, or draws one
// from the fault rate.
func (p *SealProxy) takeFault(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, f := range p.faults {
		if (f.Method == "" || f.Method == r.Method) && strings.HasPrefix(r.URL.Path, f.PathPrefix) {
			f.Count--
			if f.Count <= 0 {
				p.faults = append(p.faults[:i:i], p.faults[i+1:]...)
			}
			p.countFault(f)
			return f
		}
	}
	rt := p.rate
	if rt == nil || len(rt.Kinds) == 0 || rt.Method != "" && rt.Method != r.Method || !strings.HasPrefix(r.URL.Path, rt.PathPrefix) {
		return nil
	}
	rt.seen++
	var f Fault
	switch {
	case rt.Every > 0 && rt.seen%rt.Every == 0:
		f = rt.Kinds[rt.used%len(rt.Kinds)]
	case rt.Every <= 0 && p.rng.Float64() < rt.P:
		f = rt.Kinds[p.rng.IntN(len(rt.Kinds))]
	default:
		return nil
	}
	rt.used++
	p.countFault(&f)
	return &f
}

// countFault counts f by kind. Needs p.mu.
func (p *SealProxy) countFault(f *Fault) {
	p.stats.Faults++
	switch {
	case f.Stall > 0:
		p.stats.Stalls++
	case f.Reset:
		p.stats.Resets++
	default:
		p.stats.Statuses++
	}
}

// stall holds r for f.Stall or until the client gives up (see Fault),
// then resets the connection.
func (p *SealProxy) stall(w http.ResponseWriter, r *http.Request, f *Fault) {
	if f.StallBody && r.Method == http.MethodGet {
		p.logf("sealproxy: %s %s: fault: stall after the headers for %v", r.Method, r.URL.Path, f.Stall)
		p.pass(&stallWriter{ResponseWriter: w, p: p, r: r, d: f.Stall}, r, reqInfo{})
		return
	}
	p.logf("sealproxy: %s %s: fault: stall before the headers for %v", r.Method, r.URL.Path, f.Stall)
	// Once the body is read the server notices the client going away.
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	wait(r, f.Stall)
	panic(http.ErrAbortHandler)
}

// wait waits for d or until the client of r goes away.
func wait(r *http.Request, d time.Duration) {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
	case <-r.Context().Done():
	}
}

// stallWriter sends the headers and one byte of the body, then stalls.
type stallWriter struct {
	http.ResponseWriter
	p *SealProxy
	r *http.Request
	d time.Duration
}

func (s *stallWriter) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	s.ResponseWriter.Write(b[:1])
	http.NewResponseController(s.ResponseWriter).Flush()
	s.p.mu.Lock()
	s.p.stats.BodyStalls++
	s.p.mu.Unlock()
	wait(s.r, s.d)
	panic(http.ErrAbortHandler)
}

func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (p *SealProxy) fault(w http.ResponseWriter, r *http.Request, f *Fault) {
	if f.Stall > 0 {
		p.stall(w, r, f)
		return
	}
	if f.Reset {
		p.logf("sealproxy: %s %s: fault: connection reset", r.Method, r.URL.Path)
		hj, ok := w.(http.Hijacker)
		if !ok {
			panic(http.ErrAbortHandler)
		}
		conn, _, err := hj.Hijack()
		if err != nil {
			panic(http.ErrAbortHandler)
		}
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0) // RST, not FIN
		}
		conn.Close()
		return
	}
	p.logf("sealproxy: %s %s: fault: %d", r.Method, r.URL.Path, f.Status)
	// Read what the client sends, so it sees the answer, not a broken pipe.
	io.Copy(io.Discard, io.LimitReader(r.Body, 64<<20))
	for k, vs := range f.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	status := f.Status
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	http.Error(w, "injected fault: "+http.StatusText(status), status)
}

func (p *SealProxy) control(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch {
	case r.URL.Path == "/_pca/stats" && r.Method == http.MethodGet:
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(p.Stats())
	case r.URL.Path == "/_pca/reseal" && r.Method == http.MethodPost:
		p.Reseal(q["name"]...)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_pca/unseal" && r.Method == http.MethodPost:
		p.Unseal(q["name"]...)
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_pca/delay" && r.Method == http.MethodPost:
		for param, set := range map[string]func(time.Duration){"seconds": p.SetDelay, "reseal_after": p.SetResealAfter} {
			if v := q.Get(param); v != "" {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f < 0 {
					http.Error(w, param+": want seconds", http.StatusBadRequest)
					return
				}
				set(time.Duration(f * float64(time.Second)))
			}
		}
		w.WriteHeader(http.StatusNoContent)
	case r.URL.Path == "/_pca/fault" && r.Method == http.MethodPost:
		f := Fault{Method: q.Get("method"), PathPrefix: q.Get("prefix"), Reset: q.Get("reset") == "1"}
		f.Count, _ = strconv.Atoi(q.Get("count"))
		f.Status, _ = strconv.Atoi(q.Get("status"))
		if !f.Reset && (f.Status < 400 || f.Status > 599) {
			http.Error(w, "want status=4xx/5xx or reset=1", http.StatusBadRequest)
			return
		}
		p.InjectFault(f)
		w.WriteHeader(http.StatusNoContent)
	default:
		http.Error(w, "seal proxy hooks: GET /_pca/stats, POST /_pca/{reseal,unseal,delay,fault}", http.StatusNotFound)
	}
}
