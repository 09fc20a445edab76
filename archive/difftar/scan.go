package difftar

import (
	"fmt"
	"io"

	"dupfs/archive/tarstream"
)

// Member locates one tar member of a volume whose plaintext is on local
// disk, so that one path's entry can be read without reading the members
// before it.
type Member struct {
	Kind     Kind
	Index    string
	Multivol bool  // a chunk of a multivol entry
	Header   int64 // offset of its first header block
	Data     int64 // offset of its data
	Size     int64 // bytes of data in this member
}

// Scan lists the members of the volume plaintext r of the given size, in
// order. It reads headers only: the data between them is skipped.
func Scan(r io.ReaderAt, size int64) ([]Member, error) {
	tr := tarstream.NewReader(io.NewSectionReader(r, 0, size))
	var out []Member
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		e, err := parseEntry(h)
		if err != nil {
			return nil, err
		}
		hdr, data := tr.Offsets()
		out = append(out, Member{Kind: e.Kind, Index: e.Index, Multivol: e.Multivol, Header: hdr, Data: data, Size: h.Size})
	}
}

// SectionFrom returns the volume plaintext r from offset off on, as a
// stream whose skips seek.
func SectionFrom(r io.ReaderAt, off, size int64) (*io.SectionReader, error) {
	if off < 0 || off > size {
		return nil, fmt.Errorf("offset %d outside a volume of %d bytes", off, size)
	}
	return io.NewSectionReader(r, off, size-off), nil
}
