package multi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/file"
)

// Names as duplicity writes them with OVH's --file-prefix-manifest hot_
// --file-prefix-signature hot_ --file-prefix-archive cold_.
const (
	hotManifest = "hot_duplicity-full.20261122T100000Z.manifest.gpg"
	hotSig      = "hot_duplicity-full-signatures.20261122T100000Z.sigtar.gpg"
	coldVol1    = "cold_duplicity-full.20261122T100000Z.vol1.difftar.gpg"
	coldVol2    = "cold_duplicity-full.20261122T100000Z.vol2.difftar.gpg"
	plainName   = "duplicity-full.20261122T100000Z.manifest.gpg"
)

// opener opens file:// stores and records the env each store was given.
// fail://DIR is a store whose Save and List fail; cold://DIR is a store
// with a fake cold tier.
type opener struct {
	mu    sync.Mutex
	envs  map[string]backends.Env // by URL
	colds map[string]*coldStore   // by directory
}

func newOpener() *opener {
	return &opener{envs: map[string]backends.Env{}, colds: map[string]*coldStore{}}
}

func (o *opener) open(_ context.Context, raw string, env backends.Env) (backends.Backend, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.envs[raw] = env
	fb := file.New(u.Path)
	switch u.Scheme {
	case "file":
		return fb, nil
	case "fail":
		return failStore{fb}, nil
	case "cold":
		c := &coldStore{Backend: fb, state: map[string]backends.SealState{}}
		o.colds[u.Path] = c
		return c, nil
	}
	return nil, fmt.Errorf("unsupported scheme %q", u.Scheme)
}

type failStore struct{ *file.Backend }

func (failStore) Save(context.Context, string, io.ReadSeeker, int64) error {
	return errors.New("store is down")
}

func (failStore) List(context.Context) ([]backends.FileInfo, error) {
	return nil, errors.New("store is down")
}

// coldStore seals every file until Unseal is asked for it; then it is
// unsealing until finish.
type coldStore struct {
	*file.Backend
	mu     sync.Mutex
	state  map[string]backends.SealState // missing: sealed
	asked  []string
	states [][]string
}

func (c *coldStore) held(ctx context.Context, names []string) map[string]bool {
	l, _ := c.Backend.List(ctx)
	have := map[string]bool{}
	for _, f := range l {
		have[f.Name] = true
	}
	out := map[string]bool{}
	for _, n := range names {
		if have[n] {
			out[n] = true
		}
	}
	return out
}

func (c *coldStore) States(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.states = append(c.states, append([]string(nil), names...))
	out := map[string]backends.ColdState{}
	for n := range c.held(ctx, names) {
		out[n] = backends.ColdState{State: c.state[n]}
	}
	return out, nil
}

func (c *coldStore) Unseal(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]backends.ColdState{}
	for n := range c.held(ctx, names) {
		if c.state[n] == backends.Sealed {
			c.asked = append(c.asked, n)
			c.state[n] = backends.Unsealing
		}
		out[n] = backends.ColdState{State: c.state[n]}
	}
	return out, nil
}

func (c *coldStore) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n, s := range c.state {
		if s == backends.Unsealing {
			c.state[n] = backends.Unsealed
		}
	}
}

func (c *coldStore) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	c.mu.Lock()
	s := c.state[name]
	c.mu.Unlock()
	rc, err := c.Backend.Open(ctx, name)
	if err != nil || s == backends.Unsealed {
		return rc, err
	}
	rc.Close()
	return nil, &backends.SealedError{Name: name, State: s}
}

type jsonEntry struct {
	Description string   `json:"description,omitempty"`
	URL         string   `json:"url"`
	Env         []EnvVar `json:"env,omitempty"`
	Prefixes    []string `json:"prefixes,omitempty"`
}

func (e EnvVar) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]string{"name": e.Name, "value": e.Value})
}

