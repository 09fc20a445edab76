package writer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"

	"golang.org/x/sys/unix"

	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/archive/librsync"
	"dupfs/archive/owners"
	"dupfs/archive/tarstream"
)

// chunkSize is duplicity's read size: data of this size or more is split
// into multivol_* members of exactly this many bytes.
const chunkSize = 64 << 10

// maxOldSignature bounds an old signature read for a delta (a hostile or
// damaged signature tar must not exhaust memory); a 2 TB file has one of
// about 12 GB/1000.
const maxOldSignature = 1 << 30

// packer compares the source with the old signature state and writes
// volume entries, signature-tar entries and the manifest's file list.
type packer struct {
	ctx    context.Context
	opts   *Options
	old    *oldState
	vols   *volumeSeq
	sig    *tarstream.Writer
	files  *fileList
	st     *Stats
	users  *owners.Map
	groups *owners.Map
	buf    []byte
	sigBuf *spill

	// keep is the index of a path that could not be read: the previous
	// state below it stays as it was instead of being deleted.
	keep    string
	keeping bool
}

func (p *packer) run() error {
	s, err := p.nextSource()
	if err != nil {
		return err
	}
	o, err := p.old.next()
	if err != nil {
		return fmt.Errorf("previous signatures: %w", err)
	}
	for s != nil || o != nil {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		c := 0
		switch {
		case s == nil:
			c = 1
		case o == nil:
			c = -1
		default:
			c = index.Compare(s.Index, o.Index)
		}
		if c > 0 {
			if o.Index != "" && !(p.keeping && index.Within(o.Index, p.keep)) {
				if err := p.deleted(o); err != nil {
					return err
				}
			}
		} else {
			var old *difftar.Entry
			if c == 0 {
				old = o
			}
			if err := p.source(s, old); err != nil {
				return err
			}
			if s, err = p.nextSource(); err != nil {
				return err
			}
		}
		if c >= 0 {
			if o, err = p.old.next(); err != nil {
				return fmt.Errorf("previous signatures: %w", err)
			}
		}
		p.progress()
	}
	return nil
}

func (p *packer) nextSource() (*SourceEntry, error) {
	e, err := p.opts.Source.Next()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	return &e, nil
}

func (p *packer) warn(path string, err error) {
	p.st.Errors++
	p.opts.Warn(fmt.Errorf("%s: %w", path, err))
}

// source handles one source path; old is its previous state, if any.
func (p *packer) source(s *SourceEntry, old *difftar.Entry) error {
	if s.Err != nil {
		p.warn(s.Path, s.Err)
		p.keep, p.keeping = s.Index, true
		if s.Info == nil {
			return nil
		}
	}
	e, err := p.entryOf(s)
	if err != nil {
		p.warn(s.Path, err)
		p.keep, p.keeping = s.Index, true
		return nil
	}
	if e == nil {
		return nil // a socket: duplicity does not back them up
	}
	size := s.Info.Size()
	// Beyond duplicity's test: a size recorded by dupfs that differs
	// catches a file changed within the second of the last backup.
	resized := e.Type == difftar.Reg && old != nil && old.FileSize > 0 && old.FileSize != size
	if old != nil && !resized && p.same(e, old) {
		p.st.SourceFiles++
		p.st.SourceFileSize += size
		return nil
	}
	if e.Type == difftar.Reg {
		return p.regular(s, e, old)
	}
	p.st.SourceFiles++
	p.st.SourceFileSize += size
	p.st.NewFiles++
	p.st.NewFileSize += size
	p.st.DeltaEntries++
	h := e.Header(difftar.MemberName(difftar.Snapshot, e.Index, e.Type, false, 0, false), 0)
	if err := p.vols.block(e.Index, 0, h, nil); err != nil {
		return err
	}
	return p.sigEntry(e, difftar.Snapshot, nil)
}

// entryOf describes a source path as a snapshot entry; nil for sockets.
func (p *packer) entryOf(s *SourceEntry) (*difftar.Entry, error) {
	st, ok := s.Info.Sys().(*syscall.Stat_t)
	if !ok {
		return nil, errors.New("no stat information")
	}
	e := &difftar.Entry{
		Kind:  difftar.Snapshot,
		Index: s.Index,
		Mode:  st.Mode & 0o7777,
		Uid:   int(st.Uid),
		Gid:   int(st.Gid),
		Mtime: st.Mtim.Sec,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		e.Type = difftar.Reg
	case unix.S_IFDIR:
		e.Type = difftar.Dir
	case unix.S_IFLNK:
		e.Type = difftar.Symlink
		target, err := os.Readlink(s.Path)
		if err != nil {
			return nil, err
		}
		e.Linkname = target
	case unix.S_IFIFO:
		e.Type = difftar.Fifo
	case unix.S_IFCHR, unix.S_IFBLK:
		e.Type = difftar.Char
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			e.Type = difftar.Block
		}
		e.Devmajor, e.Devminor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	default:
		return nil, nil
	}
	e.Uname = p.users.Name(e.Uid)
	e.Gname = p.groups.Name(e.Gid)
	return e, nil
}

// same is duplicity's test of whether a path changed: type, permissions,
// owner and whole-second mtime (its signatures hold no size); symlinks by
// target only; devices by numbers. Stored owners count by name where the name
// exists here.
func (p *packer) same(e, old *difftar.Entry) bool {
	if e.Type != old.Type {
		return false
	}
	perms := e.Mode == old.Mode&0o7777 &&
		e.Uid == p.users.ID(old.Uname, old.Uid) &&
		e.Gid == p.groups.ID(old.Gname, old.Gid)
	switch e.Type {
	case difftar.Symlink:
		return e.Linkname == old.Linkname
	case difftar.Char, difftar.Block:
		return perms && e.Devmajor == old.Devmajor && e.Devminor == old.Devminor
	}
	return perms && (e.Mtime == old.Mtime || (e.Mtime <= 0 && old.Mtime <= 0))
}

