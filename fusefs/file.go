package fusefs

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"dupfs/points"
)

// fileNode is a regular file; its data is fetched on open.
type fileNode struct {
	fs.Inode
	fsys  *FS
	pi    int
	point *points.Point
	node  *points.Node
}

var _ = (fs.NodeOpener)((*fileNode)(nil))
var _ = (fs.NodeGetattrer)((*fileNode)(nil))
var _ = (fs.NodeGetxattrer)((*fileNode)(nil))
var _ = (fs.NodeListxattrer)((*fileNode)(nil))

func (f *fileNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	f.fsys.fill(&out.Attr, f.pi, f.node)
	return 0
}

func (f *fileNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	if f.node.Size == 0 {
		return &handle{}, fuse.FOPEN_KEEP_CACHE, 0
	}
	what := f.point.Name() + "/" + f.node.Index
	if f.fsys.cold != nil {
		if errno := f.fsys.unsealFor(ctx, "read "+what, f.point, f.node); errno != 0 {
			return nil, 0, errno
		}
	}
	c, err := f.fsys.data.Open(ctx, f.point, f.node)
	if err != nil {
		return nil, 0, f.fsys.errno("read "+what, err)
	}
	return &handle{c: c}, fuse.FOPEN_KEEP_CACHE, 0
}

func (f *fileNode) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	if attr != xattrState {
		return 0, syscall.ENODATA
	}
	v := "cached"
	if !f.fsys.data.Cached(ctx, f.point, f.node) {
		_, missing, err := f.fsys.data.Volumes(ctx, f.point, f.node)
		if err != nil {
			return 0, f.fsys.errno("volumes of "+f.node.Index, err)
		}
		if f.fsys.cold != nil {
			v = coldState(f.fsys.cold.Tracker, missing)
		} else {
			v = "needs " + strings.Join(missing, " ")
		}
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// Listxattr lists nothing: the state attribute is asked for by name. Listed,
// `cp -a` and `rsync -X` would copy it onto every restored file (and ask
// for it, costing a volume lookup per file).
func (f *fileNode) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, 0
}

// handle reads an open file's content.
type handle struct {
	c points.Content // nil for empty files
}

var _ = (fs.FileReader)((*handle)(nil))
var _ = (fs.FileReleaser)((*handle)(nil))

func (h *handle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.c == nil || off >= h.c.Size() {
		return fuse.ReadResultData(nil), 0
	}
	n, err := h.c.ReadAt(dest, off)
	if n == 0 && err != nil && !errors.Is(err, io.EOF) {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:n]), 0
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	if h.c != nil {
		h.c.Close()
	}
	return 0
}
