package librsync

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "|", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBlockLen(t *testing.T) {
	tests := []struct {
		size     int64
		maxBlock int
		want     uint32
	}{
		{0, 0, 512},
		{1023999, 0, 512},
		{1024000, 0, 512},
		{2047999, 0, 512},
		{2048000, 0, 1024},
		{3072000, 0, 1536},
		{4095999, 0, 1536},
		{4096000, 0, 2048},
		{1 << 40, 0, 2048},
		{1 << 40, 2048, 2048},
		{1 << 40, 8192, 8192},
		{10240000, 4096, 4096},
		{10240000, 1000, 1000},
		{500, 100, 512},
		{1 << 62, 1 << 40, MaxBlockLen},
	}
	for _, tt := range tests {
		if got := BlockLen(tt.size, tt.maxBlock); got != tt.want {
			t.Errorf("BlockLen(%d, %d) = %d, want %d", tt.size, tt.maxBlock, got, tt.want)
		}
	}
}

// The worked examples of section 7 of the format notes.
func TestDocSignatureExample(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteSignature(&buf, strings.NewReader("hello\n"), MagicMD4Sig, 512, 8); err != nil {
		t.Fatal(err)
	}
	want := unhex(t, "72730136 00000200 00000008 | 0ad002d8 | 63481c78ae04c201")
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("signature = %x, want %x", buf.Bytes(), want)
	}
	if w := weakSum(false, bytes.Repeat([]byte("A"), 512)); w != 0x6000c000 {
		t.Errorf("rollsum(A*512) = %#x, want 0x6000c000", w)
	}
	// Verified against rdiff -H blake2 -R rabinkarp -S 32.
	buf.Reset()
	if err := WriteSignature(&buf, strings.NewReader("hello\n"), MagicRKBlake2Sig, 512, 32); err != nil {
		t.Fatal(err)
	}
	want = unhex(t, "72730147 00000200 00000020 | 60ef5343 | 93becc6e9882211c3ec3708c95bcd69baab7bb59c7f4bc84ce637b88a534b783")
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("signature = %x, want %x", buf.Bytes(), want)
	}
}

func TestDocDeltaExample(t *testing.T) {
	basis := concat(bytes.Repeat([]byte("A"), 512), bytes.Repeat([]byte("B"), 512))
	newData := concat(bytes.Repeat([]byte("B"), 512), []byte("xyz"), bytes.Repeat([]byte("A"), 512))
	want := unhex(t, "72730236  4a 0200 0200   03 78797a   46 00 0200   00")
	if got := patch(t, basis, want); !bytes.Equal(got, newData) {
		t.Fatalf("patch of doc delta gave %q", got)
	}
	got := delta(t, signature(t, basis, MagicMD4Sig, 512, 8), newData)
	if !bytes.Equal(got, want) {
		t.Fatalf("delta = %x, want %x", got, want)
	}
}

// A block is found wherever it sits in the new data, which needs the rolled
// weak sums, forward and shrinking at the end, to equal freshly computed ones.
func TestRollingFindsBlocks(t *testing.T) {
	data := randBytes(1, 3000)
	for _, magic := range []uint32{MagicMD4Sig, MagicRKMD4Sig} {
		rk := magic == MagicRKMD4Sig
		var basis bytes.Buffer
		block := data[1000:1300]
		basis.Write(block)
		sig := signature(t, basis.Bytes(), magic, 300, 8)
		for _, at := range []int{0, 1, 7, 299, 300, 301, 1023, 2700} {
			newData := concat(data[:at], block, data[2000:2000+at%50])
			d := delta(t, sig, newData)
			if !bytes.Contains(d, []byte{opCopy + 4*0 + 1, 0, 1, 44}) {
				t.Errorf("rk=%v at=%d: no COPY(0,300) in delta %x", rk, at, d[:min(len(d), 40)])
			}
		}
		// Shrinking: a short last block is found at the tail.
		basis.Write(data[2500:2600]) // last block: 100 bytes
		sig = signature(t, basis.Bytes(), magic, 300, 8)
		newData := concat(data[:333], data[2500:2600])
		d := delta(t, sig, newData)
		if !bytes.HasSuffix(d, []byte{opCopy + 4*1, 0x01, 0x2c, 100, opEnd}) {
			t.Errorf("rk=%v: short tail block not matched: %x", rk, d[len(d)-8:])
		}
	}
}

