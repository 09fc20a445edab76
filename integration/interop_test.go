package integration

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// modeConfig is how one encryption/naming mode is spelled to each tool.
type modeConfig struct {
	shared    []string // options both duplicity and dupfs take
	duplicity []string // duplicity only (e.g. --encrypt-key)
	dupfs     []string // dupfs only (e.g. --secret-key-file)
	vars      []string // environment (PASSPHRASE)
	publicKey bool     // generate a key pair; encrypt to it, restore with it
	timeForms bool     // also check other --time forms and selections
}

const keyPassphrase = "correct horse battery staple"

func TestInteropNoEncryption(t *testing.T) {
	t.Parallel()
	testInterop(t, modeConfig{shared: []string{"--no-encryption"}, timeForms: true})
}

func TestInteropSymmetricPrefixes(t *testing.T) {
	t.Parallel()
	testInterop(t, modeConfig{
		shared: []string{
			"--file-prefix-manifest", "hot_",
			"--file-prefix-signature", "hot_",
			"--file-prefix-archive", "cold_",
		},
		vars: []string{"PASSPHRASE=" + keyPassphrase},
	})
}

func TestInteropPublicKey(t *testing.T) {
	t.Parallel()
	testInterop(t, modeConfig{publicKey: true})
}

// testInterop backs the scenario up with duplicity (full + 4 incrementals)
// and checks, at every time point, that both duplicity's and dupfs's
// restores equal the source as it was, and that listings and collection
// status agree.
func testInterop(t *testing.T, cfg modeConfig) {
	NeedTools(t)
	env := NewEnv(t)
	if cfg.publicKey {
		fpr, keyFile := GenerateKey(t, env, keyPassphrase)
		cfg.duplicity = []string{"--encrypt-key", fpr}
		cfg.dupfs = []string{"--secret-key-file", keyFile}
		cfg.vars = []string{"PASSPHRASE=" + keyPassphrase}
	}
	env = env.With(cfg.vars...)
	bk := NewBackup(t, env, append(append([]string(nil), cfg.shared...), cfg.duplicity...)...)
	dupfsCache := filepath.Join(t.TempDir(), "dupfs-cache")
	dupfsArgs := func(command string, args ...string) []string {
		argv := append([]string{command}, cfg.shared...)
		argv = append(argv, cfg.dupfs...)
		argv = append(argv, "--archive-dir", dupfsCache)
		return append(argv, args...)
	}

	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	snaps := make([]Tree, Steps)
	for k := range Steps {
		if err := ApplyStep(src, k); err != nil {
			t.Fatal(err)
		}
		snap, err := Snapshot(src)
		if err != nil {
			t.Fatal(err)
		}
		snaps[k] = snap
		bk.Run(t, src, k == 0)
	}
	checkFixture(t, bk)

	for k, when := range bk.Times {
		t.Run(fmt.Sprintf("restore-%d", k), func(t *testing.T) {
			t.Run("duplicity", func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				bk.MustDuplicity(t, "restore", "--time", when, bk.URL(), out)
				checkTree(t, snaps[k], out)
			})
			t.Run("dupfs", func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				mustDupfs(t, env, dupfsArgs("restore", "--time", when, bk.URL(), out)...)
				checkTree(t, snaps[k], out)
			})
		})
	}

	// Single files (one spanning volumes, patched) and subtrees.
	for _, pr := range []struct {
		step int
		path string
	}{
		{2, "big.bin"},
		{1, "turncoat"},
		{3, "日本語"},
		{3, "bad\xff\xfename"},
	} {
		when := bk.Times[pr.step]
		want := snaps[pr.step].Sub(pr.path)
		t.Run(fmt.Sprintf("path-%d-%q", pr.step, pr.path), func(t *testing.T) {
			t.Run("duplicity", func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				bk.MustDuplicity(t, "restore", "--time", when, "--file-to-restore", pr.path, bk.URL(), out)
				checkTree(t, want, out)
			})
			t.Run("dupfs", func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				mustDupfs(t, env, dupfsArgs("restore", "--time", when, "--path", pr.path, bk.URL(), out)...)
				checkTree(t, want, out)
			})
		})
	}

	for k, when := range bk.Times {
		t.Run(fmt.Sprintf("list-%d", k), func(t *testing.T) {
			dup := ParseListing(bk.MustDuplicity(t, "list-current-files", "--time", when, bk.URL()).Stdout)
			var dupPaths []string
			for _, e := range dup {
				dupPaths = append(dupPaths, e.Path)
			}
			var want []string
			for _, p := range snaps[k].Paths() {
				want = append(want, displayPath(p))
			}
			if d := diffLists(want, dupPaths); d != "" {
				t.Fatalf("duplicity's listing differs from the source (fixture or parser bug):\n%s", d)
			}
			// Options after the positional URL: the contract allows both orders.
			argv := append([]string{"list-current-files", bk.URL()}, dupfsArgs("")[1:]...)
			argv = append(argv, "--time", when)
			got := ParseListing(mustDupfs(t, env, argv...).Stdout)
			if d := diffLists(listStrings(dup), listStrings(got)); d != "" {
				t.Errorf("dupfs list-current-files differs from duplicity's (- duplicity, + dupfs):\n%s", d)
			}
		})
	}

	t.Run("collection-status", func(t *testing.T) {
		dup := StatusSummary(bk.MustDuplicity(t, "collection-status", bk.URL()).Stdout)
		sets := "Number of contained backup sets: " + strconv.Itoa(Steps)
		if !contains(dup, "Found primary backup chain with matching signature chain:") || !contains(dup, sets) {
			t.Fatalf("duplicity's collection-status lacks the primary chain of %d sets:\n%s", Steps, strings.Join(dup, "\n"))
		}
		got := StatusSummary(mustDupfs(t, env, dupfsArgs("collection-status", bk.URL())...).Stdout)
		if d := diffLists(dup, got); d != "" {
			t.Errorf("dupfs collection-status differs from duplicity's (- duplicity, + dupfs):\n%s", d)
		}
	})

	if !cfg.timeForms {
		return
	}
	// Other --time forms and selections: before the first backup restores
	// the first full; an integer time between two sets restores the earlier.
	first, err := ParseTime(bk.Times[0])
	if err != nil {
		t.Fatal(err)
	}
	t2, err := ParseTime(bk.Times[2])
	if err != nil {
		t.Fatal(err)
	}
	t3, err := ParseTime(bk.Times[3])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		when string
		want Tree
	}{
		{"before-first", strconv.FormatInt(first.Unix()-3600, 10), snaps[0]},
		{"between-2-3", strconv.FormatInt((t2.Unix()+t3.Unix())/2, 10), snaps[2]},
		{"now", "now", snaps[Steps-1]},
	} {
		t.Run("time-"+tc.name, func(t *testing.T) {
			t.Run("duplicity", func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				bk.MustDuplicity(t, "restore", "--time", tc.when, bk.URL(), out)
				checkTree(t, tc.want, out)
			})
			t.Run("dupfs", func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				mustDupfs(t, env, dupfsArgs("restore", "--time", tc.when, bk.URL(), out)...)
				checkTree(t, tc.want, out)
			})
		})
	}
}

