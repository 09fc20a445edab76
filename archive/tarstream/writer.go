package tarstream

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrWriteTooLong is returned when more data is written than the member's
// header declared.
var ErrWriteTooLong = errors.New("tar: write beyond the member's size")

// Writer writes tar members byte-for-byte as Python's tarfile does in
// PAX_FORMAT, which is how duplicity writes volumes and signature tars.
type Writer struct {
	w      io.Writer
	n      int64 // bytes written to w
	remain int64 // data bytes the current member still expects
	pad    int64 // padding owed after the current member's data
	name   string
	err    error // sticky write error
	closed bool
	buf    []byte // header blocks under construction
}

// NewWriter returns a Writer that writes to w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w}
}

// Written returns the number of bytes written so far.
func (w *Writer) Written() int64 {
	return w.n
}

// Limits of the octal ustar fields; larger values go to PAX records.
const (
	maxOctal7  = 1<<21 - 1 // 8-byte fields: 7 digits
	maxOctal11 = 1<<33 - 1 // 12-byte fields: 11 digits
)

// WriteHeader finishes the previous member and writes h. A PAX extended
// header (name "././@PaxHeader") precedes it when a field does not fit
// ustar: non-ASCII or over-long names, ids >= 2097152, size or mtime >=
// 8^11. The ustar copy of such a string is truncated and has each
// non-ASCII character replaced by '?'. A directory name gets a trailing
// "/" as tarfile adds one. The caller then writes exactly h.Size bytes.
func (w *Writer) WriteHeader(h *Header) error {
	if err := w.finish(); err != nil {
		return err
	}
	if h.Size < 0 || (headerOnly(h.Typeflag) && h.Size != 0) {
		return fmt.Errorf("tar member %q: invalid size %d for type %q", h.Name, h.Size, h.Typeflag)
	}
	name := h.Name
	if h.Typeflag == TypeDir && !strings.HasSuffix(name, "/") {
		name += "/"
	}
	var pax []paxRecord
	str := func(key, v string, max int) {
		if len(v) > max || !isASCII(v) {
			pax = append(pax, paxRecord{key, v})
		}
	}
	str("path", name, lenName)
	str("linkpath", h.Linkname, lenName)
	str("uname", h.Uname, lenOwner)
	str("gname", h.Gname, lenOwner)
	num := func(key string, v, max int64) int64 {
		if v < 0 || v > max {
			pax = append(pax, paxRecord{key, strconv.FormatInt(v, 10)})
			return 0
		}
		return v
	}
	uid := num("uid", int64(h.Uid), maxOctal7)
	gid := num("gid", int64(h.Gid), maxOctal7)
	size := num("size", h.Size, maxOctal11)
	mtime := num("mtime", h.Mtime, maxOctal11)
	if h.FileSize > 0 {
		pax = append(pax, paxRecord{FileSizeKey, strconv.FormatInt(h.FileSize, 10)})
	}

	w.buf = w.buf[:0]
	if len(pax) > 0 {
		payload := paxPayload(pax)
		w.buf = appendBlock(w.buf, ustar{name: "././@PaxHeader", typeflag: typePAX, size: int64(len(payload))})
		w.buf = append(w.buf, payload...)
		w.buf = append(w.buf, make([]byte, padding(int64(len(payload))))...)
	}
	u := ustar{
		name: name, typeflag: h.Typeflag, mode: h.Mode & 07777,
		uid: uid, gid: gid, size: size, mtime: mtime,
		linkname: h.Linkname, uname: h.Uname, gname: h.Gname,
	}
	if h.Typeflag == TypeChar || h.Typeflag == TypeBlock {
		if h.Devmajor < 0 || h.Devmajor > maxOctal7 || h.Devminor < 0 || h.Devminor > maxOctal7 {
			return fmt.Errorf("tar member %q: device %d,%d out of range", h.Name, h.Devmajor, h.Devminor)
		}
		u.dev = true
		u.devmajor, u.devminor = h.Devmajor, h.Devminor
	}
	w.buf = appendBlock(w.buf, u)
	if err := w.write(w.buf); err != nil {
		return err
	}
	w.name = name
	w.remain = h.Size
	w.pad = padding(h.Size)
	return nil
}

// Write writes data of the current member.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	var tooLong error
	if int64(len(p)) > w.remain {
		p = p[:w.remain]
		tooLong = fmt.Errorf("tar member %q: %w", w.name, ErrWriteTooLong)
	}
	n, err := w.w.Write(p)
	w.n += int64(n)
	w.remain -= int64(n)
	if err != nil {
		w.err = fmt.Errorf("tar member %q: %w", w.name, err)
		return n, w.err
	}
	return n, tooLong
}

