package integration

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ncw/swift/v2"

	"dupfs/integration/saio"
)

// The Swift suites: swift://, pca:// and OVH's multi:// layout on a real
// OpenStack Swift on loopback (integration/saio), with the sealing proxy
// in front of the PCA containers. Every server has a listing limit of 2,
// so every listing of these targets pages.

// listingLimit is the page size of the test servers: far fewer than the
// objects of any target below.
const listingLimit = 2

// startSwift starts (or reuses) this binary's Swift server.
func startSwift(t *testing.T) *saio.Server {
	t.Helper()
	NeedDupfs(t)
	return saio.Start(t, saio.Options{ListingLimit: listingLimit})
}

// remote is one backup target on Swift, written by dupfs or by duplicity
// or both, with a separate archive dir per tool.
type remote struct {
	srv        *saio.Server
	env        Env
	url        string
	opts       []string // options both tools take (--no-encryption, prefixes)
	metaCont   string   // container holding the manifests
	metaPrefix string   // and the object name prefix there
	dupfsCache string   // dupfs's --archive-dir
	dupCache   string   // duplicity's --archive-dir
	src        string
	snaps      []Tree   // the source as each set saw it
	times      []string // each set's end time, YYYYMMDDTHHMMSSZ
}

func newRemote(t *testing.T, srv *saio.Server, url, metaCont, metaPrefix string, vars []string, opts ...string) *remote {
	t.Helper()
	dir := t.TempDir()
	r := &remote{
		srv: srv, url: url, opts: opts, metaCont: metaCont, metaPrefix: metaPrefix,
		env:        NewEnv(t).With(vars...),
		dupfsCache: filepath.Join(dir, "dupfs-cache"),
		dupCache:   filepath.Join(dir, "duplicity-cache"),
		src:        filepath.Join(dir, "src"),
	}
	if err := os.Mkdir(r.src, 0o755); err != nil {
		t.Fatal(err)
	}
	return r
}

// step applies scenario step k to the source and records its snapshot.
func (r *remote) step(t *testing.T, k int) {
	t.Helper()
	if err := ApplyStep(r.src, k); err != nil {
		t.Fatal(err)
	}
	r.snapshot(t)
}

func (r *remote) snapshot(t *testing.T) {
	t.Helper()
	snap, err := Snapshot(r.src)
	if err != nil {
		t.Fatal(err)
	}
	r.snaps = append(r.snaps, snap)
}

// dupfs runs `dupfs command <opts> --archive-dir dir args...`.
func (r *remote) dupfs(t *testing.T, command, archiveDir string, args ...string) Result {
	t.Helper()
	argv := append([]string{command}, r.opts...)
	argv = append(argv, "--archive-dir", archiveDir)
	return Dupfs(t, r.env, append(argv, args...)...)
}

func (r *remote) mustDupfs(t *testing.T, command, archiveDir string, args ...string) Result {
	t.Helper()
	res := r.dupfs(t, command, archiveDir, args...)
	if res.Code != 0 {
		t.Fatalf("dupfs failed: %v", res)
	}
	return res
}

// duplicity runs `duplicity command <opts> --archive-dir dir args...`.
func (r *remote) duplicity(t *testing.T, command, archiveDir string, args ...string) Result {
	t.Helper()
	argv := append([]string{command}, r.opts...)
	argv = append(argv, "--archive-dir", archiveDir)
	return Run(t.Context(), r.env.List(), "duplicity", append(argv, args...)...)
}

// dupfsBackup backs the source up with dupfs in 1 MiB volumes and records
// the new set.
func (r *remote) dupfsBackup(t *testing.T, extra ...string) Result {
	t.Helper()
	start := time.Now()
	res := r.mustDupfs(t, "backup", r.dupfsCache, append(append([]string{"--volsize", "1"}, extra...), r.src, r.url)...)
	t.Logf("dupfs backup: %v", time.Since(start).Round(10*time.Millisecond))
	r.recordSet(t, "dupfs backup")
	return res
}

// duplicityBackup makes a duplicity full or incremental in 1 MiB volumes.
func (r *remote) duplicityBackup(t *testing.T, full bool) {
	t.Helper()
	command := "incremental"
	if full {
		command = "full"
	}
	start := time.Now()
	if res := r.duplicity(t, command, r.dupCache, "--volsize", "1", r.src, r.url); res.Code != 0 {
		t.Fatalf("duplicity failed: %v", res)
	}
	t.Logf("duplicity %s: %v", command, time.Since(start).Round(10*time.Millisecond))
	r.recordSet(t, "duplicity "+command)
}

