package integration

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ncw/swift/v2"

	"dupfs/integration/saio"
)

// The cold-storage suites: pca:// through the sealing proxy (OVH Public
// Cloud Archive on the wire), and OVH's multi:// layout, hot swift:// for
// manifests and signatures plus cold pca:// for the volumes.

// unsealDelay is the proxy's unseal delay: long enough that ten unseals
// one after the other (30 s) cannot pass for one batch.
const unsealDelay = 3 * time.Second

// unsealLog records when the proxy started each unseal.
type unsealLog struct {
	mu    sync.Mutex
	times []time.Time
	names []string
}

var unsealStarted = regexp.MustCompile(`^sealproxy: GET (.*): unseal started`)

// watchUnseals starts a proxy with the test delay that records its unseals.
func watchUnseals(t *testing.T, srv *saio.Server) (*saio.SealProxy, *unsealLog) {
	t.Helper()
	p := srv.SealProxy(t, unsealDelay)
	l := &unsealLog{}
	p.Logf = func(format string, args ...any) {
		if m := unsealStarted.FindStringSubmatch(fmt.Sprintf(format, args...)); m != nil {
			l.mu.Lock()
			l.times = append(l.times, time.Now())
			l.names = append(l.names, m[1])
			l.mu.Unlock()
		}
	}
	return p, l
}

// since returns the unseals started from index i on.
func (l *unsealLog) since(i int) ([]time.Time, []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.times[i:]), slices.Clone(l.names[i:])
}

func (l *unsealLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.times)
}

// batches groups unseal times into bursts: a gap of half the delay or
// more starts a new one.
func batches(times []time.Time) int {
	n := 0
	for i, tm := range times {
		if i == 0 || tm.Sub(times[i-1]) >= unsealDelay/2 {
			n++
		}
	}
	return n
}

// writeColdSource makes a source of a 10.5 MB random file (11 volumes of
// --volsize 1) and a few small files.
func writeColdSource(t *testing.T, dir string) {
	t.Helper()
	writeRandom(t, filepath.Join(dir, "big.bin"), rand.NewChaCha8(chachaSeed(51)), 10_500_000)
	for i, rel := range []string{"docs/a.txt", "docs/b.txt", "c.txt"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, rel), []byte(strings.Repeat(rel+"\n", i+1)), 0o640); err != nil {
			t.Fatal(err)
		}
	}
}

// objectSizes maps the objects of a container to their sizes (no proxy).
func objectSizes(t *testing.T, srv *saio.Server, container string) map[string]int64 {
	t.Helper()
	objs, err := srv.Conn(t).ObjectsAll(t.Context(), container, &swift.ObjectsOpts{Limit: srv.ListingLimit})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, o := range objs {
		out[o.Name] = o.Bytes
	}
	return out
}

func containerPolicy(t *testing.T, srv *saio.Server, container string) string {
	t.Helper()
	_, h, err := srv.Conn(t).Container(t.Context(), container)
	if err != nil {
		t.Fatalf("HEAD %s: %v", container, err)
	}
	return h["X-Storage-Policy"]
}

