package fusefs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"dupfs/archive/difftar"
	"dupfs/points"
)

// dirNode is a directory of one point (its root when node is nil); its
// children are made on lookup and dropped when the kernel forgets them.
type dirNode struct {
	fs.Inode
	fsys  *FS
	pi    int
	point *points.Point
	node  *points.Node // nil: the point's root, known only once its tree is loaded
}

var _ = (fs.NodeLookuper)((*dirNode)(nil))
var _ = (fs.NodeReaddirer)((*dirNode)(nil))
var _ = (fs.NodeGetattrer)((*dirNode)(nil))

func (d *dirNode) tree(ctx context.Context) (*points.Tree, syscall.Errno) {
	t, err := d.fsys.src.Tree(ctx, d.point)
	if err != nil {
		return nil, d.fsys.errno("point "+d.point.Name(), err)
	}
	return t, 0
}

func (d *dirNode) index() string {
	if d.node == nil {
		return ""
	}
	return d.node.Index
}

func (d *dirNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n := d.node
	if n == nil {
		t, errno := d.tree(ctx)
		if errno != 0 {
			return errno
		}
		n = t.Root
	}
	d.fsys.fill(&out.Attr, d.pi, n)
	return 0
}

func (d *dirNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	t, errno := d.tree(ctx)
	if errno != 0 {
		return nil, errno
	}
	n := t.Lookup(d.index(), name)
	if n == nil {
		return nil, syscall.ENOENT
	}
	d.fsys.fill(&out.Attr, d.pi, n)
	var child fs.InodeEmbedder
	switch n.Meta.Type {
	case difftar.Dir:
		child = &dirNode{fsys: d.fsys, pi: d.pi, point: d.point, node: n}
	case difftar.Reg:
		child = &fileNode{fsys: d.fsys, pi: d.pi, point: d.point, node: n}
	case difftar.Symlink:
		child = &linkNode{fsys: d.fsys, pi: d.pi, node: n}
	default:
		child = &otherNode{fsys: d.fsys, pi: d.pi, node: n}
	}
	return d.NewInode(ctx, child, fs.StableAttr{Mode: modeType(n.Meta.Type), Ino: inoOf(d.pi, n)}), 0
}

func (d *dirNode) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	t, errno := d.tree(ctx)
	if errno != 0 {
		return nil, errno
	}
	kids := t.Children(d.index())
	list := make([]fuse.DirEntry, 0, len(kids))
	for _, n := range kids {
		list = append(list, fuse.DirEntry{Name: n.Name, Mode: modeType(n.Meta.Type), Ino: inoOf(d.pi, n)})
	}
	return fs.NewListDirStream(list), 0
}

// linkNode is a symlink.
type linkNode struct {
	fs.Inode
	fsys *FS
	pi   int
	node *points.Node
}

var _ = (fs.NodeReadlinker)((*linkNode)(nil))
var _ = (fs.NodeGetattrer)((*linkNode)(nil))

func (l *linkNode) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	return []byte(l.node.Meta.Linkname), 0
}

func (l *linkNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	l.fsys.fill(&out.Attr, l.pi, l.node)
	return 0
}

// otherNode is a fifo or device: attributes only.
type otherNode struct {
	fs.Inode
	fsys *FS
	pi   int
	node *points.Node
}

var _ = (fs.NodeGetattrer)((*otherNode)(nil))

func (o *otherNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	o.fsys.fill(&out.Attr, o.pi, o.node)
	return 0
}

func modeType(t difftar.Type) uint32 {
	switch t {
	case difftar.Dir:
		return syscall.S_IFDIR
	case difftar.Symlink:
		return syscall.S_IFLNK
	case difftar.Fifo:
		return syscall.S_IFIFO
	case difftar.Char:
		return syscall.S_IFCHR
	case difftar.Block:
		return syscall.S_IFBLK
	}
	return syscall.S_IFREG
}

// fill sets the attributes the backup recorded: owners by name where the
// name exists here, as a restore would set them.
func (f *FS) fill(a *fuse.Attr, pi int, n *points.Node) {
	e := &n.Meta
	a.Ino = inoOf(pi, n)
	a.Mode = modeType(e.Type) | e.Mode&0o7777
	if e.Type == difftar.Symlink {
		a.Mode = syscall.S_IFLNK | 0o777
		a.Size = uint64(len(e.Linkname))
	} else {
		a.Size = uint64(n.Size)
	}
	a.Blocks = (a.Size + 511) / 512
	a.Nlink = 1
	a.Owner.Uid = uint32(f.users.ID(e.Uname, e.Uid))
	a.Owner.Gid = uint32(f.groups.ID(e.Gname, e.Gid))
	a.Mtime = uint64(max(e.Mtime, 0))
	a.Ctime, a.Atime = a.Mtime, a.Mtime
	if e.Type == difftar.Char || e.Type == difftar.Block {
		a.Rdev = uint32(unix.Mkdev(e.Devmajor, e.Devminor))
	}
}

// xattrState is the extended attribute telling whether a file's data is
// local (cached) or which volumes a read still needs.
const xattrState = "user.dupfs.state"
