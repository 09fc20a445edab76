package librsync

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Delta opcodes (section 7.2 of the format notes).
const (
	opEnd        = 0x00
	opLiteralMax = 0x40 // 0x01..0x40: literal whose length is the opcode
	opLiteralN   = 0x41 // 0x41..0x44: literal, length in 1/2/4/8 bytes
	opCopy       = 0x45 // 0x45+4a+b: copy, offset width a, length width b
	opReserved   = 0x55
)

// WriteDelta streams newData against sig and writes an rs\x026 delta; memory
// bounded by the signature plus O(block) buffers (never the whole new file).
func WriteDelta(w io.Writer, sig *Signature, newData io.Reader) error {
	if sig == nil || sig.filter == nil {
		return errors.New("librsync delta: signature not made by ReadSignature")
	}
	bl := int(sig.blockLen)
	d := &deltaWriter{
		sig: sig,
		bl:  bl,
		r:   newData,
		w:   w,
		// Room for the window, the byte rolled in next, and enough more that
		// refills (which move up to one block) stay rare. Most files are
		// small, so start small and grow once the input outlasts the buffer.
		buf:  make([]byte, bl+max(16<<10, bl)),
		full: bl + max(256<<10, bl),
		ss:   newStrongSummer(sig.kind.blake2, sig.strongLen),
	}
	d.out = binary.BigEndian.AppendUint32(d.out, MagicDelta)
	if err := d.run(); err != nil {
		return fmt.Errorf("librsync delta: %w", err)
	}
	return nil
}

type deltaWriter struct {
	sig *Signature
	bl  int
	r   io.Reader
	w   io.Writer
	ss  *strongSummer

	buf  []byte
	full int // the size buf grows to
	end  int // buf[:end] holds unconsumed input
	eof  bool

	out []byte // encoded commands not yet written

	// A COPY is held back so that the next matching block can extend it.
	hasCopy          bool
	copyOff, copyLen uint64
}

// run is the librsync search: at each position the weak sum of the window is
// looked up and confirmed by the strong sum; a match emits a COPY and jumps a
// block, a miss makes the first byte literal and rolls the window one byte.
// Near the end of input the window shrinks so the basis' short last block can
// still match.
func (d *deltaWriter) run() error {
	bl := d.bl
	rk := d.sig.kind.rabinKarp
	pos, lit := 0, 0
	// Weak state of d.buf[pos:pos+wlen]: rollsum keeps (s1, s2) with the
	// offsets included, RabinKarp keeps (hash, MULT^wlen).
	var a, b uint32
	valid := false
	for {
		if !d.eof && d.end-pos <= bl {
			if err := d.literal(d.buf[lit:pos]); err != nil {
				return err
			}
			if err := d.refill(pos); err != nil {
				return err
			}
			pos, lit = 0, 0
			continue
		}
		avail := d.end - pos
		if avail == 0 {
			break
		}
		wlen := min(avail, bl)
		win := d.buf[pos : pos+wlen]
		if !valid {
			if rk {
				a, b = rkBlock(win)
			} else {
				a, b = rollsumWeak(win)
			}
			valid = true
		}
		weak := a
		if !rk {
			weak = rollsumDigest(a, b)
		}
		if k, ok := d.match(win, weak); ok {
			if err := d.literal(d.buf[lit:pos]); err != nil {
				return err
			}
			if err := d.addCopy(uint64(k)*uint64(bl), uint64(wlen)); err != nil {
				return err
			}
			pos += wlen
			lit = pos
			valid = false
			continue
		}
		if d.hasCopy {
			if err := d.flushCopy(); err != nil {
				return err
			}
		}
		switch {
		case wlen == bl && pos+bl < d.end && rk:
			pos, a = d.scanRabinKarp(pos, a, b)
		case wlen == bl && pos+bl < d.end:
			pos, a, b = d.scanRollsum(pos, a, b)
		case rk:
			// Shrink the window at the end of input.
			b *= rkInv
			a -= b * (uint32(d.buf[pos]) + rkAdj)
			pos++
		default:
			c := uint32(d.buf[pos]) + rollsumOffset
			a -= c
			b -= uint32(wlen) * c
			pos++
		}
	}
	if err := d.literal(d.buf[lit:pos]); err != nil {
		return err
	}
	if err := d.flushCopy(); err != nil {
		return err
	}
	d.out = append(d.out, opEnd)
	return d.flush()
}

