package librsync

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// ErrSignatureTooLarge is returned by ReadSignature for a signature longer
// than its caller's bound.
var ErrSignatureTooLarge = errors.New("librsync signature too large")

const headerLen = 12

// WriteSignature streams r and writes a librsync signature. strongLen 8 for
// duplicity's MD4.
func WriteSignature(w io.Writer, r io.Reader, magic, blockLen, strongLen uint32) error {
	sw, err := NewSignatureWriter(w, magic, blockLen, strongLen)
	if err != nil {
		return err
	}
	// Read many blocks per call: a read per 512-byte block costs more than
	// the sums themselves.
	buf := make([]byte, int(blockLen)*max(1, (256<<10)/int(blockLen)))
	if _, err := io.CopyBuffer(sw, onlyReader{r}, buf); err != nil {
		return fmt.Errorf("librsync signature: %w", err)
	}
	return sw.Close()
}

// onlyReader hides WriterTo so io.CopyBuffer uses the buffer given.
type onlyReader struct{ io.Reader }

// SignatureWriter computes a librsync signature of the bytes written to it,
// so one read of a file can feed both its signature and its delta or copy.
type SignatureWriter struct {
	w       io.Writer
	kind    sigKind
	bl      int
	ss      *strongSummer
	partial []byte // a block not yet complete
	out     []byte
	err     error
}

// NewSignatureWriter writes the signature header to w and returns a writer
// for the data; Close emits the last, short block.
func NewSignatureWriter(w io.Writer, magic, blockLen, strongLen uint32) (*SignatureWriter, error) {
	k, err := checkParams(magic, blockLen, strongLen)
	if err != nil {
		return nil, fmt.Errorf("librsync signature: %w", err)
	}
	s := &SignatureWriter{w: w, kind: k, bl: int(blockLen), ss: newStrongSummer(k.blake2, strongLen)}
	s.out = make([]byte, 0, 4<<10)
	for _, v := range [...]uint32{magic, blockLen, strongLen} {
		s.out = binary.BigEndian.AppendUint32(s.out, v)
	}
	return s, nil
}

// Write adds p to the signed data.
func (s *SignatureWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n := len(p)
	if len(s.partial) > 0 {
		k := min(s.bl-len(s.partial), len(p))
		s.partial = append(s.partial, p[:k]...)
		p = p[k:]
		if len(s.partial) < s.bl {
			return n, nil
		}
		s.block(s.partial)
		s.partial = s.partial[:0]
	}
	for len(p) >= s.bl {
		s.block(p[:s.bl])
		p = p[s.bl:]
	}
	if len(p) > 0 {
		if s.partial == nil {
			s.partial = make([]byte, 0, s.bl)
		}
		s.partial = append(s.partial, p...)
	}
	if len(s.out) >= 4<<10 {
		s.flush()
	}
	return n, s.err
}

func (s *SignatureWriter) block(b []byte) {
	s.out = binary.BigEndian.AppendUint32(s.out, weakSum(s.kind.rabinKarp, b))
	s.out = append(s.out, s.ss.sum(b)...)
}

func (s *SignatureWriter) flush() {
	if s.err == nil && len(s.out) > 0 {
		if _, err := s.w.Write(s.out); err != nil {
			s.err = fmt.Errorf("librsync signature: write: %w", err)
		}
	}
	s.out = s.out[:0]
}

// Close signs the final short block and writes what is pending. It does not
// close the underlying writer.
func (s *SignatureWriter) Close() error {
	if len(s.partial) > 0 {
		s.block(s.partial)
		s.partial = s.partial[:0]
	}
	s.flush()
	return s.err
}

// Signature is a parsed librsync signature with a lookup index for WriteDelta.
// It is never modified after ReadSignature, so concurrent WriteDelta calls may
// share it.
type Signature struct {
	magic, blockLen, strongLen uint32
	kind                       sigKind

	weak   []uint32
	strong []byte // strongLen bytes per block

	// order lists one block per distinct (weak, strong) pair, sorted by weak
	// then strong, so the candidates for a weak sum are a contiguous run that
	// can be binary-searched: a hostile signature full of equal weak sums
	// cannot make each lookup linear.
	order []int32
	// slots is an open-addressing table from weak sum to its run in order.
	slots []slot
	shift uint // 32 - log2(len(slots))
	// filter is a one-bit-per-hash prefilter, small enough to stay in cache
	// while WriteDelta rolls through unmatched data.
	filter      []uint64
	filterShift uint
	// mult is a random odd multiplier: multiply-shift hashing with it is
	// universal, so no crafted set of weak sums can pile up in one probe
	// chain. Lookups are exact, so deltas do not depend on it.
	mult uint32
}

type slot struct {
	weak   uint32
	lo, hi int32 // hi == 0 marks an empty slot
}

// BlockLen is the block length the signature was made with.
func (s *Signature) BlockLen() uint32 { return s.blockLen }

// Magic is the signature's magic number, which selects its sums.
func (s *Signature) Magic() uint32 { return s.magic }

// StrongLen is the length of each stored strong sum.
func (s *Signature) StrongLen() uint32 { return s.strongLen }

// Blocks is the number of blocks the signature describes.
func (s *Signature) Blocks() int { return len(s.weak) }

func (s *Signature) strongOf(i int32) []byte {
	n := int(s.strongLen)
	return s.strong[int(i)*n : int(i)*n+n]
}

