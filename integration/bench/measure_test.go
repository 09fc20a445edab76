package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary act as measure's wrapper, as the harness does.
func TestMain(m *testing.M) {
	if report, ok := os.LookupEnv(wrapperEnv); ok {
		os.Exit(runWrapper(report, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func TestMeasure(t *testing.T) {
	// A big harness must not inflate a small child's peak (golang/go#32054).
	ballast := make([]byte, 128<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	dir := t.TempDir()
	tests := []struct {
		name    string
		argv    []string
		wantErr string
	}{
		{name: "ok", argv: []string{"sh", "-c", "echo hi; sh -c 'exit 0'"}},
		{name: "fails", argv: []string{"sh", "-c", "echo broken >&2; exit 3"}, wantErr: "broken"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := measure(context.Background(), command{argv: tt.argv}, filepath.Join(dir, tt.name+".log"), time.Minute)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one quoting %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.wall <= 0 || u.rss <= 0 || u.rss > 64<<20 {
				t.Errorf("usage = %+v; want a positive wall time and a small peak RSS", u)
			}
		})
	}
	_ = ballast[len(ballast)-1]
}

func TestSameFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	big := make([]byte, 200<<10)
	big[150<<10] = 7
	changed := make([]byte, len(big))
	copy(changed, big)
	changed[150<<10] = 8
	a := write("a", big)
	tests := []struct {
		name string
		got  string
		want bool
	}{
		{"same", write("b", big), true},
		{"changed", write("c", changed), false},
		{"shorter", write("d", big[:len(big)-1]), false},
		{"longer", write("e", append(big, 0)), false},
		{"missing", filepath.Join(dir, "none"), false},
	}
	for _, tt := range tests {
		if same, err := sameFile(a, tt.got); err != nil || same != tt.want {
			t.Errorf("%s: sameFile = %v, %v; want %v", tt.name, same, err, tt.want)
		}
	}
	if _, err := sameFile(filepath.Join(dir, "none"), a); err != errNoSource {
		t.Errorf("missing source: err = %v, want errNoSource", err)
	}
}
