// Package librsync reads and writes librsync signatures and deltas and applies
// patches, byte-compatible with librsync 2.3 (`rdiff`) in both directions.
//
// duplicity stores a signature (MD4 strong sums, classic rollsum) for every
// regular file and a delta for every changed one; see section 7 of the format
// notes. All integers in librsync streams are big-endian.
package librsync

import (
	"errors"
	"fmt"
	"math"
)

// Magic numbers opening librsync streams.
const (
	MagicMD4Sig      uint32 = 0x72730136 // rollsum + MD4 (duplicity)
	MagicBlake2Sig   uint32 = 0x72730137 // rollsum + BLAKE2b
	MagicRKMD4Sig    uint32 = 0x72730146 // RabinKarp + MD4
	MagicRKBlake2Sig uint32 = 0x72730147 // RabinKarp + BLAKE2b (rdiff's default)
	MagicDelta       uint32 = 0x72730236
)

// MaxBlockLen bounds the block length accepted in a signature. Delta
// generation keeps buffers of a few blocks, so a hostile signature must not be
// able to ask for gigabytes; duplicity itself never exceeds a few KiB.
const MaxBlockLen = 1 << 24

const (
	md4Len    = 16
	blake2Len = 32
)

var (
	// ErrCorruptDelta is wrapped by every error about a malformed delta stream.
	ErrCorruptDelta = errors.New("corrupt librsync delta")
	// ErrCorruptSignature is wrapped by every error about a malformed or
	// oversized signature stream.
	ErrCorruptSignature = errors.New("corrupt librsync signature")
)

// BlockLen returns duplicity 0.8's signature block length for a file of size
// bytes (512 below 1024000; else min(size/1024000*512, maxBlock)); maxBlock<=0
// means 2048. The result is capped at MaxBlockLen.
func BlockLen(size int64, maxBlock int) uint32 {
	if maxBlock <= 0 {
		maxBlock = 2048
	}
	if size < 1024000 {
		return 512
	}
	b := size / 1024000 * 512
	b = min(b, int64(min(maxBlock, math.MaxInt32)), MaxBlockLen)
	return uint32(b)
}

// sigKind describes the weak and strong sums a signature magic selects.
type sigKind struct {
	rabinKarp bool
	blake2    bool
}

func kindOf(magic uint32) (sigKind, error) {
	switch magic {
	case MagicMD4Sig:
		return sigKind{}, nil
	case MagicBlake2Sig:
		return sigKind{blake2: true}, nil
	case MagicRKMD4Sig:
		return sigKind{rabinKarp: true}, nil
	case MagicRKBlake2Sig:
		return sigKind{rabinKarp: true, blake2: true}, nil
	}
	return sigKind{}, fmt.Errorf("unknown signature magic %#08x", magic)
}

func (k sigKind) maxStrong() uint32 {
	if k.blake2 {
		return blake2Len
	}
	return md4Len
}

// checkParams validates the header fields shared by reader and writer.
func checkParams(magic, blockLen, strongLen uint32) (sigKind, error) {
	k, err := kindOf(magic)
	if err != nil {
		return k, err
	}
	if blockLen == 0 || blockLen > MaxBlockLen {
		return k, fmt.Errorf("block length %d out of range 1..%d", blockLen, MaxBlockLen)
	}
	if strongLen == 0 || strongLen > k.maxStrong() {
		return k, fmt.Errorf("strong sum length %d out of range 1..%d for magic %#08x", strongLen, k.maxStrong(), magic)
	}
	return k, nil
}
