package tarstream

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// pythonTar makes the same archive as our Writer with Python's tarfile in
// PAX_FORMAT, the writer duplicity uses. Names travel as hex and are decoded
// with os.fsdecode, as duplicity decodes path bytes.
const pythonTar = `
import io, json, os, sys, tarfile
out = io.BytesIO()
tf = tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT)
for m in json.load(sys.stdin):
    ti = tarfile.TarInfo(os.fsdecode(bytes.fromhex(m["name"])))
    ti.type = m["type"].encode("latin-1")
    ti.mode, ti.uid, ti.gid, ti.mtime = m["mode"], m["uid"], m["gid"], m["mtime"]
    ti.uname = os.fsdecode(bytes.fromhex(m["uname"]))
    ti.gname = os.fsdecode(bytes.fromhex(m["gname"]))
    ti.linkname = os.fsdecode(bytes.fromhex(m["linkname"]))
    ti.devmajor, ti.devminor = m["devmajor"], m["devminor"]
    data = bytes.fromhex(m["data"])
    ti.size = len(data)
    tf.addfile(ti, io.BytesIO(data))
tf.close()
sys.stdout.buffer.write(out.getvalue())
`

type member struct {
	h    Header
	data string
}

// pythonMembers covers every reason tarfile has to emit a PAX header, and
// the cases where it does not.
func pythonMembers() []member {
	long := "snapshot/" + strings.Repeat("n", 141) // 150 bytes
	return []member{
		{Header{Name: "snapshot/./", Typeflag: TypeDir, Mode: 0755, Uname: "root", Gname: "root", Mtime: 1795357990}, ""},
		{Header{Name: "snapshot/a.txt", Typeflag: TypeReg, Mode: 0644, Uname: "root", Gname: "root", Mtime: 1795353031}, "hello\n"},
		{Header{Name: "snapshot/bad\xff\xfename", Typeflag: TypeReg, Mode: 0600, Uid: 1000, Gid: 1000, Mtime: 1}, "abc"},
		{Header{Name: "snapshot/caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac", Typeflag: TypeReg, Mode: 04755}, "x"},
		{Header{Name: long, Typeflag: TypeReg, Mode: 0644}, strings.Repeat("z", 512)},
		{Header{Name: "snapshot/" + strings.Repeat("e", 91), Typeflag: TypeReg, Mode: 0644}, ""}, // exactly 100 bytes
		{Header{Name: "snapshot/bigid", Typeflag: TypeReg, Mode: 0644, Uid: 3000000, Gid: 2097151, Uname: "u\xe9", Gname: strings.Repeat("g", 33)}, "1"},
		{Header{Name: "snapshot/future", Typeflag: TypeReg, Mode: 0644, Mtime: 9000000000}, ""},
		{Header{Name: "snapshot/d\xff" + strings.Repeat("d", 120), Typeflag: TypeDir, Mode: 01777}, ""},
		{Header{Name: "snapshot/link", Typeflag: TypeSymlink, Mode: 0777, Linkname: "../" + strings.Repeat("t", 120) + "\xfe"}, ""},
		{Header{Name: "snapshot/short", Typeflag: TypeSymlink, Mode: 0777, Linkname: "a.txt"}, ""},
		{Header{Name: "snapshot/fifo", Typeflag: TypeFifo, Mode: 0644}, ""},
		{Header{Name: "snapshot/tty", Typeflag: TypeChar, Mode: 0620, Devmajor: 4, Devminor: 1}, ""},
		{Header{Name: "snapshot/sda", Typeflag: TypeBlock, Mode: 0660, Devmajor: 8, Devminor: 1048575}, ""},
		{Header{Name: "deleted/gone", Typeflag: TypeReg}, ""},
	}
}

func TestWriterMatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	members := pythonMembers()
	var spec []map[string]any
	for _, m := range members {
		spec = append(spec, map[string]any{
			"name": hex.EncodeToString([]byte(m.h.Name)), "type": string(m.h.Typeflag),
			"mode": m.h.Mode, "uid": m.h.Uid, "gid": m.h.Gid, "mtime": m.h.Mtime,
			"uname": hex.EncodeToString([]byte(m.h.Uname)), "gname": hex.EncodeToString([]byte(m.h.Gname)),
			"linkname": hex.EncodeToString([]byte(m.h.Linkname)),
			"devmajor": m.h.Devmajor, "devminor": m.h.Devminor,
			"data": hex.EncodeToString([]byte(m.data)),
		})
	}
	in, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", pythonTar)
	cmd.Stdin = bytes.NewReader(in)
	want, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}

	got := writeMembers(t, members)
	if !bytes.Equal(got, want) {
		for off := 0; off < min(len(got), len(want)); off += blockSize {
			if !bytes.Equal(got[off:off+blockSize], want[off:off+blockSize]) {
				t.Fatalf("block at %d differs:\ngot  %q\nwant %q", off, got[off:off+blockSize], want[off:off+blockSize])
			}
		}
		t.Fatalf("length %d, python %d", len(got), len(want))
	}

	// Our Reader reads Python's bytes back exactly.
	r := NewReader(bytes.NewReader(want))
	for _, m := range members {
		h, err := r.Next()
		if err != nil {
			t.Fatalf("%q: %v", m.h.Name, err)
		}
		wantH := m.h
		wantH.Size = int64(len(m.data))
		if wantH.Typeflag == TypeDir && !strings.HasSuffix(wantH.Name, "/") {
			wantH.Name += "/"
		}
		if *h != wantH {
			t.Errorf("header\n got %+v\nwant %+v", *h, wantH)
		}
		data, err := io.ReadAll(r)
		if err != nil || string(data) != m.data {
			t.Errorf("%q: data %q, %v", m.h.Name, data, err)
		}
	}
	if _, err := r.Next(); err != io.EOF {
		t.Fatalf("after last member: %v", err)
	}
}

// writeMembers writes members with our Writer and closes the archive.
func writeMembers(t testing.TB, members []member) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, m := range members {
		h := m.h
		h.Size = int64(len(m.data))
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, m.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(buf.Len()) {
		t.Fatalf("Written() = %d, wrote %d", w.Written(), buf.Len())
	}
	return buf.Bytes()
}

// TestFileSizeRecord checks that the vendor record round-trips and that
// Python's tarfile, which duplicity reads signatures with, sees the member
// exactly as without it.
func TestFileSizeRecord(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, h := range []Header{
		{Name: "signature/a", Typeflag: TypeReg, Mode: 0o644, Size: 3, Mtime: 5, FileSize: 123456789},
		{Name: "signature/caf\xc3\xa9" + strings.Repeat("x", 120), Typeflag: TypeReg, Mode: 0o600, Size: 3, FileSize: 7},
	} {
		if err := w.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("sig"))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(buf.Bytes()))
	for _, want := range []int64{123456789, 7} {
		h, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if h.FileSize != want || h.Size != 3 {
			t.Errorf("%s: FileSize %d Size %d, want %d and 3", h.Name, h.FileSize, h.Size, want)
		}
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not on PATH")
	}
	cmd := exec.Command("python3", "-c", `
import sys, tarfile, io
tf = tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()))
for ti in tf:
    print(ti.name, ti.size, ti.mode, ti.mtime, tf.extractfile(ti).read().decode())
`)
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	want := "signature/a 3 420 5 sig\nsignature/café" + strings.Repeat("x", 120) + " 3 384 0 sig\n"
	if string(out) != want {
		t.Errorf("python read %q, want %q", out, want)
	}
}