func TestRoundTrip(t *testing.T) {
	sizes := []int{0, 1, 63, 64, 65, 511, 512, 513, 1024, 1536, 4095, 65535, 65536, 65537, 300000}
	blockLens := []uint32{512, 2048}
	for _, magic := range allMagics {
		for _, bl := range blockLens {
			for _, size := range sizes {
				basis := randBytes(uint64(size), size)
				sig := signature(t, basis, magic, bl, 8)
				if got := sig.Blocks(); got != (size+int(bl)-1)/int(bl) {
					t.Fatalf("blocks = %d for size %d", got, size)
				}
				for i, e := range edits {
					r := rand.New(rand.NewPCG(uint64(size), uint64(i)))
					newData := e.fn(r, basis)
					d := delta(t, sig, newData)
					if got := patch(t, basis, d); !bytes.Equal(got, newData) {
						t.Fatalf("magic %#x bl %d size %d %s: patched data differs", magic, bl, size, e.name)
					}
				}
			}
		}
	}
}

// An unchanged file must become one COPY: that is what keeps duplicity's
// incremental volumes small.
func TestUnchangedIsOneCopy(t *testing.T) {
	for _, size := range []int{1, 512, 1000, 65536, 1 << 20} {
		basis := randBytes(7, size)
		for _, magic := range allMagics {
			d := delta(t, signature(t, basis, magic, 512, 8), basis)
			oc, ow := widthCode(0)
			lc, lw := widthCode(uint64(size))
			if len(d) != 4+1+ow+lw+1 || d[4] != opCopy+4*oc+lc {
				t.Errorf("size %d magic %#x: delta %x is not a single COPY", size, magic, d)
			}
		}
	}
	// Repetitive data: every block has the same sums, yet the COPY runs
	// straight through the basis.
	zeros := make([]byte, 100000)
	d := delta(t, signature(t, zeros, MagicMD4Sig, 512, 8), zeros)
	want := unhex(t, "72730236 47 00 000186a0 00")
	if !bytes.Equal(d, want) {
		t.Errorf("zeros: delta %x, want %x", d, want)
	}
}

func TestCommandWidths(t *testing.T) {
	tests := []struct {
		v    uint64
		code byte
		w    int
	}{
		{0, 0, 1}, {255, 0, 1}, {256, 1, 2}, {65535, 1, 2}, {65536, 2, 4},
		{1<<32 - 1, 2, 4}, {1 << 32, 3, 8}, {1<<64 - 1, 3, 8},
	}
	for _, tt := range tests {
		if c, w := widthCode(tt.v); c != tt.code || w != tt.w {
			t.Errorf("widthCode(%d) = %d,%d want %d,%d", tt.v, c, w, tt.code, tt.w)
		}
	}
	// Literal headers: 1..64 in the opcode, then 0x41.. with a length.
	for _, tt := range []struct {
		n    int
		want string
	}{{1, "01"}, {64, "40"}, {65, "4141"}, {255, "41ff"}, {256, "420100"}, {70000, "4300011170"}} {
		var out bytes.Buffer
		d := &deltaWriter{w: &out}
		if err := d.literal(make([]byte, tt.n)); err != nil {
			t.Fatal(err)
		}
		if err := d.flush(); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(out.Bytes()[:len(tt.want)/2]); got != tt.want || out.Len() != len(tt.want)/2+tt.n {
			t.Errorf("literal %d: header %s, want %s", tt.n, got, tt.want)
		}
	}
	// COPY: each parameter in its narrowest width.
	for _, tt := range []struct {
		off, n uint64
		want   string
	}{
		{0, 1, "450001"},
		{255, 256, "46ff0100"},
		{256, 255, "490100ff"},
		{65536, 65536, "4f0001000000010000"},
		{1 << 32, 1 << 32, "5400000001000000000000000100000000"},
	} {
		var out bytes.Buffer
		d := &deltaWriter{w: &out, hasCopy: true, copyOff: tt.off, copyLen: tt.n}
		if err := d.flushCopy(); err != nil {
			t.Fatal(err)
		}
		if err := d.flush(); err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(out.Bytes()); got != tt.want {
			t.Errorf("copy %d@%d: %s, want %s", tt.n, tt.off, got, tt.want)
		}
	}
}