// Flush pads the current member to a block boundary without writing an
// end-of-archive marker, as duplicity ends each volume.
func (w *Writer) Flush() error {
	return w.finish()
}

// Close pads the current member and writes the end-of-archive marker: two
// zero blocks, then zeros up to a multiple of 10240 bytes (signature tars).
func (w *Writer) Close() error {
	if err := w.finish(); err != nil {
		return err
	}
	end := w.n + 2*blockSize
	end += (recordSize - end%recordSize) % recordSize
	if err := w.write(make([]byte, end-w.n)); err != nil {
		return err
	}
	w.closed = true
	return nil
}

// finish checks the current member is complete and writes its padding.
func (w *Writer) finish() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("tar: writer is closed")
	}
	if w.remain > 0 {
		return fmt.Errorf("tar member %q: %d data bytes missing", w.name, w.remain)
	}
	if w.pad > 0 {
		var zeros [blockSize]byte
		if err := w.write(zeros[:w.pad]); err != nil {
			return err
		}
		w.pad = 0
	}
	return nil
}

func (w *Writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.n += int64(n)
	if err != nil {
		w.err = fmt.Errorf("tar: %w", err)
	}
	return w.err
}

type paxRecord struct{ key, value string }

// paxPayload encodes records as "<len> <key>=<value>\n", where len counts
// the whole record including its own digits. Raw bytes that are not UTF-8
// are announced by a leading hdrcharset=BINARY record.
func paxPayload(recs []paxRecord) []byte {
	var b []byte
	for _, r := range recs {
		if !utf8.ValidString(r.value) {
			b = append(b, "21 hdrcharset=BINARY\n"...)
			break
		}
	}
	for _, r := range recs {
		l := len(r.key) + len(r.value) + 3 // ' ', '=', '\n'
		n := l + 1
		for n != l+len(strconv.Itoa(n)) {
			n = l + len(strconv.Itoa(n))
		}
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, ' ')
		b = append(b, r.key...)
		b = append(b, '=')
		b = append(b, r.value...)
		b = append(b, '\n')
	}
	return b
}

// ustar holds the values of one header block, already fitted to its fields.
type ustar struct {
	name                   string
	typeflag               byte
	mode, size, mtime      int64
	uid, gid               int64
	linkname, uname, gname string
	dev                    bool
	devmajor, devminor     int64
}

// appendBlock appends u encoded as a ustar header block.
func appendBlock(dst []byte, u ustar) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, blockSize)...)
	b := (*[blockSize]byte)(dst[start:])
	putString(b[offName:offName+lenName], u.name)
	putOctal(b[offMode:offUid], u.mode)
	putOctal(b[offUid:offGid], u.uid)
	putOctal(b[offGid:offSize], u.gid)
	putOctal(b[offSize:offMtime], u.size)
	putOctal(b[offMtime:offChksum], u.mtime)
	b[offTypeflag] = u.typeflag
	putString(b[offLinkname:offMagic], u.linkname)
	copy(b[offMagic:], "ustar\x0000")
	putString(b[offUname:offGname], u.uname)
	putString(b[offGname:offDevmajor], u.gname)
	if u.dev {
		putOctal(b[offDevmajor:offDevminor], u.devmajor)
		putOctal(b[offDevminor:offPrefix], u.devminor)
	}
	sum, _ := checksums(b)
	putOctal(b[offChksum:offChksum+7], sum)
	b[offChksum+7] = ' '
	return dst
}

// putOctal writes v as zero-padded octal digits filling all but the last
// byte of f, which stays NUL. v must fit.
func putOctal(f []byte, v int64) {
	for i := len(f) - 2; i >= 0; i-- {
		f[i] = byte('0' + v&7)
		v >>= 3
	}
}

// putString writes s truncated to the field, replacing each non-ASCII
// character with '?' as tarfile's ascii/replace encoding does: a valid
// UTF-8 sequence counts as one character, any other byte as one.
func putString(f []byte, s string) {
	i := 0
	for len(s) > 0 && i < len(f) {
		c := s[0]
		size := 1
		if c >= utf8.RuneSelf {
			c = '?'
			_, size = utf8.DecodeRuneInString(s)
		}
		f[i] = c
		i++
		s = s[size:]
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