// regular stores a new or changed regular file: a snapshot, or a delta
// against its old signature, in 64 KiB chunks; and its new signature.
func (p *packer) regular(s *SourceEntry, e *difftar.Entry, old *difftar.Entry) error {
	f, err := openSource(s.Path)
	if err != nil {
		p.warn(s.Path, err)
		p.keep, p.keeping = s.Index, true
		return nil
	}
	defer f.Close()
	size := s.Info.Size()

	kind := difftar.Snapshot
	var oldSig *librsync.Signature
	if old != nil && old.Type == difftar.Reg && old.Kind == difftar.Signature {
		if oldSig, err = librsync.ReadSignature(p.old.data(), maxOldSignature); err != nil {
			// Without a usable signature a full copy is still correct.
			p.opts.Warn(fmt.Errorf("%s: previous signature unusable, storing a full copy: %w", s.Path, err))
		} else {
			kind = difftar.Diff
		}
	}
	p.st.SourceFiles++
	p.st.DeltaEntries++
	if kind == difftar.Diff {
		p.st.ChangedFiles++
		p.st.ChangedFileSize += size
		p.files.add("changed", e.Index)
	} else {
		p.st.NewFiles++
		p.st.NewFileSize += size
		p.files.add("new", e.Index)
	}

	p.sigBuf.reset()
	sw, err := librsync.NewSignatureWriter(p.sigBuf, librsync.MagicMD4Sig, librsync.BlockLen(size, p.opts.MaxBlockSize), 8)
	if err != nil {
		return err
	}
	rd := &softReader{r: f}
	var data io.Reader = io.TeeReader(rd, sw)
	if kind == difftar.Diff {
		pr, pw := io.Pipe()
		go func(in io.Reader) { pw.CloseWithError(librsync.WriteDelta(pw, oldSig, in)) }(data)
		defer pr.Close()
		data = pr
	}
	if err := p.chunks(e, kind, data); err != nil {
		return err
	}
	p.st.SourceFileSize += rd.n
	if err := sw.Close(); err != nil {
		return err
	}
	sigMeta := *e
	sigMeta.Kind, sigMeta.FileSize = difftar.Signature, rd.n
	if rd.err != nil {
		p.warn(s.Path, fmt.Errorf("read failed after %d bytes; stored what was read, and the next backup sends it again: %w", rd.n, rd.err))
		// A changed mtime in the signature makes the next run see a change.
		sigMeta.Mtime = e.Mtime + 1
	}
	return p.sigEntry(&sigMeta, difftar.Signature, p.sigBuf)
}

// chunks writes data as one member, or as multivol chunks when it is at
// least chunkSize long, ending with the first short (maybe empty) chunk.
func (p *packer) chunks(e *difftar.Entry, kind difftar.Kind, data io.Reader) error {
	for k := 1; ; k++ {
		n, err := io.ReadFull(data, p.buf)
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return fmt.Errorf("%s: %w", index.Display(e.Index), err)
		}
		last := n < chunkSize
		p.st.RawDeltaSize += int64(n)
		var name string
		mark := 0 // the chunk number the manifest records, while unfinished
		if k == 1 && last {
			name = difftar.MemberName(kind, e.Index, difftar.Reg, false, 0, false)
		} else {
			name = difftar.MemberName(kind, e.Index, difftar.Reg, true, k, false)
			if !last {
				mark = k
			}
		}
		if err := p.vols.block(e.Index, mark, e.Header(name, int64(n)), p.buf[:n]); err != nil {
			return err
		}
		if last {
			return nil
		}
	}
}

// deleted records that a path of the old state is gone.
func (p *packer) deleted(o *difftar.Entry) error {
	e := &difftar.Entry{Kind: difftar.Deleted, Index: o.Index, Type: o.Type}
	p.st.DeletedFiles++
	p.st.DeltaEntries++
	if o.Type == difftar.Reg {
		p.files.add("deleted", o.Index)
	}
	h := e.Header(difftar.MemberName(difftar.Deleted, e.Index, e.Type, false, 0, false), 0)
	if err := p.vols.block(e.Index, 0, h, nil); err != nil {
		return err
	}
	return p.sigEntry(e, difftar.Deleted, nil)
}

// sigEntry appends e to the new signature tar, with data for signatures.
func (p *packer) sigEntry(e *difftar.Entry, kind difftar.Kind, data *spill) error {
	var size int64
	if data != nil {
		size = data.size()
	}
	h := e.Header(difftar.MemberName(kind, e.Index, e.Type, false, 0, true), size)
	if err := p.sig.WriteHeader(h); err != nil {
		return fmt.Errorf("signature tar: %w", err)
	}
	if data != nil {
		if err := data.writeTo(p.sig); err != nil {
			return fmt.Errorf("signature tar: %w", err)
		}
	}
	return nil
}

func (p *packer) progress() {
	if p.opts.Progress != nil {
		p.opts.Progress(*p.st)
	}
}

// softReader turns a read error into the end of the data, remembering it,
// so that what was stored stays a consistent (if short) file.
type softReader struct {
	r   io.Reader
	n   int64
	err error
}

func (s *softReader) Read(b []byte) (int, error) {
	if s.err != nil {
		return 0, io.EOF
	}
	n, err := s.r.Read(b)
	s.n += int64(n)
	if err != nil && err != io.EOF {
		s.err = err
		err = io.EOF
	}
	return n, err
}

// openSource opens a source file without updating its access time where
// the kernel allows it (only the owner or root may ask).
func openSource(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NOATIME|unix.O_CLOEXEC, 0)
	if err == unix.EPERM {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}