// scanRollsum rolls a full window forward at least one byte and stops at the
// first position whose weak sum may be in the signature, or when no byte is
// left to roll in.
func (d *deltaWriter) scanRollsum(pos int, s1, s2 uint32) (int, uint32, uint32) {
	buf := d.buf[:d.end]
	bl := d.bl
	n := uint32(bl)
	nOff := n * rollsumOffset
	filter, hmul, shift := d.sig.filter, d.sig.mult, d.sig.filterShift
	for pos+bl < len(buf) {
		out, in := uint32(buf[pos]), uint32(buf[pos+bl])
		s1 += in - out
		s2 += s1 - n*out - nOff
		pos++
		if f := rollsumDigest(s1, s2) * hmul >> shift; filter[f/64]&(1<<(f%64)) != 0 {
			break
		}
	}
	return pos, s1, s2
}

// scanRabinKarp is scanRollsum for RabinKarp; mult = MULT^blockLen is fixed
// while the window is full.
func (d *deltaWriter) scanRabinKarp(pos int, h, mult uint32) (int, uint32) {
	buf := d.buf[:d.end]
	bl := d.bl
	filter, hmul, shift := d.sig.filter, d.sig.mult, d.sig.filterShift
	for pos+bl < len(buf) {
		out, in := uint32(buf[pos]), uint32(buf[pos+bl])
		h = h*rkMult + in - mult*(out+rkAdj)
		pos++
		if f := h * hmul >> shift; filter[f/64]&(1<<(f%64)) != 0 {
			break
		}
	}
	return pos, h
}

// match finds a block equal to win. The block right after a pending COPY is
// tried first, so unchanged (or repetitive) data extends one COPY without
// touching the hash table.
func (d *deltaWriter) match(win []byte, weak uint32) (int32, bool) {
	s := d.sig
	var strong []byte
	if d.hasCopy {
		if end := d.copyOff + d.copyLen; end%uint64(d.bl) == 0 {
			if k := end / uint64(d.bl); k < uint64(len(s.weak)) && s.weak[k] == weak {
				strong = d.ss.sum(win)
				if bytes.Equal(strong, s.strongOf(int32(k))) {
					return int32(k), true
				}
			}
		}
	}
	lo, hi := s.find(weak)
	if lo == hi {
		return 0, false
	}
	if strong == nil {
		strong = d.ss.sum(win)
	}
	return s.search(lo, hi, strong)
}

// refill moves the unconsumed input from pos to the front of the buffer,
// growing it if the last read filled it, and reads more.
func (d *deltaWriter) refill(pos int) error {
	rest := d.buf[pos:d.end]
	if d.end == len(d.buf) && len(d.buf) < d.full {
		nb := make([]byte, d.full)
		d.end = copy(nb, rest)
		d.buf = nb
	} else {
		d.end = copy(d.buf, rest)
	}
	n, err := io.ReadFull(d.r, d.buf[d.end:])
	d.end += n
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		d.eof = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("read new data: %w", err)
	}
	return nil
}

func (d *deltaWriter) addCopy(off, n uint64) error {
	if d.hasCopy && d.copyOff+d.copyLen == off {
		d.copyLen += n
		return nil
	}
	if err := d.flushCopy(); err != nil {
		return err
	}
	d.hasCopy, d.copyOff, d.copyLen = true, off, n
	return nil
}

func (d *deltaWriter) flushCopy() error {
	if !d.hasCopy {
		return nil
	}
	d.hasCopy = false
	oc, ow := widthCode(d.copyOff)
	lc, lw := widthCode(d.copyLen)
	d.out = append(d.out, opCopy+4*oc+lc)
	d.out = appendUint(d.out, d.copyOff, ow)
	d.out = appendUint(d.out, d.copyLen, lw)
	return d.maybeFlush()
}

func (d *deltaWriter) literal(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	n := uint64(len(p))
	if n <= opLiteralMax {
		d.out = append(d.out, byte(n))
	} else {
		c, w := widthCode(n)
		d.out = append(d.out, opLiteralN+c)
		d.out = appendUint(d.out, n, w)
	}
	d.out = append(d.out, p...)
	return d.maybeFlush()
}

// maybeFlush writes the pending output once it is worth a write call.
func (d *deltaWriter) maybeFlush() error {
	if len(d.out) < 32<<10 {
		return nil
	}
	return d.flush()
}

func (d *deltaWriter) flush() error {
	if _, err := d.w.Write(d.out); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	d.out = d.out[:0]
	return nil
}

// widthCode returns the narrowest of librsync's parameter widths (1, 2, 4, 8
// bytes) holding v, and its code 0..3.
func widthCode(v uint64) (code byte, width int) {
	switch {
	case v <= 0xff:
		return 0, 1
	case v <= 0xffff:
		return 1, 2
	case v <= 0xffffffff:
		return 2, 4
	}
	return 3, 8
}

func appendUint(b []byte, v uint64, width int) []byte {
	switch width {
	case 1:
		return append(b, byte(v))
	case 2:
		return binary.BigEndian.AppendUint16(b, uint16(v))
	case 4:
		return binary.BigEndian.AppendUint32(b, uint32(v))
	}
	return binary.BigEndian.AppendUint64(b, v)
}
