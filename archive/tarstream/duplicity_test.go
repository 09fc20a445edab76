package tarstream

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

func gunzipFile(t testing.TB, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// rewrite reads every member of a plaintext duplicity tar and writes it
// again with our Writer; the result must be byte-identical.
func rewrite(t *testing.T, plain []byte, sigtar bool) []string {
	t.Helper()
	r := NewReader(bytes.NewReader(plain))
	var out bytes.Buffer
	w := NewWriter(&out)
	var names []string
	for {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if err := w.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if n, err := io.Copy(w, r); err != nil || n != h.Size {
			t.Fatalf("%q: copied %d of %d: %v", h.Name, n, h.Size, err)
		}
	}
	end := w.Flush
	if sigtar {
		end = w.Close
	}
	if err := end(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), plain) {
		t.Errorf("rewritten tar differs from duplicity's (%d vs %d bytes)", out.Len(), len(plain))
	}
	return names
}

func TestDuplicityFixtures(t *testing.T) {
	long := strings.Repeat("d", 120)
	tests := []struct {
		file  string
		names []string
	}{
		{"full.difftar.gz", []string{
			"snapshot/./", "snapshot/a.txt", "snapshot/bad\xff\xfename", "snapshot/" + long + "/",
			"snapshot/" + long + "/f", "snapshot/fifo", "snapshot/link", "snapshot/sub/",
			"multivol_snapshot/sub/big/1", "multivol_snapshot/sub/big/2", "snapshot/sub/empty",
			"multivol_snapshot/sub/exact/1", "multivol_snapshot/sub/exact/2",
		}},
		{"inc.difftar.gz", []string{
			"snapshot/./", "deleted/a.txt", "diff/bad\xff\xfename", "snapshot/" + long + "/",
			"diff/" + long + "/f", "snapshot/fifo", "snapshot/new.txt", "snapshot/sub/",
			"diff/sub/big", "diff/sub/empty", "diff/sub/exact",
		}},
		{"full.sigtar.gz", []string{
			"snapshot/", "signature/a.txt", "signature/bad\xff\xfename", "snapshot/" + long + "/",
			"signature/" + long + "/f", "snapshot/fifo", "snapshot/link", "snapshot/sub/",
			"signature/sub/big", "signature/sub/empty", "signature/sub/exact",
		}},
		{"inc.sigtar.gz", nil},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			names := rewrite(t, gunzipFile(t, filepath.Join("testdata", tc.file)), strings.HasSuffix(tc.file, ".sigtar.gz"))
			if tc.names != nil && !slices.Equal(names, tc.names) {
				t.Errorf("members\n got %q\nwant %q", names, tc.names)
			}
		})
	}
}

// TestGPGStyleVolume reads a volume as gpg leaves it: the entries, zeros to
// the next 10240 bytes, then top-off filler copied from the ciphertext.
func TestGPGStyleVolume(t *testing.T) {
	plain := gunzipFile(t, filepath.Join("testdata", "full.difftar.gz"))
	for _, zeros := range []int{blockSize, recordSize - len(plain)%recordSize} {
		vol := concat(plain, make([]byte, zeros), bytes.Repeat([]byte("\x85\x02\x0c\x03garbage"), 5000))
		hs, _, err := readAll(t, vol)
		if err != nil {
			t.Fatalf("%d zeros: %v", zeros, err)
		}
		if len(hs) != 13 {
			t.Errorf("%d zeros: read %d members, want 13", zeros, len(hs))
		}
	}
}

// TestDuplicityLive backs up a small tree with the installed duplicity and
// checks every tar it wrote survives a read and rewrite byte for byte.
func TestDuplicityLive(t *testing.T) {
	dup, err := exec.LookPath("duplicity")
	if err != nil {
		t.Skip("duplicity not installed")
	}
	tmp := t.TempDir()
	src := filepath.Join(tmp, "src")
	files := map[string]string{
		"a.txt":                          "hello\n",
		"caf\xc3\xa9/\xff\xfe":           "bytes",
		strings.Repeat("x", 150):         strings.Repeat("y", 70000),
		"sub/" + strings.Repeat("z", 99): "",
	}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(strings.Repeat("../", 40)+"target", filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	cmd := exec.Command(dup, "full", "--no-encryption", "--archive-dir", filepath.Join(tmp, "cache"),
		"--name", "live", src, "file://"+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("duplicity: %v\n%s", err, b)
	}
	tars, err := filepath.Glob(filepath.Join(out, "*tar.gz"))
	if err != nil || len(tars) != 2 {
		t.Fatalf("duplicity wrote %q, %v", tars, err)
	}
	for _, p := range tars {
		sigtar := strings.HasSuffix(p, ".sigtar.gz")
		names := rewrite(t, gunzipFile(t, p), sigtar)
		want := 10 // nine paths, the 70000-byte file in two chunks
		if sigtar {
			want = 9
		}
		if len(names) != want {
			t.Errorf("%s: members %q", filepath.Base(p), names)
		}
	}
}
