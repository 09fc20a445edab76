// Package multi is the multi:// backend: several stores behind one target,
// as duplicity's multi backend (0.8.22) configures them.
//
// The URL names a local JSON file and two optional query parameters:
//
//	multi:///path/to/config.json?mode=mirror&onfail=abort
//
// mode is mirror (every file to every eligible store) or stripe (each file
// to one store, round robin); onfail is abort (a failed write to a store
// fails the Save) or continue (it is reported and the next store is
// tried). As in duplicity, the defaults are mode=stripe and
// onfail=continue; subpath=S, duplicity's third parameter, is appended to
// every store's URL.
//
// The file is a JSON list with one object per store:
//
//	[
//	  {
//	    "description": "Cold storage",
//	    "url": "pca://duplicity_cold",
//	    "env": [{"name": "PCA_USERNAME", "value": "..."}],
//	    "prefixes": ["cold_"]
//	  },
//	  {"url": "swift://duplicity_hot", "prefixes": ["hot_"]}
//	]
//
// "url" is required; "description", "env" and "prefixes" are optional and
// other keys are ignored, as duplicity ignores them. Each store reads the
// settings of its own "env" list first, then the caller's environment; one
// store's variables are never seen by another (duplicity sets them in its
// process environment, where they pile up), and the process environment
// is never changed.
//
// "prefixes" gives a store affinity: a file whose name starts with one of
// them goes to the stores that list it, and a file matching no prefix goes
// to every store (duplicity's _eligible_stores). Stripe mode refuses a
// config where any store has "prefixes", as duplicity does.
//
// Reads do not depend on the mode: List is the union of every store's
// files, Open reads from a store that holds the file (stores without a
// cold tier first), and Delete removes the file from every store holding
// it. Which stores hold which file is remembered from the last List and
// listed again when a file is not found where it was expected.
//
// When a store has a cold tier (backends.AsCold), the multi backend has one
// too: States and Unseal go to the cold stores holding each file (as
// duplicity's pre_process_download_batch does), and a file that a store
// without a cold tier holds is reported unsealed. When no store is cold,
// the backend returned by Open does not implement backends.Cold, so
// backends.AsCold reports false and callers plan no unseals.
package multi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"sync"

	"dupfs/backends"
)

// Opener opens one store from its URL with its settings read from env.
// The registry passes its own opener, so this package does not import it.
type Opener func(ctx context.Context, rawURL string, env backends.Env) (backends.Backend, error)

// Modes and failure policies, under their duplicity names.
const (
	Mirror   = "mirror"
	Stripe   = "stripe"
	Abort    = "abort"
	Continue = "continue"
)

// Entry is one store of the JSON config.
type Entry struct {
	Description string
	URL         string
	Env         []EnvVar
	// Prefixes is nil when the entry has no "prefixes" key; an empty
	// list is a key that routes nothing (yet still refused by stripe).
	Prefixes []string
}

// EnvVar is one {"name","value"} of an entry's "env" list.
type EnvVar struct {
	Name  string
	Value string
}

// Backend is a multi:// target. Open returns it, or a wrapper that also
// implements backends.Cold when a store has a cold tier.
type Backend struct {
	config string // the config file's path
	query  string // the URL's raw query, for String
	mode   string
	onfail string
	stores []*store
	warn   func(error)

	mu      sync.Mutex
	cursor  int              // next store to write in stripe mode
	listed  bool             // holders is from a List
	holders map[string][]int // file name -> stores holding it, in config order
}

type store struct {
	n        int // entry number in the config, from 1
	desc     string
	prefixes []string
	b        backends.Backend
	cold     backends.Cold // nil when the store has no cold tier
}

type coldBackend struct{ *Backend }

var (
	_ backends.Backend    = (*Backend)(nil)
	_ backends.LocalFiler = (*Backend)(nil)
	_ backends.Cold       = coldBackend{}
)

// Open reads the config file of a multi:// URL and opens each store with
// open, giving it env with the entry's own variables layered over it.
// warn receives the store failures that onfail=continue lets pass; nil
// prints them on stderr.
func Open(ctx context.Context, u *url.URL, env backends.Env, open Opener, warn func(error)) (backends.Backend, error) {
	b, err := openBackend(ctx, u, env, open, warn)
	if err != nil {
		return nil, err
	}
	for _, s := range b.stores {
		if s.cold != nil {
			return coldBackend{b}, nil
		}
	}
	return b, nil
}