// setup writes a config of the entries (DIR in a URL is a fresh temp
// directory per entry) and opens query over it.
type fixture struct {
	t      *testing.T
	b      backends.Backend
	dirs   []string
	op     *opener
	warns  []error
	config string
}

func setup(t *testing.T, query string, entries ...jsonEntry) *fixture {
	t.Helper()
	f := &fixture{t: t, op: newOpener()}
	root := t.TempDir()
	for i := range entries {
		d := filepath.Join(root, fmt.Sprintf("store%d", i+1))
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		f.dirs = append(f.dirs, d)
		entries[i].URL = strings.ReplaceAll(entries[i].URL, "DIR", d)
	}
	data, err := json.MarshalIndent(entries, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	f.config = filepath.Join(root, "config.json")
	if err := os.WriteFile(f.config, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := f.open(query, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.b = b
	t.Cleanup(func() { b.Close() })
	return f
}

func (f *fixture) open(query string, env backends.Env) (backends.Backend, error) {
	raw := "multi://" + f.config
	if query != "" {
		raw += "?" + query
	}
	u, err := url.Parse(raw)
	if err != nil {
		f.t.Fatal(err)
	}
	return Open(context.Background(), u, env, f.op.open, func(err error) { f.warns = append(f.warns, err) })
}

func (f *fixture) save(name string) error {
	data := []byte("content of " + name)
	return f.b.Save(context.Background(), name, bytes.NewReader(data), int64(len(data)))
}

func (f *fixture) mustSave(names ...string) {
	f.t.Helper()
	for _, n := range names {
		if err := f.save(n); err != nil {
			f.t.Fatalf("save %s: %v", n, err)
		}
	}
}

// files lists what store i (from 0) holds on disk.
func (f *fixture) files(i int) []string {
	f.t.Helper()
	ents, err := os.ReadDir(f.dirs[i])
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func (f *fixture) put(i int, name string) {
	f.t.Helper()
	if err := os.WriteFile(filepath.Join(f.dirs[i], name), []byte("content of "+name), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) read(name string) (string, error) {
	rc, err := f.b.Open(context.Background(), name)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	return string(data), err
}

func (f *fixture) list() []string {
	f.t.Helper()
	l, err := f.b.List(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, fi := range l {
		out = append(out, fi.Name)
	}
	sort.Strings(out)
	return out
}

func sorted(s ...string) []string {
	s = append([]string(nil), s...)
	sort.Strings(s)
	return s
}

func eq(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestWriteRouting(t *testing.T) {
	tests := []struct {
		name    string
		query   string
		entries []jsonEntry
		saves   []string
		want    [][]string // per store, sorted
	}{
		{
			name:  "OVH layout",
			query: "mode=mirror&onfail=abort",
			entries: []jsonEntry{
				{Description: "Cold storage", URL: "file://DIR", Env: []EnvVar{{"PCA_USERNAME", "u"}}, Prefixes: []string{"cold_"}},
				{Description: "Hot storage", URL: "file://DIR", Env: []EnvVar{{"SWIFT_USERNAME", "u"}}, Prefixes: []string{"hot_"}},
			},
			saves: []string{coldVol1, coldVol2, hotSig, hotManifest, plainName},
			want: [][]string{
				sorted(coldVol1, coldVol2, plainName),
				sorted(hotManifest, hotSig, plainName),
			},
		},
		{
			name:  "a store without prefixes gets only what matches no prefix, which every store gets",
			query: "mode=mirror",
			entries: []jsonEntry{
				{URL: "file://DIR", Prefixes: []string{"hot_"}},
				{URL: "file://DIR"},
			},
			saves: []string{hotManifest, coldVol1},
			want:  [][]string{sorted(coldVol1, hotManifest), {coldVol1}},
		},
		{
			name:  "two stores share a prefix",
			query: "mode=mirror",
			entries: []jsonEntry{
				{URL: "file://DIR", Prefixes: []string{"hot_", "cold_"}},
				{URL: "file://DIR", Prefixes: []string{"hot_"}},
			},
			saves: []string{hotManifest, coldVol1},
			want:  [][]string{sorted(coldVol1, hotManifest), {hotManifest}},
		},
		{
			name:    "mirror without prefixes",
			query:   "mode=mirror",
			entries: []jsonEntry{{URL: "file://DIR"}, {URL: "file://DIR"}},
			saves:   []string{"a", "b", "c"},
			want:    [][]string{{"a", "b", "c"}, {"a", "b", "c"}},
		},
		{
			name:    "stripe round robin",
			query:   "mode=stripe",
			entries: []jsonEntry{{URL: "file://DIR"}, {URL: "file://DIR"}, {URL: "file://DIR"}},
			saves:   []string{"a", "b", "c", "d", "e"},
			want:    [][]string{{"a", "d"}, {"b", "e"}, {"c"}},
		},
		{
			name:    "stripe is duplicity's default",
			entries: []jsonEntry{{URL: "file://DIR"}, {URL: "file://DIR"}},
			saves:   []string{"a", "b", "c"},
			want:    [][]string{{"a", "c"}, {"b"}},
		},
		{
			name:    "subpath is appended to each URL",
			query:   "mode=mirror&subpath=/sub",
			entries: []jsonEntry{{URL: "file://DIR"}, {URL: "file://DIR"}},
			saves:   []string{"a"},
			want:    [][]string{{"sub"}, {"sub"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.query, tc.entries...)
			f.mustSave(tc.saves...)
			for i, want := range tc.want {
				if got := f.files(i); !eq(got, want) {
					t.Errorf("store %d holds %q, want %q", i+1, got, want)
				}
			}
			if tc.query == "mode=mirror&subpath=/sub" {
				return
			}
			if got := f.list(); !eq(got, sorted(tc.saves...)) {
				t.Errorf("List = %q, want %q", got, sorted(tc.saves...))
			}
			for _, n := range tc.saves {
				if got, err := f.read(n); err != nil || got != "content of "+n {
					t.Errorf("Open %s = %q, %v", n, got, err)
				}
			}
			if len(f.warns) > 0 {
				t.Errorf("warnings: %v", f.warns)
			}
		})
	}
}

func TestOnFail(t *testing.T) {
	good, bad := jsonEntry{URL: "file://DIR"}, jsonEntry{URL: "fail://DIR"}
	tests := []struct {
		name      string
		query     string
		entries   []jsonEntry
		wantErr   bool
		wantWarns int
		want      [][]string
	}{
		{"mirror abort, first store fails", "mode=mirror&onfail=abort", []jsonEntry{bad, good}, true, 0, [][]string{nil, nil}},
		{"mirror abort, last store fails", "mode=mirror&onfail=abort", []jsonEntry{good, bad}, true, 0, [][]string{{"a"}, nil}},
		{"mirror continue", "mode=mirror&onfail=continue", []jsonEntry{bad, good}, false, 1, [][]string{nil, {"a"}}},
		{"mirror continue, every store fails", "mode=mirror&onfail=continue", []jsonEntry{bad, bad}, true, 2, [][]string{nil, nil}},
		{"stripe abort", "mode=stripe&onfail=abort", []jsonEntry{bad, good}, true, 0, [][]string{nil, nil}},
		{"stripe continue goes to the next store", "mode=stripe&onfail=continue", []jsonEntry{bad, good}, false, 1, [][]string{nil, {"a"}}},
		{"continue is duplicity's default", "mode=mirror", []jsonEntry{good, bad}, false, 1, [][]string{{"a"}, nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, tc.query, tc.entries...)
			err := f.save("a")
			if (err != nil) != tc.wantErr {
				t.Fatalf("Save: %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "store is down") {
				t.Errorf("error %q does not say why", err)
			}
			if len(f.warns) != tc.wantWarns {
				t.Errorf("warnings %v, want %d", f.warns, tc.wantWarns)
			}
			for i, want := range tc.want {
				if got := f.files(i); !eq(got, want) {
					t.Errorf("store %d holds %q, want %q", i+1, got, want)
				}
			}
		})
	}
}

func TestStripeSkipsFailedStoreAndKeepsTurn(t *testing.T) {
	f := setup(t, "mode=stripe&onfail=continue",
		jsonEntry{URL: "file://DIR"}, jsonEntry{URL: "fail://DIR"}, jsonEntry{URL: "file://DIR"})
	f.mustSave("a", "b", "c", "d")
	// a -> 1; b -> 2 fails, goes to 3; c -> 1; d -> 2 fails, 3.
	if got := f.files(0); !eq(got, []string{"a", "c"}) {
		t.Errorf("store 1 holds %q", got)
	}
	if got := f.files(2); !eq(got, []string{"b", "d"}) {
		t.Errorf("store 3 holds %q", got)
	}
	if len(f.warns) != 2 {
		t.Errorf("warnings: %v", f.warns)
	}
}

func TestListFailure(t *testing.T) {
	for _, tc := range []struct {
		query   string
		wantErr bool
	}{{"mode=mirror&onfail=abort", true}, {"mode=mirror&onfail=continue", false}} {
		t.Run(tc.query, func(t *testing.T) {
			f := setup(t, tc.query, jsonEntry{URL: "file://DIR"}, jsonEntry{URL: "fail://DIR"})
			f.put(0, "a")
			l, err := f.b.List(context.Background())
			if (err != nil) != tc.wantErr {
				t.Fatalf("List = %v, %v", l, err)
			}
			if err == nil && (len(l) != 1 || len(f.warns) != 1) {
				t.Errorf("List = %v, warnings %v", l, f.warns)
			}
		})
	}
}

func TestEnvIsolation(t *testing.T) {
	f := setup(t, "mode=mirror",
		jsonEntry{URL: "file://DIR", Env: []EnvVar{{"SWIFT_USERNAME", "alice"}, {"ONLY_A", "1"}, {"ONLY_A", "2"}}},
		jsonEntry{URL: "file://DIR", Env: []EnvVar{{"SWIFT_USERNAME", "bob"}}},
		jsonEntry{URL: "file://DIR"})
	caller := map[string]string{"SWIFT_USERNAME": "caller", "CALLER": "yes"}
	orig := f.op
	f.op = newOpener()
	b, err := f.open("mode=mirror", func(k string) (string, bool) { v, ok := caller[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	type look struct {
		key, val string
		ok       bool
	}
	tests := []struct {
		store int
		looks []look
	}{
		{0, []look{{"SWIFT_USERNAME", "alice", true}, {"ONLY_A", "2", true}, {"CALLER", "yes", true}}},
		{1, []look{{"SWIFT_USERNAME", "bob", true}, {"ONLY_A", "", false}, {"CALLER", "yes", true}}},
		{2, []look{{"SWIFT_USERNAME", "caller", true}, {"ONLY_A", "", false}, {"CALLER", "yes", true}}},
	}
	for _, tc := range tests {
		env := f.op.envs["file://"+f.dirs[tc.store]]
		if env == nil {
			t.Fatalf("store %d was not opened", tc.store+1)
		}
		for _, l := range tc.looks {
			if v, ok := env(l.key); v != l.val || ok != l.ok {
				t.Errorf("store %d: %s = %q, %v; want %q, %v", tc.store+1, l.key, v, ok, l.val, l.ok)
			}
		}
	}
	if _, ok := os.LookupEnv("ONLY_A"); ok {
		t.Error("the process environment was changed")
	}
	// Without a caller env, a store sees only its own variables.
	if v, ok := orig.envs["file://"+f.dirs[0]]("HOME"); ok {
		t.Errorf("store 1 sees HOME=%q", v)
	}
}

func TestReadsFromHolder(t *testing.T) {
	f := setup(t, "mode=mirror", jsonEntry{URL: "file://DIR"}, jsonEntry{URL: "file://DIR"})
	f.put(1, "only-in-2")
	f.put(0, "both")
	f.put(1, "both")
	if got := f.list(); !eq(got, []string{"both", "only-in-2"}) {
		t.Fatalf("List = %q", got)
	}
	if got, err := f.read("only-in-2"); err != nil || got != "content of only-in-2" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	// Added behind the list's back: found by listing again.
	f.put(0, "late")
	if got, err := f.read("late"); err != nil || got != "content of late" {
		t.Fatalf("Open late = %q, %v", got, err)
	}
	// Removed from the first holder: read from the other.
	os.Remove(filepath.Join(f.dirs[0], "both"))
	if got, err := f.read("both"); err != nil || got != "content of both" {
		t.Fatalf("Open both = %q, %v", got, err)
	}
	// Moved: the remembered holder misses it, a new list finds it.
	os.Rename(filepath.Join(f.dirs[1], "only-in-2"), filepath.Join(f.dirs[0], "only-in-2"))
	if got, err := f.read("only-in-2"); err != nil || got != "content of only-in-2" {
		t.Fatalf("Open moved = %q, %v", got, err)
	}
	if _, err := f.read("nowhere"); !errors.Is(err, backends.ErrNotExist) {
		t.Fatalf("Open nowhere: %v", err)
	}
	if p, ok := f.b.(backends.LocalFiler).LocalPath("late"); !ok || p != filepath.Join(f.dirs[0], "late") {
		t.Errorf("LocalPath = %q, %v", p, ok)
	}
}

func TestDelete(t *testing.T) {
	f := setup(t, "mode=mirror", jsonEntry{URL: "file://DIR"}, jsonEntry{URL: "file://DIR"}, jsonEntry{URL: "file://DIR"})
	f.mustSave("a", "b")
	f.put(2, "c")
	ctx := context.Background()
	for _, n := range []string{"a", "c"} {
		if err := f.b.Delete(ctx, n); err != nil {
			t.Fatalf("Delete %s: %v", n, err)
		}
	}
	for i := range f.dirs {
		if got := f.files(i); !eq(got, []string{"b"}) {
			t.Errorf("store %d holds %q", i+1, got)
		}
	}
	if err := f.b.Delete(ctx, "a"); !errors.Is(err, backends.ErrNotExist) {
		t.Errorf("Delete again: %v", err)
	}
	if got := f.list(); !eq(got, []string{"b"}) {
		t.Errorf("List = %q", got)
	}
}

func TestCold(t *testing.T) {
	f := setup(t, "mode=mirror&onfail=abort",
		jsonEntry{Description: "Cold storage", URL: "cold://DIR", Prefixes: []string{"cold_"}},
		jsonEntry{Description: "Hot storage", URL: "file://DIR", Prefixes: []string{"hot_"}})
	f.mustSave(hotManifest, hotSig, coldVol1, coldVol2, plainName)
	cold := f.op.colds[f.dirs[0]]
	c, ok := backends.AsCold(f.b)
	if !ok {
		t.Fatal("AsCold: false with a cold store")
	}
	ctx := context.Background()
	names := []string{hotManifest, coldVol1, coldVol2, plainName, "nowhere"}

	states, err := c.States(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]backends.SealState{hotManifest: backends.Unsealed, coldVol1: backends.Sealed, coldVol2: backends.Sealed, plainName: backends.Unsealed}
	check := func(states map[string]backends.ColdState) {
		t.Helper()
		if len(states) != len(want) {
			t.Errorf("states %v, want %v", states, want)
		}
		for n, s := range want {
			if states[n].State != s {
				t.Errorf("%s: %v, want %v", n, states[n].State, s)
			}
		}
	}
	check(states)
	if len(cold.states) != 1 || !eq(sorted(cold.states[0]...), sorted(coldVol1, coldVol2)) {
		t.Errorf("cold store asked States for %q", cold.states)
	}
	// Metadata is read from the hot store while volumes are sealed.
	if got, err := f.read(plainName); err != nil || got != "content of "+plainName {
		t.Errorf("Open %s = %q, %v", plainName, got, err)
	}
	var se *backends.SealedError
	if _, err := f.read(coldVol1); !errors.As(err, &se) {
		t.Fatalf("Open sealed: %v", err)
	}

	states, err = c.Unseal(ctx, names)
	if err != nil {
		t.Fatal(err)
	}
	want[coldVol1], want[coldVol2] = backends.Unsealing, backends.Unsealing
	check(states)
	if !eq(sorted(cold.asked...), sorted(coldVol1, coldVol2)) {
		t.Errorf("unseal asked for %q", cold.asked)
	}
	cold.finish()
	states, _ = c.States(ctx, names)
	want[coldVol1], want[coldVol2] = backends.Unsealed, backends.Unsealed
	check(states)
	if got, err := f.read(coldVol1); err != nil || got != "content of "+coldVol1 {
		t.Errorf("Open unsealed = %q, %v", got, err)
	}
}

func TestNoColdStoreNoCold(t *testing.T) {
	f := setup(t, "mode=mirror", jsonEntry{URL: "file://DIR"}, jsonEntry{URL: "file://DIR"})
	if _, ok := backends.AsCold(f.b); ok {
		t.Error("AsCold: true without a cold store")
	}
}

func TestBetter(t *testing.T) {
	now := time.Now()
	sealed := backends.ColdState{State: backends.Sealed}
	soon := backends.ColdState{State: backends.Unsealing, ReadyAt: now}
	later := backends.ColdState{State: backends.Unsealing, ReadyAt: now.Add(time.Hour)}
	unknown := backends.ColdState{State: backends.Unsealing}
	done := backends.ColdState{State: backends.Unsealed}
	for _, tc := range []struct {
		a, b backends.ColdState
		want bool
	}{
		{done, soon, true}, {soon, done, false}, {soon, sealed, true}, {sealed, soon, false},
		{soon, later, true}, {later, soon, false}, {soon, unknown, true}, {unknown, soon, false},
		{sealed, sealed, false},
	} {
		if got := better(tc.a, tc.b); got != tc.want {
			t.Errorf("better(%v, %v) = %v", tc.a, tc.b, got)
		}
	}
}

func TestString(t *testing.T) {
	f := setup(t, "mode=mirror&onfail=abort",
		jsonEntry{URL: "file://DIR", Env: []EnvVar{{"SWIFT_PASSWORD", "s3cret"}}},
		jsonEntry{URL: "file://DIR"})
	s := f.b.String()
	for _, want := range []string{"multi://" + f.config + "?mode=mirror&onfail=abort", "file://" + f.dirs[0], "file://" + f.dirs[1]} {
		if !strings.Contains(s, want) {
			t.Errorf("String %q lacks %q", s, want)
		}
	}
	if strings.Contains(s, "s3cret") {
		t.Errorf("String %q shows a secret", s)
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name   string
		config string // "" means no file
		query  string
		want   []string
	}{
		{"unreadable", "", "", []string{"config.json", "no such file"}},
		{"bad JSON", `[{"url": "file:///x"`, "", []string{"config.json", "bad JSON"}},
		{"dict form", `{"backends": [{"url": "file:///x"}], "prefixes": {}}`, "", []string{"config.json", "JSON list"}},
		{"empty list", `[]`, "", []string{"config.json", "no stores"}},
		{"entry not an object", `[{"url": "file:///x"}, "file:///y"]`, "", []string{"config.json", "entry 2", "object"}},
		{"missing url", `[{"url": "file:///x"}, {"description": "hot"}]`, "", []string{"config.json", "entry 2", `missing "url"`}},
		{"url not a string", `[{"url": 3}]`, "", []string{"entry 1", `"url" must be a string`}},
		{"env not a list", `[{"url": "file:///x", "env": {"A": "1"}}]`, "", []string{"entry 1", `"env" must be a list`}},
		{"env without value", `[{"url": "file:///x", "env": [{"name": "A"}]}]`, "", []string{"entry 1", "env 1 (A)", `"value"`}},
		{"env without name", `[{"url": "file:///x", "env": [{"value": "s3cret"}]}]`, "", []string{"entry 1", "env 1", `"name"`}},
		{"prefixes a string", `[{"url": "file:///x", "prefixes": "hot_"}]`, "mode=mirror", []string{"entry 1", `"prefixes" must be a list`}},
		{"stripe with prefixes", `[{"url": "file:///x"}, {"url": "file:///y", "prefixes": ["hot_"]}]`, "mode=stripe", []string{"config.json", "entry 2", "stripe mode not supported with prefix affinity"}},
		{"default stripe with empty prefixes", `[{"url": "file:///x", "prefixes": []}]`, "", []string{"entry 1", "stripe mode not supported"}},
		{"unknown mode", `[{"url": "file:///x"}]`, "mode=raid", []string{"config.json", `unknown mode "raid"`}},
		{"unknown onfail", `[{"url": "file:///x"}]`, "onfail=retry", []string{"config.json", `unknown onfail "retry"`}},
		{"unknown parameter", `[{"url": "file:///x"}]`, "mode=mirror&foo=1", []string{"config.json", `unknown query parameter "foo"`}},
		{"repeated parameter", `[{"url": "file:///x"}]`, "mode=mirror&mode=stripe", []string{"more than one value for mode"}},
		{"field without =", `[{"url": "file:///x"}]`, "mirror", []string{"bad query field"}},
		{"store fails to open", `[{"url": "file:///x"}, {"description": "Hot", "url": "nope://y"}]`, "", []string{"config.json", "entry 2 (Hot)", "unsupported scheme"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_"), "config.json")
			os.MkdirAll(filepath.Dir(p), 0o755)
			if tc.config != "" {
				if err := os.WriteFile(p, []byte(tc.config), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			raw := "multi://" + p
			if tc.query != "" {
				raw += "?" + tc.query
			}
			u, _ := url.Parse(raw)
			b, err := Open(context.Background(), u, nil, newOpener().open, nil)
			if err == nil {
				b.Close()
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
	for _, raw := range []string{"multi://config.json", "multi:config.json", "multi://"} {
		u, _ := url.Parse(raw)
		if _, err := Open(context.Background(), u, nil, newOpener().open, nil); err == nil || !strings.Contains(err.Error(), "multi:///absolute/path") {
			t.Errorf("%s: %v", raw, err)
		}
	}
}

func TestParseQuery(t *testing.T) {
	// Expectations from Python's parse_qs(q, strict_parsing=True), as
	// duplicity 0.8.22 calls it.
	tests := []struct {
		q       string
		want    map[string]string
		wantErr bool
	}{
		{"", map[string]string{}, false},
		{"mode=mirror&onfail=abort", map[string]string{"mode": "mirror", "onfail": "abort"}, false},
		{"mode=", map[string]string{}, false},
		{"foo=", map[string]string{}, false},
		{"subpath=a%20b+c", map[string]string{"subpath": "a b c"}, false},
		{"mode", nil, true},
		{"mode=mirror&", nil, true},
		{"mode=mirror;onfail=abort", map[string]string{"mode": "mirror;onfail=abort"}, false},
		{"=x", nil, true},
		{"mode=a&mode=b", nil, true},
	}
	for _, tc := range tests {
		got, err := parseQuery(tc.q)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: %v", tc.q, err)
			continue
		}
		if err == nil && fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q = %v, want %v", tc.q, got, tc.want)
		}
	}
}
