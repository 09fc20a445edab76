package integration

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// retentionFixture is a target of three chains written by dupfs, with its
// archive dir (--name ret): A = full + incremental, B = full +
// incremental, C = full + empty incremental; times[k] is the end of set k
// and snaps[k] the source it saw.
type retentionFixture struct {
	env   Env
	dir   string // holds target/ and cache/ret/
	times []string
	snaps []Tree
}

var retentionOpts = []string{"--no-encryption", "--name", "ret"}

func newRetentionFixture(t *testing.T) *retentionFixture {
	t.Helper()
	f := &retentionFixture{env: NewEnv(t), dir: t.TempDir()}
	src := filepath.Join(t.TempDir(), "src")
	for _, d := range []string{src, filepath.Join(f.dir, "target")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for k, step := range []int{0, 1, 2, 3, 4, 4} {
		if err := ApplyStep(src, step); err != nil {
			t.Fatal(err)
		}
		snap, err := Snapshot(src)
		if err != nil {
			t.Fatal(err)
		}
		args := append([]string{"backup"}, retentionOpts...)
		args = append(args, "--archive-dir", filepath.Join(f.dir, "cache"), "--volsize", "1")
		if k%2 == 0 {
			args = append(args, "--full")
		}
		mustDupfs(t, f.env, append(args, src, "file://"+filepath.Join(f.dir, "target"))...)
		latest, err := LatestSetTime(filepath.Join(f.dir, "target"))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(f.times); n > 0 && latest <= f.times[n-1] {
			t.Fatalf("backup %d made no new set after %s", k, f.times[n-1])
		}
		f.times = append(f.times, latest)
		f.snaps = append(f.snaps, snap)
	}
	return f
}

// epoch is set k's time as both tools take it.
func (f *retentionFixture) epoch(t *testing.T, k int) string {
	t.Helper()
	tm, err := ParseTime(f.times[k])
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(tm.Unix(), 10)
}

// epochAfterAll is a time after every set.
func (f *retentionFixture) epochAfterAll(t *testing.T) string {
	n, err := strconv.ParseInt(f.epoch(t, len(f.times)-1), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return strconv.FormatInt(n+3600, 10)
}

// copyTo copies the fixture's target and archive dir under a new dir.
func (f *retentionFixture) copyTo(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	mustRun(t, "cp", "-a", f.dir+"/.", dst)
	return dst
}

// listDir returns the names in dir, sorted, without the lock file (each
// tool leaves its own there).
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if e.Name() != "lockfile" {
			out = append(out, e.Name())
		}
	}
	return out
}

// remaining lists a copy's files: target names, then archive-dir paths.
func remaining(t *testing.T, dir string) []string {
	out := listDir(t, filepath.Join(dir, "target"))
	for _, n := range listDir(t, filepath.Join(dir, "cache", "ret")) {
		out = append(out, filepath.Join(dir, "cache", "ret", n))
	}
	return out
}

var setManifest = regexp.MustCompile(`^duplicity-(?:full|inc\.\d{8}T\d{6}Z\.to)\.(\d{8}T\d{6}Z)\.manifest$`)