func TestPatchErrors(t *testing.T) {
	basis := []byte("0123456789")
	tests := []struct {
		name  string
		delta string
	}{
		{"empty", ""},
		{"short magic", "727302"},
		{"bad magic", "72730136 00"},
		{"no end", "72730236"},
		{"reserved 55", "72730236 55"},
		{"reserved ff", "72730236 ff"},
		{"truncated literal", "72730236 05 4142"},
		{"truncated literal len", "72730236 43 0000"},
		{"zero literal", "72730236 41 00 00"},
		{"huge literal", "72730236 44 ffffffffffffffff 00"},
		{"absurd literal", "72730236 44 7fffffffffffffff 4142"},
		{"zero copy", "72730236 45 00 00 00"},
		{"copy past end", "72730236 45 05 06 00"},
		{"copy offset past end", "72730236 45 0a 01 00"},
		{"copy overflow", "72730236 54 7fffffffffffffff 7fffffffffffffff 00"},
		{"copy huge offset", "72730236 54 ffffffffffffffff 0000000000000001 00"},
		{"copy truncated", "72730236 4f 000000"},
		{"absurd copy", "72730236 50 00000000 0fffffffffffffff 00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			err := Patch(&out, bytes.NewReader(basis), bytes.NewReader(unhex(t, tt.delta)))
			if !errors.Is(err, ErrCorruptDelta) {
				t.Fatalf("err = %v, want ErrCorruptDelta", err)
			}
		})
	}
}