// TestPCARestoreBatch: dupfs backs up to pca:// (a new container, made in
// the PCA policy); `dupfs unseal --dry-run` lists the volumes and bytes and
// asks for nothing; a restore needing 11 sealed volumes asks for all of
// them in one burst and takes about one unseal delay, not eleven; `dupfs
// unseal --no-wait` asks and exits; a restore from an empty archive dir
// unseals the manifest, then the volumes.
func TestPCARestoreBatch(t *testing.T) {
	t.Parallel()
	srv := startSwift(t)
	p, log := watchUnseals(t, srv)
	c := saio.ContainerName(t)
	r := newRemote(t, srv, "pca://"+c, c, "", p.PCAEnv(), "--no-encryption")
	writeColdSource(t, r.src)
	r.snapshot(t)
	r.dupfsBackup(t)

	if pol := containerPolicy(t, srv, c); pol != saio.PCAPolicy {
		t.Errorf("container made by dupfs has policy %q, want %s", pol, saio.PCAPolicy)
	}
	sizes := objectSizes(t, srv, c)
	var vols []string
	for n := range sizes {
		if strings.Contains(n, ".difftar") {
			vols = append(vols, n)
		}
	}
	slices.Sort(vols)
	if len(vols) < 10 {
		t.Fatalf("fixture: want 10+ volumes, container holds %q", slices.Sorted(maps.Keys(sizes)))
	}
	if st := p.Stats(); st.Sealed != len(sizes) || st.Unseals != 0 {
		t.Fatalf("after the backup: %d sealed, %d unseals; want %d, 0", st.Sealed, st.Unseals, len(sizes))
	}

	t.Run("dry-run", func(t *testing.T) {
		res := r.mustDupfs(t, "unseal", r.dupfsCache, "--dry-run", r.url)
		out := string(res.Stdout)
		var total int64
		for _, v := range vols {
			line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(v) + `\t(\d+)\tsealed$`).FindStringSubmatch(out)
			if line == nil {
				t.Errorf("dry run does not list %s as sealed with its size", v)
				continue
			}
			if n, _ := strconv.ParseInt(line[1], 10, 64); n != sizes[v] {
				t.Errorf("dry run: %s has %s bytes, Swift says %d", v, line[1], sizes[v])
			}
			total += sizes[v]
		}
		if want := fmt.Sprintf("%d files, ", len(vols)); !strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("%d sealed", len(vols))) {
			t.Errorf("dry run summary lacks %q and %d sealed:\n%s", want, len(vols), out)
		}
		t.Logf("dry run (%d bytes of volumes):\n%s", total, out)
		if st := p.Stats(); st.Unseals != 0 || st.Throttled != 0 {
			t.Errorf("dry run asked for unseals: %+v", st)
		}
	})

	t.Run("restore-one-batch", func(t *testing.T) {
		i := log.len()
		took := r.dupfsRestore(t, 0, r.dupfsCache, "--unseal-poll", "250ms")
		times, names := log.since(i)
		for j := range names {
			names[j] = strings.TrimPrefix(names[j], c+"/")
		}
		slices.Sort(names)
		if !slices.Equal(names, vols) {
			t.Errorf("restore unsealed %q, want each volume once: %q", names, vols)
		}
		if n := batches(times); n != 1 || times[len(times)-1].Sub(times[0]) >= unsealDelay/2 {
			t.Errorf("unseals came in %d bursts over %v, want one", n, times[len(times)-1].Sub(times[0]))
		}
		// Eleven unseals one after the other would take 33 s.
		if took < unsealDelay || took > 4*unsealDelay {
			t.Errorf("restore took %v; want about one unseal delay (%v), far from %d of them", took, unsealDelay, len(vols))
		}
		if st := p.Stats(); st.Throttled != st.Unseals {
			t.Errorf("%d GETs answered 429 for %d unseals: the restore read before the volumes were ready", st.Throttled, st.Unseals)
		}
	})

	t.Run("no-wait", func(t *testing.T) {
		p.Reseal()
		i := log.len()
		start := time.Now()
		res := r.mustDupfs(t, "unseal", r.dupfsCache, "--no-wait", r.url)
		if took := time.Since(start); took > unsealDelay {
			t.Errorf("unseal --no-wait took %v, longer than the delay %v: it waited", took, unsealDelay)
		}
		_, names := log.since(i)
		if len(names) != len(vols) {
			t.Errorf("unseal --no-wait asked for %d files, want %d", len(names), len(vols))
		}
		if !strings.Contains(string(res.Stdout), fmt.Sprintf("asked to unseal %d files", len(vols))) {
			t.Errorf("unseal --no-wait says:\n%s", res.Stdout)
		}
		for _, v := range vols {
			if st := p.State(c + "/" + v); st != saio.Unsealing {
				t.Errorf("%s is %s after unseal --no-wait", v, st)
			}
		}
		// Then the plain command waits for them, asking nothing more.
		start = time.Now()
		res = r.mustDupfs(t, "unseal", r.dupfsCache, "--unseal-poll", "250ms", r.url)
		if _, again := log.since(i + len(names)); len(again) != 0 {
			t.Errorf("unseal asked again for %q", again)
		}
		if !strings.Contains(string(res.Stdout), "readable") {
			t.Errorf("unseal says:\n%s", res.Stdout)
		}
		t.Logf("unseal waited %v", time.Since(start).Round(10*time.Millisecond))
	})

	t.Run("restore-empty-cache", func(t *testing.T) {
		p.Reseal()
		i := log.len()
		start := time.Now()
		took := r.dupfsRestore(t, 0, "", "--unseal-poll", "250ms")
		times, names := log.since(i)
		for j := range times {
			t.Logf("unseal of %s at +%v", names[j], times[j].Sub(start).Round(10*time.Millisecond))
		}
		if n := batches(times); n != 2 || !strings.HasSuffix(names[0], ".manifest") || volumeCount(names) != len(vols) {
			t.Errorf("unseals %q came in %d bursts, want 2: the manifest, then the %d volumes", names, n, len(vols))
		}
		if took > 5*unsealDelay {
			t.Errorf("restore took %v, want about two delays", took)
		}
	})
}