// TestRetentionAgainstDuplicity runs each deleting command with --force on
// two copies of one target, duplicity's on one and dupfs's on the other,
// and wants the same files left (duplicity is the oracle). dupfs's dry
// run must list exactly what its --force run then deletes; duplicity must
// still read what is left, and dupfs restore every point left exactly.
func TestRetentionAgainstDuplicity(t *testing.T) {
	NeedTools(t)
	NeedDupfs(t)
	t.Parallel()
	f := newRetentionFixture(t)
	cases := []struct {
		name     string
		args     []string // command and its argument
		damage   func(t *testing.T, dir string)
		deletes  bool
		cacheToo bool // compare the archive dirs too (cleanup's duplicity also syncs it)
		// alsoKept are target files dupfs keeps on purpose where duplicity
		// deletes them.
		alsoKept []string
	}{
		{name: "older than the end of chain A", args: []string{"remove-older-than", f.epoch(t, 1)}},
		{name: "older than chain B", args: []string{"remove-older-than", f.epoch(t, 2)}, deletes: true, cacheToo: true},
		{name: "all but 1 full", args: []string{"remove-all-but-n-full", "1"}, deletes: true, cacheToo: true},
		{name: "all but 5 full", args: []string{"remove-all-but-n-full", "5"}},
		{name: "incrementals of all but 1 full", args: []string{"remove-all-inc-of-but-n-full", "1"}, deletes: true, cacheToo: true},
		{name: "cleanup", args: []string{"cleanup"}, damage: f.damage, deletes: true},
		{name: "cleanup of an interrupted incremental", args: []string{"cleanup"}, damage: f.interrupt, deletes: true},
		{
			// duplicity 0.8.22 also deletes the remote signatures of the
			// chain it keeps (it keeps the archive dir's copy); dupfs keeps
			// both, or the next incremental from an empty archive dir
			// could not go on from that chain.
			name: "older than everything", args: []string{"remove-older-than", f.epochAfterAll(t)}, deletes: true, cacheToo: true,
			alsoKept: []string{
				"duplicity-full-signatures." + f.times[4] + ".sigtar.gz",
				"duplicity-new-signatures." + f.times[4] + ".to." + f.times[5] + ".sigtar.gz",
			},
		},
	}
	t.Run("refusals", f.checkRefusals)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dup, ours := f.copyTo(t), f.copyTo(t)
			if tc.damage != nil {
				tc.damage(t, dup)
				tc.damage(t, ours)
			}
			bk := &Backup{Target: filepath.Join(dup, "target"), ArchiveDir: filepath.Join(dup, "cache"), Options: retentionOpts, Env: f.env}
			bk.MustDuplicity(t, tc.args[0], append(tc.args[1:], "--force", bk.URL())...)

			url := "file://" + filepath.Join(ours, "target")
			dupfsArgs := append(append([]string{}, tc.args...), retentionOpts...)
			dupfsArgs = append(dupfsArgs, "--archive-dir", filepath.Join(ours, "cache"))
			before := remaining(t, ours)
			dry := mustDupfs(t, f.env, append(dupfsArgs, url)...)
			if !slices.Equal(remaining(t, ours), before) {
				t.Fatal("the dry run deleted files")
			}
			if !strings.Contains(string(dry.Stderr), "--force") && tc.deletes {
				t.Errorf("dry run: no hint of --force on stderr: %s", dry.Stderr)
			}
			forced := mustDupfs(t, f.env, append(dupfsArgs, "--force", url)...)
			after := remaining(t, ours)
			var gone []string
			for _, n := range before {
				if !slices.Contains(after, n) {
					gone = append(gone, filepath.Base(n))
				}
			}
			listed := func(out []byte) []string {
				var names []string
				for _, l := range strings.Fields(string(out)) {
					names = append(names, filepath.Base(l))
				}
				slices.Sort(names)
				return names
			}
			slices.Sort(gone)
			if d := diffLists(listed(dry.Stdout), gone); d != "" {
				t.Errorf("the dry run's list differs from what --force deleted (- listed, + deleted):\n%s", d)
			}
			if d := diffLists(listed(dry.Stdout), listed(forced.Stdout)); d != "" {
				t.Errorf("--force listed other files than the dry run (- dry run, + --force):\n%s", d)
			}
			t.Logf("dupfs deleted %d files: %q", len(gone), gone)
			if tc.deletes != (len(gone) > 0) {
				t.Errorf("deleted %q, want deletions: %v", gone, tc.deletes)
			}

			want, got := listDir(t, filepath.Join(dup, "target")), listDir(t, filepath.Join(ours, "target"))
			want = append(want, tc.alsoKept...)
			slices.Sort(want)
			if d := diffLists(want, got); d != "" {
				t.Errorf("target files left differ (- duplicity, + dupfs):\n%s", d)
			}
			if tc.cacheToo {
				want, got := listDir(t, filepath.Join(dup, "cache", "ret")), listDir(t, filepath.Join(ours, "cache", "ret"))
				if d := diffLists(want, got); d != "" {
					t.Errorf("archive-dir files left differ (- duplicity, + dupfs):\n%s", d)
				}
			}

			// duplicity reads what dupfs left; dupfs restores every point.
			ourBk := &Backup{Target: filepath.Join(ours, "target"), ArchiveDir: filepath.Join(ours, "cache"), Options: retentionOpts, Env: f.env}
			status := StatusSummary(ourBk.MustDuplicity(t, "collection-status", ourBk.URL()).Stdout)
			if tc.damage != nil && !contains(status, "No orphaned or incomplete backup sets found.") {
				t.Errorf("duplicity still finds orphaned or incomplete sets after dupfs cleanup:\n%s", strings.Join(status, "\n"))
			}
			if !tc.deletes {
				return
			}
			for _, name := range got {
				m := setManifest.FindStringSubmatch(name)
				if m == nil {
					continue
				}
				k := slices.Index(f.times, m[1])
				if k < 0 {
					continue // a damaged copy's extra set
				}
				out := filepath.Join(t.TempDir(), "out")
				mustDupfs(t, f.env, append(append([]string{"restore"}, retentionOpts...),
					"--archive-dir", filepath.Join(ours, "cache"), "--time", f.epoch(t, k), url, out)...)
				checkTree(t, f.snaps[k], out)
			}
		})
	}
}

