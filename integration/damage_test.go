package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestFaultDamagedVolume damages one volume of a full backup (a flipped
// byte, a truncation, a deletion) that an incremental builds on, then
// restores the latest point, copies it out of a mount, and checks exactly
// what was lost. The oracle for "exactly" is the real gpg and tar: the
// paths the volume held, less those the incremental stored whole again.
func TestFaultDamagedVolume(t *testing.T) {
	t.Parallel()
	f := newWriterFixture(t, writerMode{vars: []string{"PASSPHRASE=" + keyPassphrase}})
	for k := range 2 {
		f.step(t, k)
		f.dupfsBackup(t)
	}
	latest := f.bk.Times[1]
	var fullVols, incVols []string
	for _, name := range f.bk.Files(t) {
		switch {
		case strings.Contains(name, "-full.") && strings.Contains(name, ".difftar."):
			fullVols = append(fullVols, name)
		case strings.Contains(name, "-inc.") && strings.Contains(name, ".difftar."):
			incVols = append(incVols, name)
		}
	}
	if len(fullVols) < 2 {
		t.Fatalf("fixture: want at least 3 full volumes, got %q", fullVols)
	}
	superseded := map[string]bool{}
	for _, v := range incVols {
		for p, kind := range tarPaths(t, f.env, filepath.Join(f.bk.Target, v)) {
			if kind != "diff" {
				superseded[p] = true
			}
		}
	}
	// The damaged volume is the full volume the latest point loses most
	// paths to; want is what it loses.
	var bad string
	var want []string
	for _, v := range fullVols {
		var lost []string
		for p := range tarPaths(t, f.env, filepath.Join(f.bk.Target, v)) {
			if _, exists := f.snaps[1][treeKey(p)]; exists && !superseded[p] {
				lost = append(lost, p)
			}
		}
		if len(lost) > len(want) {
			bad, want = v, lost
		}
	}
	slices.Sort(want)
	if len(want) < 2 {
		t.Fatalf("fixture: no full volume holds several paths the latest point needs")
	}

	damages := []struct {
		name string
		do   func(p string) error
	}{
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x01
			return os.WriteFile(p, b, 0o644)
		}},
		{"truncated", func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()/2)
		}},
		{"deleted", os.Remove},
	}
	t.Run("lost-manifest", func(t *testing.T) {
		// Without its manifest the incremental is unusable: the restore
		// says so and gives the full backup's point, exactly.
		t.Parallel()
		target := copyTree(t, f.bk.Target)
		for _, name := range f.bk.Files(t) {
			if strings.Contains(name, "-inc.") && strings.Contains(name, ".manifest") {
				if err := os.Remove(filepath.Join(target, name)); err != nil {
					t.Fatal(err)
				}
			}
		}
		out := filepath.Join(t.TempDir(), "restore")
		r := Dupfs(t, f.env, "restore", "--archive-dir", filepath.Join(t.TempDir(), "cache"), "file://"+target, out)
		if r.Code != 0 || !strings.Contains(string(r.Stderr), "incomplete") {
			t.Fatalf("restore: want success with a warning about the incomplete set, got %v", r)
		}
		checkTree(t, f.snaps[0], out)
		ReportFault(t, FaultCase{
			Case:     "manifest deleted: restore latest",
			Injected: "the incremental's manifest deleted",
			Lost:     "the incremental's point (warned); the full's point restored exactly",
		})
	})
	for _, d := range damages {
		t.Run(strings.ReplaceAll(d.name, " ", "-"), func(t *testing.T) {
			t.Parallel()
			target := copyTree(t, f.bk.Target)
			if err := d.do(filepath.Join(target, bad)); err != nil {
				t.Fatal(err)
			}
			url := "file://" + target

			// restore: exit 3, the volume named, the lost files listed one
			// by one and exactly, everything else as it was.
			out := filepath.Join(t.TempDir(), "restore")
			r := Dupfs(t, f.env, "restore", "--archive-dir", filepath.Join(t.TempDir(), "cache"), "--time", latest, url, out)
			if r.Code != 3 || !strings.Contains(string(r.Stderr), bad) {
				t.Fatalf("restore: want exit 3 naming %s, got %v", bad, r)
			}
			lost := notRestored(r.Stderr)
			if !slices.Equal(lost, want) {
				t.Errorf("restore reported lost %q\nwant exactly %q", lost, want)
			}
			checkOnlyLost(t, f.snaps[1], out, want)
			ReportFault(t, FaultCase{
				Case:     "volume " + d.name + ": restore",
				Injected: d.name + " in full vol " + volNumber(bad) + " under an incremental",
				Lost:     lostSummary(lost),
			})

			// verify: the stored-file check names exactly the volume; the
			// comparison with the source names exactly the lost paths.
			v := Dupfs(t, f.env, "verify", "--archive-dir", filepath.Join(t.TempDir(), "cache"), url)
			var failedFiles []string
			for _, line := range strings.Split(string(v.Stdout), "\n") {
				if name, ok := strings.CutPrefix(line, "FAILED "); ok {
					failedFiles = append(failedFiles, strings.SplitN(name, ":", 2)[0])
				}
			}
			if v.Code != 1 || !slices.Equal(failedFiles, []string{bad}) {
				t.Errorf("verify URL: want exit 1 and exactly %s FAILED, got %q: %v", bad, failedFiles, v)
			}
			v = Dupfs(t, f.env, "verify", "--compare-data", "--archive-dir", filepath.Join(t.TempDir(), "cache"), url, f.src)
			var unread []string
			for _, line := range strings.Split(string(v.Stdout), "\n") {
				if rest, ok := strings.CutPrefix(line, "changed "); ok && strings.Contains(rest, ": cannot read backup: ") {
					p, _, _ := strings.Cut(rest, ": cannot read backup: ")
					if q, err := strconv.Unquote(p); err == nil {
						p = q
					}
					unread = append(unread, p)
				} else if line != "" {
					t.Errorf("verify URL DIR: unexpected difference %q", line)
				}
			}
			slices.Sort(unread)
			if v.Code != 1 || !slices.Equal(unread, want) || !strings.Contains(string(v.Stderr), bad) {
				t.Errorf("verify URL DIR: want exit 1, %s named, and exactly %q unreadable; got %q: %v", bad, want, unread, v)
			}
			ReportFault(t, FaultCase{
				Case:     "volume " + d.name + ": verify",
				Injected: d.name + " in full vol " + volNumber(bad),
				Lost:     "verify URL: exactly that volume FAILED; verify URL DIR: " + lostSummary(unread) + " unreadable",
			})

			// mount: cp -a fails on exactly the regular files needing the
			// volume; everything else copies exactly.
			mdir := filepath.Join(t.TempDir(), "mnt")
			if err := os.Mkdir(mdir, 0o755); err != nil {
				t.Fatal(err)
			}
			m := Mount(t, f.env, mdir, "mount", "--archive-dir", filepath.Join(t.TempDir(), "cache"),
				"--cache-dir", filepath.Join(t.TempDir(), "mcache"), url, mdir)
			cpOut := filepath.Join(t.TempDir(), "cp")
			cp := Run(t.Context(), f.env.List(), "cp", "-a", filepath.Join(mdir, pointName(t, latest))+"/.", cpOut)
			if cp.Code == 0 {
				t.Errorf("cp -a of the damaged point succeeded")
			}
			var wantFiles []string
			for _, p := range want {
				if e := f.snaps[1][treeKey(p)]; e.Type == "file" && e.Size > 0 {
					wantFiles = append(wantFiles, p)
				}
			}
			// cp names files in shell quoting; count its complaints and see
			// which files it could not copy.
			got, err := Snapshot(cpOut)
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for p, e := range f.snaps[1] {
				if _, ok := got[p]; !ok && e.Type == "file" {
					failed = append(failed, p)
				}
			}
			slices.Sort(failed)
			if !slices.Equal(failed, wantFiles) {
				t.Errorf("cp -a could not copy %q\nwant exactly %q", failed, wantFiles)
			}
			if n := strings.Count(string(cp.Stderr), "cp: "); n != len(wantFiles) {
				t.Errorf("cp -a complained %d times, want %d:\n%s", n, len(wantFiles), cp.Stderr)
			}
			checkOnlyLost(t, f.snaps[1], cpOut, want)
			m.stop(t, 15)
			if !strings.Contains(m.stderr.String(), bad) {
				t.Errorf("the mount's log does not name %s", bad)
			}
			ReportFault(t, FaultCase{
				Case:     "volume " + d.name + ": mount cp -a",
				Injected: d.name + " in full vol " + volNumber(bad),
				Lost:     lostSummary(failed) + " (EIO)",
			})
		})
	}
}

