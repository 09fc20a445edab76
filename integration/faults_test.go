package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"dupfs/integration/saio"
)

// The fault-injection suite: dupfs killed, its store failing, its runs
// racing, its disk full. Each case says what the user lost (ReportFault);
// the damaged-volume cases live beside the restore and mount tests.

// faultSeed is the seed of a test's random choices: $DUPFS_FAULT_SEED to
// replay a run, else a new one, printed either way.
func faultSeed(t *testing.T) uint64 {
	t.Helper()
	if s := os.Getenv("DUPFS_FAULT_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("DUPFS_FAULT_SEED=%q: want an unsigned integer", s)
		}
		t.Logf("seed %d (from DUPFS_FAULT_SEED)", seed)
		return seed
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d (replay with DUPFS_FAULT_SEED=%d)", seed, seed)
	return seed
}

// flakyEvery is TestFaultFlakyBackend's fault rate: one request in 4.
const flakyEvery = 4

// flakyTimeout is the client's timeout there (SWIFT_TIMEOUT): a stall
// costs this long, and a loaded machine's Swift answers well within it.
const flakyTimeout = "5"

// TestFaultFlakyBackend runs a backup (a full and an incremental of
// several volumes), a restore of every point and a mount (cp -a of every
// point) over swift:// through the proxy, which fails one storage request
// in flakyEvery in turn with a 503, a 500, a connection reset, a stall
// before the answer and a stall in the middle of a download's body (each
// stall longer than the client's timeout). With the default --num-retries
// everything succeeds and is exact, and each phase met each kind of fault.
// Then with --num-retries 1 and every upload failing, a backup fails with
// a message naming the file and the 503; the next run without faults
// completes and every point restores.
func TestFaultFlakyBackend(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	srv := startSwift(t)
	p := srv.SealProxy(t, 0)
	var log syncBuffer
	p.Logf = func(format string, args ...any) { fmt.Fprintf(&log, format+"\n", args...) }
	c := saio.ContainerName(t)
	r := newRemote(t, srv, "swift://"+c, c, "", append(p.Env(), "SWIFT_TIMEOUT="+flakyTimeout), "--no-encryption")
	quick := []string{"--backend-retry-delay", "50ms", "-v", "info"}
	stall := 30 * time.Second // ended early when the client gives up
	rate := &saio.FaultRate{PathPrefix: "/v1/", Every: flakyEvery, Kinds: []saio.Fault{
		// The mid-body stall early: every phase meets it (5 faults need
		// only 20 requests).
		{Status: 503}, {Stall: stall, StallBody: true}, {Reset: true}, {Stall: stall}, {Status: 500},
	}}
	injected := fmt.Sprintf("1 storage request in %d fails: 503/500, reset, stall (before the answer or mid-body, > the %ss timeout)", flakyEvery, flakyTimeout)
	// phase runs fn with the faults on and checks that it met every kind.
	// Reads (wantBody) must also meet a stall mid-body.
	phase := func(t *testing.T, name string, wantBody bool, fn func(t *testing.T)) {
		t.Helper()
		before := p.Stats()
		p.SetFaultRate(rate)
		start := time.Now()
		// Deferred: a phase that fails still shows in the summary.
		defer func() {
			p.SetFaultRate(nil)
			st := p.Stats()
			n := saio.Stats{Statuses: st.Statuses - before.Statuses, Resets: st.Resets - before.Resets, Stalls: st.Stalls - before.Stalls, BodyStalls: st.BodyStalls - before.BodyStalls}
			t.Logf("%s: %v, %d error statuses, %d resets, %d stalls (%d mid-body)", name, time.Since(start).Round(100*time.Millisecond), n.Statuses, n.Resets, n.Stalls, n.BodyStalls)
			if !t.Failed() && (n.Statuses == 0 || n.Resets == 0 || n.Stalls == 0) {
				t.Errorf("%s met %d error statuses, %d resets, %d stalls: want some of each", name, n.Statuses, n.Resets, n.Stalls)
			}
			if !t.Failed() && wantBody && n.BodyStalls == 0 {
				t.Errorf("%s met no stall mid-body", name)
			}
			ReportFault(t, FaultCase{
				Case:     "flaky swift: " + name,
				Injected: fmt.Sprintf("%s (here %d statuses, %d resets, %d stalls of which %d mid-body)", injected, n.Statuses, n.Resets, n.Stalls, n.BodyStalls),
				Lost:     "nothing",
			})
		}()
		fn(t)
	}
	defer func() {
		if t.Failed() {
			t.Logf("proxy log:\n%s", log.String())
		}
	}()

	t.Run("backup", func(t *testing.T) {
		phase(t, "backup (full + incremental)", false, func(t *testing.T) {
			r.step(t, 0)
			r.dupfsBackup(t, quick...)
			r.step(t, 1)
			r.dupfsBackup(t, quick...)
		})
	})
	if t.Failed() {
		t.FailNow()
	}
	t.Run("restore", func(t *testing.T) {
		phase(t, "restore of every point", true, func(t *testing.T) {
			for k := range r.times {
				r.dupfsRestore(t, k, "", quick...)
			}
		})
	})
	t.Run("mount", func(t *testing.T) {
		phase(t, "mount reads (cp -a of every point)", true, func(t *testing.T) {
			m := r.mount(t, filepath.Join(t.TempDir(), "cache"), quick...)
			defer func() {
				if t.Failed() {
					t.Logf("dupfs mount's log:\n%s", m.stderr.String())
				}
			}()
			for k, when := range r.times {
				out := filepath.Join(t.TempDir(), "cp")
				mustRun(t, "cp", "-a", filepath.Join(m.Dir, pointName(t, when))+"/.", out)
				checkTree(t, r.snaps[k], out)
			}
			m.stop(t, syscall.SIGTERM)
		})
	})

	t.Run("persistent", func(t *testing.T) {
		r.step(t, 2)
		p.SetFaultRate(&saio.FaultRate{Method: "PUT", PathPrefix: "/v1/", Every: 1, Kinds: []saio.Fault{{Status: 503}}})
		res := r.dupfs(t, "backup", r.dupfsCache, "--num-retries", "1", "--volsize", "1", r.src, r.url)
		p.SetFaultRate(nil)
		t.Logf("the failed backup: %v", res)
		msg := string(res.Stderr)
		if res.Code != 1 || !strings.Contains(msg, "duplicity-inc.") || !strings.Contains(msg, r.url) || !strings.Contains(msg, "503") || strings.Contains(msg, "panic") {
			t.Errorf("backup with every upload failing and --num-retries 1: want exit 1 and an error naming the file, the store and the 503, got %v", res)
		}
		r.snaps = r.snaps[:len(r.snaps)-1]
		r.snapshot(t)
		r.dupfsBackup(t, "-v", "info")
		for k := range r.times {
			r.dupfsRestore(t, k, "")
		}
		ReportFault(t, FaultCase{
			Case:     "flaky swift: persistent 503",
			Injected: "every upload answers 503, --num-retries 1: the backup fails; the next run has no faults",
			Lost:     "nothing (the failed run stored no set; the next one backs the same source up)",
		})
	})
}

