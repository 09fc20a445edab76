package verify

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"dupfs/archive/crypt"
	"dupfs/archive/manifest"
	"dupfs/backends/file"
	"dupfs/repo"
)

// copyTarget copies a flat target dir.
func copyTarget(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "target")
	must(t, os.Mkdir(dst, 0o755))
	ents, err := os.ReadDir(src)
	must(t, err)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644))
	}
	return dst
}

// named returns the one file of dir whose name has all of parts.
func named(t *testing.T, dir string, parts ...string) string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	must(t, err)
	var found []string
	for _, e := range ents {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(e.Name(), p)
		}
		if ok {
			found = append(found, e.Name())
		}
	}
	if len(found) != 1 {
		t.Fatalf("files with %q: %q", parts, found)
	}
	return found[0]
}

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := crypt.Compress(&b)
	_, err := zw.Write([]byte(s))
	must(t, err)
	must(t, zw.Close())
	return b.Bytes()
}

func flipByte(t *testing.T, p string, off func(size int) int) {
	t.Helper()
	b, err := os.ReadFile(p)
	must(t, err)
	b[off(len(b))] ^= 0xff
	must(t, os.WriteFile(p, b, 0o644))
}

// rehash makes a volume's manifest entry match the volume as it is now, so
// that damage shows past the hash check.
func rehash(t *testing.T, dir, manifestName string, volNum int, volName string) {
	t.Helper()
	mp := filepath.Join(dir, manifestName)
	f, err := os.Open(mp)
	must(t, err)
	m, err := manifest.Parse(f)
	f.Close()
	must(t, err)
	b, err := os.ReadFile(filepath.Join(dir, volName))
	must(t, err)
	sum := sha1.Sum(b)
	for i := range m.Volumes {
		if m.Volumes[i].Number == volNum {
			m.Volumes[i].HashAlg, m.Volumes[i].Hash = "SHA1", hex.EncodeToString(sum[:])
		}
	}
	must(t, os.WriteFile(mp, m.Marshal(), 0o644))
}

func TestStored(t *testing.T) {
	f := newFixture(t)
	vol := func(dir string) string { return named(t, dir, "duplicity-full.", ".vol2.") }
	fullManifest := func(dir string) string { return named(t, dir, "duplicity-full.", ".manifest") }
	cases := []struct {
		name   string
		damage func(dir string) string // returns the file that must fail
		reason string                  // in its line
		// unchecked: the volumes that fail too, for want of a manifest.
		unchecked int
	}{
		{name: "sound", damage: func(string) string { return "" }},
		{name: "flipped byte", damage: func(dir string) string {
			flipByte(t, filepath.Join(dir, vol(dir)), func(n int) int { return n / 2 })
			return vol(dir)
		}, reason: "hash does not match"},
		{name: "deleted", damage: func(dir string) string {
			name := vol(dir)
			must(t, os.Remove(filepath.Join(dir, name)))
			return name
		}, reason: "missing"},
		{name: "truncated", damage: func(dir string) string {
			p := filepath.Join(dir, vol(dir))
			must(t, os.Truncate(p, 1000))
			return vol(dir)
		}, reason: "hash does not match"},
		{name: "gzip CRC, hash matching", damage: func(dir string) string {
			// The CRC is the trailer's first 4 bytes: only a read to the end sees it.
			name := vol(dir)
			flipByte(t, filepath.Join(dir, name), func(n int) int { return n - 8 })
			rehash(t, dir, fullManifest(dir), 2, name)
			return name
		}, reason: "integrity"},
		{name: "tar damaged, hash matching", damage: func(dir string) string {
			name := named(t, dir, "duplicity-inc.", ".vol1.")
			p := filepath.Join(dir, name)
			must(t, os.WriteFile(p, gzipped(t, strings.Repeat("x", 1024)), 0o644))
			rehash(t, dir, named(t, dir, "duplicity-inc.", ".manifest"), 1, name)
			return name
		}, reason: "tar"},
		{name: "signature damaged", damage: func(dir string) string {
			name := named(t, dir, "duplicity-new-signatures.")
			must(t, os.Truncate(filepath.Join(dir, name), 100))
			return name
		}, reason: "gzip"},
		{name: "manifest damaged", damage: func(dir string) string {
			name := named(t, dir, "duplicity-inc.", ".manifest")
			must(t, os.WriteFile(filepath.Join(dir, name), []byte("Volume nonsense\n"), 0o644))
			return name
		}, unchecked: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := copyTarget(t, f.target)
			bad := tc.damage(dir)
			r, err := repo.Open(context.Background(), file.New(dir), repo.Options{})
			must(t, err)
			var lines []string
			st, err := Stored(context.Background(), r, StoredOptions{Report: func(res Result) { lines = append(lines, res.String()) }})
			var failed []string
			for _, l := range lines {
				if !strings.HasPrefix(l, "ok ") {
					failed = append(failed, l)
				}
			}
			all := strings.Join(lines, "\n")
			switch {
			case bad == "" && (err != nil || len(failed) > 0):
				t.Fatalf("sound target: %v\n%s", err, all)
			case bad != "" && (len(failed) != 1+tc.unchecked || !strings.HasPrefix(failed[0], "FAILED "+bad+": ") || !strings.Contains(failed[0], tc.reason)):
				t.Fatalf("want only %s failed (%q):\n%s", bad, tc.reason, all)
			case bad != "" && !errors.Is(err, ErrFailed):
				t.Fatalf("err = %v", err)
			}
			// Every file of the target has its line, the missing one too.
			ents, _ := os.ReadDir(dir)
			want := len(ents)
			if tc.name == "deleted" {
				want++
			}
			if st.Files != want || len(lines) != want || st.Failed != len(failed) {
				t.Errorf("stats %+v, %d lines, want %d files:\n%s", st, len(lines), want, all)
			}
		})
	}
}