// TestPCAPolicyAndPrefix: pca:// refuses an existing container of another
// storage policy, with a clear error, and writes nothing there; it works
// under a path prefix (duplicity's own pca backend does not).
func TestPCAPolicyAndPrefix(t *testing.T) {
	t.Parallel()
	srv := startSwift(t)
	p := srv.SealProxy(t, time.Second)
	conn := srv.Conn(t)

	t.Run("other-policy", func(t *testing.T) {
		c := saio.ContainerName(t)
		if err := conn.ContainerCreate(t.Context(), c, nil); err != nil {
			t.Fatal(err)
		}
		r := newRemote(t, srv, "pca://"+c, c, "", p.PCAEnv(), "--no-encryption")
		writeColdSource(t, r.src)
		res := r.dupfs(t, "backup", r.dupfsCache, "--volsize", "1", r.src, r.url)
		if res.Code != 1 || !strings.Contains(string(res.Stderr), "storage policy") || !strings.Contains(string(res.Stderr), c) {
			t.Errorf("backup to pca:// of a Policy-0 container: want exit 1 naming the container and its policy, got %v", res)
		}
		if names := objects(t, srv, c, ""); len(names) != 0 {
			t.Errorf("the refused container got %q", names)
		}
	})

	t.Run("prefix", func(t *testing.T) {
		c := saio.ContainerName(t)
		r := newRemote(t, srv, "pca://"+c+"/nightly/home", c, "nightly/home/", p.PCAEnv(), "--no-encryption")
		if err := os.WriteFile(filepath.Join(r.src, "f.txt"), []byte("under a prefix\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r.snapshot(t)
		r.dupfsBackup(t)
		names := objects(t, srv, c, "")
		if len(names) == 0 || slices.ContainsFunc(names, func(n string) bool { return !strings.HasPrefix(n, "nightly/home/") }) {
			t.Errorf("objects outside the prefix: %q", names)
		}
		r.dupfsRestore(t, 0, "", "--unseal-poll", "200ms")

		// An incremental from a machine without the archive dir: the
		// sealed signatures and manifest are unsealed first.
		p.Reseal()
		if err := os.WriteFile(filepath.Join(r.src, "g.txt"), []byte("added later\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		r.snapshot(t)
		r.dupfsCache = filepath.Join(t.TempDir(), "new-machine")
		r.dupfsBackup(t, "--unseal-poll", "200ms")
		if names := objects(t, srv, c, "nightly/home/duplicity-inc."); len(names) == 0 {
			t.Error("the second backup was not an incremental")
		}
		r.dupfsRestore(t, 1, "", "--unseal-poll", "200ms")
	})
}

// ovh is OVH's multi:// layout on the test server: hot swift:// for
// manifests and signatures (prefix hot_), cold pca:// through the proxy
// for the volumes (prefix cold_), each store with its own env list in
// config.json, and nothing of either in the process environment.
type ovh struct {
	*remote
	proxy     *saio.SealProxy
	log       *unsealLog
	hot, cold string
}

func newOVH(t *testing.T, vars ...string) *ovh {
	t.Helper()
	srv := startSwift(t)
	p, log := watchUnseals(t, srv)
	o := &ovh{proxy: p, log: log, hot: saio.ContainerName(t) + "-hot", cold: saio.ContainerName(t) + "-cold"}
	envList := func(vars []string) []map[string]string {
		var out []map[string]string
		for _, v := range vars {
			name, value, _ := strings.Cut(v, "=")
			out = append(out, map[string]string{"name": name, "value": value})
		}
		return out
	}
	config := []map[string]any{
		{"description": "Cold storage", "url": "pca://" + o.cold, "env": envList(p.PCAEnv()), "prefixes": []string{"cold_"}},
		{"description": "Hot storage", "url": "swift://" + o.hot, "env": envList(srv.Env()), "prefixes": []string{"hot_"}},
	}
	data, err := json.MarshalIndent(config, "", "    ")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(cfg, data, 0o600); err != nil {
		t.Fatal(err)
	}
	vars = append(vars, saio.ScaledSleepEnv(t, 0)...)
	o.remote = newRemote(t, srv, "multi://"+cfg+"?mode=mirror&onfail=abort", o.hot, "", vars, prefixOptions...)
	return o
}

// checkSplit checks that the hot store holds only hot_ manifests and
// signatures, and the cold one only cold_ volumes.
func (o *ovh) checkSplit(t *testing.T) (hot, cold []string) {
	t.Helper()
	hot, cold = objects(t, o.srv, o.hot, ""), objects(t, o.srv, o.cold, "")
	for _, n := range hot {
		if !strings.HasPrefix(n, "hot_duplicity-") || strings.Contains(n, ".difftar") {
			t.Errorf("hot store holds %s", n)
		}
	}
	for _, n := range cold {
		if !strings.HasPrefix(n, "cold_duplicity-") || !strings.Contains(n, ".difftar") {
			t.Errorf("cold store holds %s", n)
		}
	}
	if len(hot) < 4 || len(cold) < 4 {
		t.Errorf("fixture: want 2 sets of several volumes; hot %q, cold %q", hot, cold)
	}
	if pol := containerPolicy(t, o.srv, o.cold); pol != saio.PCAPolicy {
		t.Errorf("cold container policy %q", pol)
	}
	return hot, cold
}

// TestMultiDupfsWrites: dupfs backs up to OVH's multi:// layout with the
// guide's command line (full, incremental, encrypted); the split is by
// prefix; the real duplicity (its pca backend unsealing through the proxy,
// sleeps scaled) and dupfs both restore every point from empty archive
// dirs, unsealing only cold volumes.
func TestMultiDupfsWrites(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	o := newOVH(t, "PASSPHRASE="+keyPassphrase)
	o.step(t, 0)
	o.dupfsBackup(t)
	o.step(t, 1)
	o.dupfsBackup(t)
	o.checkSplit(t)

	for k := range o.times {
		t.Run(fmt.Sprintf("point-%d", k), func(t *testing.T) {
			t.Run("duplicity", func(t *testing.T) {
				if k != len(o.times)-1 {
					t.Skip("duplicity restores the latest point only (it reads both sets); keeps the suite short")
				}
				o.proxy.Reseal()
				i := o.log.len()
				o.duplicityRestore(t, k)
				if _, names := o.log.since(i); len(names) == 0 {
					t.Error("duplicity unsealed nothing")
				}
			})
			t.Run("dupfs", func(t *testing.T) {
				o.proxy.Reseal()
				i := o.log.len()
				o.dupfsRestore(t, k, "", "--unseal-poll", "250ms")
				times, names := o.log.since(i)
				for _, n := range names {
					if !strings.HasPrefix(n, o.cold+"/cold_") {
						t.Errorf("dupfs unsealed %s", n)
					}
				}
				if len(names) == 0 || batches(times) != 1 {
					t.Errorf("dupfs unsealed %q in %d bursts, want the volumes in one", names, batches(times))
				}
			})
		})
	}
}

// TestMultiDuplicityWrites: the real duplicity backs up to OVH's layout
// (full and incremental); dupfs restores both points from an empty archive
// dir, and after `dupfs unseal` mounts it and copies the latest point out.
func TestMultiDuplicityWrites(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	o := newOVH(t, "PASSPHRASE="+keyPassphrase)
	o.step(t, 0)
	o.duplicityBackup(t, true)
	o.step(t, 1)
	o.duplicityBackup(t, false)
	o.checkSplit(t)

	for k := range o.times {
		t.Run(fmt.Sprintf("restore-%d", k), func(t *testing.T) {
			o.proxy.Reseal()
			o.dupfsRestore(t, k, "", "--unseal-poll", "250ms")
		})
	}
	t.Run("unseal-mount-cp", func(t *testing.T) {
		o.proxy.Reseal()
		cache := filepath.Join(t.TempDir(), "archive")
		o.mustDupfs(t, "unseal", cache, "--unseal-poll", "250ms", o.url)
		m := o.mount(t, cache, "--unseal-wait", "0")
		defer func() {
			if t.Failed() {
				t.Logf("dupfs mount's log:\n%s", m.stderr.String())
			}
		}()
		checkRoot(t, m, o.times, ".dupfs-status")
		out := filepath.Join(t.TempDir(), "cp")
		mustRun(t, "cp", "-a", filepath.Join(m.Dir, "latest")+"/.", out)
		checkTree(t, o.snaps[len(o.snaps)-1], out)
	})
}

// mount mounts the target with the archive dir and a fresh data cache.
func (r *remote) mount(t *testing.T, archiveDir string, extra ...string) *Mounted {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "mnt")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"mount"}, r.opts...)
	args = append(args, "--archive-dir", archiveDir, "--cache-dir", filepath.Join(t.TempDir(), "cache"))
	args = append(args, extra...)
	return Mount(t, r.env, dir, append(args, r.url, dir)...)
}

// TestColdMount: a mount of OVH's layout (dupfs wrote it) while every
// volume is sealed. Listing and stat work at once and GET no volume; a
// read fails with EAGAIN at once (--unseal-wait 0) after asking for every
// volume of the file; the state xattr goes sealed, unsealing (with the
// ETA), cached; .dupfs-status lists the volumes; once they are ready the
// same cp works. A short --unseal-wait fails after the wait; one longer
// than the delay succeeds.
func TestColdMount(t *testing.T) {
	t.Parallel()
	o := newOVH(t, "PASSPHRASE="+keyPassphrase)
	o.step(t, 0)
	o.dupfsBackup(t)
	o.step(t, 1)
	o.dupfsBackup(t)
	_, cold := o.checkSplit(t)
	if st := o.proxy.Stats(); st.Unseals != 0 || st.Sealed != len(cold) {
		t.Fatalf("after the backups: %+v, want %d volumes sealed", st, len(cold))
	}

	m := o.mount(t, o.dupfsCache, "--unseal-wait", "0", "--unseal-poll", "250ms")
	defer func() {
		if t.Failed() {
			t.Logf("dupfs mount's log:\n%s", m.stderr.String())
		}
	}()
	latest := filepath.Join(m.Dir, "latest")
	big := filepath.Join(latest, "big.bin")

	t.Run("metadata-is-hot", func(t *testing.T) {
		before := o.proxy.Stats()
		start := time.Now()
		checkRoot(t, m, o.times, ".dupfs-status")
		for _, when := range o.times {
			mustRun(t, "find", filepath.Join(m.Dir, pointName(t, when)), "-ls")
		}
		mustRun(t, "ls", "-lR", latest+"/")
		for rel, want := range o.snaps[1] {
			var st syscall.Stat_t
			if err := syscall.Lstat(filepath.Join(latest, rel), &st); err != nil {
				t.Fatal(err)
			}
			if want.Type == "file" && st.Size != want.Size {
				t.Errorf("%s: size %d, want %d", rel, st.Size, want.Size)
			}
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("listing took %v", took)
		}
		after := o.proxy.Stats()
		if after.Throttled != before.Throttled || after.Passed != before.Passed || after.Unseals != before.Unseals {
			t.Errorf("listing sent volume GETs: before %+v, after %+v", before, after)
		}
	})

	t.Run("sealed-read", func(t *testing.T) {
		if st := xattr(t, big); !strings.HasPrefix(st, "sealed") {
			t.Errorf("big.bin state %q before reading, want sealed: ...", st)
		}
		i := o.log.len()
		start := time.Now()
		_, err := os.ReadFile(big)
		took := time.Since(start)
		if !errors.Is(err, syscall.EAGAIN) {
			t.Fatalf("read of a sealed file: %v, want EAGAIN", err)
		}
		if took > 2*time.Second {
			t.Errorf("EAGAIN took %v with --unseal-wait 0", took)
		}
		times, names := o.log.since(i)
		bigVols := 0
		for _, n := range names {
			if strings.Contains(n, "cold_duplicity-full."+o.times[0]) {
				bigVols++
			}
		}
		if bigVols < 3 || batches(times) != 1 {
			t.Errorf("the read asked for %q in %d bursts, want every volume of big.bin (3+) at once", names, batches(times))
		}
		st := xattr(t, big)
		if !strings.HasPrefix(st, "unsealing") || !strings.Contains(st, "ready at") {
			t.Errorf("big.bin state %q after asking, want unsealing: ... ready at ...", st)
		}
		status, err := os.ReadFile(filepath.Join(m.Dir, ".dupfs-status"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range names {
			vol := strings.TrimPrefix(n, o.cold+"/")
			if !strings.Contains(string(status), vol+"\tunsealing") {
				t.Errorf(".dupfs-status does not list %s as unsealing:\n%s", vol, status)
			}
		}
		t.Logf("state %q; .dupfs-status:\n%s", st, status)

		// Once the delay has passed, the same cp works.
		deadline := time.Now().Add(unsealDelay + 5*time.Second)
		for !strings.HasPrefix(xattr(t, big), "ready") && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		out := filepath.Join(t.TempDir(), "big.bin")
		mustRun(t, "cp", big, out)
		want, _ := os.ReadFile(filepath.Join(o.src, "big.bin"))
		if got, _ := os.ReadFile(out); string(got) != string(want) {
			t.Error("cp of big.bin differs from the source")
		}
		if st := xattr(t, big); st != "cached" {
			t.Errorf("big.bin state %q after reading, want cached", st)
		}
	})

	t.Run("unseal-wait", func(t *testing.T) {
		o.proxy.Reseal()
		short := o.mount(t, o.dupfsCache, "--unseal-wait", "1s", "--unseal-poll", "250ms")
		start := time.Now()
		_, err := os.ReadFile(filepath.Join(short.Dir, "latest", "dir/keep.txt"))
		took := time.Since(start)
		if !errors.Is(err, syscall.EAGAIN) || took < 900*time.Millisecond || took > unsealDelay {
			t.Errorf("--unseal-wait 1s on a %v unseal: %v after %v, want EAGAIN after about 1s", unsealDelay, err, took)
		}
		o.proxy.Reseal()
		long := o.mount(t, o.dupfsCache, "--unseal-wait", "20s", "--unseal-poll", "250ms")
		start = time.Now()
		got, err := os.ReadFile(filepath.Join(long.Dir, "latest", "a.txt"))
		took = time.Since(start)
		if err != nil || string(got) != "alpha, modified\n" || took < unsealDelay/2 || took > 4*unsealDelay {
			t.Errorf("--unseal-wait 20s: %q %v after %v, want the content after about %v", got, err, took, unsealDelay)
		}
	})
}

// TestPCADuplicity: plain pca:// (no multi) both ways with the real
// duplicity and its own pca backend: dupfs writes and duplicity restores,
// duplicity writes and dupfs restores, each from an empty archive dir and
// with everything sealed.
func TestPCADuplicity(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	srv := startSwift(t)
	p := srv.SealProxy(t, time.Second)
	vars := append(append(p.PCAEnv(), "PASSPHRASE="+keyPassphrase), saio.ScaledSleepEnv(t, 0)...)

	t.Run("dupfs-writes", func(t *testing.T) {
		c := saio.ContainerName(t)
		r := newRemote(t, srv, "pca://"+c, c, "", vars)
		writeColdSource(t, r.src)
		r.snapshot(t)
		r.dupfsBackup(t)
		p.Reseal()
		r.duplicityRestore(t, 0)
	})
	t.Run("duplicity-writes", func(t *testing.T) {
		c := saio.ContainerName(t)
		r := newRemote(t, srv, "pca://"+c, c, "", vars)
		writeColdSource(t, r.src)
		r.snapshot(t)
		r.duplicityBackup(t, true)
		p.Reseal()
		r.dupfsRestore(t, 0, "", "--unseal-poll", "200ms")
	})
}
