package fusefs

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"dupfs/backends"
	"dupfs/points"
	"dupfs/repo"
)

// TestErrno: a reader sees one errno per failure, and every failure that
// is not the reader's own doing is logged with what failed.
func TestErrno(t *testing.T) {
	tests := []struct {
		err    error
		want   syscall.Errno
		logged string
	}{
		{nil, 0, ""},
		{context.Canceled, syscall.EINTR, ""},
		{fmt.Errorf("read: %w", &repo.VolumeError{Name: "duplicity-full.X.vol3.difftar.gpg", Err: repo.ErrMissingVolume}), syscall.EIO, "vol3"},
		{points.ErrNotRegular, syscall.EIO, "not a regular file"},
		{fmt.Errorf("fetch: %w", &backends.SealedError{Name: "cold_duplicity-full.X.vol2.difftar.gpg", State: backends.Unsealing}), syscall.EAGAIN, "vol2.difftar.gpg is unsealing"},
	}
	for _, tc := range tests {
		var log strings.Builder
		f := &FS{Logf: func(format string, args ...any) { fmt.Fprintf(&log, format, args...) }}
		if got := f.errno("read x", tc.err); got != tc.want {
			t.Errorf("errno(%v) = %v, want %v", tc.err, got, tc.want)
		}
		if !strings.Contains(log.String(), tc.logged) || (tc.logged == "") != (log.Len() == 0) {
			t.Errorf("errno(%v) logged %q, want a line with %q", tc.err, log.String(), tc.logged)
		}
	}
}

// TestInodes: inode numbers of different points never collide, and the
// root and "latest" keep 1 and 2.
func TestInodes(t *testing.T) {
	seen := map[uint64]bool{1: true, 2: true}
	for pi := range 3 {
		for _, ino := range []uint64{1, 2, 1 << 39} {
			got := inoOf(pi, &points.Node{Ino: ino})
			if seen[got] {
				t.Errorf("inode %d of point %d collides", ino, pi)
			}
			seen[got] = true
		}
	}
}
