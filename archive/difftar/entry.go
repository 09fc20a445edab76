// Package difftar gives duplicity's meaning to the tar members of volumes
// and signature tars: entry kinds, indexes taken from member names, and
// multivol chunks joined back into one data stream.
package difftar

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"dupfs/archive/index"
	"dupfs/archive/tarstream"
)

// Kind says what an entry's data is.
type Kind int

const (
	Snapshot  Kind = iota // full copy (data = file contents for regular files)
	Diff                  // librsync delta against the previous version
	Deleted               // the path no longer exists
	Signature             // librsync signature (signature tars only)
	// Lost stands for an entry that was in a volume that could not be
	// read. It is never in a tar: readers that resume after damage make it
	// so replay knows the set changed the path.
	Lost
)

func (k Kind) String() string {
	switch k {
	case Snapshot:
		return "snapshot"
	case Diff:
		return "diff"
	case Deleted:
		return "deleted"
	case Signature:
		return "signature"
	case Lost:
		return "lost"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Type is the file type an entry describes.
type Type int

const (
	Reg Type = iota
	Dir
	Symlink
	Fifo
	Char
	Block
)

func (t Type) String() string {
	switch t {
	case Reg:
		return "reg"
	case Dir:
		return "dir"
	case Symlink:
		return "sym"
	case Fifo:
		return "fifo"
	case Char:
		return "chr"
	case Block:
		return "blk"
	}
	return "Type(" + strconv.Itoa(int(t)) + ")"
}

func (t Type) typeflag() byte {
	switch t {
	case Dir:
		return tarstream.TypeDir
	case Symlink:
		return tarstream.TypeSymlink
	case Fifo:
		return tarstream.TypeFifo
	case Char:
		return tarstream.TypeChar
	case Block:
		return tarstream.TypeBlock
	}
	return tarstream.TypeReg
}

// Entry is one path's record in a volume or signature tar.
type Entry struct {
	Kind               Kind
	Index              string // "" is the root
	Type               Type   // Deleted entries keep the type stored (Reg)
	Mode               uint32 // permission bits, & 07777
	Uid, Gid           int
	Uname, Gname       string
	Mtime              int64
	Linkname           string
	Devmajor, Devminor uint32
	Multivol           bool  // data is the concatenation of multivol_* chunks
	Size               int64 // data size; -1 for multivol entries
	// FileSize is the size of the file a dupfs signature entry describes
	// (0 when not recorded, as in duplicity's signatures).
	FileSize int64
}

// prefixes maps member name prefixes to entry kinds.
var prefixes = []struct {
	prefix   string
	kind     Kind
	multivol bool
}{
	{"snapshot/", Snapshot, false},
	{"diff/", Diff, false},
	{"deleted/", Deleted, false},
	{"signature/", Signature, false},
	{"multivol_snapshot/", Snapshot, true},
	{"multivol_diff/", Diff, true},
}

// parseEntry interprets one tar member. Errors name the member.
func parseEntry(h *tarstream.Header) (*Entry, error) {
	name := h.Name
	var typ Type
	switch h.Typeflag {
	case tarstream.TypeReg, tarstream.TypeRegA:
		typ = Reg
	case tarstream.TypeDir:
		typ = Dir
	case tarstream.TypeSymlink:
		typ = Symlink
	case tarstream.TypeFifo:
		typ = Fifo
	case tarstream.TypeChar:
		typ = Char
	case tarstream.TypeBlock:
		typ = Block
	case tarstream.TypeLink:
		return nil, fmt.Errorf("member %q: hard links are not supported", name)
	default:
		return nil, fmt.Errorf("member %q: unsupported tar type %q", name, h.Typeflag)
	}

	e := &Entry{
		Type: typ, Mode: uint32(h.Mode & 07777),
		Uid: h.Uid, Gid: h.Gid, Uname: h.Uname, Gname: h.Gname,
		Mtime: h.Mtime, Linkname: h.Linkname, Size: h.Size, FileSize: h.FileSize,
	}
	// Python's tarfile strips a directory's trailing "/" and duplicity adds
	// it back, so a directory named "snapshot" is the root.
	full := name
	if typ == Dir && !strings.HasSuffix(full, "/") {
		full += "/"
	}
	var path string
	found := false
	for _, p := range prefixes {
		if !strings.HasPrefix(full, p.prefix) {
			continue
		}
		found = true
		e.Kind, e.Multivol = p.kind, p.multivol
		path = full[len(p.prefix):]
		if p.multivol {
			if typ != Reg {
				return nil, fmt.Errorf("member %q: multivol chunk of type %s", name, typ)
			}
			// The chunk number is everything after the last "/";
			// "multivol_snapshot/1" is chunk 1 of the root.
			chunk := path
			path = ""
			if i := strings.LastIndexByte(chunk, '/'); i >= 0 {
				path, chunk = chunk[:i], chunk[i+1:]
			}
			if !isDigits(chunk) {
				return nil, fmt.Errorf("member %q: bad multivol chunk number %q", name, chunk)
			}
			e.Size = -1
		}
		break
	}
	if !found {
		return nil, fmt.Errorf("member %q: unknown entry name", name)
	}
	path = strings.TrimRight(path, "/")
	if path == "." {
		path = ""
	}
	if err := index.Check(path); err != nil {
		return nil, fmt.Errorf("member %q: %w", name, err)
	}
	e.Index = path
	if typ == Char || typ == Block {
		if h.Devmajor < 0 || h.Devmajor > math.MaxUint32 || h.Devminor < 0 || h.Devminor > math.MaxUint32 {
			return nil, fmt.Errorf("member %q: device %d,%d out of range", name, h.Devmajor, h.Devminor)
		}
		e.Devmajor, e.Devminor = uint32(h.Devmajor), uint32(h.Devminor)
	}
	return e, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// MemberName returns the tar member name duplicity gives an entry: kind
// prefix ("multivol_" for chunks), the index, "/" after directories, and
// "/<chunk>" after a multivol path. The root is "snapshot/./" in volumes
// and "snapshot/" in signature tars (sigtar).
func MemberName(kind Kind, idx string, typ Type, multivol bool, chunk int, sigtar bool) string {
	prefix := kind.String() + "/"
	if multivol {
		prefix = "multivol_" + prefix
	}
	dir := typ == Dir && kind != Deleted // deleted entries are stored as regular files
	if sigtar {
		name := prefix + idx
		if dir && !strings.HasSuffix(name, "/") {
			name += "/"
		}
		return name
	}
	path := idx
	if path == "" {
		path = "."
	}
	if dir {
		path += "/"
	}
	switch {
	case multivol:
		return prefix + path + "/" + strconv.Itoa(chunk)
	case path == ".":
		return prefix
	}
	return prefix + path
}

// Header returns the tar header duplicity writes for e under the member
// name, with size data bytes following. Deleted entries carry no metadata;
// symlinks always have mode 0777; negative mtimes are stored as 0.
func (e *Entry) Header(name string, size int64) *tarstream.Header {
	h := &tarstream.Header{Name: name, Typeflag: tarstream.TypeReg, Size: size}
	if e.Kind == Deleted {
		return h
	}
	h.Typeflag = e.Type.typeflag()
	h.Mode = int64(e.Mode & 07777)
	h.Uid, h.Gid = e.Uid, e.Gid
	h.Uname, h.Gname = e.Uname, e.Gname
	h.Mtime = max(e.Mtime, 0)
	if e.Kind == Signature {
		h.FileSize = e.FileSize
	}
	switch e.Type {
	case Symlink:
		h.Mode = 0o777
		h.Linkname = e.Linkname
	case Char, Block:
		h.Devmajor, h.Devminor = int64(e.Devmajor), int64(e.Devminor)
	}
	return h
}
