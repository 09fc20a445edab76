package file

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"dupfs/backends"
)

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	b := New(filepath.Join(t.TempDir(), "target"))
	if l, err := b.List(ctx); err != nil || len(l) != 0 {
		t.Fatalf("List on missing dir = %v, %v", l, err)
	}
	data := []byte("hello volume")
	if err := b.Save(ctx, "a.difftar.gz", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	l, err := b.List(ctx)
	if err != nil || len(l) != 1 || l[0].Name != "a.difftar.gz" || l[0].Size != int64(len(data)) {
		t.Fatalf("List = %v, %v", l, err)
	}
	rc, err := b.Open(ctx, "a.difftar.gz")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Fatalf("got %q", got)
	}
	if err := b.Delete(ctx, "a.difftar.gz"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(ctx, "a.difftar.gz"); !errors.Is(err, backends.ErrNotExist) {
		t.Fatalf("Open deleted = %v", err)
	}
	if err := b.Delete(ctx, "a.difftar.gz"); !errors.Is(err, backends.ErrNotExist) {
		t.Fatalf("Delete deleted = %v", err)
	}
}

func TestSaveShortSourceFails(t *testing.T) {
	b := New(t.TempDir())
	if err := b.Save(context.Background(), "x", bytes.NewReader([]byte("abc")), 10); err == nil {
		t.Fatal("short source accepted")
	}
	if l, _ := b.List(context.Background()); len(l) != 0 {
		t.Fatalf("partial file left behind: %v", l)
	}
}

func TestRejectsPathNames(t *testing.T) {
	b := New(t.TempDir())
	for _, n := range []string{"", ".", "..", "a/b", "../x"} {
		if _, err := b.Open(context.Background(), n); err == nil {
			t.Errorf("Open(%q) accepted", n)
		}
	}
}
