package owners

import (
	"errors"
	"testing"
)

func TestIDFallsBackPerEntry(t *testing.T) {
	lookups := 0
	m := &Map{byName: func(name string) (string, error) {
		lookups++
		if name == "alice" {
			return "1001", nil
		}
		return "", errors.New("unknown")
	}}
	tests := []struct {
		name   string
		stored int
		want   int
	}{
		{"alice", 5, 1001},
		{"ghost", 7, 7},
		{"ghost", 8, 8}, // the stored number of each entry, not the first one seen
		{"", 9, 9},
		{"alice", 6, 1001},
	}
	for _, tc := range tests {
		if got := m.ID(tc.name, tc.stored); got != tc.want {
			t.Errorf("ID(%q, %d) = %d, want %d", tc.name, tc.stored, got, tc.want)
		}
	}
	if lookups != 2 {
		t.Errorf("%d lookups, want 2 (one per name)", lookups)
	}
}

func TestNameOfRoot(t *testing.T) {
	if got := Users().Name(0); got != "root" {
		t.Errorf("Users().Name(0) = %q, want root", got)
	}
	if got := Groups().Name(0); got != "root" {
		t.Errorf("Groups().Name(0) = %q, want root", got)
	}
	if got := Users().Name(1 << 30); got != "" {
		t.Errorf("unknown uid named %q", got)
	}
}
