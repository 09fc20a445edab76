package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// What a killed save leaves is never listed, and a later run removes it
// once it is stale; a fresh one (a save under way) is left alone.
func TestTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	stale := filepath.Join(dir, tmpPrefix+"stale")
	fresh := filepath.Join(dir, tmpPrefix+"fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleTmp)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}
	b := New(dir)
	list, err := b.List(ctx)
	if err != nil || len(list) != 0 {
		t.Fatalf("List = %v, %v; want nothing", list, err)
	}
	if err := b.Save(ctx, "a", bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temporary file removed: %v", err)
	}
	if list, err := b.List(ctx); err != nil || len(list) != 1 || list[0].Name != "a" {
		t.Errorf("List = %v, %v; want only a", list, err)
	}
}
