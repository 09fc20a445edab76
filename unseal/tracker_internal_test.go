package unseal

import (
	"context"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/backendtest"
	"dupfs/backends/file"
)

// Pending keeps a readable file for keepReadable, then forgets it.
func TestPendingForgetsOldReadable(t *testing.T) {
	old := keepReadable
	keepReadable = 100 * time.Millisecond
	defer func() { keepReadable = old }()
	ctx := context.Background()
	store := file.New(t.TempDir())
	for _, n := range []string{"v1", "v2"} {
		if err := store.Save(ctx, n, strings.NewReader(n), 2); err != nil {
			t.Fatal(err)
		}
	}
	s := backendtest.NewSealed(store, 50*time.Millisecond)
	s.Seal(ctx, "v1", "v2")
	tr := NewTracker(s, 10*time.Millisecond, nil)
	defer tr.Close()
	tr.Mark("v2", backends.ColdState{State: backends.Sealed}) // a read found it sealed
	if err := tr.Request(ctx, []string{"v1"}); err != nil {
		t.Fatal(err)
	}
	if !tr.WaitReady(ctx, []string{"v1"}, 5*time.Second) {
		t.Fatal("v1 not ready")
	}
	if p := tr.Pending(); len(p) != 2 || p[0].Name != "v1" || p[0].State != backends.Unsealed {
		t.Fatalf("Pending = %+v, want v1 readable and v2", p)
	}
	time.Sleep(250 * time.Millisecond)
	if p := tr.Pending(); len(p) != 1 || p[0].Name != "v2" {
		t.Fatalf("Pending later = %+v, want only v2, still sealed", p)
	}
}
