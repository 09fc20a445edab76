package manifest

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestRoundTripLiveDuplicity backs up tricky names and a multi-volume file
// with the installed duplicity and checks that Parse then Marshal gives
// back its manifests byte for byte. Skipped where duplicity is absent.
func TestRoundTripLiveDuplicity(t *testing.T) {
	dup, err := exec.LookPath("duplicity")
	if err != nil {
		t.Skip("duplicity not installed")
	}
	dir := t.TempDir()
	tricky := filepath.Join(dir, "tricky")
	big := filepath.Join(dir, "big")
	files := map[string][]byte{
		"tricky/sp ace":                  []byte("a"),
		"tricky/quote\"s'back\\slash":    []byte("b"),
		"tricky/ta\tb":                   []byte("c"),
		"tricky/new\nline":               []byte("d"),
		"tricky/bad\xff\xfename":         []byte("e"),
		"tricky/héllo wörld ✓.txt":       []byte("f"),
		"tricky/dir with space/in\"side": []byte("g"),
		"big/r1":                         randomBytes(2_500_000),
		"big/r2":                         []byte("tail"),
	}
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		src  string
		args []string
		vols int
	}{
		{tricky, nil, 1},
		{big, []string{"--volsize", "1"}, 3},
	} {
		target := filepath.Join(dir, "target-"+filepath.Base(c.src))
		args := append([]string{"full", "--no-encryption", "--archive-dir", filepath.Join(dir, "cache")}, c.args...)
		cmd := exec.Command(dup, append(args, c.src, "file://"+target)...)
		cmd.Env = append(os.Environ(), "XDG_CACHE_HOME="+filepath.Join(dir, "xdg"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("duplicity: %v\n%s", err, out)
		}
		found, _ := filepath.Glob(filepath.Join(target, "duplicity-full.*.manifest"))
		if len(found) != 1 {
			t.Fatalf("manifests in %s: %v", target, found)
		}
		in, err := os.ReadFile(found[0])
		if err != nil {
			t.Fatal(err)
		}
		m, err := Parse(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", found[0], err)
		}
		if len(m.Volumes) < c.vols {
			t.Errorf("%s: %d volumes, want at least %d", found[0], len(m.Volumes), c.vols)
		}
		if out := m.Marshal(); !bytes.Equal(out, in) {
			t.Errorf("%s: Marshal differs:\n%q\nwant\n%q", found[0], out, in)
		}
	}
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(1)).Read(b)
	return b
}
