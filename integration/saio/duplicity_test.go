package saio_test

import (
	"context"
	"crypto/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dupfs/integration/saio"
)

// The real duplicity pca:// backend backs up and restores through the seal
// proxy, with its sleeps scaled down.
func TestDuplicityPCA(t *testing.T) {
	if _, err := exec.LookPath("duplicity"); err != nil {
		if os.Getenv(saio.RequireEnv) != "" {
			t.Fatal("duplicity missing (scripts/install-test-deps.sh)")
		}
		t.Skip("duplicity missing (scripts/install-test-deps.sh)")
	}
	s := saio.Start(t, opts)
	p := s.SealProxy(t, time.Second)

	src := t.TempDir()
	mustWrite := func(name string, data []byte, mode os.FileMode) {
		t.Helper()
		path := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, mode); err != nil {
			t.Fatal(err)
		}
	}
	random := make([]byte, 1500<<10) // two volumes of --volsize 1
	rand.Read(random)
	mustWrite("random.bin", random, 0o644)
	mustWrite("a/b/secret.txt", []byte("not for everyone\n"), 0o600)
	mustWrite("a/empty", nil, 0o644)
	if err := os.Symlink("b/secret.txt", filepath.Join(src, "a/link")); err != nil {
		t.Fatal(err)
	}

	env := append(os.Environ(), p.PCAEnv()...)
	env = append(env, saio.ScaledSleepEnv(t, 0)...)
	url := "pca://" + saio.ContainerName(t)
	duplicity := func(args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "duplicity", args...)
		cmd.Env = env
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("duplicity %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("duplicity %s: %v", args[0], time.Since(start).Round(100*time.Millisecond))
	}
	duplicity("full", "--no-encryption", "--volsize", "1", "--archive-dir", t.TempDir(), "--name", "t", src, url)
	if st := p.Stats(); st.Sealed < 4 || st.Unseals != 0 {
		t.Errorf("after the backup: %+v, want every file sealed, none unsealed", st)
	}

	// An empty archive dir: the metadata sync unseals manifest and
	// signatures, then the restore unseals the volumes.
	out := filepath.Join(t.TempDir(), "out")
	duplicity("restore", "--no-encryption", "--archive-dir", t.TempDir(), "--name", "t", url, out)
	if diff, err := exec.Command("diff", "-r", "--no-dereference", src, out).CombinedOutput(); err != nil {
		t.Errorf("restored tree differs: %v\n%s", err, diff)
	}
	if fi, err := os.Stat(filepath.Join(out, "a/b/secret.txt")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("restored secret.txt: %v %v", fi, err)
	}
	st := p.Stats()
	t.Logf("proxy: %d unseals, %d GETs answered 429, %d passed", st.Unseals, st.Throttled, st.Passed)
	if st.Unseals < 4 || st.Throttled < st.Unseals || st.Passed < 4 {
		t.Errorf("after the restore: %+v, want every file unsealed through 429s", st)
	}
}