// checkRefusals: counts below 1 and bad times are usage errors (exit 2),
// and --force waits for no one: while another process holds the archive
// dir's lock (a backup), it deletes nothing and exits 1; a dry run still
// lists.
func (f *retentionFixture) checkRefusals(t *testing.T) {
	dir := f.copyTo(t)
	url := "file://" + filepath.Join(dir, "target")
	opts := append(append([]string{}, retentionOpts...), "--archive-dir", filepath.Join(dir, "cache"))
	for _, args := range [][]string{
		{"remove-all-but-n-full", "0"}, {"remove-all-inc-of-but-n-full", "0"}, {"remove-all-but-n-full", "x"},
		{"remove-older-than", "yesterday-ish"}, {"remove-older-than", url}, {"cleanup", "1"},
	} {
		if r := Dupfs(t, f.env, append(append(args, opts...), url)...); r.Code != 2 {
			t.Errorf("dupfs %q: want exit 2 (usage), got %v", args, r)
		}
	}
	lockfile := filepath.Join(dir, "cache", "ret", "lockfile")
	lf, err := os.OpenFile(lockfile, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if err := unix.FcntlFlock(lf.Fd(), unix.F_SETLK, &unix.Flock_t{Type: unix.F_WRLCK}); err != nil {
		t.Fatal(err)
	}
	before := remaining(t, dir)
	if r := Dupfs(t, f.env, append(append([]string{"remove-all-but-n-full", "1", "--force"}, opts...), url)...); r.Code != 1 || !strings.Contains(string(r.Stderr), "lockfile") {
		t.Errorf("--force under another process's lock: want exit 1 naming the lock, got %v", r)
	}
	if r := mustDupfs(t, f.env, append(append([]string{"remove-all-but-n-full", "1"}, opts...), url)...); len(r.Stdout) == 0 {
		t.Errorf("dry run under the lock listed nothing")
	}
	if !slices.Equal(remaining(t, dir), before) {
		t.Errorf("files deleted under another process's lock")
	}
}

// damage leaves in a copy what interrupted or partly removed backups
// leave: chain B's incremental without its manifest, a stray volume of a
// set that never finished, an incremental that fits no chain, and new
// signatures, remote and local, that fit no signature chain.
func (f *retentionFixture) damage(t *testing.T, dir string) {
	t.Helper()
	target, cache := filepath.Join(dir, "target"), filepath.Join(dir, "cache", "ret")
	rm := func(p string) {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	cp := func(from, to string) { mustRun(t, "cp", from, to) }
	rm(filepath.Join(target, "duplicity-inc."+f.times[2]+".to."+f.times[3]+".manifest"))
	cp(filepath.Join(target, "duplicity-full."+f.times[0]+".vol1.difftar.gz"),
		filepath.Join(target, "duplicity-full.20200101T000000Z.vol1.difftar.gz"))
	for _, suffix := range []string{".vol1.difftar.gz", ".manifest"} {
		cp(filepath.Join(target, "duplicity-inc."+f.times[0]+".to."+f.times[1]+suffix),
			filepath.Join(target, "duplicity-inc.20200102T000000Z.to.20200103T000000Z"+suffix))
	}
	sig := "duplicity-new-signatures." + f.times[0] + ".to." + f.times[1] + ".sigtar.gz"
	cp(filepath.Join(target, sig), filepath.Join(target, "duplicity-new-signatures.20200104T000000Z.to.20200105T000000Z.sigtar.gz"))
	cp(filepath.Join(cache, sig), filepath.Join(cache, "duplicity-new-signatures.20200106T000000Z.to.20200107T000000Z.sigtar.gz"))
}

// interrupt makes the last set (C's incremental) look like a backup
// killed before it stored its manifest: its volumes are there, its
// manifest and signatures only as the archive dir's partial files.
func (f *retentionFixture) interrupt(t *testing.T, dir string) {
	t.Helper()
	target, cache := filepath.Join(dir, "target"), filepath.Join(dir, "cache", "ret")
	inc := "duplicity-inc." + f.times[4] + ".to." + f.times[5]
	sig := "duplicity-new-signatures." + f.times[4] + ".to." + f.times[5]
	for _, p := range []string{filepath.Join(target, inc+".manifest"), filepath.Join(target, sig+".sigtar.gz"), filepath.Join(cache, sig+".sigtar.gz")} {
		if err := os.Remove(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(filepath.Join(cache, inc+".manifest"), filepath.Join(cache, inc+".manifest.part")); err != nil {
		t.Fatal(err)
	}
}
