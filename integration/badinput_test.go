package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput checks that dupfs refuses damaged or mismatched input with a
// non-zero exit and a message naming the offending file. All cases share
// one symmetric, three-volume full backup; each mutates its own copy.
func TestBadInput(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	env := NewEnv(t).With("PASSPHRASE=" + keyPassphrase)
	bk := NewBackup(t, env)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := ApplyStep(src, 0); err != nil {
		t.Fatal(err)
	}
	want, err := Snapshot(src)
	if err != nil {
		t.Fatal(err)
	}
	bk.Run(t, src, true)
	vol2 := ""
	for _, name := range bk.Files(t) {
		if strings.Contains(name, ".vol2.difftar.gpg") {
			vol2 = name
		}
	}
	if vol2 == "" {
		t.Fatalf("fixture: no second volume in %q", bk.Files(t))
	}

	// damaged copies the target, lets mutate change it, and returns the copy.
	damaged := func(t *testing.T, mutate func(dir string)) *Backup {
		c := NewBackup(t, bk.Env, bk.Options...)
		c.Target = copyTree(t, bk.Target)
		mutate(c.Target)
		return c
	}
	restore := func(t *testing.T, c *Backup, env Env, out string, extra ...string) Result {
		args := append([]string{"restore", "--archive-dir", filepath.Join(t.TempDir(), "cache")}, extra...)
		return Dupfs(t, env, append(args, c.URL(), out)...)
	}
	expectFailure := func(t *testing.T, r Result, names ...string) {
		t.Helper()
		if r.Code == 0 {
			t.Fatalf("dupfs succeeded, want a failure: %v", r)
		}
		if r.Code < 0 {
			t.Fatalf("dupfs did not exit normally: %v", r)
		}
		t.Logf("dupfs exit %d, stderr: %s", r.Code, r.Stderr)
		for _, name := range names {
			if strings.Contains(string(r.Stderr), name) {
				return
			}
		}
		t.Errorf("dupfs stderr names none of %q:\n%s", names, r.Stderr)
	}

	t.Run("wrong-passphrase", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "out")
		r := restore(t, bk, bk.Env.With("PASSPHRASE=not the passphrase"), out)
		expectFailure(t, r, bk.Files(t)...)
	})

	t.Run("flipped-byte", func(t *testing.T) {
		c := damaged(t, func(dir string) {
			p := filepath.Join(dir, vol2)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[len(data)/2] ^= 0x01
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
		})
		if r := c.Duplicity(t, "restore", c.URL(), filepath.Join(t.TempDir(), "dup")); r.Code == 0 {
			t.Fatalf("fixture: duplicity accepted the damaged volume: %v", r)
		}
		expectFailure(t, restore(t, c, env, filepath.Join(t.TempDir(), "out")), vol2)
	})

	t.Run("missing-volume", func(t *testing.T) {
		c := damaged(t, func(dir string) {
			if err := os.Remove(filepath.Join(dir, vol2)); err != nil {
				t.Fatal(err)
			}
		})
		if r := c.Duplicity(t, "restore", c.URL(), filepath.Join(t.TempDir(), "dup")); r.Code == 0 {
			t.Fatalf("fixture: duplicity restored without a volume: %v", r)
		}
		expectFailure(t, restore(t, c, env, filepath.Join(t.TempDir(), "out")), vol2)
	})

	t.Run("non-empty-target", func(t *testing.T) {
		out := t.TempDir()
		stray := filepath.Join(out, "preexisting")
		if err := os.WriteFile(stray, []byte("keep me\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		expectFailure(t, restore(t, bk, env, out), out)
		if data, err := os.ReadFile(stray); err != nil || string(data) != "keep me\n" {
			t.Fatalf("refused restore touched %s: %q, %v", stray, data, err)
		}

		if r := restore(t, bk, env, out, "--force"); r.Code != 0 {
			t.Fatalf("dupfs restore --force failed: %v", r)
		}
		got, err := Snapshot(out)
		if err != nil {
			t.Fatal(err)
		}
		delete(got, "preexisting")
		if d := Diff(want, got, CompareOptions{IgnoreOwner: os.Geteuid() != 0}); len(d) > 0 {
			t.Errorf("restore --force differs from the source in %d ways:\n%s", len(d), strings.Join(d, "\n"))
		}
	})
}
