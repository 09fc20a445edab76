package restore

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
	"time"

	"dupfs/archive/crypt"
	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/archive/manifest"
	"dupfs/archive/names"
	"dupfs/archive/tarstream"
	"dupfs/backends/file"
	"dupfs/repo"
)

// member is one tar member of a hand-made volume. Raw names let tests
// write what no honest duplicity would.
type member struct {
	name string
	e    difftar.Entry
	data string
}

func snap(idx string, typ difftar.Type, data string) member {
	return member{
		name: difftar.MemberName(difftar.Snapshot, idx, typ, false, 0, false),
		e:    difftar.Entry{Kind: difftar.Snapshot, Index: idx, Type: typ, Mode: 0o640, Mtime: 1700000000},
		data: data,
	}
}

var fullTime = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// makeTarget writes a one-set, one-volume gzip target and returns its dir.
func makeTarget(t *testing.T, members ...member) string {
	t.Helper()
	dir := t.TempDir()
	var vol bytes.Buffer
	zw := crypt.Compress(&vol)
	tw := tarstream.NewWriter(zw)
	for _, m := range members {
		h := m.e.Header(m.name, int64(len(m.data)))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	sum := sha1.Sum(vol.Bytes())
	volName := names.Name{Type: names.FullVolume, Start: fullTime, End: fullTime, Volume: 1, Compressed: true}.Format(names.Prefixes{}, false)
	manName := names.Name{Type: names.FullManifest, Start: fullTime, End: fullTime}.Format(names.Prefixes{}, false)
	m := &manifest.Manifest{Hostname: "h", Localdir: "src", Volumes: []manifest.Volume{{
		Number: 1, Start: "", End: members[len(members)-1].e.Index, HashAlg: "SHA1", Hash: hex.EncodeToString(sum[:]),
	}}}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(volName, vol.Bytes())
	write(manName, m.Marshal())
	return dir
}

func openRepo(t *testing.T, dir string) *repo.Repo {
	t.Helper()
	r, err := repo.Open(context.Background(), file.New(dir), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRestoreTypesAndMetadata(t *testing.T) {
	link := snap("d/link", difftar.Symlink, "")
	link.e.Linkname = "../f"
	fifo := snap("fifo", difftar.Fifo, "")
	dir := snap("d", difftar.Dir, "")
	dir.e.Mode = 0o500 // not writable: contents must still be restored
	target := makeTarget(t,
		snap("", difftar.Dir, ""),
		dir,
		snap("d/a", difftar.Reg, "hello"),
		link,
		snap("f", difftar.Reg, strings.Repeat("x", 70000)),
		fifo,
	)
	dest := filepath.Join(t.TempDir(), "out")
	st, err := Run(context.Background(), openRepo(t, target), Options{Time: time.Now(), Dest: dest})
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 6 {
		t.Errorf("entries = %d", st.Entries)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "d/a")); string(b) != "hello" {
		t.Errorf("d/a = %q", b)
	}
	if l, _ := os.Readlink(filepath.Join(dest, "d/link")); l != "../f" {
		t.Errorf("link = %q", l)
	}
	fi, err := os.Stat(filepath.Join(dest, "d"))
	if err != nil || fi.Mode().Perm() != 0o500 || fi.ModTime().Unix() != 1700000000 {
		t.Errorf("dir d: %v %v", fi.Mode(), err)
	}
	fi, err = os.Lstat(filepath.Join(dest, "fifo"))
	if err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("fifo: %v", err)
	}
	fi, _ = os.Stat(filepath.Join(dest, "f"))
	if fi.Size() != 70000 || fi.Mode().Perm() != 0o640 || fi.ModTime().Unix() != 1700000000 {
		t.Errorf("f: %v %v %v", fi.Size(), fi.Mode(), fi.ModTime())
	}
	os.Chmod(filepath.Join(dest, "d"), 0o700) // let t.TempDir clean up
}

func TestRestoreSubtreeAndFile(t *testing.T) {
	target := makeTarget(t,
		snap("", difftar.Dir, ""),
		snap("a", difftar.Dir, ""),
		snap("a/b", difftar.Reg, "bee"),
		snap("a-c", difftar.Reg, "not me"),
	)
	r := openRepo(t, target)
	out := filepath.Join(t.TempDir(), "sub")
	if _, err := Run(context.Background(), r, Options{Time: time.Now(), Path: "a", Dest: out}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "b")); string(b) != "bee" {
		t.Errorf("a/b restored as %q", b)
	}
	one := filepath.Join(t.TempDir(), "one")
	if _, err := Run(context.Background(), r, Options{Time: time.Now(), Path: "a/b", Dest: one}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(one); string(b) != "bee" {
		t.Errorf("single file = %q", b)
	}
	_, err := Run(context.Background(), r, Options{Time: time.Now(), Path: "nope", Dest: filepath.Join(t.TempDir(), "x")})
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("missing path: %v", err)
	}
}