func openBackend(ctx context.Context, u *url.URL, env backends.Env, open Opener, warn func(error)) (*Backend, error) {
	if u.Opaque != "" || u.Host != "" || u.Path == "" {
		return nil, fmt.Errorf("multi URL %q: want multi:///absolute/path/config.json", u.Redacted())
	}
	b := &Backend{config: u.Path, query: u.RawQuery, mode: Stripe, onfail: Continue, warn: warn}
	if b.warn == nil {
		b.warn = func(err error) { fmt.Fprintf(os.Stderr, "dupfs: warning: %v\n", err) }
	}
	q, err := parseQuery(u.RawQuery)
	if err != nil {
		return nil, fmt.Errorf("multi URL %s: %w", b.url(), err)
	}
	if v, ok := q["mode"]; ok {
		if v != Mirror && v != Stripe {
			return nil, fmt.Errorf("multi URL %s: unknown mode %q (want mirror or stripe)", b.url(), v)
		}
		b.mode = v
	}
	if v, ok := q["onfail"]; ok {
		if v != Abort && v != Continue {
			return nil, fmt.Errorf("multi URL %s: unknown onfail %q (want abort or continue)", b.url(), v)
		}
		b.onfail = v
	}
	data, err := os.ReadFile(b.config)
	if err != nil {
		return nil, fmt.Errorf("multi config: %w", err)
	}
	entries, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("multi config %s: %w", b.config, err)
	}
	if b.mode == Stripe {
		for i, e := range entries {
			if e.Prefixes != nil {
				return nil, fmt.Errorf("multi config %s: entry %d: stripe mode not supported with prefix affinity (\"prefixes\"); use mode=mirror", b.config, i+1)
			}
		}
	}
	for i, e := range entries {
		own := make(map[string]string, len(e.Env))
		for _, v := range e.Env {
			own[v.Name] = v.Value // a repeated name: the last wins, as in duplicity
		}
		c, err := open(ctx, e.URL+q["subpath"], layer(own, env))
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("multi config %s: entry %d%s: %w", b.config, i+1, describe(e.Description), err)
		}
		s := &store{n: i + 1, desc: e.Description, prefixes: e.Prefixes, b: c}
		if cold, ok := backends.AsCold(c); ok {
			s.cold = cold
		}
		b.stores = append(b.stores, s)
	}
	return b, nil
}

func describe(d string) string {
	if d == "" {
		return ""
	}
	return fmt.Sprintf(" (%s)", d)
}

// layer returns env with own's variables in front of it.
func layer(own map[string]string, env backends.Env) backends.Env {
	return func(key string) (string, bool) {
		if v, ok := own[key]; ok {
			return v, true
		}
		if env == nil {
			return "", false
		}
		return env(key)
	}
}

// parseQuery parses the query as duplicity does (parse_qs with strict
// parsing): fields are name=value joined by '&', a field without '=' is an
// error, an empty value is as if the field were absent, and a name that is
// not mode, onfail or subpath, or is given twice, is an error.
func parseQuery(raw string) (map[string]string, error) {
	q := map[string]string{}
	if raw == "" {
		return q, nil
	}
	seen := map[string]bool{}
	for _, field := range strings.Split(raw, "&") {
		k, v, ok := strings.Cut(field, "=")
		if !ok {
			return nil, fmt.Errorf("bad query field %q (want name=value)", field)
		}
		k, v = unescape(k), unescape(v)
		if v == "" {
			continue
		}
		switch k {
		case "mode", "onfail", "subpath":
		default:
			return nil, fmt.Errorf("unknown query parameter %q (known: mode, onfail, subpath)", k)
		}
		if seen[k] {
			return nil, fmt.Errorf("more than one value for %s", k)
		}
		seen[k] = true
		q[k] = v
	}
	return q, nil
}

// unescape decodes %XX and '+' as Python's unquote_plus does, leaving a
// malformed escape as it is.
func unescape(s string) string {
	if v, err := url.QueryUnescape(s); err == nil {
		return v
	}
	return strings.ReplaceAll(s, "+", " ")
}

// ParseConfig parses a multi config: a JSON list of entries. Errors name
// the entry, counting from 1.
func ParseConfig(data []byte) ([]Entry, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fmt.Errorf("not a JSON list of stores ([{\"url\": ...}, ...])")
		}
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("no stores: the list is empty")
	}
	entries := make([]Entry, 0, len(raw))
	for i, r := range raw {
		e, err := parseEntry(r)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		entries = append(entries, e)
	}
	return entries, nil
}