func (r *remote) recordSet(t *testing.T, what string) {
	t.Helper()
	var times []string
	for _, n := range objects(t, r.srv, r.metaCont, r.metaPrefix) {
		if m := manifestTime.FindStringSubmatch(n); m != nil {
			times = append(times, m[1])
		}
	}
	sort.Strings(times)
	if len(times) == 0 || (len(r.times) > 0 && times[len(times)-1] <= r.times[len(r.times)-1]) {
		t.Fatalf("%s made no new set after %q; %s holds %q", what, r.times, r.metaCont, objects(t, r.srv, r.metaCont, ""))
	}
	r.times = append(r.times, times[len(times)-1])
}

// dupfsRestore restores point k with dupfs into a new directory, with the
// given archive dir ("" for an empty one), checks it against the source
// as that set saw it, and returns how long the restore took.
func (r *remote) dupfsRestore(t *testing.T, k int, archiveDir string, extra ...string) time.Duration {
	t.Helper()
	if archiveDir == "" {
		archiveDir = filepath.Join(t.TempDir(), "empty-cache")
	}
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	r.mustDupfs(t, "restore", archiveDir, append(extra, "--time", r.times[k], r.url, out)...)
	took := time.Since(start)
	t.Logf("dupfs restore of point %d: %v", k, took.Round(10*time.Millisecond))
	checkTree(t, r.snaps[k], out)
	return took
}

// duplicityRestore restores point k with duplicity and an empty archive
// dir, and checks it.
func (r *remote) duplicityRestore(t *testing.T, k int) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	start := time.Now()
	res := r.duplicity(t, "restore", filepath.Join(t.TempDir(), "dup-cache"), "--time", r.times[k], r.url, out)
	if res.Code != 0 {
		t.Fatalf("duplicity restore failed: %v", res)
	}
	t.Logf("duplicity restore of point %d: %v", k, time.Since(start).Round(10*time.Millisecond))
	checkTree(t, r.snaps[k], out)
}

// objects lists the object names of a container under prefix, straight
// from Swift (no proxy), sorted.
func objects(t *testing.T, srv *saio.Server, container, prefix string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	names, err := srv.Conn(t).ObjectNamesAll(ctx, container, &swift.ObjectsOpts{Prefix: prefix, Limit: srv.ListingLimit})
	if err != nil {
		t.Fatalf("listing %s: %v", container, err)
	}
	sort.Strings(names)
	return names
}

// volumeCount counts the difftar volumes among names.
func volumeCount(names []string) int {
	n := 0
	for _, s := range names {
		if strings.Contains(s, ".difftar") {
			n++
		}
	}
	return n
}

// TestSwiftDupfsWrites: dupfs backs up to swift:// (a full and an
// incremental of several volumes each), then dupfs and the real duplicity
// restore every point with empty archive dirs, so both find the sets by
// listings that page 2 objects at a time.
func TestSwiftDupfsWrites(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	srv := startSwift(t)
	c := saio.ContainerName(t)
	r := newRemote(t, srv, "swift://"+c, c, "", srv.Env(), "--no-encryption")
	r.step(t, 0)
	r.dupfsBackup(t)
	r.step(t, 1)
	r.dupfsBackup(t)

	names := objects(t, srv, c, "")
	if len(names) < 4*listingLimit || volumeCount(names) < 4 {
		t.Fatalf("fixture: want several volumes and more objects than 2 pages, container holds %q", names)
	}
	for k := range r.times {
		t.Run(fmt.Sprintf("point-%d", k), func(t *testing.T) {
			t.Run("dupfs", func(t *testing.T) { r.dupfsRestore(t, k, "") })
			t.Run("duplicity", func(t *testing.T) { r.duplicityRestore(t, k) })
		})
	}
	t.Run("dupfs-own-cache", func(t *testing.T) { r.dupfsRestore(t, 1, r.dupfsCache) })
}

// TestSwiftDuplicityWrites: the real duplicity backs up to
// swift://container/prefix (full, incremental), encrypted; dupfs restores
// both points from an empty archive dir. Objects outside the prefix must
// be ignored.
func TestSwiftDuplicityWrites(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	srv := startSwift(t)
	c := saio.ContainerName(t)
	const prefix = "some/dir/"
	r := newRemote(t, srv, "swift://"+c+"/"+strings.TrimSuffix(prefix, "/"), c, prefix,
		append(srv.Env(), "PASSPHRASE="+keyPassphrase))
	r.step(t, 0)
	r.duplicityBackup(t, true)
	r.step(t, 1)
	r.duplicityBackup(t, false)

	names := objects(t, srv, c, "")
	if volumeCount(names) < 4 || !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, prefix+"duplicity-full.") }) {
		t.Fatalf("fixture: want several volumes under %s, container holds %q", prefix, names)
	}
	// Decoys: another backup's files beside and below the prefix.
	ctx := t.Context()
	conn := srv.Conn(t)
	for _, n := range []string{"duplicity-full.20200101T000000Z.manifest.gpg", prefix + "deeper/duplicity-full.20200101T000000Z.manifest.gpg"} {
		if err := conn.ObjectPutString(ctx, c, n, "not a manifest", ""); err != nil {
			t.Fatal(err)
		}
	}
	for k := range r.times {
		t.Run(fmt.Sprintf("point-%d", k), func(t *testing.T) { r.dupfsRestore(t, k, "") })
	}
	t.Run("collection-status", func(t *testing.T) {
		res := r.mustDupfs(t, "collection-status", filepath.Join(t.TempDir(), "cache"), r.url)
		sum := StatusSummary(res.Stdout)
		if !contains(sum, "Number of contained backup sets: 2") {
			t.Errorf("dupfs collection-status:\n%s", res.Stdout)
		}
	})
}