// A symlink followed by a file "below" it must not write through the link.
func TestRestoreRefusesWriteThroughSymlink(t *testing.T) {
	outside := t.TempDir()
	link := snap("a", difftar.Symlink, "")
	link.e.Linkname = outside
	target := makeTarget(t,
		snap("", difftar.Dir, ""),
		link,
		snap("a/evil", difftar.Reg, "pwned"),
	)
	dest := filepath.Join(t.TempDir(), "out")
	_, err := Run(context.Background(), openRepo(t, target), Options{Time: time.Now(), Dest: dest})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("err = %v, want ErrPartial", err)
	}
	if _, err := os.Lstat(filepath.Join(outside, "evil")); !os.IsNotExist(err) {
		t.Fatal("file written through a symlink")
	}
}

func TestRestoreRefusesTraversal(t *testing.T) {
	for _, name := range []string{"snapshot/../escape", "snapshot//etc/passwd", "snapshot/a/../../escape"} {
		t.Run(name, func(t *testing.T) {
			m := snap("x", difftar.Reg, "bad")
			m.name = name
			target := makeTarget(t, snap("", difftar.Dir, ""), m)
			parent := t.TempDir()
			dest := filepath.Join(parent, "out")
			_, err := Run(context.Background(), openRepo(t, target), Options{Time: time.Now(), Dest: dest})
			if !errors.Is(err, index.ErrUnsafe) {
				t.Fatalf("err = %v, want ErrUnsafe", err)
			}
			ents, _ := os.ReadDir(parent)
			for _, e := range ents {
				if e.Name() != "out" {
					t.Errorf("wrote %s outside the destination", e.Name())
				}
			}
		})
	}
}

func TestRestoreVolumeProblemsNamed(t *testing.T) {
	build := func() (string, string) {
		target := makeTarget(t, snap("", difftar.Dir, ""), snap("f", difftar.Reg, "data"))
		ents, _ := os.ReadDir(target)
		for _, e := range ents {
			if strings.Contains(e.Name(), ".difftar") {
				return target, e.Name()
			}
		}
		t.Fatal("no volume")
		return "", ""
	}
	t.Run("hash mismatch", func(t *testing.T) {
		target, vol := build()
		p := filepath.Join(target, vol)
		b, _ := os.ReadFile(p)
		b[len(b)/2] ^= 0xff
		os.WriteFile(p, b, 0o600)
		_, err := Run(context.Background(), openRepo(t, target), Options{Time: time.Now(), Dest: filepath.Join(t.TempDir(), "o")})
		if !errors.Is(err, repo.ErrHashMismatch) || !strings.Contains(err.Error(), vol) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("missing volume", func(t *testing.T) {
		target, vol := build()
		os.Remove(filepath.Join(target, vol))
		_, err := Run(context.Background(), openRepo(t, target), Options{Time: time.Now(), Dest: filepath.Join(t.TempDir(), "o")})
		if err == nil || !strings.Contains(err.Error(), vol) {
			t.Fatalf("err = %v, want it to name %s", err, vol)
		}
	})
}

func TestRestoreRefusesNonEmptyDest(t *testing.T) {
	target := makeTarget(t, snap("", difftar.Dir, ""), snap("f", difftar.Reg, "new"))
	dest := t.TempDir()
	os.WriteFile(filepath.Join(dest, "f"), []byte("old"), 0o600)
	r := openRepo(t, target)
	if _, err := Run(context.Background(), r, Options{Time: time.Now(), Dest: dest}); err == nil {
		t.Fatal("restored into a non-empty directory without --force")
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "f")); string(b) != "old" {
		t.Fatal("existing file changed")
	}
	if _, err := Run(context.Background(), r, Options{Time: time.Now(), Dest: dest, Force: true}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dest, "f")); string(b) != "new" {
		t.Fatalf("forced restore: f = %q", b)
	}
}