func parseEntry(r json.RawMessage) (Entry, error) {
	var e Entry
	var m map[string]json.RawMessage
	if err := json.Unmarshal(r, &m); err != nil || m == nil {
		return e, fmt.Errorf("not a JSON object ({\"url\": ...})")
	}
	field := func(key string, v any, want string) error {
		if err := json.Unmarshal(m[key], v); err != nil {
			return fmt.Errorf("%q must be %s", key, want)
		}
		return nil
	}
	if _, ok := m["url"]; !ok {
		return e, fmt.Errorf("missing \"url\"")
	}
	if err := field("url", &e.URL, "a string"); err != nil {
		return e, err
	}
	if e.URL == "" {
		return e, fmt.Errorf("empty \"url\"")
	}
	if _, ok := m["description"]; ok {
		// duplicity never reads it; anything that is not a string is
		// shown as JSON.
		if json.Unmarshal(m["description"], &e.Description) != nil {
			e.Description = string(m["description"])
		}
	}
	if _, ok := m["env"]; ok {
		var vars []map[string]json.RawMessage
		if err := json.Unmarshal(m["env"], &vars); err != nil || vars == nil {
			return e, fmt.Errorf("\"env\" must be a list of {\"name\": ..., \"value\": ...}")
		}
		for j, v := range vars {
			var ev EnvVar
			errName := json.Unmarshal(v["name"], &ev.Name)
			errValue := json.Unmarshal(v["value"], &ev.Value)
			switch {
			case v == nil:
				return e, fmt.Errorf("env %d: not a JSON object", j+1)
			case v["name"] == nil || errName != nil:
				return e, fmt.Errorf("env %d: \"name\" must be a string", j+1)
			case ev.Name == "" || strings.ContainsAny(ev.Name, "=\x00"):
				return e, fmt.Errorf("env %d: bad variable name %q", j+1, ev.Name)
			case v["value"] == nil || errValue != nil || string(v["value"]) == "null":
				return e, fmt.Errorf("env %d (%s): \"value\" must be a string", j+1, ev.Name)
			}
			e.Env = append(e.Env, ev)
		}
	}
	if _, ok := m["prefixes"]; ok {
		// duplicity iterates what it finds: a string would be taken
		// letter by letter, so only a list of strings is accepted.
		if err := field("prefixes", &e.Prefixes, "a list of strings"); err != nil || e.Prefixes == nil {
			return e, fmt.Errorf("\"prefixes\" must be a list of strings")
		}
	}
	return e, nil
}

func (b *Backend) url() string {
	s := "multi://" + b.config
	if b.query != "" {
		s += "?" + b.query
	}
	return s
}

// String names the config file and the stores, each as it names itself
// (without secrets).
func (b *Backend) String() string {
	names := make([]string, len(b.stores))
	for i, s := range b.stores {
		names[i] = s.b.String()
	}
	return fmt.Sprintf("%s [%s]", b.url(), strings.Join(names, ", "))
}

// Close closes every store.
func (b *Backend) Close() error {
	var errs []error
	for _, s := range b.stores {
		errs = append(errs, s.b.Close())
	}
	return errors.Join(errs...)
}

// eligible returns the stores a new file goes to: those with a prefix the
// name starts with, or every store when it matches none.
func (b *Backend) eligible(name string) []int {
	var out, all []int
	for i, s := range b.stores {
		all = append(all, i)
		for _, p := range s.prefixes {
			if strings.HasPrefix(name, p) {
				out = append(out, i)
				break
			}
		}
	}
	if len(out) == 0 {
		return all
	}
	return out
}

// Save writes name to every eligible store (mirror) or to the next store
// in turn (stripe). With onfail=abort the first failure fails the Save
// (stores already written keep the file); with onfail=continue a failure
// is passed to warn and the Save fails only if no store took the file —
// in stripe mode the file then goes to the next store instead.
func (b *Backend) Save(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	stores := b.eligible(name)
	first := 0
	if b.mode == Stripe {
		b.mu.Lock()
		first = b.cursor % len(stores)
		b.cursor = (first + 1) % len(stores)
		b.mu.Unlock()
	}
	var errs []error
	passed := false
	for k := range stores {
		i := stores[(first+k)%len(stores)]
		err := b.saveTo(ctx, i, name, r, size)
		if err == nil {
			passed = true
			if b.mode == Stripe {
				b.mu.Lock()
				b.cursor = (first + k + 1) % len(stores)
				b.mu.Unlock()
				return nil
			}
			continue
		}
		if ctx.Err() != nil {
			return err
		}
		if b.onfail == Abort {
			return fmt.Errorf("%s: save %s to store %d (onfail=abort): %w", b.url(), name, b.stores[i].n, err)
		}
		err = fmt.Errorf("%s: save %s to store %d failed, going on (onfail=continue): %w", b.url(), name, b.stores[i].n, err)
		b.warn(err)
		errs = append(errs, err)
	}
	if !passed {
		return fmt.Errorf("%s: no store took %s: %w", b.url(), name, errors.Join(errs...))
	}
	return nil
}