// TestFaultConcurrentBackups starts three backups of one source to one
// target with one archive dir at once: the lock (see TestLockConcurrent-
// Backups) lets one run; each other run either fails at once naming the
// holder or, if it started after the first ended, succeeds. The target
// stays one clean chain and every point restores. Then two runs with two
// archive dirs (two locks) on the same target, which duplicity does not
// guard against either.
func TestFaultConcurrentBackups(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	l := newLockTarget(t)
	writeRandom(t, filepath.Join(l.src, "bulk", "random.bin"), rand.NewChaCha8(chachaSeed(7)), 3_000_000)
	l.resnap(t)

	t.Run("one-archive-dir", func(t *testing.T) {
		runs := make([]*process, 3)
		for i := range runs {
			runs[i] = startProcess(t, l.env.List(), dupfsBin, l.dupfsBackup()...)
		}
		ok, locked := 0, 0
		for i, p := range runs {
			r := p.wait(t)
			switch {
			case r.Code == 0:
				ok++
			// The holder is "dupfs pid N on HOST", or "pid N" (the kernel's
			// word) if it has not written its line yet.
			case r.Code == 1 && strings.Contains(string(r.Stderr), "dupfs: another backup of this target is running: ") &&
				strings.Contains(string(r.Stderr), " holds "+l.lockfile):
				locked++
				t.Logf("run %d: %s", i, strings.TrimSpace(string(r.Stderr)))
			default:
				t.Errorf("run %d: want success or a refusal naming the lock holder, got %v", i, r)
			}
		}
		if ok == 0 {
			t.Fatalf("no run succeeded")
		}
		if n := l.manifests(t); n != ok {
			t.Errorf("%d runs succeeded but the target holds %d manifests", ok, n)
		}
		l.checkClean(t)
		for _, when := range l.setTimes(t) {
			l.checkPoint(t, when)
		}
		ReportFault(t, FaultCase{
			Case:     "3 concurrent backups, one archive dir",
			Injected: "three `dupfs backup` of one source to one target started at once",
			Lost:     fmt.Sprintf("nothing (%d ran, %d refused: locked)", ok, locked),
		})
	})

	t.Run("two-archive-dirs", func(t *testing.T) {
		old := l.snap
		writeRandom(t, filepath.Join(l.src, "bulk", "more.bin"), rand.NewChaCha8(chachaSeed(8)), 2_000_000)
		l.resnap(t)
		before := l.setTimes(t)
		// A starts its set and is held there (at the open of its partial
		// signatures); B, from the next second, makes a whole set; then A
		// goes on: two sets on the same base, each run blind to the other.
		argsOf := func(name string) []string {
			return []string{"backup", "--no-encryption", "--archive-dir", filepath.Join(t.TempDir(), "cache"), "--name", name, "--volsize", "1", "-v", "info", l.src, l.url}
		}
		argsA := argsOf("a")
		if err := os.MkdirAll(filepath.Join(argsA[3], "a"), 0o700); err != nil {
			t.Fatal(err)
		}
		g := newOpenGate(t, filepath.Join(argsA[3], "a"), func(p string) bool { return partialMeta.MatchString(filepath.Base(p)) })
		a := startProcess(t, l.env.List(), dupfsBin, argsA...)
		h := a.waitHeld(t, g, "run A to start its set")
		time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
		rb := Dupfs(t, l.env, argsOf("b")...)
		g.release(h)
		ra := a.wait(t)
		if ra.Code != 0 || rb.Code != 0 {
			t.Errorf("run A: %v\nrun B: %v", ra, rb)
		}
		t.Logf("target after: %q", l.files(t))
		// Neither run noticed the other; collection-status does: one of
		// the two incrementals is off the chain, its signatures orphaned.
		dstatus := Dupfs(t, l.env, "collection-status", "--no-encryption", "--archive-dir", t.TempDir(), l.url)
		t.Logf("dupfs collection-status:\n%s%s", dstatus.Stdout, dstatus.Stderr)
		if !strings.Contains(string(dstatus.Stdout), "found the following remote orphaned signature file") {
			t.Errorf("dupfs collection-status does not warn of the orphaned signatures: %v", dstatus)
		}
		l.checkRestore(t)
		// The set off the chain: restored by its time, it gives the state
		// of the set before it in the chain (the full), as with duplicity.
		var shadowed []string
		for _, when := range l.setTimes(t) {
			if slices.Contains(before, when) {
				continue
			}
			out := filepath.Join(t.TempDir(), "out")
			mustDupfs(t, l.env, "restore", "--no-encryption", "--archive-dir", l.base, "--name", "lk", "--time", when, l.url, out)
			got, err := Snapshot(out)
			if err != nil {
				t.Fatal(err)
			}
			opt := CompareOptions{IgnoreOwner: os.Geteuid() != 0}
			if len(Diff(l.snap, got, opt)) == 0 {
				continue
			}
			shadowed = append(shadowed, when)
			if d := Diff(old, got, opt); len(d) > 0 {
				t.Errorf("restore of %s is neither its source nor the full's:\n%s", when, strings.Join(d, "\n"))
			}
		}
		if len(shadowed) != 1 {
			t.Errorf("want one of the two sets off the chain, got %q", shadowed)
		}
		// The next run (A's archive dir) completes and restores.
		writeRandom(t, filepath.Join(l.src, "bulk", "last.bin"), rand.NewChaCha8(chachaSeed(9)), 100_000)
		l.resnap(t)
		rn := mustDupfs(t, l.env, argsA...)
		t.Logf("next run: %s", rn.Stderr)
		l.checkRestore(t)
		ReportFault(t, FaultCase{
			Case:     "2 overlapping backups, two archive dirs",
			Injected: "two `dupfs backup` of one source to one target, each with its own archive dir (no common lock), one inside the other",
			Lost: fmt.Sprintf("no file; both exit 0 unaware; the set of %s is off the chain (restored by its time it gives the full's state), "+
				"collection-status warns of its orphaned signatures; the next run: %s", strings.Join(shadowed, ", "), strings.TrimSpace(string(rn.Stderr))),
		})
	})
}