// ReadSignature parses a signature of any of the four magics; it refuses one
// larger than maxBytes (hostile input bound) with a clear error.
func ReadSignature(r io.Reader, maxBytes int64) (*Signature, error) {
	if maxBytes < headerLen {
		return nil, fmt.Errorf("librsync signature: %w: limit %d bytes is below the header size", ErrSignatureTooLarge, maxBytes)
	}
	br := bufio.NewReaderSize(r, 16<<10)
	var hdr [headerLen]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return nil, sigReadErr("header", err)
	}
	s := &Signature{
		magic:     binary.BigEndian.Uint32(hdr[0:]),
		blockLen:  binary.BigEndian.Uint32(hdr[4:]),
		strongLen: binary.BigEndian.Uint32(hdr[8:]),
	}
	var err error
	if s.kind, err = checkParams(s.magic, s.blockLen, s.strongLen); err != nil {
		return nil, fmt.Errorf("librsync signature: %w: %w", ErrCorruptSignature, err)
	}
	recLen := 4 + int64(s.strongLen)
	maxBlocks := min((maxBytes-headerLen)/recLen, math.MaxInt32-1)
	var rec [4 + blake2Len]byte
	for {
		n, err := io.ReadFull(br, rec[:recLen])
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, sigReadErr(fmt.Sprintf("block %d", len(s.weak)), err)
		}
		if int64(len(s.weak)) >= maxBlocks {
			return nil, fmt.Errorf("librsync signature: %w: more than %d bytes", ErrSignatureTooLarge, maxBytes)
		}
		s.weak = append(s.weak, binary.BigEndian.Uint32(rec[:4]))
		s.strong = append(s.strong, rec[4:n]...)
	}
	s.buildIndex()
	return s, nil
}

func sigReadErr(what string, err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("librsync signature: %w: truncated %s", ErrCorruptSignature, what)
	}
	return fmt.Errorf("librsync signature: read %s: %w", what, err)
}

func (s *Signature) buildIndex() {
	n := len(s.weak)
	s.mult = rand.Uint32() | 1
	if n == 0 {
		// One empty word that every weak sum maps to (a shift of 32 yields
		// 0), so the delta's scan loops need no special case.
		s.filter, s.filterShift = make([]uint64, 1), 32
		return
	}
	// Sorting packed (weak, index) keys is much cheaper than a comparison
	// sort over strong sums; only runs of equal weak sums need the latter.
	keys := make([]uint64, n)
	for i, w := range s.weak {
		keys[i] = uint64(w)<<32 | uint64(i)
	}
	slices.Sort(keys)
	s.order = make([]int32, n)
	for i, k := range keys {
		s.order[i] = int32(uint32(k))
	}
	keys = nil
	for lo := 0; lo < n; {
		hi := lo + 1
		for hi < n && s.weak[s.order[hi]] == s.weak[s.order[lo]] {
			hi++
		}
		if hi-lo > 1 {
			slices.SortStableFunc(s.order[lo:hi], func(a, b int32) int {
				return bytes.Compare(s.strongOf(a), s.strongOf(b))
			})
		}
		lo = hi
	}
	// Keep the lowest-numbered block of each identical (weak, strong) pair;
	// the stable sort left it first.
	uniq := s.order[:1]
	for _, b := range s.order[1:] {
		p := uniq[len(uniq)-1]
		if s.weak[p] != s.weak[b] || !bytes.Equal(s.strongOf(p), s.strongOf(b)) {
			uniq = append(uniq, b)
		}
	}
	s.order = slices.Clip(uniq)

	lg := bits.Len(uint(len(s.order))) + 1 // load factor <= 1/2
	s.slots = make([]slot, 1<<lg)
	s.shift = uint(32 - lg)
	flg := min(bits.Len(uint(len(s.order)))+4, 26) // ~16 bits per distinct sum, at most 8 MiB
	s.filter = make([]uint64, max(1, (1<<flg)/64))
	s.filterShift = uint(32 - flg)
	mask := uint32(len(s.slots) - 1)
	for lo := 0; lo < len(s.order); {
		w := s.weak[s.order[lo]]
		hi := lo + 1
		for hi < len(s.order) && s.weak[s.order[hi]] == w {
			hi++
		}
		h := w * s.mult
		for i := h >> s.shift; ; i = (i + 1) & mask {
			if s.slots[i].hi == 0 {
				s.slots[i] = slot{weak: w, lo: int32(lo), hi: int32(hi)}
				break
			}
		}
		f := h >> s.filterShift
		s.filter[f/64] |= 1 << (f % 64)
		lo = hi
	}
}

// maybe reports whether weak might be in the signature; false is certain.
func (s *Signature) maybe(weak uint32) bool {
	f := weak * s.mult >> s.filterShift
	return s.filter[f/64]&(1<<(f%64)) != 0
}

// find returns the run of order whose blocks have weak sum weak (empty if
// none).
func (s *Signature) find(weak uint32) (lo, hi int32) {
	if !s.maybe(weak) {
		return 0, 0
	}
	mask := uint32(len(s.slots) - 1)
	for i := weak * s.mult >> s.shift; ; i = (i + 1) & mask {
		sl := &s.slots[i]
		if sl.hi == 0 {
			return 0, 0
		}
		if sl.weak == weak {
			return sl.lo, sl.hi
		}
	}
}

// search returns the block in order[lo:hi] whose strong sum is strong.
func (s *Signature) search(lo, hi int32, strong []byte) (int32, bool) {
	end := hi
	for lo < hi {
		m := int32(uint32(lo+hi) >> 1)
		if bytes.Compare(s.strongOf(s.order[m]), strong) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < end && bytes.Equal(s.strongOf(s.order[lo]), strong) {
		return s.order[lo], true
	}
	return 0, false
}