func (b *Backend) saveTo(ctx context.Context, i int, name string, r io.ReadSeeker, size int64) error {
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("save %s: rewind: %w", name, err)
	}
	if err := b.stores[i].b.Save(ctx, name, r, size); err != nil {
		return err
	}
	b.mu.Lock()
	if b.listed {
		b.holders[name] = addIndex(b.holders[name], i)
	}
	b.mu.Unlock()
	return nil
}

func addIndex(s []int, i int) []int {
	for k, v := range s {
		if v == i {
			return s
		}
		if v > i {
			return append(s[:k:k], append([]int{i}, s[k:]...)...)
		}
	}
	return append(s, i)
}

func removeIndex(s []int, i int) []int {
	out := s[:0:0]
	for _, v := range s {
		if v != i {
			out = append(out, v)
		}
	}
	return out
}

// List returns the union of the stores' files, each name once (with the
// size the first store holding it gives), and remembers which stores hold
// each. A store that cannot be listed fails the List with onfail=abort;
// with onfail=continue it is passed to warn and left out, and the List
// fails only if no store could be listed (duplicity always leaves it out,
// with a warning).
func (b *Backend) List(ctx context.Context) ([]backends.FileInfo, error) {
	lists := make([][]backends.FileInfo, len(b.stores))
	errs := make([]error, len(b.stores))
	var wg sync.WaitGroup
	for i, s := range b.stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lists[i], errs[i] = s.b.List(ctx)
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	failed := 0
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed++
		if b.onfail == Abort {
			return nil, fmt.Errorf("%s: list store %d: %w", b.url(), b.stores[i].n, err)
		}
	}
	if failed == len(b.stores) {
		return nil, fmt.Errorf("%s: no store could be listed: %w", b.url(), errors.Join(errs...))
	}
	holders := map[string][]int{}
	var out []backends.FileInfo
	for i, l := range lists {
		if errs[i] != nil {
			b.warn(fmt.Errorf("%s: list store %d failed, its files are left out (onfail=continue): %w", b.url(), b.stores[i].n, errs[i]))
			continue
		}
		for _, f := range l {
			h, seen := holders[f.Name]
			if !seen {
				out = append(out, f)
			}
			holders[f.Name] = addIndex(h, i)
		}
	}
	b.mu.Lock()
	b.holders, b.listed = holders, true
	b.mu.Unlock()
	return out, nil
}

// lookup returns the stores holding each name, listing the stores again
// when the remembered list lacks a name or force is set. fresh reports
// that the answer comes from a List made now.
func (b *Backend) lookup(ctx context.Context, names []string, force bool) (holders map[string][]int, fresh bool, err error) {
	b.mu.Lock()
	if b.listed && !force {
		holders = make(map[string][]int, len(names))
		complete := true
		for _, n := range names {
			h, ok := b.holders[n]
			if !ok || len(h) == 0 {
				complete = false
				break
			}
			holders[n] = h
		}
		if complete {
			b.mu.Unlock()
			return holders, false, nil
		}
	}
	b.mu.Unlock()
	if _, err := b.List(ctx); err != nil {
		return nil, false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	holders = make(map[string][]int, len(names))
	for _, n := range names {
		if h := b.holders[n]; len(h) > 0 {
			holders[n] = h
		}
	}
	return holders, true, nil
}

// readOrder puts the stores without a cold tier first.
func (b *Backend) readOrder(h []int) []int {
	out := make([]int, 0, len(h))
	for _, i := range h {
		if b.stores[i].cold == nil {
			out = append(out, i)
		}
	}
	for _, i := range h {
		if b.stores[i].cold != nil {
			out = append(out, i)
		}
	}
	return out
}

func (b *Backend) notExist(name string) error {
	return fmt.Errorf("%s: %s: %w", b.url(), name, backends.ErrNotExist)
}

// Open streams name from a store holding it. When every store that was
// thought to hold it says it is missing, the stores are listed again and
// the new holders tried. A *SealedError is returned when the only
// holders that could answer are sealed.
func (b *Backend) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	force := false
	for {
		hm, fresh, err := b.lookup(ctx, []string{name}, force)
		if err != nil {
			return nil, err
		}
		var sealed, other error
		for _, i := range b.readOrder(hm[name]) {
			rc, err := b.stores[i].b.Open(ctx, name)
			if err == nil {
				return rc, nil
			}
			if ctx.Err() != nil {
				return nil, err
			}
			var se *backends.SealedError
			switch {
			case errors.As(err, &se):
				if sealed == nil {
					sealed = err
				}
			case errors.Is(err, backends.ErrNotExist):
			default:
				if other == nil {
					other = err
				}
			}
		}
		switch {
		case sealed != nil:
			return nil, sealed
		case other != nil:
			return nil, other
		case fresh:
			return nil, b.notExist(name)
		}
		force = true
	}
}

