package librsync

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

const patchChunk = 32 << 10

// Patch applies delta to basis, streaming the result to w. COPY commands
// outside the basis, reserved opcodes, bad magic, truncated streams and absurd
// lengths are errors (wrapping ErrCorruptDelta), never panics or huge
// allocations. Bytes after the END command are ignored, as librsync does.
func Patch(w io.Writer, basis io.ReaderAt, delta io.Reader) error {
	p := &patcher{
		basis: basis,
		r:     bufio.NewReaderSize(delta, patchChunk),
		bw:    bufio.NewWriterSize(w, patchChunk),
		buf:   make([]byte, patchChunk),
	}
	if err := p.run(); err != nil {
		return fmt.Errorf("librsync patch: %w", err)
	}
	if err := p.bw.Flush(); err != nil {
		return fmt.Errorf("librsync patch: write: %w", err)
	}
	return nil
}

type patcher struct {
	basis  io.ReaderAt // nil: copies are only counted, in copied
	copied int64
	r      *bufio.Reader
	bw     *bufio.Writer
	buf    []byte
	off    int64 // position in the delta stream, for messages
}

func (p *patcher) run() error {
	magic, err := p.param(4)
	if err != nil {
		return err
	}
	if magic != uint64(MagicDelta) {
		return fmt.Errorf("%w: bad magic %#08x", ErrCorruptDelta, magic)
	}
	for {
		at := p.off
		op, err := p.r.ReadByte()
		if err != nil {
			return p.readErr(err)
		}
		p.off++
		switch {
		case op == opEnd:
			return nil
		case op <= opLiteralMax:
			err = p.literal(uint64(op))
		case op < opCopy:
			var n uint64
			if n, err = p.param(1 << (op - opLiteralN)); err == nil {
				err = p.literal(n)
			}
		case op < opReserved:
			c := op - opCopy
			var off, n uint64
			if off, err = p.param(1 << (c / 4)); err == nil {
				if n, err = p.param(1 << (c % 4)); err == nil {
					err = p.copy(off, n)
				}
			}
		default:
			err = fmt.Errorf("%w: reserved opcode %#02x", ErrCorruptDelta, op)
		}
		if err != nil {
			return fmt.Errorf("command at delta offset %d: %w", at, err)
		}
	}
}

// param reads a big-endian parameter of width 1, 2, 4 or 8 bytes.
func (p *patcher) param(width int) (uint64, error) {
	b := p.buf[:width]
	if _, err := io.ReadFull(p.r, b); err != nil {
		return 0, p.readErr(err)
	}
	p.off += int64(width)
	switch width {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.BigEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.BigEndian.Uint32(b)), nil
	}
	return binary.BigEndian.Uint64(b), nil
}

func (p *patcher) readErr(err error) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: truncated at offset %d", ErrCorruptDelta, p.off)
	}
	return fmt.Errorf("read delta: %w", err)
}

func (p *patcher) literal(n uint64) error {
	if n == 0 || n > math.MaxInt64 {
		return fmt.Errorf("%w: literal length %d", ErrCorruptDelta, n)
	}
	for n > 0 {
		b := p.buf[:min(n, uint64(len(p.buf)))]
		if _, err := io.ReadFull(p.r, b); err != nil {
			return p.readErr(err)
		}
		p.off += int64(len(b))
		if _, err := p.bw.Write(b); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		n -= uint64(len(b))
	}
	return nil
}

func (p *patcher) copy(off, n uint64) error {
	if n == 0 || off > math.MaxInt64 || n > math.MaxInt64-off {
		return fmt.Errorf("%w: copy %d bytes at %d", ErrCorruptDelta, n, off)
	}
	if p.basis == nil {
		if int64(n) > math.MaxInt64-p.copied {
			return fmt.Errorf("%w: copies add up to more than %d bytes", ErrCorruptDelta, int64(math.MaxInt64))
		}
		p.copied += int64(n)
		return nil
	}
	for n > 0 {
		b := p.buf[:min(n, uint64(len(p.buf)))]
		got, err := p.basis.ReadAt(b, int64(off))
		if got < len(b) {
			if err == nil || err == io.EOF {
				return fmt.Errorf("%w: copy reaches past the end of the basis at %d", ErrCorruptDelta, off+uint64(got))
			}
			return fmt.Errorf("read basis at %d: %w", off, err)
		}
		if _, err := p.bw.Write(b); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		off += uint64(len(b))
		n -= uint64(len(b))
	}
	return nil
}

// DeltaSize returns the size of the file delta produces, without its basis:
// the lengths of its commands add up to it. The delta is checked as Patch
// checks it, except that copies are not bounded by a basis. Copies are
// counted, not run, so a tiny delta claiming exabytes costs no time.
func DeltaSize(delta io.Reader) (int64, error) {
	var n sizeCounter
	p := &patcher{
		r:   bufio.NewReaderSize(delta, patchChunk),
		bw:  bufio.NewWriterSize(&n, patchChunk),
		buf: make([]byte, patchChunk),
	}
	if err := p.run(); err != nil {
		return 0, fmt.Errorf("librsync patch: %w", err)
	}
	p.bw.Flush() // into a counter: cannot fail
	if p.copied > math.MaxInt64-int64(n) {
		return 0, fmt.Errorf("librsync patch: %w: output larger than %d bytes", ErrCorruptDelta, int64(math.MaxInt64))
	}
	return int64(n) + p.copied, nil
}

type sizeCounter int64

func (c *sizeCounter) Write(p []byte) (int, error) {
	*c += sizeCounter(len(p))
	return len(p), nil
}
