package librsync

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// These tests hold the package to the real librsync: rdiff must accept what
// we write and we must accept what rdiff writes.

var rdiffFlags = map[uint32][]string{
	MagicMD4Sig:      {"-H", "md4", "-R", "rollsum"},
	MagicBlake2Sig:   {"-H", "blake2", "-R", "rollsum"},
	MagicRKMD4Sig:    {"-H", "md4", "-R", "rabinkarp"},
	MagicRKBlake2Sig: {"-H", "blake2", "-R", "rabinkarp"},
}

func rdiff(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command("rdiff", append([]string{"-f"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rdiff %v: %v\n%s", args, err, out)
	}
}

func needRdiff(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("rdiff"); err != nil {
		t.Skip("rdiff not on PATH")
	}
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var rdiffSizes = []int{0, 1, 511, 512, 513, 65535, 65536, 65537, 3<<20 + 77}

func TestRdiffSignature(t *testing.T) {
	needRdiff(t)
	dir := t.TempDir()
	for _, size := range rdiffSizes {
		data := randBytes(uint64(size)+100, size)
		in := writeFile(t, dir, "in", data)
		for _, magic := range allMagics {
			strongLens := []uint32{8}
			if magic == MagicBlake2Sig || magic == MagicRKBlake2Sig {
				strongLens = append(strongLens, 32)
			} else {
				strongLens = append(strongLens, 16)
			}
			for _, bl := range []uint32{512, 2048} {
				for _, sl := range strongLens {
					args := append(rdiffFlags[magic], "-b", fmt.Sprint(bl), "-S", fmt.Sprint(sl), "signature", in, filepath.Join(dir, "sig"))
					rdiff(t, args...)
					want := readFile(t, filepath.Join(dir, "sig"))
					var got bytes.Buffer
					if err := WriteSignature(&got, bytes.NewReader(data), magic, bl, sl); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(got.Bytes(), want) {
						t.Fatalf("size %d magic %#x bl %d sl %d: signature differs from rdiff's", size, magic, bl, sl)
					}
				}
			}
		}
	}
}

// rdiff's own defaults (-S 0: strong length chosen by file size) must parse
// and drive our delta.
func TestRdiffDefaultSignature(t *testing.T) {
	needRdiff(t)
	dir := t.TempDir()
	basis := randBytes(5, 200000)
	newData := concat(basis[:1000], []byte("inserted"), basis[1000:])
	rdiff(t, "signature", writeFile(t, dir, "basis", basis), filepath.Join(dir, "sig"))
	sig, err := ReadSignature(bytes.NewReader(readFile(t, filepath.Join(dir, "sig"))), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if sig.Magic() != MagicRKBlake2Sig {
		t.Errorf("magic %#x", sig.Magic())
	}
	d := delta(t, sig, newData)
	if len(d) > 3000 {
		t.Errorf("delta is %d bytes for an 8-byte insert", len(d))
	}
	if got := patch(t, basis, d); !bytes.Equal(got, newData) {
		t.Fatal("round trip failed")
	}
}

func TestRdiffDeltaPatch(t *testing.T) {
	needRdiff(t)
	dir := t.TempDir()
	for _, size := range rdiffSizes {
		basis := randBytes(uint64(size), size)
		basisPath := writeFile(t, dir, "basis", basis)
		for mi, magic := range allMagics {
			sigPath := filepath.Join(dir, "sig")
			rdiff(t, append(rdiffFlags[magic], "-b", "512", "-S", "8", "signature", basisPath, sigPath)...)
			sig, err := ReadSignature(bytes.NewReader(readFile(t, sigPath)), 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			// All edits for duplicity's magic on the small files; to keep
			// the test fast, fewer for the others and on the big file.
			es := edits
			switch {
			case size > 1<<20:
				es = []edit{edits[mi], edits[5]}
			case magic != MagicMD4Sig:
				es = []edit{edits[0], edits[5], edits[1+mi]}
			}
			for i, e := range es {
				r := rand.New(rand.NewPCG(uint64(size), uint64(i)))
				newData := e.fn(r, basis)
				newPath := writeFile(t, dir, "new", newData)
				name := fmt.Sprintf("size %d magic %#x %s", size, magic, e.name)

				// Our delta, rdiff's patch.
				ours := writeFile(t, dir, "delta.ours", delta(t, sig, newData))
				rdiff(t, "patch", basisPath, ours, filepath.Join(dir, "out"))
				if !bytes.Equal(readFile(t, filepath.Join(dir, "out")), newData) {
					t.Fatalf("%s: rdiff patch of our delta differs", name)
				}

				// rdiff's delta, our patch.
				theirs := filepath.Join(dir, "delta.theirs")
				rdiff(t, "delta", sigPath, newPath, theirs)
				// Matching as well as librsync: never a bigger delta beyond
				// a few bytes of command framing.
				if o, th := len(readFile(t, ours)), len(readFile(t, theirs)); o > th+16 {
					t.Errorf("%s: our delta is %d bytes, rdiff's %d", name, o, th)
				}
				if got := patch(t, basis, readFile(t, theirs)); !bytes.Equal(got, newData) {
					t.Fatalf("%s: our patch of rdiff's delta differs", name)
				}
			}
		}
	}
}

// Odd block lengths and low-entropy data, where weak sums collide all the
// time, against rdiff in both directions.
func TestRdiffSmallBlocks(t *testing.T) {
	needRdiff(t)
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(1, 2))
	for iter := range 120 {
		alpha := 1 + r.IntN(4)
		basis := make([]byte, r.IntN(5000))
		for i := range basis {
			basis[i] = byte('a' + r.IntN(alpha))
		}
		newData := edits[r.IntN(len(edits))].fn(r, basis)
		for i := range newData {
			if r.IntN(50) == 0 {
				newData[i] = byte('a' + r.IntN(alpha))
			}
		}
		bl := uint32(1 + r.IntN(40))
		magic := allMagics[r.IntN(len(allMagics))]
		// Strong sums long enough that a false match is out of reach.
		sl := uint32(6 + r.IntN(11))
		name := fmt.Sprintf("iter %d: magic %#x bl %d sl %d size %d", iter, magic, bl, sl, len(basis))

		basisPath := writeFile(t, dir, "basis", basis)
		newPath := writeFile(t, dir, "new", newData)
		sigPath := filepath.Join(dir, "sig")
		rdiff(t, append(rdiffFlags[magic], "-b", fmt.Sprint(bl), "-S", fmt.Sprint(sl), "signature", basisPath, sigPath)...)
		var ours bytes.Buffer
		if err := WriteSignature(&ours, bytes.NewReader(basis), magic, bl, sl); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours.Bytes(), readFile(t, sigPath)) {
			t.Fatalf("%s: signature differs from rdiff's", name)
		}
		sig, err := ReadSignature(&ours, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		d := delta(t, sig, newData)
		rdiff(t, "patch", basisPath, writeFile(t, dir, "delta.ours", d), filepath.Join(dir, "out"))
		if !bytes.Equal(readFile(t, filepath.Join(dir, "out")), newData) {
			t.Fatalf("%s: rdiff patch of our delta differs", name)
		}
		theirs := filepath.Join(dir, "delta.theirs")
		rdiff(t, "delta", sigPath, newPath, theirs)
		if got := patch(t, basis, readFile(t, theirs)); !bytes.Equal(got, newData) {
			t.Fatalf("%s: our patch of rdiff's delta differs", name)
		}
		if o, th := len(d), len(readFile(t, theirs)); o > th+16 {
			t.Errorf("%s: our delta is %d bytes, rdiff's %d", name, o, th)
		}
	}
}