// Delete removes name from every store holding it.
func (b *Backend) Delete(ctx context.Context, name string) error {
	force := false
	for {
		hm, fresh, err := b.lookup(ctx, []string{name}, force)
		if err != nil {
			return err
		}
		deleted := false
		var errs []error
		for _, i := range hm[name] {
			err := b.stores[i].b.Delete(ctx, name)
			if err == nil || errors.Is(err, backends.ErrNotExist) {
				deleted = deleted || err == nil
				b.mu.Lock()
				if b.listed {
					if h := removeIndex(b.holders[name], i); len(h) > 0 {
						b.holders[name] = h
					} else {
						delete(b.holders, name)
					}
				}
				b.mu.Unlock()
				continue
			}
			if ctx.Err() != nil {
				return err
			}
			errs = append(errs, fmt.Errorf("store %d: %w", b.stores[i].n, err))
		}
		switch {
		case len(errs) > 0:
			return fmt.Errorf("%s: delete %s: %w", b.url(), name, errors.Join(errs...))
		case deleted:
			return nil
		case fresh:
			return b.notExist(name)
		}
		force = true
	}
}

// LocalPath returns where name lives on disk when the first store to read
// it from (as remembered from the last List) keeps it in a local file.
func (b *Backend) LocalPath(name string) (string, bool) {
	b.mu.Lock()
	h := b.holders[name]
	b.mu.Unlock()
	order := b.readOrder(h)
	if len(order) == 0 {
		return "", false
	}
	lf, ok := b.stores[order[0]].b.(backends.LocalFiler)
	if !ok {
		return "", false
	}
	p, ok := lf.LocalPath(name)
	if !ok {
		return "", false
	}
	if fi, err := os.Stat(p); err != nil || !fi.Mode().IsRegular() {
		return "", false
	}
	return p, true
}

// States reports where each name stands: unsealed when a store without a
// cold tier holds it, else the best state its cold stores report. Names
// no store holds are left out.
func (c coldBackend) States(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	return c.forward(ctx, names, backends.Cold.States)
}

// Unseal asks each cold store for the names it holds that no store
// without a cold tier holds, and returns the states as States does.
func (c coldBackend) Unseal(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	return c.forward(ctx, names, backends.Cold.Unseal)
}

func (c coldBackend) forward(ctx context.Context, names []string, call func(backends.Cold, context.Context, []string) (map[string]backends.ColdState, error)) (map[string]backends.ColdState, error) {
	hm, _, err := c.lookup(ctx, names, false)
	if err != nil {
		return nil, err
	}
	out := make(map[string]backends.ColdState, len(names))
	batches := make([][]string, len(c.stores))
	for _, n := range names {
		h := hm[n]
		hot := false
		for _, i := range h {
			if c.stores[i].cold == nil {
				hot = true
			}
		}
		if hot {
			out[n] = backends.ColdState{State: backends.Unsealed}
			continue
		}
		for _, i := range h {
			batches[i] = append(batches[i], n)
		}
	}
	for i, batch := range batches {
		if len(batch) == 0 {
			continue
		}
		states, err := call(c.stores[i].cold, ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("%s: store %d: %w", c.url(), c.stores[i].n, err)
		}
		for n, st := range states {
			if prev, ok := out[n]; !ok || better(st, prev) {
				out[n] = st
			}
		}
	}
	return out, nil
}

// better reports whether a is nearer to readable than b.
func better(a, b backends.ColdState) bool {
	rank := func(s backends.SealState) int {
		switch s {
		case backends.Unsealed:
			return 2
		case backends.Unsealing:
			return 1
		}
		return 0
	}
	if rank(a.State) != rank(b.State) {
		return rank(a.State) > rank(b.State)
	}
	return a.State == backends.Unsealing && !a.ReadyAt.IsZero() && (b.ReadyAt.IsZero() || a.ReadyAt.Before(b.ReadyAt))
}
