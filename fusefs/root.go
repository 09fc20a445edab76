package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// rootNode lists the time points; it is built once, at mount.
type rootNode struct {
	fs.Inode
	fsys *FS
}

var _ = (fs.NodeOnAdder)((*rootNode)(nil))
var _ = (fs.NodeGetattrer)((*rootNode)(nil))
var _ = (fs.NodeLookuper)((*rootNode)(nil))

// Lookup returns a point's directory with its attributes. Without it,
// go-fuse would answer from the child list and ignore a failed Getattr,
// leaving the kernel with zero attributes for an hour.
func (r *rootNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch := r.GetChild(name)
	if ch == nil {
		return nil, syscall.ENOENT
	}
	if ga, ok := ch.Operations().(fs.NodeGetattrer); ok {
		var a fuse.AttrOut
		if errno := ga.Getattr(ctx, nil, &a); errno != 0 {
			return nil, errno
		}
		out.Attr = a.Attr
	}
	return ch, 0
}

func (r *rootNode) OnAdd(ctx context.Context) {
	for i, p := range r.fsys.points {
		d := &dirNode{fsys: r.fsys, pi: i, point: p}
		ch := r.NewPersistentInode(ctx, d, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: uint64(i+1)<<pointShift | 1})
		r.AddChild(p.Name(), ch, false)
	}
	if n := len(r.fsys.points); n > 0 {
		l := &fs.MemSymlink{Data: []byte(r.fsys.points[n-1].Name())}
		t := r.fsys.points[n-1].Time
		l.Attr.Mode = 0o777
		l.Attr.SetTimes(nil, &t, &t)
		r.AddChild("latest", r.NewPersistentInode(ctx, l, fs.StableAttr{Mode: syscall.S_IFLNK, Ino: 2}), false)
	}
	if c := r.fsys.cold; c != nil {
		r.AddChild(StatusFile, r.NewPersistentInode(ctx, &statusNode{t: c.Tracker}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: 3}), false)
	}
}

func (r *rootNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFDIR | 0o555
	if n := len(r.fsys.points); n > 0 {
		t := r.fsys.points[n-1].Time
		out.SetTimes(nil, &t, &t)
	}
	return 0
}
