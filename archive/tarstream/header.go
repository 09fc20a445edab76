// Package tarstream reads and writes tar streams in the dialect duplicity
// uses: Python tarfile's PAX format. It replaces archive/tar because
// duplicity volumes may carry arbitrary bytes after the first zero block
// (gpg top-off filler) and because names are raw bytes that must round-trip
// unchanged, whatever their encoding.
package tarstream

import (
	"bytes"
	"fmt"
	"math"
)

// Typeflags of the member kinds duplicity writes, plus the two regular-file
// spellings readers meet.
const (
	TypeReg     = '0'
	TypeRegA    = '\x00' // v7 regular file
	TypeLink    = '1'    // hard link: returned as-is, duplicity rejects it
	TypeSymlink = '2'
	TypeChar    = '3'
	TypeBlock   = '4'
	TypeDir     = '5'
	TypeFifo    = '6'
)

// Extension typeflags consumed by the reader itself.
const (
	typePAX       = 'x'
	typePAXGlobal = 'g'
	typeLongName  = 'L'
	typeLongLink  = 'K'
)

const (
	blockSize  = 512
	recordSize = 20 * blockSize
	// maxMeta bounds PAX and GNU long-name payloads, which are held in
	// memory; real ones are a few hundred bytes.
	maxMeta = 1 << 20
)

// Header field offsets and widths of a ustar block.
const (
	offName     = 0
	offMode     = 100
	offUid      = 108
	offGid      = 116
	offSize     = 124
	offMtime    = 136
	offChksum   = 148
	offTypeflag = 156
	offLinkname = 157
	offMagic    = 257
	offUname    = 265
	offGname    = 297
	offDevmajor = 329
	offDevminor = 337
	offPrefix   = 345
	endPrefix   = 500

	lenName  = 100
	lenOwner = 32
)

// Header is one tar member as duplicity sees it. Strings hold raw bytes.
type Header struct {
	Name               string
	Typeflag           byte
	Mode               int64
	Uid, Gid           int
	Uname, Gname       string
	Size               int64 // data bytes; always 0 for header-only types
	Mtime              int64 // seconds
	Linkname           string
	Devmajor, Devminor int64
	// FileSize, when positive, is the size of the file a signature member
	// describes. dupfs stores it in a vendor PAX record (FileSizeKey) so a
	// mount can list exact sizes from signatures alone; duplicity's
	// tarfile keeps unknown records to itself.
	FileSize int64
}

// FileSizeKey is the PAX keyword carrying Header.FileSize.
const FileSizeKey = "DUPFS.filesize"

// headerOnly reports whether members of this type never carry data,
// whatever their size field says (as Python's tarfile and GNU tar treat them).
func headerOnly(flag byte) bool {
	switch flag {
	case TypeLink, TypeSymlink, TypeChar, TypeBlock, TypeDir, TypeFifo:
		return true
	}
	return false
}

// padding returns the number of NUL bytes that follow size data bytes.
func padding(size int64) int64 {
	return -size & (blockSize - 1)
}

// cstr returns b up to its first NUL.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// parseNumeric decodes an octal or GNU base-256 numeric field.
func parseNumeric(b []byte) (int64, error) {
	if len(b) > 0 && (b[0] == 0x80 || b[0] == 0xff) {
		return parseBase256(b)
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	b = bytes.Trim(b, " ")
	var n int64
	// Fields are at most 12 bytes, so 12 octal digits cannot overflow.
	for _, c := range b {
		if c < '0' || c > '7' {
			return 0, fmt.Errorf("invalid number field %q", b)
		}
		n = n<<3 | int64(c-'0')
	}
	return n, nil
}

// parseBase256 decodes GNU's big-endian form: a 0x80 lead byte marks a
// positive number, 0xff a negative one in two's complement.
func parseBase256(b []byte) (int64, error) {
	neg := b[0] == 0xff
	var ext byte
	if neg {
		ext = 0xff
	}
	var v uint64
	for i, c := range b {
		if i == 0 {
			c = ext
		}
		if i < len(b)-8 {
			if c != ext {
				return 0, fmt.Errorf("number field %x overflows", b)
			}
			continue
		}
		v = v<<8 | uint64(c)
	}
	n := int64(v)
	if (n < 0) != neg {
		return 0, fmt.Errorf("number field %x overflows", b)
	}
	return n, nil
}

// checksums returns the unsigned and signed sums of a header block with its
// checksum field counted as spaces; historic writers used either.
func checksums(b *[blockSize]byte) (unsigned, signed int64) {
	for i, c := range b {
		if i >= offChksum && i < offChksum+8 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return unsigned, signed
}

// parseHeader decodes a non-zero header block. Extension payloads are
// applied by the Reader.
func parseHeader(b *[blockSize]byte) (*Header, error) {
	chk, err := parseNumeric(b[offChksum : offChksum+8])
	if err != nil {
		return nil, fmt.Errorf("checksum: %w", err)
	}
	if u, s := checksums(b); chk != u && chk != s {
		return nil, fmt.Errorf("bad checksum %o (want %o)", chk, u)
	}
	h := &Header{
		Name:     cstr(b[offName : offName+lenName]),
		Typeflag: b[offTypeflag],
		Linkname: cstr(b[offLinkname : offLinkname+lenName]),
		Uname:    cstr(b[offUname : offUname+lenOwner]),
		Gname:    cstr(b[offGname : offGname+lenOwner]),
	}
	fields := []struct {
		name     string
		from, to int
		dst      *int64
	}{
		{"mode", offMode, offUid, &h.Mode},
		{"size", offSize, offMtime, &h.Size},
		{"mtime", offMtime, offChksum, &h.Mtime},
		{"devmajor", offDevmajor, offDevminor, &h.Devmajor},
		{"devminor", offDevminor, offPrefix, &h.Devminor},
	}
	for _, f := range fields {
		if *f.dst, err = parseNumeric(b[f.from:f.to]); err != nil {
			return nil, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	uid, err := parseNumeric(b[offUid:offGid])
	if err != nil {
		return nil, fmt.Errorf("uid: %w", err)
	}
	gid, err := parseNumeric(b[offGid:offSize])
	if err != nil {
		return nil, fmt.Errorf("gid: %w", err)
	}
	if h.Uid, h.Gid, err = ids(uid, gid); err != nil {
		return nil, err
	}
	// Only POSIX ustar has a prefix; GNU tar keeps atime/ctime there.
	if string(b[offMagic:offMagic+6]) == "ustar\x00" {
		if p := cstr(b[offPrefix:endPrefix]); p != "" {
			h.Name = p + "/" + h.Name
		}
	}
	return h, nil
}

// ids converts parsed uid/gid values to ints.
func ids(uid, gid int64) (int, int, error) {
	if uid < math.MinInt || uid > math.MaxInt || gid < math.MinInt || gid > math.MaxInt {
		return 0, 0, fmt.Errorf("uid/gid %d/%d out of range", uid, gid)
	}
	return int(uid), int(gid), nil
}
