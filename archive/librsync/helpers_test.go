package librsync

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

func randBytes(seed uint64, n int) []byte {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(key).Read(b)
	return b
}

// edit describes how a test derives the new file from the basis.
type edit struct {
	name string
	fn   func(r *rand.Rand, b []byte) []byte
}

var edits = []edit{
	{"same", func(_ *rand.Rand, b []byte) []byte { return bytes.Clone(b) }},
	{"insert", func(r *rand.Rand, b []byte) []byte {
		at := r.IntN(len(b) + 1)
		return concat(b[:at], randBytes(r.Uint64(), 1+r.IntN(700)), b[at:])
	}},
	{"delete", func(r *rand.Rand, b []byte) []byte {
		if len(b) == 0 {
			return nil
		}
		at := r.IntN(len(b))
		n := min(len(b)-at, 1+r.IntN(900))
		return concat(b[:at], b[at+n:])
	}},
	{"append", func(r *rand.Rand, b []byte) []byte {
		return concat(b, randBytes(r.Uint64(), 1+r.IntN(1500)))
	}},
	{"truncate", func(r *rand.Rand, b []byte) []byte {
		return bytes.Clone(b[:r.IntN(len(b)+1)])
	}},
	{"mixed", func(r *rand.Rand, b []byte) []byte {
		out := bytes.Clone(b)
		for range 5 {
			at := r.IntN(len(out) + 1)
			switch r.IntN(3) {
			case 0:
				out = concat(out[:at], randBytes(r.Uint64(), r.IntN(300)), out[at:])
			case 1:
				out = concat(out[:at], out[min(len(out), at+r.IntN(300)):])
			default:
				if at < len(out) {
					out[at] ^= 0x5a
				}
			}
		}
		return out
	}},
	{"reorder", func(r *rand.Rand, b []byte) []byte {
		at := r.IntN(len(b) + 1)
		return concat(b[at:], b[:at])
	}},
	{"replace", func(r *rand.Rand, b []byte) []byte {
		return randBytes(r.Uint64(), len(b))
	}},
}

func concat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var allMagics = []uint32{MagicMD4Sig, MagicBlake2Sig, MagicRKMD4Sig, MagicRKBlake2Sig}

func signature(t testing.TB, basis []byte, magic, blockLen, strongLen uint32) *Signature {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSignature(&buf, bytes.NewReader(basis), magic, blockLen, strongLen); err != nil {
		t.Fatal(err)
	}
	sig, err := ReadSignature(&buf, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func delta(t testing.TB, sig *Signature, newData []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteDelta(&buf, sig, bytes.NewReader(newData)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func patch(t testing.TB, basis, d []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Patch(&buf, bytes.NewReader(basis), bytes.NewReader(d)); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