// TestSwiftFaults: through the proxy (no PCA container, so a plain Swift
// with fault injection), 503s and connection resets on uploads, listings
// and downloads are retried and the results are exact; with
// --num-retries 1 and a persistent fault, restore fails at once naming the
// file.
func TestSwiftFaults(t *testing.T) {
	t.Parallel()
	srv := startSwift(t)
	p := srv.SealProxy(t, 0)
	var logMu syncBuffer
	p.Logf = func(format string, args ...any) { fmt.Fprintf(&logMu, format+"\n", args...) }
	c := saio.ContainerName(t)
	base := "/v1/" + saio.Account + "/" + c + "/"
	r := newRemote(t, srv, "swift://"+c, c, "", p.Env(), "--no-encryption")
	fast := []string{"--backend-retry-delay", "50ms", "-v", "info"}

	r.step(t, 0)
	p.InjectFault(saio.Fault{Method: "PUT", PathPrefix: base + "duplicity-full.", Count: 2, Status: 503})
	p.InjectFault(saio.Fault{Method: "PUT", PathPrefix: base, Count: 1, Reset: true})
	p.InjectFault(saio.Fault{Method: "PUT", PathPrefix: base, Count: 1, Status: 500})
	res := r.dupfsBackup(t, fast...)
	if st := p.Stats(); st.Faults != 4 {
		t.Errorf("backup took %d faults, want 4 (proxy log:\n%s)", st.Faults, logMu.String())
	}
	t.Logf("backup retries:\n%s", grepLines(res.Stderr, "retrying"))
	r.step(t, 1)
	p.InjectFault(saio.Fault{Method: "GET", PathPrefix: base[:len(base)-1], Count: 1, Status: 503}) // listing
	p.InjectFault(saio.Fault{Method: "PUT", PathPrefix: base, Count: 1, Reset: true})
	r.dupfsBackup(t, fast...)
	if st := p.Stats(); st.Faults != 6 {
		t.Errorf("after the incremental: %d faults, want 6", st.Faults)
	}

	t.Run("restore", func(t *testing.T) {
		before := p.Stats().Faults
		// A listing, a manifest, volumes: each fails once or twice.
		p.InjectFault(saio.Fault{Method: "GET", PathPrefix: base[:len(base)-1], Count: 1, Reset: true})
		p.InjectFault(saio.Fault{Method: "GET", PathPrefix: base + "duplicity-full." + r.times[0] + ".manifest", Count: 1, Status: 503})
		p.InjectFault(saio.Fault{Method: "GET", PathPrefix: base + "duplicity-full." + r.times[0] + ".vol1.", Count: 2, Status: 502})
		p.InjectFault(saio.Fault{Method: "GET", PathPrefix: base + "duplicity-full." + r.times[0] + ".vol2.", Count: 1, Reset: true})
		r.dupfsRestore(t, 1, "", fast...)
		if got := p.Stats().Faults - before; got != 5 {
			t.Errorf("restore took %d faults, want 5 (proxy log:\n%s)", got, logMu.String())
		}
	})

	t.Run("persistent", func(t *testing.T) {
		p.ClearFaults()
		vol := "duplicity-full." + r.times[0] + ".vol1.difftar.gz"
		p.InjectFault(saio.Fault{Method: "GET", PathPrefix: base + vol, Count: 1000, Status: 503})
		defer p.ClearFaults()
		before := p.Stats().Faults
		start := time.Now()
		res := r.dupfs(t, "restore", r.dupfsCache, "--num-retries", "1", "--time", r.times[0], r.url, filepath.Join(t.TempDir(), "out"))
		took := time.Since(start)
		if res.Code != 1 {
			t.Fatalf("restore with a persistent fault: want exit 1, got %v", res)
		}
		if !strings.Contains(string(res.Stderr), vol) || !strings.Contains(string(res.Stderr), "503") {
			t.Errorf("the error does not name %s and the 503:\n%s", vol, res.Stderr)
		}
		if n := p.Stats().Faults - before; n != 1 {
			t.Errorf("--num-retries 1: %d attempts of the volume, want 1", n)
		}
		if took > 20*time.Second {
			t.Errorf("failing took %v", took)
		}
	})
}

// grepLines returns the lines of b that contain s.
func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
