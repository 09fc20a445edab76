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

// The writer suites: dupfs writes the backups, and the real duplicity is
// the judge that must restore, verify and list them.

func TestWriterInteropNoEncryption(t *testing.T) {
	t.Parallel()
	testWriterInterop(t, writerMode{shared: []string{"--no-encryption"}})
}

func TestWriterInteropSymmetricPrefixes(t *testing.T) {
	t.Parallel()
	testWriterInterop(t, writerMode{
		shared: []string{
			"--file-prefix-manifest", "hot_",
			"--file-prefix-signature", "hot_",
			"--file-prefix-archive", "cold_",
		},
		vars: []string{"PASSPHRASE=" + keyPassphrase},
	})
}

func TestWriterInteropPublicKey(t *testing.T) {
	t.Parallel()
	testWriterInterop(t, writerMode{publicKey: true})
}

// writerMode is how one encryption/naming mode is spelled to each tool.
type writerMode struct {
	shared    []string // options both duplicity and dupfs take
	vars      []string // environment (PASSPHRASE)
	publicKey bool     // generate a key pair: dupfs encrypts to its public half
}

// writerFixture is one target written by dupfs (and, in the mixed tests,
// by duplicity too), with a separate archive dir per tool so that each
// must fetch the other's manifests and signatures from the target.
type writerFixture struct {
	env        Env
	bk         *Backup  // duplicity's side; bk.Times collects every set made
	dupfsCache string   // dupfs's --archive-dir
	dupfsWrite []string // dupfs backup options (mode, --encrypt-key-file)
	dupfsRead  []string // dupfs restore options (mode, --secret-key-file)
	src        string
	snaps      []Tree // the source as each set in bk.Times saw it
}

func newWriterFixture(t *testing.T, mode writerMode) *writerFixture {
	t.Helper()
	NeedTools(t)
	NeedDupfs(t)
	env := NewEnv(t)
	f := &writerFixture{dupfsCache: filepath.Join(t.TempDir(), "dupfs-cache")}
	duplicityOpts := append([]string(nil), mode.shared...)
	f.dupfsWrite = append([]string(nil), mode.shared...)
	f.dupfsRead = append([]string(nil), mode.shared...)
	if mode.publicKey {
		fpr, secretKeyFile := GenerateKey(t, env, keyPassphrase)
		publicKeyFile := exportPublicKey(t, env, fpr)
		duplicityOpts = append(duplicityOpts, "--encrypt-key", fpr)
		// Only the public key to write: like duplicity without the secret
		// key, dupfs must work from its own cached signatures.
		f.dupfsWrite = append(f.dupfsWrite, "--encrypt-key-file", publicKeyFile)
		f.dupfsRead = append(f.dupfsRead, "--secret-key-file", secretKeyFile)
		mode.vars = append(mode.vars, "PASSPHRASE="+keyPassphrase)
	}
	f.env = env.With(mode.vars...)
	f.bk = NewBackup(t, f.env, duplicityOpts...)
	f.src = filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(f.src, 0o755); err != nil {
		t.Fatal(err)
	}
	return f
}

// exportPublicKey writes the armored public key fpr from env's keyring to
// a file.
func exportPublicKey(t *testing.T, env Env, fpr string) string {
	t.Helper()
	r := Run(t.Context(), env.List(), "gpg", "--batch", "--export", "--armor", fpr)
	if r.Code != 0 || !bytes.Contains(r.Stdout, []byte("BEGIN PGP PUBLIC KEY BLOCK")) {
		t.Fatalf("gpg --export --armor: %v", r)
	}
	p := filepath.Join(t.TempDir(), "public.asc")
	if err := os.WriteFile(p, r.Stdout, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// step applies scenario step k to the source and records its snapshot.
func (f *writerFixture) step(t *testing.T, k int) {
	t.Helper()
	if err := ApplyStep(f.src, k); err != nil {
		t.Fatal(err)
	}
	snap, err := Snapshot(f.src)
	if err != nil {
		t.Fatal(err)
	}
	f.snaps = append(f.snaps, snap)
}

// dupfsArgs is `command <options> --archive-dir <dupfs's> args...`.
func (f *writerFixture) dupfsArgs(command string, opts []string, args ...string) []string {
	argv := append([]string{command}, opts...)
	argv = append(argv, "--archive-dir", f.dupfsCache)
	return append(argv, args...)
}

// dupfsBackup runs `dupfs backup` (plus extra options) on the source in
// 1 MiB volumes, checks that it made a new set and records its time.
func (f *writerFixture) dupfsBackup(t *testing.T, extra ...string) Result {
	t.Helper()
	args := append(append([]string{"--volsize", "1"}, extra...), f.src, f.bk.URL())
	r := mustDupfs(t, f.env, f.dupfsArgs("backup", f.dupfsWrite, args...)...)
	f.recordSet(t, "dupfs backup")
	return r
}

// duplicityBackup makes a duplicity full or incremental of the source.
func (f *writerFixture) duplicityBackup(t *testing.T, full bool) {
	t.Helper()
	f.bk.Run(t, f.src, full)
}

func (f *writerFixture) recordSet(t *testing.T, what string) {
	t.Helper()
	latest, err := LatestSetTime(f.bk.Target)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(f.bk.Times); n > 0 && latest <= f.bk.Times[n-1] {
		t.Fatalf("%s made no new set after %s; target holds %q", what, f.bk.Times[n-1], f.bk.Files(t))
	}
	f.bk.Times = append(f.bk.Times, latest)
}

// checkRestores restores every time point with both tools and compares
// each with the source as that set saw it.
func (f *writerFixture) checkRestores(t *testing.T) {
	t.Helper()
	if len(f.snaps) != len(f.bk.Times) {
		t.Fatalf("fixture: %d snapshots for %d sets", len(f.snaps), len(f.bk.Times))
	}
	for k, when := range f.bk.Times {
		t.Run(fmt.Sprintf("restore-%d", k), func(t *testing.T) {
			t.Run("duplicity", func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				f.bk.MustDuplicity(t, "restore", "--time", when, f.bk.URL(), out)
				checkTree(t, f.snaps[k], out)
			})
			t.Run("dupfs", func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "out")
				mustDupfs(t, f.env, f.dupfsArgs("restore", f.dupfsRead, "--time", when, f.bk.URL(), out)...)
				checkTree(t, f.snaps[k], out)
			})
		})
	}
}

