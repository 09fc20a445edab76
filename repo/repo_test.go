package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"dupfs/backends/file"
)

func TestManifestCachedInArchiveDir(t *testing.T) {
	r, vols, _ := writeVolumes(t, 2, 100)
	target := r.backend.(*file.Backend)
	archive := t.TempDir()
	open := func() *Repo {
		r2, err := Open(context.Background(), target, Options{ArchiveDir: archive})
		if err != nil {
			t.Fatal(err)
		}
		return r2
	}
	set := open().Collection.Chains[0].Full
	m, err := open().Manifest(context.Background(), set)
	if err != nil || len(m.Volumes) != len(vols) {
		t.Fatalf("first read: %v, %v", m, err)
	}
	local := filepath.Join(archive, set.Manifest)
	if fi, err := os.Stat(local); err != nil || fi.Mode().Perm()&0o077 != 0 {
		t.Fatalf("archive-dir copy: %v %v", fi, err)
	}
	// Damage the remote copy: the next command must not need it.
	remote, _ := target.LocalPath(set.Manifest)
	if err := os.WriteFile(remote, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err = open().Manifest(context.Background(), set)
	if err != nil || len(m.Volumes) != len(vols) {
		t.Fatalf("second read did not use the archive dir: %v, %v", m, err)
	}
}
