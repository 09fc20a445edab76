// Package fusefs is the read-only filesystem of a backup: the root holds
// one directory per time point (named by its UTC time) and a "latest"
// symlink; below, each point's tree as it was then. Listings and
// attributes come from the points' metadata trees and never read a
// volume; a file's data is produced on open, from the volumes that hold
// it, into the cache.
package fusefs

import (
	"context"
	"errors"
	"log"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"

	"dupfs/archive/owners"
	"dupfs/points"
)

// FS is the mounted backup.
type FS struct {
	src    *points.Source
	data   *points.Data
	points []*points.Point
	users  *owners.Map
	groups *owners.Map
	// Logf receives one line per fetch and per failed read.
	Logf func(format string, args ...any)
	cold *Cold // nil: every volume is readable
}

// New makes the filesystem of pts: trees from src, file data from data.
func New(src *points.Source, data *points.Data, pts []*points.Point) *FS {
	return &FS{src: src, data: data, points: pts, users: owners.Users(), groups: owners.Groups(), Logf: log.Printf}
}

// Root returns the root node to mount.
func (f *FS) Root() fs.InodeEmbedder { return &rootNode{fsys: f} }

// Inode numbers: the root is 1 and "latest" 2; nodes of point i are
// (i+1)<<40 | their number in the point's tree, which is stable.
const pointShift = 40

func inoOf(pi int, n *points.Node) uint64 { return uint64(pi+1)<<pointShift | n.Ino }

// errno maps a failure to the one errno a reader sees; anything unknown is
// logged and becomes EIO.
func (f *FS) errno(what string, err error) syscall.Errno {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, context.Canceled):
		return syscall.EINTR
	}
	if e, ok := f.sealedErrno(what, err); ok {
		return e
	}
	f.Logf("dupfs: %s: %v", what, err)
	return syscall.EIO
}
