package integration

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"dupfs/archive/librsync"
)

// The hostile-archive suite: hand-made --no-encryption targets whose
// volumes, signatures or manifests try to write outside the destination,
// claim absurd sizes or counts, or unpack into far more than they store.
// Each must be refused with an error naming the entry, with a non-zero
// exit, nothing written outside the destination and bounded memory.

// member is one tar member of a hand-made volume or signature tar.
type member struct {
	name string
	typ  byte
	data []byte
	link string
	// size, when set, is the header's size whatever data holds: a lie.
	size int64
	// zeros, when set, follow data: that many zero bytes, streamed.
	zeros int64
}

// hostileSet is one backup set of a hand-made target.
type hostileSet struct {
	volumes  [][]member
	sigs     []member
	manifest string // replaces the generated manifest when set
}

const (
	hostileT1 = "20260101T000000Z"
	hostileT2 = "20260102T000000Z"
)

// writeHostile writes sets (a full, then incrementals) into target as
// duplicity names them.
func writeHostile(t *testing.T, target string, sets []hostileSet) {
	t.Helper()
	times := []string{hostileT1, hostileT2}
	for i, s := range sets {
		stem := "duplicity-full." + times[i]
		sigName := "duplicity-full-signatures." + times[i] + ".sigtar.gz"
		if i > 0 {
			stem = "duplicity-inc." + times[i-1] + ".to." + times[i]
			sigName = "duplicity-new-signatures." + times[i-1] + ".to." + times[i] + ".sigtar.gz"
		}
		var man strings.Builder
		fmt.Fprintf(&man, "Hostname hostile\nLocaldir /src\n")
		for v, members := range s.volumes {
			name := fmt.Sprintf("%s.vol%d.difftar.gz", stem, v+1)
			sum := writeTarGz(t, filepath.Join(target, name), members)
			fmt.Fprintf(&man, "Volume %d:\n    StartingPath   .\n    EndingPath     .\n    Hash SHA1 %s\n", v+1, sum)
		}
		if s.manifest != "" {
			man.Reset()
			man.WriteString(s.manifest)
		}
		if err := os.WriteFile(filepath.Join(target, stem+".manifest"), []byte(man.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		writeTarGz(t, filepath.Join(target, sigName), s.sigs)
	}
}

// writeTarGz writes members as a gzipped tar with the standard library
// (which writes whatever names it is given) and returns its SHA-1.
func writeTarGz(t *testing.T, path string, members []member) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha1.New()
	zw, _ := gzip.NewWriterLevel(io.MultiWriter(f, h), gzip.BestSpeed)
	for _, m := range members {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := int64(len(m.data)) + m.zeros
		if m.size != 0 {
			size = m.size
		}
		if typ != tar.TypeReg {
			size = 0
		}
		// The header goes through a buffer so that a lying size does not
		// trip the standard library's own accounting.
		var hb bytes.Buffer
		tw := tar.NewWriter(&hb)
		if err := tw.WriteHeader(&tar.Header{Name: m.name, Typeflag: typ, Linkname: m.link, Size: size, Mode: 0o644, Format: tar.FormatPAX}); err != nil {
			t.Fatal(err)
		}
		zw.Write(hb.Bytes())
		zw.Write(m.data)
		zeros := make([]byte, 1<<20)
		for left := m.zeros; left > 0; left -= int64(len(zeros)) {
			zw.Write(zeros[:min(left, int64(len(zeros)))])
		}
		if pad := (512 - (int64(len(m.data))+m.zeros)%512) % 512; pad > 0 && m.size == 0 {
			zw.Write(make([]byte, pad))
		}
	}
	zw.Write(make([]byte, 1024))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// sigOf is a valid librsync signature of data.
func sigOf(t *testing.T, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := librsync.WriteSignature(&b, bytes.NewReader(data), librsync.MagicMD4Sig, 512, 8); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// hostileRun is one dupfs run with its peak memory.
type hostileRun struct {
	Result
	maxRSS int64 // bytes
}

// runHostile runs dupfs with a file size limit (so a bomb cannot fill the
// disk) and returns its output and peak resident memory.
func runHostile(t *testing.T, env Env, args ...string) hostileRun {
	t.Helper()
	NeedDupfs(t)
	ctx, cancel := context.WithTimeout(t.Context(), CommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "prlimit", append([]string{"--fsize=67108864", "--", dupfsBin}, args...)...)
	cmd.Env = env.List()
	r := runCmd(cmd)
	var rss int64
	if cmd.ProcessState != nil {
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = ru.Maxrss << 10
		}
	}
	return hostileRun{r, rss}
}

func TestHostileArchives(t *testing.T) {
	t.Parallel()
	NeedDupfs(t)
	if _, err := exec.LookPath("prlimit"); err != nil {
		t.Skip("prlimit not found")
	}
	env := NewEnv(t)
	// outside is what the archives aim at: it must stay empty.
	outside := t.TempDir()
	escape := filepath.Join(outside, "escaped")
	root := member{name: "snapshot/./", typ: tar.TypeDir}
	sigRoot := member{name: "snapshot/", typ: tar.TypeDir}
	basis := bytes.Repeat([]byte("basis "), 20)

	cases := []struct {
		name string
		sets []hostileSet
		// want is in the error of every command; partial is a restore
		// that finishes, skipping the hostile entry (exit 3).
		want    string
		partial bool
		list    bool // list-current-files, which reads only signatures, fails too
		mount   bool // also mount it and read the tree with ls and cp
	}{
		{
			name: "traversal",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/../../../../../../../.." + escape, data: []byte("x")}}},
				sigs:    []member{sigRoot, {name: "signature/../../../../../../../.." + escape, data: sigOf(t, []byte("x"))}},
			}},
			want: "unsafe path", list: true,
		},
		{
			name: "absolute",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: escape, data: []byte("x")}}},
				sigs:    []member{sigRoot, {name: escape, data: sigOf(t, []byte("x"))}},
			}},
			want: escape, list: true,
		},
		{
			name: "empty component",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/" + escape, data: []byte("x")}}},
				sigs:    []member{sigRoot, {name: "signature/" + escape, data: sigOf(t, []byte("x"))}},
			}},
			want: "unsafe path", list: true,
		},
		{
			name: "symlink then file under it",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/link", typ: tar.TypeSymlink, link: outside}, {name: "snapshot/link/escaped", data: []byte("x")}}},
				sigs:    []member{sigRoot, {name: "snapshot/link", typ: tar.TypeSymlink, link: outside}, {name: "signature/link/escaped", data: sigOf(t, []byte("x"))}},
			}},
			want: "link/escaped", partial: true, mount: true,
		},
		{
			name: "dir symlink, file under it in the incremental",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/d", typ: tar.TypeSymlink, link: outside}}},
				sigs:    []member{sigRoot, {name: "snapshot/d", typ: tar.TypeSymlink, link: outside}},
			}, {
				volumes: [][]member{{root, {name: "snapshot/d/escaped", data: []byte("x")}}},
				sigs:    []member{sigRoot, {name: "signature/d/escaped", data: sigOf(t, []byte("x"))}},
			}},
			want: "d/escaped", partial: true, mount: true,
		},
		{
			// Longer than any Linux file name: refused by the file system,
			// that entry alone; the rest is restored.
			name: "name of 300 bytes",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/" + strings.Repeat("n", 300), data: []byte("x")}}},
				sigs:    []member{sigRoot, {name: "signature/" + strings.Repeat("n", 300), data: sigOf(t, []byte("x"))}},
			}},
			want: "file name too long", partial: true, mount: true,
		},
		{
			// Data longer than the header's size is read as the next header.
			name: "data beyond the header size",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/f", data: bytes.Repeat([]byte("x"), 4096), size: 4}}},
				sigs:    []member{sigRoot, {name: "signature/f", data: sigOf(t, []byte("xxxx"))}},
			}},
			want: "checksum",
		},
		{
			name: "tar size 8 EiB",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/huge", data: []byte("tiny"), size: 1<<63 - 1}}},
				sigs:    []member{sigRoot, {name: "signature/huge", data: sigOf(t, []byte("tiny"))}},
			}},
			want: "snapshot/huge",
		},
		{
			name: "manifest claiming 10^9 volumes",
			sets: []hostileSet{{
				volumes:  [][]member{{root, {name: "snapshot/f", data: []byte("x")}}},
				sigs:     []member{sigRoot, {name: "signature/f", data: sigOf(t, []byte("x"))}},
				manifest: "Hostname hostile\nLocaldir /src\nVolume 1000000000:\n    StartingPath   .\n    EndingPath     .\n    Hash SHA1 0000000000000000000000000000000000000000\n",
			}},
			want: "1000000000",
		},
		{
			name: "delta copying past the basis",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/f", data: basis}}},
				sigs:    []member{sigRoot, {name: "signature/f", data: sigOf(t, basis)}},
			}, {
				// COPY 1000 bytes at 0 of a 120-byte basis.
				volumes: [][]member{{root, {name: "diff/f", data: []byte{0x72, 0x73, 0x02, 0x36, 0x46, 0x00, 0x03, 0xe8, 0x00}}}},
				sigs:    []member{sigRoot, {name: "signature/f", data: sigOf(t, basis)}},
			}},
			want: "past the end of the basis", partial: true, mount: true,
		},
		{
			// 1 GiB of zeros in one member, a few MB stored: a legitimate
			// file as far as the archive tells, so what bounds it is the
			// destination (here a 64 MiB file size limit), and memory
			// stays flat while it streams.
			name: "gzip bomb",
			sets: []hostileSet{{
				volumes: [][]member{{root, {name: "snapshot/bomb", zeros: 1 << 30}}},
				sigs:    []member{sigRoot, {name: "signature/bomb", data: sigOf(t, nil)}},
			}},
			want: "bomb",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "target")
			os.Mkdir(target, 0o755)
			writeHostile(t, target, tc.sets)
			url := "file://" + target
			dest := filepath.Join(t.TempDir(), "dest")
			runs := map[string]hostileRun{
				"restore": runHostile(t, env, "restore", "--no-encryption", "--archive-dir", filepath.Join(t.TempDir(), "ad"), url, dest),
			}
			if tc.list {
				runs["list-current-files"] = runHostile(t, env, "list-current-files", "--no-encryption", "--archive-dir", filepath.Join(t.TempDir(), "ad"), url)
				// The mount reads the same signatures: it fails before
				// mounting (a mount that did not would be stopped by the
				// run's timeout, then unmounted here).
				mnt := filepath.Join(t.TempDir(), "mnt")
				os.Mkdir(mnt, 0o755)
				t.Cleanup(func() {
					if isMounted(mnt) {
						exec.Command("fusermount3", "-uz", mnt).Run()
					}
				})
				runs["mount"] = runHostile(t, env, "mount", "--no-encryption", "--archive-dir", filepath.Join(t.TempDir(), "ad"),
					"--cache-dir", filepath.Join(t.TempDir(), "cache"), url, mnt)
			}
			for what, r := range runs {
				wantCode := 1
				if tc.partial && what == "restore" {
					wantCode = 3
				}
				if r.Code != wantCode || !strings.Contains(string(r.Stderr), tc.want) {
					t.Errorf("%s: want exit %d and %q on stderr: %v", what, wantCode, tc.want, r.Result)
				}
				t.Logf("%s: exit %d, peak memory %d MiB: %s", what, r.Code, r.maxRSS>>20, bytes.TrimSpace(r.Stderr))
				if r.maxRSS > 300<<20 {
					t.Errorf("%s: peak memory %d MiB", what, r.maxRSS>>20)
				}
			}
			if tc.mount {
				mnt := filepath.Join(t.TempDir(), "mnt")
				os.Mkdir(mnt, 0o755)
				m := Mount(t, env, mnt, "mount", "--no-encryption", "--archive-dir", filepath.Join(t.TempDir(), "ad"),
					"--cache-dir", filepath.Join(t.TempDir(), "cache"), url, mnt)
				Run(t.Context(), os.Environ(), "ls", "-lR", mnt+"/")
				cp := Run(t.Context(), os.Environ(), "cp", "-a", filepath.Join(mnt, "latest")+"/.", filepath.Join(t.TempDir(), "cp"))
				if strings.Contains(tc.name, "delta") && cp.Code == 0 {
					t.Errorf("cp of a file whose delta reads past its basis succeeded")
				}
				m.stop(t, syscall.SIGTERM)
			}
			if ents, err := os.ReadDir(outside); err != nil || len(ents) > 0 {
				t.Fatalf("outside the destination: %v, %v", ents, err)
			}
		})
	}
}