// resnap snapshots the source again.
func (l *lockTarget) resnap(t *testing.T) {
	t.Helper()
	snap, err := Snapshot(l.src)
	if err != nil {
		t.Fatal(err)
	}
	l.snap = snap
}

func (l *lockTarget) files(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(strings.TrimPrefix(l.url, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	return names(ents)
}

// checkClean checks duplicity's collection-status of the target: one
// chain, nothing orphaned or incomplete.
func (l *lockTarget) checkClean(t *testing.T) {
	t.Helper()
	r := Run(t.Context(), l.env.List(), "duplicity", "collection-status", "--no-encryption", "--archive-dir", t.TempDir(), l.url)
	out := string(r.Stdout)
	if r.Code != 0 || !strings.Contains(out, "No orphaned or incomplete backup sets found.") || strings.Contains(out, "Also found") {
		t.Errorf("duplicity collection-status: %v", r)
	}
}

// setTimes lists the end times of the sets in the target.
func (l *lockTarget) setTimes(t *testing.T) []string {
	t.Helper()
	var times []string
	for _, name := range l.files(t) {
		if m := manifestTime.FindStringSubmatch(name); m != nil {
			times = append(times, m[1])
		}
	}
	return times
}

// checkPoint restores the set of the given time: it must be the source
// as it is now.
func (l *lockTarget) checkPoint(t *testing.T, when string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	r := Dupfs(t, l.env, "restore", "--no-encryption", "--archive-dir", l.base, "--name", "lk", "--time", when, l.url, out)
	if r.Code != 0 {
		t.Errorf("restore of %s: %v", when, r)
		return
	}
	checkTree(t, l.snap, out)
}

// TestFaultFullDisk restores a backup of ~4 MB into a 2 MB tmpfs: dupfs
// exits non-zero naming the file and ENOSPC, without a panic, and a
// restore elsewhere is exact. A restore whose --tempdir is full fails the
// same way. Then a backup whose archive dir is on a full tmpfs fails the
// same way; once there is room the next run completes and restores.
func TestFaultFullDisk(t *testing.T) {
	t.Parallel()
	NeedDupfs(t)
	// Encrypted: a restore spools decrypted volumes in --tempdir.
	env := NewEnv(t).With("PASSPHRASE=" + keyPassphrase)
	dir := t.TempDir()
	src, url, cache := filepath.Join(dir, "src"), "file://"+filepath.Join(dir, "target"), filepath.Join(dir, "cache")
	if err := os.MkdirAll(filepath.Join(dir, "target"), 0o755); err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8(chachaSeed(9))
	writeRandom(t, filepath.Join(src, "a-small.txt"), rng, 1000)
	writeRandom(t, filepath.Join(src, "big", "random.bin"), rng, 4_000_000)
	writeRandom(t, filepath.Join(src, "z-small.txt"), rng, 1000)
	snap, err := Snapshot(src)
	if err != nil {
		t.Fatal(err)
	}
	tool := func(args ...string) []string {
		return append([]string{args[0], "--archive-dir", cache}, args[1:]...)
	}
	mustDupfs(t, env, tool("backup", "--volsize", "1", src, url)...)

	t.Run("restore-destination", func(t *testing.T) {
		small := mountTmpfs(t, "2m")
		out := filepath.Join(small, "out")
		r := Dupfs(t, env, tool("restore", url, out)...)
		msg := string(r.Stderr)
		if r.Code == 0 || !strings.Contains(msg, "no space left on device") || !strings.Contains(msg, out) || strings.Contains(msg, "panic") {
			t.Errorf("restore into a full disk: want a non-zero exit and an error naming the file and ENOSPC, got %v", r)
		}
		t.Logf("restore into a 2 MB tmpfs: exit %d: %s", r.Code, msg)
		// What the failed restore left: what differs from the source.
		left, err := Snapshot(out)
		if err != nil {
			t.Fatal(err)
		}
		affected := Diff(snap, left, CompareOptions{IgnoreOwner: os.Geteuid() != 0})
		t.Logf("the failed restore left, against the source:\n%s", strings.Join(affected, "\n"))
		big := filepath.Join(t.TempDir(), "out")
		mustDupfs(t, env, tool("restore", url, big)...)
		checkTree(t, snap, big)
		ReportFault(t, FaultCase{
			Case:     "full disk: restore destination",
			Injected: "restore of 4 MB into a 2 MB tmpfs",
			Lost:     fmt.Sprintf("the backup: nothing; the restore's destination, against the source: %s", strings.Join(affected, "; ")),
		})
	})

	t.Run("tempdir", func(t *testing.T) {
		small := mountTmpfs(t, "64k")
		r := Dupfs(t, env, tool("restore", "--tempdir", small, url, filepath.Join(t.TempDir(), "out"))...)
		msg := string(r.Stderr)
		if r.Code == 0 || !strings.Contains(msg, "no space left on device") || !strings.Contains(msg, small) || strings.Contains(msg, "panic") {
			t.Errorf("restore with a full --tempdir: want a non-zero exit and an error naming the spool file and ENOSPC, got %v", r)
		}
		t.Logf("restore with --tempdir on a 64 KB tmpfs: exit %d: %s", r.Code, msg)
		ReportFault(t, FaultCase{
			Case:     "full disk: restore --tempdir",
			Injected: "restore with --tempdir (decrypted volume spool) on a 64 KB tmpfs",
			Lost:     "the restore fails before writing; the backup: nothing",
		})
	})

	t.Run("archive-dir", func(t *testing.T) {
		small := mountTmpfs(t, "256k")
		own := filepath.Join(small, "cache")
		writeRandom(t, filepath.Join(src, "new", "random.bin"), rng, 2_000_000)
		next, err := Snapshot(src)
		if err != nil {
			t.Fatal(err)
		}
		backup := []string{"backup", "--archive-dir", own, "--volsize", "1", src, url}
		r := Dupfs(t, env, backup...)
		msg := string(r.Stderr)
		if r.Code == 0 || !strings.Contains(msg, "no space left on device") || !strings.Contains(msg, small) || strings.Contains(msg, "panic") {
			t.Errorf("backup with a full archive dir: want a non-zero exit and an error naming the file and ENOSPC, got %v", r)
		}
		t.Logf("backup with the archive dir on a 256 KB tmpfs: exit %d: %s", r.Code, msg)
		if out, err := exec.Command("mount", "-o", "remount,size=64m", small).CombinedOutput(); err != nil {
			t.Fatalf("remount %s larger: %v\n%s", small, err, out)
		}
		mustDupfs(t, env, append(backup[:len(backup)-2:len(backup)-2], "-v", "info", src, url)...)
		for i, want := range []Tree{snap, next} {
			out := filepath.Join(t.TempDir(), "out")
			args := []string{"restore", "--archive-dir", own}
			if i == 0 {
				first, err := firstSetTime(filepath.Join(dir, "target"))
				if err != nil {
					t.Fatal(err)
				}
				args = append(args, "--time", first)
			}
			mustDupfs(t, env, append(args, url, out)...)
			checkTree(t, want, out)
		}
		ReportFault(t, FaultCase{
			Case:     "full disk: archive dir",
			Injected: "backup with --archive-dir on a 256 KB tmpfs",
			Lost:     "nothing (that run fails; the next one completes)",
		})
	})
}

// firstSetTime is the oldest set end time among the manifests in dir.
func firstSetTime(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	first := ""
	for _, e := range ents {
		if m := manifestTime.FindStringSubmatch(e.Name()); m != nil && (first == "" || m[1] < first) {
			first = m[1]
		}
	}
	if first == "" {
		return "", fmt.Errorf("no manifest in %s", dir)
	}
	return first, nil
}

// mountTmpfs mounts a tmpfs of the given size on a new directory,
// unmounted when t ends; t is skipped if mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (needs root and mount permission): %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Logf("umount %s: %v\n%s; unmounting lazily", dir, err, out)
			exec.Command("umount", "-l", dir).Run()
		}
	})
	return dir
}