func TestPatchOK(t *testing.T) {
	basis := []byte("0123456789")
	tests := []struct {
		name, delta, want string
	}{
		{"nothing", "72730236 00", ""},
		{"trailing bytes ignored", "72730236 03 616263 00 7a7a7a", "abc"},
		{"all widths", "72730236 45 00 01 4a 0001 0001 4f 00000002 00000001 54 0000000000000003 0000000000000001 41 01 78 42 0001 79 43 00000001 7a 44 0000000000000001 21 00", "0123xyz!"},
		{"whole basis", "72730236 45 00 0a 00", "0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := patch(t, basis, unhex(t, tt.delta)); string(got) != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

type failReaderAt struct{}

func (failReaderAt) ReadAt([]byte, int64) (int, error) { return 0, errors.New("disk on fire") }

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }

func TestIOErrorsAreNotCorruption(t *testing.T) {
	err := Patch(io.Discard, failReaderAt{}, bytes.NewReader(unhex(t, "72730236 45 00 01 00")))
	if err == nil || errors.Is(err, ErrCorruptDelta) || !strings.Contains(err.Error(), "disk on fire") {
		t.Errorf("basis read error: %v", err)
	}
	big := bytes.Repeat([]byte("x"), 200000)
	err = Patch(failWriter{}, bytes.NewReader(nil), bytes.NewReader(concat(unhex(t, "72730236 43 00030d40"), big, []byte{0})))
	if err == nil || errors.Is(err, ErrCorruptDelta) {
		t.Errorf("write error: %v", err)
	}
	sig := signature(t, big, MagicMD4Sig, 512, 8)
	if err := WriteDelta(failWriter{}, sig, bytes.NewReader(big)); err == nil {
		t.Error("WriteDelta to a failing writer succeeded")
	}
	if err := WriteSignature(failWriter{}, bytes.NewReader(big), MagicMD4Sig, 512, 8); err == nil {
		t.Error("WriteSignature to a failing writer succeeded")
	}
}

func TestWriteSignatureParams(t *testing.T) {
	tests := []struct {
		magic, bl, sl uint32
		ok            bool
	}{
		{MagicMD4Sig, 512, 8, true},
		{MagicMD4Sig, 512, 16, true},
		{MagicMD4Sig, 512, 17, false},
		{MagicBlake2Sig, 512, 32, true},
		{MagicBlake2Sig, 512, 33, false},
		{MagicRKBlake2Sig, 512, 0, false},
		{MagicMD4Sig, 0, 8, false},
		{MagicMD4Sig, MaxBlockLen + 1, 8, false},
		{MagicDelta, 512, 8, false},
	}
	for _, tt := range tests {
		err := WriteSignature(io.Discard, strings.NewReader("x"), tt.magic, tt.bl, tt.sl)
		if (err == nil) != tt.ok {
			t.Errorf("WriteSignature(%#x, %d, %d) = %v", tt.magic, tt.bl, tt.sl, err)
		}
	}
}

func TestReadSignature(t *testing.T) {
	hello := "72730136 00000200 00000008 0ad002d8 63481c78ae04c201"
	tests := []struct {
		name    string
		sig     string
		max     int64
		wantErr error
		blocks  int
	}{
		{"hello", hello, 1 << 20, nil, 1},
		{"exact limit", hello, 24, nil, 1},
		{"over limit", hello, 23, ErrSignatureTooLarge, 0},
		{"limit below header", hello, 11, ErrSignatureTooLarge, 0},
		{"empty file", "72730137 00000800 00000020", 12, nil, 0},
		{"no input", "", 100, ErrCorruptSignature, 0},
		{"short header", "72730136 0000", 100, ErrCorruptSignature, 0},
		{"delta magic", "72730236 00000200 00000008", 100, ErrCorruptSignature, 0},
		{"zero block len", "72730136 00000000 00000008", 100, ErrCorruptSignature, 0},
		{"huge block len", "72730136 ffffffff 00000008", 100, ErrCorruptSignature, 0},
		{"md4 too long", "72730146 00000200 00000011", 100, ErrCorruptSignature, 0},
		{"zero strong", "72730147 00000200 00000000", 100, ErrCorruptSignature, 0},
		{"partial record", hello[:len(hello)-2], 100, ErrCorruptSignature, 0},
		{"weak only", "72730136 00000200 00000008 0ad002d8", 100, ErrCorruptSignature, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sig, err := ReadSignature(bytes.NewReader(unhex(t, tt.sig)), tt.max)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sig.Blocks() != tt.blocks {
				t.Errorf("blocks = %d, want %d", sig.Blocks(), tt.blocks)
			}
		})
	}
	sig, err := ReadSignature(bytes.NewReader(unhex(t, hello)), 100)
	if err != nil {
		t.Fatal(err)
	}
	if sig.BlockLen() != 512 || sig.Magic() != MagicMD4Sig || sig.StrongLen() != 8 {
		t.Errorf("header = %d %#x %d", sig.BlockLen(), sig.Magic(), sig.StrongLen())
	}
}

// A signature whose blocks all share one weak sum must neither break matching
// nor make it slow.
func TestHostileEqualWeakSums(t *testing.T) {
	var b bytes.Buffer
	b.Write(unhex(t, "72730136 00000200 00000008"))
	const n = 20000
	for i := range n {
		fmt.Fprintf(&b, "\x12\x34\x56\x78%08d", i)
	}
	sig, err := ReadSignature(&b, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if lo, hi := sig.find(0x12345678); hi-lo != n {
		t.Fatalf("run = %d..%d", lo, hi)
	}
	newData := randBytes(9, 1<<20)
	d := delta(t, sig, newData)
	if got := patch(t, nil, d); !bytes.Equal(got, newData) {
		t.Fatal("round trip failed")
	}
}

func TestDeltaAgainstEmptySignature(t *testing.T) {
	sig := signature(t, nil, MagicMD4Sig, 512, 8)
	for _, size := range []int{0, 1, 100, 300000} {
		newData := randBytes(uint64(size), size)
		if got := patch(t, nil, delta(t, sig, newData)); !bytes.Equal(got, newData) {
			t.Fatalf("size %d: round trip failed", size)
		}
	}
	for _, s := range []*Signature{nil, {}} {
		if err := WriteDelta(io.Discard, s, strings.NewReader("x")); err == nil {
			t.Errorf("signature %v accepted", s)
		}
	}
}

// TestSignatureWriterSplits checks that any split of the input into writes
// gives the same signature as one streamed read.
func TestSignatureWriterSplits(t *testing.T) {
	data := make([]byte, 5000)
	for i := range data {
		data[i] = byte(i * 7 % 251)
	}
	for _, tc := range []struct {
		size, step int
	}{{0, 1}, {1, 1}, {511, 100}, {512, 512}, {513, 1}, {5000, 333}, {5000, 5000}, {4096, 7}} {
		var want bytes.Buffer
		if err := WriteSignature(&want, bytes.NewReader(data[:tc.size]), MagicMD4Sig, 512, 8); err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		sw, err := NewSignatureWriter(&got, MagicMD4Sig, 512, 8)
		if err != nil {
			t.Fatal(err)
		}
		for p := data[:tc.size]; len(p) > 0; {
			k := min(tc.step, len(p))
			if _, err := sw.Write(p[:k]); err != nil {
				t.Fatal(err)
			}
			p = p[k:]
		}
		if err := sw.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Errorf("size %d step %d: signatures differ", tc.size, tc.step)
		}
	}
}

func TestDeltaSize(t *testing.T) {
	basis := bytes.Repeat([]byte("abcdefgh"), 4096)
	for _, newData := range [][]byte{nil, []byte("x"), basis[:1000], append(append([]byte("head"), basis...), "tail"...)} {
		var sig, delta bytes.Buffer
		if err := WriteSignature(&sig, bytes.NewReader(basis), MagicMD4Sig, 512, 8); err != nil {
			t.Fatal(err)
		}
		s, err := ReadSignature(&sig, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteDelta(&delta, s, bytes.NewReader(newData)); err != nil {
			t.Fatal(err)
		}
		n, err := DeltaSize(bytes.NewReader(delta.Bytes()))
		if err != nil || n != int64(len(newData)) {
			t.Errorf("DeltaSize = %d, %v; want %d", n, err, len(newData))
		}
	}
	if _, err := DeltaSize(bytes.NewReader([]byte{0x72, 0x73, 0x02, 0x36, 0x05})); err == nil {
		t.Error("truncated delta accepted")
	}
}

// TestDeltaSizeHostile: copies are counted, not run, so a few bytes
// claiming exabytes answer at once; sums past int64 are corrupt.
func TestDeltaSizeHostile(t *testing.T) {
	for _, tc := range []struct {
		name, delta string
		want        int64
		corrupt     bool
	}{
		{"copy 2^62", "72730236 54 0000000000000000 4000000000000000 00", 1 << 62, false},
		{"copy 2^62 twice plus literal", "72730236 54 0000000000000000 4000000000000000 54 0000000000000000 3ffffffffffffffe 01 78 00", 1<<63 - 1, false},
		{"copies past int64", "72730236 54 0000000000000000 4000000000000000 54 0000000000000000 4000000000000000 00", 0, true},
		{"literal then copies past int64", "72730236 01 78 54 0000000000000000 7fffffffffffffff 00", 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := DeltaSize(bytes.NewReader(unhex(t, tc.delta)))
			if tc.corrupt {
				if !errors.Is(err, ErrCorruptDelta) {
					t.Fatalf("DeltaSize = %d, %v; want ErrCorruptDelta", n, err)
				}
				return
			}
			if err != nil || n != tc.want {
				t.Fatalf("DeltaSize = %d, %v; want %d", n, err, tc.want)
			}
		})
	}
}