// checkVerify runs `duplicity verify --compare-data` of the latest point
// against the source, which must still be as the last set saw it.
func (f *writerFixture) checkVerify(t *testing.T) {
	t.Helper()
	t.Run("verify", func(t *testing.T) {
		r := f.bk.Duplicity(t, "verify", "--compare-data", f.bk.URL(), f.src)
		if r.Code != 0 {
			t.Errorf("duplicity verify of the latest set against the source: %v", r)
		}
		t.Logf("%s", r.Stdout)
	})
}

// checkStatus checks duplicity's collection-status: one primary chain of
// all the sets made and nothing else; dupfs must summarise it the same.
func (f *writerFixture) checkStatus(t *testing.T) {
	t.Helper()
	t.Run("collection-status", func(t *testing.T) {
		dup := StatusSummary(f.bk.MustDuplicity(t, "collection-status", f.bk.URL()).Stdout)
		n := len(f.bk.Times)
		want := []string{
			"Found primary backup chain with matching signature chain:",
			"Number of contained backup sets: " + strconv.Itoa(n),
			"No orphaned or incomplete backup sets found.",
		}
		for _, w := range want {
			if !contains(dup, w) {
				t.Errorf("duplicity's collection-status lacks %q:\n%s", w, strings.Join(dup, "\n"))
			}
		}
		var sets []string
		for _, line := range dup {
			if strings.HasPrefix(line, "Full ") || strings.HasPrefix(line, "Incremental ") {
				sets = append(sets, line)
			}
			extra := strings.HasPrefix(line, "Also found") ||
				statusChains.MatchString(line) && !strings.HasPrefix(line, "Found 0 ")
			if extra {
				t.Errorf("duplicity's collection-status: unexpected %q", line)
			}
		}
		if len(sets) != n || n > 0 && !strings.HasPrefix(sets[0], "Full ") {
			t.Errorf("duplicity's collection-status: want a full and %d incrementals, got %q", n-1, sets)
		}
		got := StatusSummary(mustDupfs(t, f.env, f.dupfsArgs("collection-status", f.dupfsRead, f.bk.URL())...).Stdout)
		if d := diffLists(dup, got); d != "" {
			t.Errorf("dupfs collection-status differs from duplicity's (- duplicity, + dupfs):\n%s", d)
		}
	})
}

// testWriterInterop backs the scenario up with dupfs (a full, then an
// incremental per step, the last one empty) and has duplicity restore
// every point, verify the last and report one clean chain.
func testWriterInterop(t *testing.T, mode writerMode) {
	f := newWriterFixture(t, mode)
	for k := range Steps {
		f.step(t, k)
		f.dupfsBackup(t)
	}
	checkWriterFixture(t, f.bk)
	f.checkRestores(t)
	f.checkVerify(t)
	f.checkStatus(t)
}

// checkWriterFixture makes sure the backup exercises what the suite
// claims: a multi-volume full, a multi-volume incremental (step 1 adds a
// file larger than a volume) and one set per step.
func checkWriterFixture(t *testing.T, bk *Backup) {
	t.Helper()
	var fullVol2, incVol2, manifests int
	for _, name := range bk.Files(t) {
		switch {
		case strings.Contains(name, "duplicity-full."+bk.Times[0]+".vol2.difftar"):
			fullVol2++
		case strings.Contains(name, "duplicity-inc."+bk.Times[0]+".to."+bk.Times[1]+".vol2.difftar"):
			incVol2++
		case strings.Contains(name, ".manifest"):
			manifests++
		}
	}
	if fullVol2 != 1 || incVol2 != 1 || manifests != Steps {
		t.Fatalf("fixture: want a 2+ volume full, a 2+ volume first incremental and %d manifests, target holds %q", Steps, bk.Files(t))
	}
}

