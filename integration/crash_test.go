package integration

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCrashKillAndRestart kills `dupfs backup` with SIGKILL at three points
// of its work, each reached exactly (a fanotify gate freezes dupfs inside
// an open(2) there, see openGate): during a full once its first volume is
// stored, during a multi-volume incremental once its first volume is
// stored, and after the signatures of an incremental are stored but
// before its manifest. After each kill no restore may give wrong data:
// every completed point restores exactly, and a restore of the latest
// point gives the last completed one, never the interrupted set (see
// checkAfterKill). The next run must say it found the interrupted backup,
// delete all of it, start over and succeed. At the end the chain is clean
// for duplicity and every point restores exactly with both tools.
func TestCrashKillAndRestart(t *testing.T) {
	t.Parallel()
	f := newWriterFixture(t, writerMode{vars: []string{"PASSPHRASE=" + keyPassphrase}})
	// dupfs's folder for this target inside --archive-dir: the MD5 of the
	// URL, as duplicity names it.
	sum := md5.Sum([]byte(f.bk.URL()))
	archive := filepath.Join(f.dupfsCache, hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(archive, 0o700); err != nil {
		t.Fatal(err)
	}
	c := &crashRun{f: f, archive: archive}

	// 1. The first full, killed once volume 1 is stored: ~5 volumes.
	c.source(t, 0, 1_000_000)
	k := c.killAt(t, "after the full's first volume is stored", c.afterNew(t, volume1))
	c.wantStored(t, k, true, false)
	c.checkAfterKill(t)
	c.restart(t, k)

	// 2. A multi-volume incremental (~4 volumes), killed the same way.
	c.source(t, 1, 2_000_000)
	k = c.killAt(t, "after the incremental's first volume is stored", c.afterNew(t, volume1))
	c.wantStored(t, k, true, false)
	c.checkAfterKill(t)
	c.restart(t, k)

	// 3. An incremental killed between its signatures and its manifest:
	// the manifest's local file is opened just before it is uploaded.
	c.source(t, 2, 0)
	k = c.killAt(t, "after the incremental's signatures are stored", func(path string) bool {
		return partialManifest.MatchString(filepath.Base(path))
	})
	c.wantStored(t, k, true, true)
	c.checkAfterKill(t)
	c.restart(t, k)

	c.checkFixture(t)
	c.checkFinal(t)
	f.checkStatus(t)
}

// checkFixture makes sure the backups exercise what the test claims: a
// full and a first incremental of 3+ volumes each (so volume 1 is stored
// while later ones are written), and one set per phase.
func (c *crashRun) checkFixture(t *testing.T) {
	t.Helper()
	times := c.f.bk.Times
	if len(times) != 3 {
		t.Fatalf("fixture: want 3 backup sets, got %q", times)
	}
	full := "duplicity-full." + times[0] + ".vol3.difftar"
	inc := "duplicity-inc." + times[0] + ".to." + times[1] + ".vol3.difftar"
	var n int
	for _, name := range c.f.bk.Files(t) {
		if strings.HasPrefix(name, full) || strings.HasPrefix(name, inc) {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("fixture: want a full and a first incremental of 3+ volumes each, target holds %q", c.f.bk.Files(t))
	}
}

// crashRun is the state of TestCrashKillAndRestart.
type crashRun struct {
	f       *writerFixture
	archive string // dupfs's archive dir for the target
	next    Tree   // the source the next (killed, then restarted) run backs up
}

var (
	volume1         = regexp.MustCompile(`\.vol1\.difftar`)
	partialManifest = regexp.MustCompile(`^duplicity-.*\.manifest\.part$`)
)

// source applies scenario step k, adds `bulk` bytes of incompressible data
// and 100 small files and snapshots the result. The added files are new,
// so their wall-clock mtimes cannot hide a change from the next backup.
func (c *crashRun) source(t *testing.T, k int, bulk int64) {
	t.Helper()
	if err := ApplyStep(c.f.src, k); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(c.f.src, fmt.Sprintf("bulk%d", k))
	rng := rand.NewChaCha8(chachaSeed(uint64(k)))
	if bulk > 0 {
		writeRandom(t, filepath.Join(dir, "random.bin"), rng, bulk)
	}
	for i := range 100 {
		p := filepath.Join(dir, fmt.Sprintf("small/%02d/f%03d.txt", i%10, i))
		writeRandom(t, p, rng, int64(i%7*100))
	}
	snap, err := Snapshot(c.f.src)
	if err != nil {
		t.Fatal(err)
	}
	c.next = snap
}

func chachaSeed(n uint64) [32]byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], n)
	copy(seed[8:], "dupfs crash test")
	return seed
}

