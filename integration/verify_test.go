package integration

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// verifySource writes a small tree with a file spanning volumes at
// --volsize 1, every mtime fixed.
func verifySource(t *testing.T) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	rng := rand.New(rand.NewPCG(5, 6))
	big := make([]byte, 2_500_000)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	files := map[string][]byte{"a": []byte("hello\n"), "d/b": []byte("world\n"), "d/big.bin": big}
	for rel, data := range files {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a", filepath.Join(src, "l")); err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, rel := range []string{"a", "d/b", "d/big.bin", "d", "."} {
		if err := os.Chtimes(filepath.Join(src, rel), when, when); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// copyTree copies dir as cp -a does (modes and times kept).
func copyTree(t *testing.T, dir string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "copy")
	if r := Run(t.Context(), os.Environ(), "cp", "-a", dir, dst); r.Code != 0 {
		t.Fatalf("cp: %v", r)
	}
	return dst
}

func lines(b []byte) []string {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// dupfs writes the backup; dupfs verify finds each kind of change, with
// duplicity verify --compare-data as the judge that each is a change.
func TestVerifyDupfsBackup(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	NeedDupfs(t)
	env := NewEnv(t).With("PASSPHRASE=" + keyPassphrase)
	bk := NewBackup(t, env)
	cache := filepath.Join(t.TempDir(), "dupfs-cache")
	src := verifySource(t)
	mustDupfs(t, env, "backup", "--archive-dir", cache, "--volsize", "1", src, bk.URL())
	verify := func(args ...string) Result {
		return Dupfs(t, env, append([]string{"verify", "--archive-dir", cache}, args...)...)
	}
	for _, data := range [][]string{nil, {"--compare-data"}} {
		if r := verify(append(data, bk.URL(), src)...); r.Code != 0 || len(r.Stdout) != 0 || !strings.Contains(string(r.Stderr), "Verify complete: 6 files compared, 0 differences found") {
			t.Fatalf("verify of the source itself: %v", r)
		}
	}

	other := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		change func(dir string) error
		want   string // a line of dupfs's stdout
		data   bool   // seen only with --compare-data
	}{
		{"content, same size and mtime", func(dir string) error {
			p := filepath.Join(dir, "a")
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte("HELLO\n"), 0o644); err != nil {
				return err
			}
			return os.Chtimes(p, fi.ModTime(), fi.ModTime())
		}, "changed a: data differs", true},
		{"chmod", func(dir string) error { return os.Chmod(filepath.Join(dir, "d/b"), 0o600) }, "changed d/b: mode 0644 != 0600", false},
		{"touch", func(dir string) error { return os.Chtimes(filepath.Join(dir, "a"), other, other) }, "changed a: mtime 2026-03-04T05:06:07Z != 2020-01-01T00:00:00Z", false},
		{"delete", func(dir string) error { return os.Remove(filepath.Join(dir, "d/big.bin")) }, "missing d/big.bin", false},
		{"add", func(dir string) error { return os.WriteFile(filepath.Join(dir, "d/new"), nil, 0o644) }, "new d/new", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t, src)
			if err := tc.change(dir); err != nil {
				t.Fatal(err)
			}
			r := verify(bk.URL(), dir)
			if tc.data && (r.Code != 0 || len(r.Stdout) != 0) {
				t.Errorf("without --compare-data, want no difference: %v", r)
			}
			if !tc.data && (r.Code != 1 || !slices.Contains(lines(r.Stdout), tc.want)) {
				t.Errorf("want exit 1 and %q: %v", tc.want, r)
			}
			r = verify("--compare-data", bk.URL(), dir)
			if r.Code != 1 || !slices.Contains(lines(r.Stdout), tc.want) || !strings.Contains(string(r.Stderr), "differences found") {
				t.Errorf("--compare-data: want exit 1 and %q: %v", tc.want, r)
			}
			// duplicity 0.8.22 compares nothing without --compare-data.
			if r := bk.Duplicity(t, "verify", "--compare-data", bk.URL(), dir); r.Code == 0 {
				t.Errorf("duplicity verify --compare-data finds no difference: %v", r)
			}
		})
	}

	t.Run("stored", func(t *testing.T) {
		testVerifyStored(t, env, bk.Target)
	})
}

// testVerifyStored checks `dupfs verify URL` on a sound target, then on
// copies with one volume damaged in each way.
func testVerifyStored(t *testing.T, env Env, target string) {
	cache := filepath.Join(t.TempDir(), "dupfs-cache")
	verify := func(dir string) Result {
		return Dupfs(t, env, "verify", "--archive-dir", cache, "file://"+dir)
	}
	files, err := os.ReadDir(target)
	if err != nil {
		t.Fatal(err)
	}
	r := verify(target)
	var want []string
	for _, f := range files {
		want = append(want, "ok "+f.Name())
	}
	got := lines(r.Stdout)
	slices.Sort(got)
	if r.Code != 0 || !slices.Equal(got, want) {
		t.Fatalf("sound target: want every file ok:\n%s\n%v", strings.Join(want, "\n"), r)
	}
	var vol string
	for _, f := range files {
		if strings.Contains(f.Name(), ".vol2.") {
			vol = f.Name()
		}
	}
	if vol == "" {
		t.Fatalf("no second volume in %v", files)
	}
	for _, tc := range []struct {
		name   string
		damage func(p string) error
		reason string
	}{
		{"flipped byte", func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 1
			return os.WriteFile(p, b, 0o644)
		}, "hash does not match"},
		{"deleted", os.Remove, "missing"},
		{"truncated", func(p string) error { return os.Truncate(p, 4096) }, "hash does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTree(t, target)
			if err := tc.damage(filepath.Join(dir, vol)); err != nil {
				t.Fatal(err)
			}
			r := verify(dir)
			var failed []string
			for _, l := range lines(r.Stdout) {
				if !strings.HasPrefix(l, "ok ") {
					failed = append(failed, l)
				}
			}
			if r.Code != 1 || len(failed) != 1 || !strings.HasPrefix(failed[0], "FAILED "+vol+": ") || !strings.Contains(failed[0], tc.reason) {
				t.Errorf("want exit 1 and only %s FAILED (%s): %v", vol, tc.reason, r)
			}
		})
	}
}

// duplicity writes the backup; dupfs verifies it against the source and
// reads every stored file.
func TestVerifyDuplicityTarget(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	NeedDupfs(t)
	env := NewEnv(t).With("PASSPHRASE=" + keyPassphrase)
	bk := NewBackup(t, env)
	src := verifySource(t)
	bk.Run(t, src, true)
	cache := filepath.Join(t.TempDir(), "dupfs-cache")
	for _, data := range [][]string{nil, {"--compare-data"}} {
		r := Dupfs(t, env, append(append([]string{"verify", "--archive-dir", cache}, data...), bk.URL(), src)...)
		if r.Code != 0 || len(r.Stdout) != 0 {
			t.Fatalf("verify of the source: %v", r)
		}
	}
	dir := copyTree(t, src)
	if err := os.Chmod(filepath.Join(dir, "a"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Dupfs(t, env, "verify", "--archive-dir", cache, bk.URL(), dir)
	if r.Code != 1 || !slices.Equal(lines(r.Stdout), []string{"changed a: mode 0644 != 0600"}) {
		t.Errorf("verify after chmod: %v", r)
	}
	t.Run("stored", func(t *testing.T) {
		testVerifyStored(t, env, bk.Target)
	})
}
