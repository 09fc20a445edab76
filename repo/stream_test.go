package repo

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"dupfs/archive/crypt"
	"dupfs/archive/manifest"
	"dupfs/archive/names"
	"dupfs/backends/file"
)

// writeVolumes stores n gzip volumes of a full set and returns the repo
// with the manifest entries for them.
func writeVolumes(t *testing.T, n int, size int) (*Repo, []manifest.Volume, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	when := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var vols []manifest.Volume
	var plain [][]byte
	for i := 1; i <= n; i++ {
		data := bytes.Repeat([]byte(fmt.Sprintf("volume %d ", i)), size/9+1)[:size]
		var stored bytes.Buffer
		zw := crypt.Compress(&stored)
		zw.Write(data)
		zw.Close()
		name := names.Name{Type: names.FullVolume, Start: when, End: when, Volume: i, Compressed: true}.Format(names.Prefixes{}, false)
		if err := os.WriteFile(filepath.Join(dir, name), stored.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
		sum := sha1.Sum(stored.Bytes())
		vols = append(vols, manifest.Volume{Number: i, HashAlg: "SHA1", Hash: hex.EncodeToString(sum[:])})
		plain = append(plain, data)
	}
	man := names.Name{Type: names.FullManifest, Start: when, End: when}.Format(names.Prefixes{}, false)
	os.WriteFile(filepath.Join(dir, man), (&manifest.Manifest{Volumes: vols}).Marshal(), 0o600)
	r, err := Open(context.Background(), file.New(dir), Options{ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return r, vols, plain
}

func TestVolumeStreamOrderAndContent(t *testing.T) {
	r, vols, plain := writeVolumes(t, 5, 3<<20)
	set := r.Collection.Chains[0].Full
	s := r.NewVolumeStream(context.Background(), set, vols)
	defer s.Close()
	for i := 0; ; i++ {
		v, err := s.Next()
		if err == io.EOF {
			if i != len(vols) {
				t.Fatalf("got %d volumes, want %d", i, len(vols))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Read only part of some volumes: Next must skip the rest.
		if i%2 == 1 {
			buf := make([]byte, 100)
			io.ReadFull(v, buf)
			if !bytes.Equal(buf, plain[i][:100]) {
				t.Fatalf("volume %d prefix differs", i+1)
			}
			continue
		}
		got, err := io.ReadAll(v)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, plain[i]) {
			t.Fatalf("volume %d differs", i+1)
		}
	}
}

func TestVolumeStreamHashMismatchStops(t *testing.T) {
	r, vols, _ := writeVolumes(t, 3, 1000)
	vols[1].Hash = "0000000000000000000000000000000000000000"
	s := r.NewVolumeStream(context.Background(), r.Collection.Chains[0].Full, vols)
	defer s.Close()
	v, _ := s.Next()
	if _, err := io.ReadAll(v); err != nil {
		t.Fatal(err)
	}
	v, _ = s.Next()
	if _, err := io.ReadAll(v); !errors.Is(err, ErrHashMismatch) {
		t.Fatalf("err = %v, want ErrHashMismatch", err)
	}
}

func TestVolumeStreamCloseEarly(t *testing.T) {
	r, vols, _ := writeVolumes(t, 6, 2<<20)
	s := r.NewVolumeStream(context.Background(), r.Collection.Chains[0].Full, vols)
	v, _ := s.Next()
	io.ReadFull(v, make([]byte, 10))
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung")
	}
}