func writeRandom(t *testing.T, path string, rng io.Reader, n int64) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.CopyN(out, rng, n)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// afterNew holds the first open in the archive dir made once the target
// holds a file matching re that it did not hold when this was called.
// dupfs opens the archive dir for every volume (its temp file, the
// checkpoint of the partial manifest) and packs at most two volumes ahead
// of the upload, so with volume 1 stored the hold comes while volumes are
// still being written (wantStored checks that no signatures are stored).
func (c *crashRun) afterNew(t *testing.T, re *regexp.Regexp) func(string) bool {
	t.Helper()
	before := map[string]bool{}
	for _, name := range c.f.bk.Files(t) {
		before[name] = true
	}
	return func(string) bool {
		ents, _ := os.ReadDir(c.f.bk.Target)
		for _, e := range ents {
			if !before[e.Name()] && re.MatchString(e.Name()) {
				return true
			}
		}
		return false
	}
}

// killedSet is a backup set a killed run left behind.
type killedSet struct {
	desc    string   // as dupfs's notice names it: "full T", "incremental T1 to T2"
	stored  []string // its files in the target
	archive []string // its files in the archive dir
}

// killAt runs `dupfs backup` on the source, holds it at the first open in
// the archive dir that match accepts, kills it there with SIGKILL and
// returns the set it was writing.
func (c *crashRun) killAt(t *testing.T, what string, match func(path string) bool) killedSet {
	t.Helper()
	NeedDupfs(t)
	g := newOpenGate(t, c.archive, match)
	args := c.f.dupfsArgs("backup", c.f.dupfsWrite, "--volsize", "1", c.f.src, c.f.bk.URL())
	p := startProcess(t, c.f.env.List(), dupfsBin, args...)
	h := p.waitHeld(t, g, what)
	r := p.kill(t, g)
	if r.Code != -1 {
		t.Fatalf("dupfs was to be killed %s but exited: %v", what, r)
	}
	t.Logf("killed dupfs %s, at %s", what, h)

	// The set being written: the one with a partial manifest.
	var k killedSet
	ents, err := os.ReadDir(c.archive)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if partialManifest.MatchString(e.Name()) {
			if k.desc != "" {
				t.Fatalf("two partial manifests in the archive dir after the kill: %s", e.Name())
			}
			k.desc = setDesc(e.Name())
		}
	}
	if k.desc == "" {
		t.Fatalf("no partial manifest in the archive dir after the kill; it holds %q", names(ents))
	}
	for _, e := range ents {
		if setDesc(e.Name()) == k.desc {
			k.archive = append(k.archive, e.Name())
		}
	}
	for _, name := range c.f.bk.Files(t) {
		if setDesc(name) == k.desc {
			k.stored = append(k.stored, name)
		}
	}
	t.Logf("the interrupted backup %s: stored %q, in the archive dir %q", k.desc, k.stored, k.archive)
	return k
}

var (
	fullName = regexp.MustCompile(`^duplicity-full(?:-signatures)?\.(\d{8}T\d{6}Z)\.`)
	incName  = regexp.MustCompile(`^duplicity-(?:inc|new-signatures)\.(\d{8}T\d{6}Z)\.to\.(\d{8}T\d{6}Z)\.`)
)

// setDesc names the set a file belongs to ("" for other files).
func setDesc(name string) string {
	if m := fullName.FindStringSubmatch(name); m != nil {
		return "full " + m[1]
	}
	if m := incName.FindStringSubmatch(name); m != nil {
		return "incremental " + m[1] + " to " + m[2]
	}
	return ""
}

func names(ents []os.DirEntry) []string {
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.Name()
	}
	return out
}

// wantStored checks what the killed run had stored: volume 1 when vol1,
// the signatures when sigs, never the manifest.
func (c *crashRun) wantStored(t *testing.T, k killedSet, vol1, sigs bool) {
	t.Helper()
	var hasVol1, hasSigs bool
	for _, name := range k.stored {
		switch {
		case strings.Contains(name, ".manifest"):
			t.Fatalf("the killed run stored its manifest %s: the kill came too late", name)
		case volume1.MatchString(name):
			hasVol1 = true
		case strings.Contains(name, "-signatures."):
			hasSigs = true
		}
	}
	if hasVol1 != vol1 || hasSigs != sigs {
		t.Fatalf("the killed run stored %q: want volume 1 %v, signatures %v", k.stored, vol1, sigs)
	}
}

// checkAfterKill restores the target after a kill: every completed point
// by its time with dupfs, and the latest point (no time given) with
// duplicity, with dupfs from its archive dir (which holds the interrupted
// set's partial manifest) and with dupfs from a fresh one (as on another
// machine). A point must restore as the source was when its backup ran;
// the latest must be the last completed point or, with none, fail. Every
// point is restored with duplicity too at the end (checkFinal).
func (c *crashRun) checkAfterKill(t *testing.T) {
	t.Helper()
	f := c.f
	t.Run(fmt.Sprintf("after-kill-%d", len(f.bk.Times)), func(t *testing.T) {
		for k := range f.bk.Times {
			t.Run(fmt.Sprintf("point-%d-dupfs", k), func(t *testing.T) {
				t.Parallel()
				c.dupfsRestore(t, k, f.dupfsCache, "--time", f.bk.Times[k])
			})
		}
		t.Run("latest-duplicity", func(t *testing.T) {
			t.Parallel()
			c.duplicityRestore(t, len(f.bk.Times))
		})
		t.Run("latest-dupfs", func(t *testing.T) {
			t.Parallel()
			c.dupfsRestore(t, len(f.bk.Times), f.dupfsCache)
		})
		t.Run("latest-dupfs-fresh-archive-dir", func(t *testing.T) {
			t.Parallel()
			c.dupfsRestore(t, len(f.bk.Times), t.TempDir())
		})
		t.Run("duplicity-shares-archive-dir", func(t *testing.T) {
			t.Parallel()
			c.checkSharedArchiveDir(t)
		})
	})
}

