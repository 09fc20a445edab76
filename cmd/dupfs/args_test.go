package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"dupfs/restore"
)

func TestReorderArgs(t *testing.T) {
	app := newApp()
	tests := []struct{ in, want string }{
		{"dupfs restore URL DIR", "dupfs restore -- URL DIR"},
		{"dupfs restore URL DIR --time 3D --force", "dupfs restore --time 3D --force -- URL DIR"},
		{"dupfs restore --time=3D URL DIR", "dupfs restore --time=3D -- URL DIR"},
		{"dupfs restore -t 3D URL --file-to-restore a/b DIR", "dupfs restore -t 3D --file-to-restore a/b -- URL DIR"},
		{"dupfs list-current-files URL --no-encryption", "dupfs list-current-files --no-encryption -- URL"},
		{"dupfs restore URL -- --odd-dir", "dupfs restore -- URL --odd-dir"},
		{"dupfs --version", "dupfs --version"},
		{"dupfs nosuch a b", "dupfs nosuch a b"},
	}
	for _, tc := range tests {
		got := strings.Join(reorderArgs(app, strings.Fields(tc.in)), " ")
		if got != tc.want {
			t.Errorf("reorderArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, exitOK},
		{errors.New("boom"), exitFailure},
		{usageError{errors.New("bad flag")}, exitUsage},
		{fmt.Errorf("3 entries skipped: %w", restore.ErrPartial), exitPartial},
	}
	for _, tc := range tests {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

func TestHumanBytes(t *testing.T) {
	tests := map[int64]string{0: "0 bytes", 1: "1 byte", 1023: "1023 bytes", 1024: "1.00 KB", 78203: "76.4 KB", 5 << 30: "5.00 GB", 300 << 20: "300 MB"}
	for n, want := range tests {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestVerbosity(t *testing.T) {
	tests := map[string]int{"0": 0, "4": 4, "9": 9, "info": levelInfo, "i": levelInfo, "Notice": levelNotice, "w": levelWarning, "debug": levelDebug, "e": levelError}
	for in, want := range tests {
		app := newApp()
		var got int
		var gotErr error
		app.Command("restore").Action = func(c *cli.Context) error { got, gotErr = verbosity(c); return nil }
		if err := app.Run([]string{"dupfs", "restore", "-v", in, "u", "d"}); err != nil || gotErr != nil {
			t.Fatalf("-v %s: %v %v", in, err, gotErr)
		}
		if got != want {
			t.Errorf("-v %s = %d, want %d", in, got, want)
		}
	}
	app := newApp()
	app.Command("restore").Action = func(c *cli.Context) error { _, err := verbosity(c); return err }
	if err := app.Run([]string{"dupfs", "restore", "-v", "loud", "u", "d"}); exitCode(err) != exitUsage {
		t.Errorf("-v loud: %v", err)
	}
}