// tarPaths lists the paths a volume holds, with the kind of each member
// (snapshot, diff, deleted), decrypted by the real gpg and listed by tar.
func tarPaths(t *testing.T, env Env, vol string) map[string]string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "sh", "-c",
		`gpg --batch --quiet --pinentry-mode loopback --passphrase "$PASSPHRASE" -d "$1" | tar -t --quoting-style=c`, "sh", vol)
	cmd.Env = env.List()
	outb, err := cmd.Output()
	if err != nil {
		t.Fatalf("gpg -d %s | tar -t: %v", vol, err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(outb)), "\n") {
		name, err := strconv.Unquote(line)
		if err != nil {
			t.Fatalf("tar -t: %q: %v", line, err)
		}
		kind, rest, _ := strings.Cut(name, "/")
		if m, ok := strings.CutPrefix(kind, "multivol_"); ok {
			kind = m
			if i := strings.LastIndex(rest, "/"); i >= 0 {
				rest = rest[:i]
			}
		}
		rest = strings.TrimSuffix(rest, "/")
		if rest == "" {
			rest = "."
		}
		out[rest] = kind
	}
	return out
}

// notRestored lists, sorted, the paths a restore's stderr names as lost.
// Messages are split where a line starts with "dupfs: ", so a name may
// hold a newline.
func notRestored(stderr []byte) []string {
	var out []string
	for _, msg := range strings.Split("\n"+string(stderr), "\ndupfs: ") {
		if rest, ok := strings.CutPrefix(msg, "warning: "); ok {
			if p, _, ok := strings.Cut(rest, ": not restored: "); ok {
				out = append(out, p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// checkOnlyLost checks that dir equals want except at the lost paths (and
// the default-mode parents a lost directory leaves).
func checkOnlyLost(t *testing.T, want Tree, dir string, lost []string) {
	t.Helper()
	got, err := Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range Diff(want, got, CompareOptions{IgnoreOwner: os.Geteuid() != 0}) {
		p := d
		if q, err := strconv.QuotedPrefix(d); err == nil {
			p, _ = strconv.Unquote(q)
		}
		if !slices.Contains(lost, p) {
			t.Errorf("%s: wrong, yet not reported lost: %s", dir, d)
		}
	}
}

// treeKey is a displayed path's key in a Tree (the root is "").
func treeKey(p string) string {
	if p == "." {
		return ""
	}
	return p
}

func volNumber(name string) string {
	m := regexp.MustCompile(`\.vol(\d+)\.`).FindStringSubmatch(name)
	if m == nil {
		return name
	}
	return m[1]
}

func lostSummary(paths []string) string {
	if len(paths) == 0 {
		return "nothing"
	}
	quoted := make([]string, len(paths))
	for i, p := range paths {
		quoted[i] = strconv.Quote(p)
	}
	return fmt.Sprintf("exactly the %d paths it held: %s", len(paths), strings.Join(quoted, " "))
}
