package librsync

import (
	"bytes"
	"errors"
	"io"
	"runtime"
	"testing"
)

func FuzzPatch(f *testing.F) {
	basis := randBytes(11, 1500)
	for _, s := range []string{
		"72730236 00",
		"72730236 4a 0200 0200 03 78797a 46 00 0200 00",
		"72730236 54 0000000000000000 00000000000005dc 00",
		"72730236 44 7fffffffffffffff 00",
		"72730236 53 0000000000000001 ffffffff 00",
		"72730236 41 05 0102030405 45 ff ff 00",
		"72730236 54 0000000000000000 4000000000000000 54 0000000000000000 4000000000000000 00",
	} {
		f.Add(unhex(f, s))
	}
	sig := signature(f, basis, MagicMD4Sig, 512, 8)
	f.Add(delta(f, sig, concat(basis[700:], []byte("new"), basis[:600])))
	f.Fuzz(func(t *testing.T, d []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var out countWriter
		err := Patch(&out, bytes.NewReader(basis), bytes.NewReader(d))
		runtime.ReadMemStats(&after)
		if err != nil && !errors.Is(err, ErrCorruptDelta) {
			t.Fatalf("error does not wrap ErrCorruptDelta: %v", err)
		}
		// Every command reads at least one delta byte and yields at most
		// the whole basis.
		if out.n > int64(len(d))*int64(len(basis)) {
			t.Fatalf("%d bytes out of a %d-byte delta", out.n, len(d))
		}
		if grown := after.TotalAlloc - before.TotalAlloc; grown > 1<<20 {
			t.Fatalf("Patch allocated %d bytes", grown)
		}
		// DeltaSize counts what Patch writes, without a basis.
		n, serr := DeltaSize(bytes.NewReader(d))
		if err == nil && (serr != nil || n != out.n) {
			t.Fatalf("DeltaSize = %d, %v; Patch wrote %d", n, serr, out.n)
		}
		if serr != nil && !errors.Is(serr, ErrCorruptDelta) {
			t.Fatalf("DeltaSize error does not wrap ErrCorruptDelta: %v", serr)
		}
	})
}

type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

func FuzzReadSignature(f *testing.F) {
	f.Add(unhex(f, "72730136 00000200 00000008 0ad002d8 63481c78ae04c201"))
	f.Add(unhex(f, "72730147 00000001 00000001 00000000 00 00000000 00 00000001 01"))
	f.Add(unhex(f, "72730137 00000004 00000020"))
	var b bytes.Buffer
	if err := WriteSignature(&b, bytes.NewReader(randBytes(2, 3000)), MagicRKMD4Sig, 64, 3); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1 << 16
		sig, err := ReadSignature(bytes.NewReader(data), limit)
		if err != nil {
			if !errors.Is(err, ErrCorruptSignature) && !errors.Is(err, ErrSignatureTooLarge) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if want := headerLen + sig.Blocks()*(4+int(sig.StrongLen())); want != len(data) {
			t.Fatalf("%d blocks of %d in %d bytes", sig.Blocks(), sig.StrongLen(), len(data))
		}
		if sig.BlockLen() > 1<<16 {
			return // valid, but its delta buffers would slow the fuzzer
		}
		// Whatever the signature claims, delta generation must terminate and
		// produce a well-formed stream.
		newData := concat(data, data)
		var d bytes.Buffer
		if err := WriteDelta(&d, sig, bytes.NewReader(newData)); err != nil {
			t.Fatal(err)
		}
		err = Patch(io.Discard, bytes.NewReader(nil), &d)
		if err != nil && !errors.Is(err, ErrCorruptDelta) {
			t.Fatal(err)
		}
	})
}

func FuzzDeltaRoundTrip(f *testing.F) {
	f.Add([]byte("hello world"), []byte("hello, world"), uint8(3), uint8(0))
	f.Add(bytes.Repeat([]byte("ab"), 300), bytes.Repeat([]byte("ba"), 301), uint8(16), uint8(1))
	f.Add(randBytes(1, 2000), concat(randBytes(1, 2000)[500:], []byte("x")), uint8(64), uint8(2))
	f.Add([]byte{}, []byte("x"), uint8(0), uint8(3))
	f.Fuzz(func(t *testing.T, basis, newData []byte, blSel, magicSel uint8) {
		bl := 1 + uint32(blSel)%128
		magic := allMagics[int(magicSel)%len(allMagics)]
		sig := signature(t, basis, magic, bl, 4)
		d := delta(t, sig, newData)
		if got := patch(t, basis, d); !bytes.Equal(got, newData) {
			t.Fatalf("round trip failed: delta %x", d)
		}
	})
}