// checkFixture makes sure the backup exercises what the suite claims:
// a multi-volume full and one set per step.
func checkFixture(t *testing.T, bk *Backup) {
	t.Helper()
	var vol2, manifests int
	for _, name := range bk.Files(t) {
		if strings.Contains(name, "duplicity-full."+bk.Times[0]+".vol2.difftar") {
			vol2++
		}
		if strings.Contains(name, ".manifest") {
			manifests++
		}
	}
	if vol2 != 1 || manifests != Steps {
		t.Fatalf("fixture: want a 2+ volume full and %d manifests, target holds %q", Steps, bk.Files(t))
	}
}

// mustDupfs runs dupfs and fails t on a non-zero exit.
func mustDupfs(t *testing.T, env Env, args ...string) Result {
	t.Helper()
	r := Dupfs(t, env, args...)
	if r.Code != 0 {
		t.Fatalf("dupfs failed: %v", r)
	}
	return r
}

// checkTree compares the tree at dir with want and reports every difference.
func checkTree(t *testing.T, want Tree, dir string) {
	t.Helper()
	got, err := Snapshot(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := Diff(want, got, CompareOptions{IgnoreOwner: os.Geteuid() != 0}); len(d) > 0 {
		t.Errorf("%s differs from the source in %d ways:\n%s", dir, len(d), strings.Join(d, "\n"))
	}
}

func displayPath(p string) string {
	if p == "" {
		return "."
	}
	return p
}

func listStrings(entries []ListEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Date + " " + e.Path
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// diffLists describes how got differs from want ("" if equal): every
// missing and extra line with its position, quoted so odd bytes show.
func diffLists(want, got []string) string {
	if strings.Join(want, "\x00") == strings.Join(got, "\x00") {
		return ""
	}
	inGot := map[string]int{}
	for _, s := range got {
		inGot[s]++
	}
	inWant := map[string]int{}
	for _, s := range want {
		inWant[s]++
	}
	var b strings.Builder
	for i, s := range want {
		if inGot[s] == 0 {
			fmt.Fprintf(&b, "- [%d] %q\n", i, s)
		}
	}
	for i, s := range got {
		if inWant[s] == 0 {
			fmt.Fprintf(&b, "+ [%d] %q\n", i, s)
		}
	}
	if b.Len() == 0 {
		fmt.Fprintf(&b, "same lines, different order or multiplicity:\nwant %q\ngot  %q\n", want, got)
	}
	return b.String()
}

func TestVersion(t *testing.T) {
	r := Dupfs(t, Env{Home: t.TempDir()}, "--version")
	if r.Code != 0 || len(bytes.TrimSpace(r.Stdout)) == 0 {
		t.Errorf("dupfs --version: %v", r)
	}
}