// checkSharedArchiveDir runs duplicity on a copy of dupfs's archive dir as
// the kill left it: the two tools share it by default, so duplicity must
// still be able to read it. (Its restores from there are not checked:
// duplicity counts a set with a partial manifest as complete.)
func (c *crashRun) checkSharedArchiveDir(t *testing.T) {
	base := t.TempDir()
	shared := filepath.Join(base, "shared")
	if err := os.Mkdir(shared, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(c.archive)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(c.archive, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shared, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := append(append([]string{"collection-status"}, c.f.bk.Options...), "--archive-dir", base, "--name", "shared", c.f.bk.URL())
	if r := Run(t.Context(), c.f.env.List(), "duplicity", args...); r.Code != 0 {
		t.Errorf("duplicity cannot read dupfs's archive dir as the kill left it (%q): %v", names(ents), r)
	}
}

// checkFinal restores every point with both tools.
func (c *crashRun) checkFinal(t *testing.T) {
	t.Helper()
	f := c.f
	t.Run("final", func(t *testing.T) {
		for k := range f.bk.Times {
			t.Run(fmt.Sprintf("point-%d-duplicity", k), func(t *testing.T) {
				t.Parallel()
				c.duplicityRestore(t, k)
			})
			t.Run(fmt.Sprintf("point-%d-dupfs", k), func(t *testing.T) {
				t.Parallel()
				c.dupfsRestore(t, k, f.dupfsCache, "--time", f.bk.Times[k])
			})
		}
	})
}

// duplicityRestore restores point k (len(Times): the latest) with
// duplicity, from a private archive dir since duplicity runs lock theirs.
func (c *crashRun) duplicityRestore(t *testing.T, k int) {
	f := c.f
	out := filepath.Join(t.TempDir(), "out")
	args := append(append([]string{"restore"}, f.bk.Options...), "--archive-dir", t.TempDir())
	if k < len(f.bk.Times) {
		args = append(args, "--time", f.bk.Times[k])
	}
	r := Run(t.Context(), f.env.List(), "duplicity", append(args, f.bk.URL(), out)...)
	c.checkRestore(t, k, r, out)
}

// dupfsRestore restores point k (len(Times): the latest) with dupfs.
func (c *crashRun) dupfsRestore(t *testing.T, k int, archiveDir string, when ...string) {
	f := c.f
	out := filepath.Join(t.TempDir(), "out")
	args := append(append([]string{"restore"}, f.dupfsRead...), "--archive-dir", archiveDir)
	r := Dupfs(t, f.env, append(append(args, when...), f.bk.URL(), out)...)
	c.checkRestore(t, k, r, out)
}

// checkRestore checks a restore of point k (len(snaps): the latest).
func (c *crashRun) checkRestore(t *testing.T, k int, r Result, out string) {
	t.Helper()
	if k == len(c.f.snaps) {
		if k == 0 {
			if r.Code == 0 {
				t.Errorf("restore of a target holding only an interrupted backup succeeded: %v", r)
			}
			return
		}
		k--
	}
	if r.Code != 0 {
		t.Fatalf("restore failed: %v", r)
	}
	checkTree(t, c.f.snaps[k], out)
}

// restart runs dupfs again: it must report the interrupted set k, delete
// everything k left in the target and the archive dir, and complete the
// backup. -v info: without a terminal, notices are printed from info up.
func (c *crashRun) restart(t *testing.T, k killedSet) {
	t.Helper()
	c.f.snaps = append(c.f.snaps, c.next)
	r := c.f.dupfsBackup(t, "-v", "info")
	want := fmt.Sprintf("found the interrupted backup %s (%d stored files, no manifest): deleting it and starting over", k.desc, len(k.stored))
	if !strings.Contains(string(r.Stderr), want) {
		t.Errorf("the run after the kill does not say %q: %v", want, r)
	} else {
		t.Logf("the run after the kill says: %s", want)
	}
	for _, name := range c.f.bk.Files(t) {
		if setDesc(name) == k.desc {
			t.Errorf("the interrupted backup's %s is still in the target", name)
		}
	}
	ents, err := os.ReadDir(c.archive)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if setDesc(e.Name()) == k.desc || strings.HasSuffix(e.Name(), ".part") || strings.HasPrefix(e.Name(), ".dupfs-") {
			t.Errorf("the interrupted backup's %s is still in the archive dir", e.Name())
		}
	}
}
