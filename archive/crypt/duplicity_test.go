package crypt

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A real duplicity backup decrypts: volume and signatures are tar
// archives, the manifest is text.
func TestDecryptDuplicityBackup(t *testing.T) {
	if _, err := exec.LookPath("duplicity"); err != nil {
		t.Skip("duplicity not on PATH")
	}
	g := newGnuPG(t) // an empty home of its own for duplicity's gpg
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	if err := os.MkdirAll(filepath.Join(src, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Under 64 KiB, so the volume holds it whole rather than in chunks.
	if err := os.WriteFile(filepath.Join(src, "sub", "file"), testData(60<<10, true, 50), 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, "dst")
	// A cheap S2K count: TestDecryptGPGSymmetric covers GnuPG's default.
	cmd := exec.Command("duplicity", "full", "--archive-dir", filepath.Join(dir, "cache"), "--name", "t",
		"--no-print-statistics", "--gpg-options", "--s2k-count 65536", src, "file://"+dst)
	cmd.Env = append(os.Environ(), "PASSPHRASE=x", "GNUPGHOME="+g.home, "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("duplicity full: %v\n%s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(dst, "*.gpg"))
	if err != nil || len(files) != 3 {
		t.Fatalf("backup files %v (%v), want volume, manifest and signatures", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ct, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			r, err := Decrypt(bytes.NewReader(ct), Keys{Passphrase: []byte("x")})
			if err != nil {
				t.Fatal(err)
			}
			plain := readAll(t, r)
			if strings.Contains(f, ".manifest.") {
				if !bytes.HasPrefix(plain, []byte("Hostname ")) {
					t.Fatalf("manifest starts %q", plain[:min(len(plain), 40)])
				}
				return
			}
			if len(plain) < 512 || string(plain[257:262]) != "ustar" {
				t.Fatalf("%d bytes, no tar header", len(plain))
			}
			if !strings.Contains(f, ".difftar.") {
				return
			}
			if !bytes.Contains(plain, testData(60<<10, true, 50)) {
				t.Fatal("volume lacks the file's contents")
			}
			if _, err := Decrypt(bytes.NewReader(ct), Keys{Passphrase: []byte("y")}); !errors.Is(err, ErrBadPassphrase) {
				t.Fatalf("wrong passphrase: got %v", err)
			}
		})
	}
}
