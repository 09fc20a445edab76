package tarstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Reader reads tar members one after another from a stream. It accepts
// ustar, v7, PAX and GNU long-name headers.
type Reader struct {
	r      io.Reader
	off    int64  // bytes consumed from r
	start  int64  // offset of the current member's first header block
	data   int64  // offset of the current member's data
	remain int64  // unread data bytes of the current member
	pad    int64  // padding after the current member's data
	name   string // current member, for error messages
	err    error  // sticky; io.EOF once the archive has ended
	blk    [blockSize]byte
}

// NewReader returns a Reader over r.
func NewReader(r io.Reader) *Reader {
	return &Reader{r: r}
}

// extensions collects what PAX and GNU long-name headers say about the
// member that follows them.
type extensions struct {
	seen               bool
	size               int64 // payload bytes so far, bounded by maxMeta
	longName, longLink *string
	pax                map[string]string
}

// Next returns the next member's header, skipping whatever remains of the
// current member. It returns io.EOF at the first all-zero header block
// (anything after it is never parsed) or at a clean end of input on a block
// boundary, since gzip volumes carry no end marker.
func (r *Reader) Next() (*Header, error) {
	if r.err != nil {
		return nil, r.err
	}
	if err := r.skip(r.remain); err != nil {
		return nil, r.fail(fmt.Errorf("tar member %q: data: %w", r.name, err))
	}
	r.remain = 0
	if err := r.skip(r.pad); err != nil {
		return nil, r.fail(fmt.Errorf("tar member %q: padding: %w", r.name, err))
	}
	r.pad = 0

	var ext extensions
	r.start = r.off
	for {
		start := r.off
		n, err := io.ReadFull(r.r, r.blk[:])
		r.off += int64(n)
		switch {
		case err == io.EOF && !ext.seen:
			r.err = io.EOF
			return nil, io.EOF
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
		if err != nil {
			return nil, r.fail(fmt.Errorf("tar header at offset %d (after %q): %w", start, r.name, err))
		}
		if r.blk == [blockSize]byte{} {
			if ext.seen {
				return nil, r.fail(fmt.Errorf("tar header at offset %d: extended header without a member", start))
			}
			r.err = io.EOF
			return nil, io.EOF
		}
		h, err := parseHeader(&r.blk)
		if err != nil {
			return nil, r.fail(fmt.Errorf("tar header at offset %d (after %q): %w", start, r.name, err))
		}
		switch h.Typeflag {
		case typePAX, typePAXGlobal, typeLongName, typeLongLink:
			if err := r.extension(h, &ext); err != nil {
				return nil, r.fail(fmt.Errorf("tar header at offset %d: %w", start, err))
			}
			continue
		}
		if err := ext.apply(h); err != nil {
			return nil, r.fail(fmt.Errorf("tar member %q at offset %d: %w", h.Name, start, err))
		}
		if h.Size < 0 {
			return nil, r.fail(fmt.Errorf("tar member %q at offset %d: negative size %d", h.Name, start, h.Size))
		}
		if h.Typeflag == TypeRegA && strings.HasSuffix(h.Name, "/") {
			h.Typeflag = TypeDir // v7 spelling of a directory
		}
		if headerOnly(h.Typeflag) {
			h.Size = 0
		}
		r.name = h.Name
		r.data = r.off
		r.remain = h.Size
		r.pad = padding(h.Size)
		return h, nil
	}
}

// Read reads the current member's data; it returns io.EOF at its end.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil && r.err != io.EOF {
		return 0, r.err
	}
	if r.remain == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > r.remain {
		p = p[:r.remain]
	}
	n, err := r.r.Read(p)
	r.remain -= int64(n)
	r.off += int64(n)
	switch {
	case err == io.EOF && r.remain == 0:
		err = nil
	case err == io.EOF:
		err = r.fail(fmt.Errorf("tar member %q: data: %w", r.name, io.ErrUnexpectedEOF))
	case err != nil:
		err = r.fail(fmt.Errorf("tar member %q: %w", r.name, err))
	}
	return n, err
}

func (r *Reader) fail(err error) error {
	r.err = err
	r.remain, r.pad = 0, 0
	return err
}

// Offsets returns where the current member starts in the input (its first
// header block, extension headers included) and where its data starts, so
// that a caller can index a seekable volume and come back to a member.
func (r *Reader) Offsets() (header, data int64) {
	return r.start, r.data
}

// sizedSeeker is a seekable input that knows its length, such as an
// io.SectionReader over a local file.
type sizedSeeker interface {
	io.Seeker
	Size() int64
}