// TestWriterMixedDuplicityFull: duplicity starts the chain, dupfs (with its
// own archive dir) extends it with two incrementals.
func TestWriterMixedDuplicityFull(t *testing.T) {
	t.Parallel()
	f := newWriterFixture(t, writerMode{vars: []string{"PASSPHRASE=" + keyPassphrase}})
	f.step(t, 0)
	f.duplicityBackup(t, true)
	for k := 1; k <= 2; k++ {
		f.step(t, k)
		f.dupfsBackup(t)
	}
	f.checkRestores(t)
	f.checkStatus(t)
}

// TestWriterMixedDupfsFull: dupfs makes the full, duplicity (with its own
// archive dir) extends it with two incrementals.
func TestWriterMixedDupfsFull(t *testing.T) {
	t.Parallel()
	f := newWriterFixture(t, writerMode{shared: []string{"--no-encryption"}})
	f.step(t, 0)
	f.dupfsBackup(t, "--full")
	for k := 1; k <= 2; k++ {
		f.step(t, k)
		f.duplicityBackup(t, false)
	}
	f.checkRestores(t)
	f.checkStatus(t)
}

// TestWriterEmptyIncremental backs an unchanged tree up twice: the second
// set is an empty incremental, which duplicity must accept. The statistics
// block of each run must name the same fields, in the same order, as
// duplicity's block for the same backups of the same tree.
func TestWriterEmptyIncremental(t *testing.T) {
	t.Parallel()
	f := newWriterFixture(t, writerMode{shared: []string{"--no-encryption"}})
	f.step(t, 0)
	full := f.dupfsBackup(t, "--print-statistics")
	f.snaps = append(f.snaps, f.snaps[0])
	inc := f.dupfsBackup(t, "--print-statistics")

	// The empty incremental: a volume with no entries, an empty signature
	// tar, a manifest.
	var incFiles []string
	for _, name := range f.bk.Files(t) {
		if strings.Contains(name, ".to."+f.bk.Times[1]+".") {
			incFiles = append(incFiles, name)
		}
	}
	if len(incFiles) != 3 {
		t.Errorf("empty incremental: want a volume, signatures and a manifest, got %q", incFiles)
	}
	f.checkRestores(t)
	f.checkVerify(t)
	f.checkStatus(t)

	// duplicity's own runs on the same tree, to another target.
	ref := NewBackup(t, f.env, "--no-encryption")
	refFull := ref.MustDuplicity(t, "full", "--volsize", "1", f.src, ref.URL())
	refInc := ref.MustDuplicity(t, "incremental", "--volsize", "1", f.src, ref.URL())
	for _, c := range []struct {
		name      string
		dupfs     Result
		duplicity Result
	}{{"full", full, refFull}, {"incremental", inc, refInc}} {
		t.Run("statistics-"+c.name, func(t *testing.T) {
			want := statisticsBlock(append(c.duplicity.Stdout, c.duplicity.Stderr...))
			got := statisticsBlock(c.dupfs.Stdout)
			if len(want.keys) == 0 {
				t.Fatalf("no statistics block in duplicity's output: %v", c.duplicity)
			}
			t.Logf("duplicity:\n%s\ndupfs:\n%s", c.duplicity.Stdout, c.dupfs.Stdout)
			if d := diffLists(want.lines(), got.lines()); d != "" {
				t.Errorf("dupfs statistics block differs from duplicity's (- duplicity, + dupfs):\n%s\ndupfs printed:\n%s", d, c.dupfs.Stdout)
			}
			// The counts that depend on the tree alone must agree too.
			for _, k := range []string{"SourceFiles", "SourceFileSize", "NewFiles", "DeletedFiles", "ChangedFiles", "DeltaEntries", "Errors"} {
				if want.values[k] != got.values[k] {
					t.Errorf("%s: dupfs %q, duplicity %q", k, got.values[k], want.values[k])
				}
			}
		})
	}
}

// statistics is a parsed statistics block: the header and footer lines
// and the key of every line between them, in order, plus each key's first
// value word.
type statistics struct {
	header, footer string
	keys           []string
	values         map[string]string
}

func (s statistics) lines() []string {
	return append(append([]string{s.header}, s.keys...), s.footer)
}

// statisticsBlock finds the "[ Backup Statistics ]" block in out.
func statisticsBlock(out []byte) statistics {
	s := statistics{values: map[string]string{}}
	in := false
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimRight(line, " \r")
		switch {
		case !in && strings.Contains(line, "[ Backup Statistics ]"):
			s.header, in = line, true
		case in && strings.Trim(line, "-") == "" && line != "":
			s.footer = line
			return s
		case in:
			fields := strings.Fields(line)
			if len(fields) == 0 {
				continue
			}
			s.keys = append(s.keys, fields[0])
			if len(fields) > 1 {
				s.values[fields[0]] = fields[1]
			}
		}
	}
	return s
}
