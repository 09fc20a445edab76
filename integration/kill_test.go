package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// killMoments is how many times TestFaultKillBackup kills a backup.
const killMoments = 10

// TestFaultKillBackup kills `dupfs backup` with SIGKILL at ten random
// moments (a seeded RNG; DUPFS_FAULT_SEED replays a run), over a chain
// that grows by one set per round: the first round's full, then
// incrementals. Each kill lands somewhere in a run as long as the previous
// undisturbed one. After each kill the latest restore is the last
// completed point (never the interrupted set); a normal run then completes,
// and every completed point restores exactly.
func TestFaultKillBackup(t *testing.T) {
	t.Parallel()
	f := newWriterFixture(t, writerMode{vars: []string{"PASSPHRASE=" + keyPassphrase}})
	seed := faultSeed(t)
	chacha := rand.NewChaCha8(chachaSeed(seed))
	rng := rand.New(chacha)

	// Calibrate: an undisturbed full of the first source, elsewhere.
	mutateSource(t, f.src, chacha, 0)
	start := time.Now()
	mustDupfs(t, f.env, "backup", "--volsize", "1", "--archive-dir", t.TempDir(), f.src, "file://"+t.TempDir())
	runTime := time.Since(start)

	kills := 0
	for round := 0; kills < killMoments; round++ {
		if round >= 2*killMoments {
			t.Fatalf("only %d of %d runs were killed before they finished", kills, round)
		}
		if round > 0 {
			mutateSource(t, f.src, chacha, round)
		}
		snap, err := Snapshot(f.src)
		if err != nil {
			t.Fatal(err)
		}
		kind := "incremental"
		if round == 0 {
			kind = "full"
		}
		waitNextSecond(t, f)
		delay := time.Duration(rng.Int64N(int64(runTime)))
		p := startProcess(t, f.env.List(), dupfsBin, f.dupfsArgs("backup", f.dupfsWrite, "--volsize", "1", f.src, f.bk.URL())...)
		killed := true
		select {
		case <-p.exited:
			killed = false // finished before the moment came
		case <-time.After(delay):
			p.cmd.Process.Kill()
			<-p.exited
		}
		moment := fmt.Sprintf("SIGKILL %.2fs into a %s (undisturbed: %.2fs)", delay.Seconds(), kind, runTime.Seconds())
		if !killed {
			if p.err != nil {
				t.Fatalf("round %d: backup failed: %v\n%s", round, p.err, p.stderr.String())
			}
			// Finished first: a completed point, and a shorter bound for
			// the next moment.
			t.Logf("round %d: the %s finished before %.2fs", round, kind, delay.Seconds())
			runTime = delay
			f.recordSet(t, "dupfs backup")
			f.snaps = append(f.snaps, snap)
			continue
		}
		kills++
		t.Logf("round %d: %s", round, moment)

		// Before the next run: the latest point is the last completed one.
		latestOK := t.Run(fmt.Sprintf("round-%d-latest-after-kill", round), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			r := Dupfs(t, f.env, f.dupfsArgs("restore", f.dupfsRead, f.bk.URL(), out)...)
			switch {
			case len(f.snaps) == 0:
				if r.Code == 0 {
					t.Errorf("restore of a target holding only an interrupted full succeeded")
				}
			default:
				if r.Code != 0 {
					t.Fatalf("restore: %v", r)
				}
				checkTree(t, f.snaps[len(f.snaps)-1], out)
			}
		})

		// The normal run completes what was killed.
		waitNextSecond(t, f)
		start := time.Now()
		f.dupfsBackup(t)
		runTime = time.Since(start)
		f.snaps = append(f.snaps, snap)

		allOK := t.Run(fmt.Sprintf("round-%d-every-point", round), func(t *testing.T) {
			for k, when := range f.bk.Times {
				t.Run(fmt.Sprintf("point-%d", k), func(t *testing.T) {
					t.Parallel()
					out := filepath.Join(t.TempDir(), "out")
					mustDupfs(t, f.env, f.dupfsArgs("restore", f.dupfsRead, "--time", when, f.bk.URL(), out)...)
					checkTree(t, f.snaps[k], out)
				})
			}
		})
		lost := "nothing"
		if !latestOK || !allOK {
			lost = "SEE FAILURE"
		}
		ReportFault(t, FaultCase{
			Case:     fmt.Sprintf("kill -9 backup #%d", kills),
			Injected: moment,
			Lost:     lost + fmt.Sprintf(" (%d points restore exactly)", len(f.bk.Times)),
		})
	}
	t.Run("duplicity-restores-latest", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		f.bk.MustDuplicity(t, "restore", "--archive-dir", t.TempDir(), f.bk.URL(), out)
		checkTree(t, f.snaps[len(f.snaps)-1], out)
	})
	f.checkStatus(t)
}

// mutateSource makes round k's source: the first round writes ~3 MB in
// a few big files and 120 small ones; later rounds rewrite part of a big
// file, add and delete small ones, so each incremental has deltas, new
// and deleted files across a few volumes.
func mutateSource(t *testing.T, src string, chacha *rand.ChaCha8, k int) {
	t.Helper()
	rng := rand.New(chacha)
	write := func(rel string, n int) {
		p := filepath.Join(src, rel)
		writeRandom(t, p, chacha, int64(n))
		// Distinct mtimes per round: the change must be seen even within
		// the second of the last backup.
		mt := time.Unix(1_700_000_000+int64(k)*3600, 0)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	if k == 0 {
		for i := range 3 {
			write(fmt.Sprintf("big/%d.bin", i), 1<<20)
		}
		for i := range 120 {
			write(fmt.Sprintf("small/%02d/f%03d", i%10, i), rng.IntN(8<<10))
		}
		return
	}
	write(fmt.Sprintf("big/%d.bin", k%3), 1<<20)
	for range 20 {
		write(fmt.Sprintf("small/%02d/r%d-%d", rng.IntN(10), k, rng.IntN(1000)), rng.IntN(8<<10))
	}
	ents, err := os.ReadDir(filepath.Join(src, "small", fmt.Sprintf("%02d", k%10)))
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range ents {
		if i%4 == 0 {
			if err := os.Remove(filepath.Join(src, "small", fmt.Sprintf("%02d", k%10), e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// waitNextSecond waits until the clock is past the last set's second, so
// the next set gets a time of its own (duplicity's names have seconds).
func waitNextSecond(t *testing.T, f *writerFixture) {
	t.Helper()
	if len(f.bk.Times) == 0 {
		return
	}
	last, err := ParseTime(f.bk.Times[len(f.bk.Times)-1])
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(last.Add(time.Second)); d > 0 {
		time.Sleep(d + 10*time.Millisecond)
	}
}