// skip discards n bytes of input, by seeking when the input allows it: an
// index of a large local volume then reads headers only.
func (r *Reader) skip(n int64) error {
	if n == 0 {
		return nil
	}
	if s, ok := r.r.(sizedSeeker); ok && n <= s.Size()-r.off {
		if _, err := s.Seek(n, io.SeekCurrent); err == nil {
			r.off += n
			return nil
		}
	}
	got, err := io.CopyN(io.Discard, r.r, n)
	r.off += got
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// extension consumes one PAX or GNU long-name header and its payload.
func (r *Reader) extension(h *Header, ext *extensions) error {
	if h.Size < 0 || h.Size > maxMeta-ext.size {
		return fmt.Errorf("extension header %q of %d bytes exceeds the %d-byte limit", h.Typeflag, h.Size, maxMeta)
	}
	ext.seen = true
	ext.size += h.Size
	if h.Typeflag == typePAXGlobal {
		// Global records would only matter for fields duplicity never sets.
		if err := r.skip(h.Size + padding(h.Size)); err != nil {
			return fmt.Errorf("global extended header: %w", err)
		}
		return nil
	}
	buf := make([]byte, h.Size)
	n, err := io.ReadFull(r.r, buf)
	r.off += int64(n)
	if err == nil {
		err = r.skip(padding(h.Size))
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("extension header %q: %w", h.Typeflag, err)
	}
	switch h.Typeflag {
	case typeLongName:
		s := cstr(buf)
		ext.longName = &s
	case typeLongLink:
		s := cstr(buf)
		ext.longLink = &s
	default:
		if ext.pax == nil {
			ext.pax = make(map[string]string)
		}
		if err := parsePAX(buf, ext.pax); err != nil {
			return fmt.Errorf("PAX header: %w", err)
		}
	}
	return nil
}

// paxKeys are the PAX records that change a Header; others are ignored.
var paxKeys = map[string]bool{
	"path": true, "linkpath": true, "size": true, "mtime": true,
	"uid": true, "gid": true, "uname": true, "gname": true,
	FileSizeKey: true,
}

// parsePAX adds the records of a PAX payload ("<len> <key>=<value>\n") to
// into. Values are kept as raw bytes whatever hdrcharset says, which is what
// duplicity's names are. An empty value deletes the key, as POSIX specifies.
func parsePAX(buf []byte, into map[string]string) error {
	for len(buf) > 0 {
		if buf[0] == 0 && len(bytes.Trim(buf, "\x00")) == 0 {
			return nil // some writers pad the payload with NULs
		}
		sp := bytes.IndexByte(buf, ' ')
		if sp <= 0 || sp > 10 {
			return errors.New("malformed record length")
		}
		n := 0
		for _, c := range buf[:sp] {
			if c < '0' || c > '9' {
				return errors.New("malformed record length")
			}
			n = n*10 + int(c-'0')
		}
		if n <= sp+1 || n > len(buf) || buf[n-1] != '\n' {
			return fmt.Errorf("bad record length %d", n)
		}
		rec := buf[sp+1 : n-1]
		buf = buf[n:]
		eq := bytes.IndexByte(rec, '=')
		if eq <= 0 {
			return errors.New("record without keyword")
		}
		key := string(rec[:eq])
		if strings.HasPrefix(key, "GNU.sparse.") {
			return errors.New("sparse members are not supported")
		}
		if !paxKeys[key] {
			continue
		}
		if eq == len(rec)-1 {
			delete(into, key)
			continue
		}
		into[key] = string(rec[eq+1:])
	}
	return nil
}

// apply overrides h's fields with the extension headers that preceded it;
// PAX records win over GNU long names.
func (ext *extensions) apply(h *Header) error {
	if ext.longName != nil {
		h.Name = *ext.longName
	}
	if ext.longLink != nil {
		h.Linkname = *ext.longLink
	}
	uid, gid := int64(h.Uid), int64(h.Gid)
	for key, v := range ext.pax {
		var err error
		switch key {
		case "path":
			h.Name = v
		case "linkpath":
			h.Linkname = v
		case "uname":
			h.Uname = v
		case "gname":
			h.Gname = v
		case "size":
			h.Size, err = strconv.ParseInt(v, 10, 64)
		case "uid":
			uid, err = strconv.ParseInt(v, 10, 64)
		case "gid":
			gid, err = strconv.ParseInt(v, 10, 64)
		case "mtime":
			h.Mtime, err = parsePAXTime(v)
		case FileSizeKey:
			if h.FileSize, err = strconv.ParseInt(v, 10, 64); err == nil && h.FileSize < 0 {
				err = errors.New("negative")
			}
		}
		if err != nil {
			return fmt.Errorf("PAX %s=%q: %w", key, v, err)
		}
	}
	var err error
	h.Uid, h.Gid, err = ids(uid, gid)
	return err
}

// parsePAXTime returns the whole seconds of a PAX time such as
// "1700000000.25" or "-3.5" (truncated toward zero).
func parsePAXTime(v string) (int64, error) {
	sec, frac, dot := strings.Cut(v, ".")
	if dot {
		for _, c := range []byte(frac) {
			if c < '0' || c > '9' {
				return 0, errors.New("invalid fraction")
			}
		}
		if frac != "" && (sec == "" || sec == "-" || sec == "+") {
			return 0, nil // "-.5" and the like
		}
	}
	return strconv.ParseInt(sec, 10, 64)
}
