package integration

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Steps is the number of scenario steps: step 0 is the full backup's
// source, steps 1..3 change it in every way duplicity distinguishes, step 4
// changes nothing (an empty incremental).
const Steps = 5

// BigFileSize makes big.bin span several volumes with --volsize 1.
const BigFileSize = 2_700_000

// Synthetic mtimes: step k uses [mtimeBase+k*mtimeSpan, ...). duplicity
// compares integer mtimes only, so every changed entry must get a time
// distinct from its previous one whatever the wall clock does.
const (
	mtimeBase = 1_500_000_000
	mtimeSpan = 100_000
)

// Names the scenario uses that tests refer to.
const (
	DeepDir  = "deep"
	LongName = "L" // repeated to 200 bytes, see longName
)

var (
	longName = strings.Repeat(LongName, 200)
	deepFile = DeepDir + "/" + strings.Repeat("d", 200) + "/" + strings.Repeat("e", 100) + "/" + strings.Repeat("f", 50) + ".txt"
)

// ApplyStep turns dir into the source tree of step k (0..Steps-1); steps
// must be applied in order to the same dir, starting with an empty one.
// Content is a function of k only. Owners are set only when running as root.
func ApplyStep(dir string, k int) error {
	b := &builder{dir: dir, step: k, root: os.Geteuid() == 0}
	switch k {
	case 0:
		b.step0()
	case 1:
		b.step1()
	case 2:
		b.step2()
	case 3:
		b.step3()
	case 4:
		// Nothing: duplicity still writes an empty incremental.
	default:
		return fmt.Errorf("scenario: no step %d", k)
	}
	if b.err != nil {
		return fmt.Errorf("scenario step %d: %w", k, b.err)
	}
	if err := normalizeMtimes(dir, k); err != nil {
		return fmt.Errorf("scenario step %d: %w", k, err)
	}
	return nil
}

func (b *builder) step0() {
	b.write("a.txt", "alpha\n", 0o644)
	b.write("empty", "", 0o644)
	b.random("big.bin", BigFileSize, 0o644)
	b.random("exact64k.bin", 65536, 0o644)
	b.random("over64k.bin", 65537, 0o644)
	b.link("exact64k.bin", "hard")
	b.write("dir/keep.txt", "kept\n", 0o644)
	b.write("dir/sub/one.txt", "one\n", 0o644)
	b.random("dir/sub/two.bin", 5000, 0o600)
	b.mkdir("emptydir", 0o755)
	b.symlink("../a.txt", "links/rel")
	b.symlink("nowhere", "links/dangling")
	b.symlink("../dir", "links/dir")
	b.symlink("/etc/hostname", "links/abs")
	b.write("links/tofile", "becomes a symlink\n", 0o644)
	b.write("héllo wörld ✓.txt", "unicode\n", 0o644)
	b.write("日本語/ファイル.txt", "nihongo\n", 0o644)
	b.write("new\nline", "newline\n", 0o644)
	b.write("ta\tb", "tab\n", 0o644)
	b.write("quote\"s'back\\slash", "quotes\n", 0o644)
	b.write("bad\xff\xfename", "not utf-8\n", 0o644)
	b.write("sp ace ", "space\n", 0o644)
	b.write(longName, "long name\n", 0o644)
	b.write(deepFile, "deep\n", 0o644)
	b.fifo("fifo", 0o644)
	b.write("modeonly.txt", "mode only\n", 0o644)
	b.write("turncoat", "a file for now\n", 0o644)
	b.write("deleteme.txt", "short-lived\n", 0o644)
	b.write("append.log", "line 0\n", 0o644)
	b.write("owned.txt", "owned\n", 0o644)
	b.chown("owned.txt", 12345, 23456)
	b.chmod("owned.txt", 0o2755) // after chown, which clears setgid
	b.write("ro.txt", "read only\n", 0o444)
	b.write("secret/key", "s3cr3t\n", 0o600)
	b.chmod("secret", 0o700)
	b.mkdir("sticky", 0o1777)
}

func (b *builder) step1() {
	b.write("a.txt", "alpha, modified\n", 0o644)
	b.appendTo("append.log", "line 1\n")
	b.remove("deleteme.txt")
	b.remove("turncoat")
	b.write("turncoat/inner.txt", "now a directory\n", 0o644)
	b.write("turncoat/sub/x", "x\n", 0o644)
	b.chmod("modeonly.txt", 0o600)
	b.write("new1.txt", "new in step 1\n", 0o644)
	b.random("incbig.bin", 1_300_000, 0o644) // a multi-volume incremental
	b.remove("links/rel")
	b.symlink("../empty", "links/rel")
	b.remove("dir/sub")
	b.write("new\nline", "newline, changed\n", 0o644)
	b.rewrite("over64k.bin", 0, 1)
	b.chmod("fifo", 0o600)
}

func (b *builder) step2() {
	b.remove("turncoat")
	b.write("turncoat", "a file again\n", 0o644)
	b.appendTo("append.log", "line 2\n")
	b.rewrite("big.bin", 1_200_000, 150_000)
	b.write("empty", "no longer empty\n", 0o644)
	b.write("empty2", "", 0o644)
	b.write("日本語/ファイル.txt", "nihongo, changed\n", 0o644)
	b.remove("ta\tb")
	b.write(deepFile, "deep, changed\n", 0o644)
	b.remove("links/dangling")
	b.write("links/dangling", "was a symlink\n", 0o644)
	b.remove("links/tofile")
	b.symlink("../a.txt", "links/tofile")
	b.mkdir("emptydir2", 0o755)
	b.chmod("emptydir", 0o700)
	b.chown("owned.txt", 54321, 0)
}

func (b *builder) step3() {
	b.write("deleteme.txt", "back again, different\n", 0o644)
	b.write("dir/sub/one.txt", "one, re-created\n", 0o644)
	b.symlink("../one.txt", "dir/sub/three")
	b.appendTo("append.log", "line 3\n")
	b.appendRandom("big.bin", 10_000)
	b.random("exact64k.bin", 131072, 0o644) // in place: "hard" follows
	b.write("a.txt", "", 0o644)
	b.remove("fifo")
	b.remove("incbig.bin")
	b.write("ta\tb", "tab, re-created\n", 0o644)
	b.chmod("secret", 0o750)
	b.remove(longName)
	b.write(longName, "long name, re-created\n", 0o600)
}

// builder applies one step; the first error stops all later operations.
type builder struct {
	dir  string
	step int
	root bool
	seq  uint64
	err  error
}

func (b *builder) path(rel string) string { return filepath.Join(b.dir, rel) }

func (b *builder) do(f func() error) {
	if b.err == nil {
		b.err = f()
	}
}

func (b *builder) parents(rel string) error {
	return os.MkdirAll(filepath.Dir(b.path(rel)), 0o755)
}

func (b *builder) write(rel, content string, perm os.FileMode) {
	b.do(func() error {
		if err := b.parents(rel); err != nil {
			return err
		}
		if err := os.WriteFile(b.path(rel), []byte(content), perm); err != nil {
			return err
		}
		return os.Chmod(b.path(rel), perm) // WriteFile keeps an old mode and obeys umask
	})
}

// rng gives each random write its own deterministic stream.
func (b *builder) rng() *rand.ChaCha8 {
	b.seq++
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[0:], uint64(b.step))
	binary.LittleEndian.PutUint64(seed[8:], b.seq)
	return rand.NewChaCha8(seed)
}

func (b *builder) random(rel string, size int64, perm os.FileMode) {
	b.do(func() error {
		if err := b.parents(rel); err != nil {
			return err
		}
		f, err := os.OpenFile(b.path(rel), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
		if err != nil {
			return err
		}
		_, err = io.CopyN(f, b.rng(), size)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return os.Chmod(b.path(rel), perm)
	})
}

// rewrite overwrites n bytes at off in place with random data.
func (b *builder) rewrite(rel string, off, n int64) {
	b.do(func() error {
		f, err := os.OpenFile(b.path(rel), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = io.CopyN(io.NewOffsetWriter(f, off), b.rng(), n)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

func (b *builder) appendTo(rel, content string) {
	b.do(func() error {
		f, err := os.OpenFile(b.path(rel), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		_, err = f.WriteString(content)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

func (b *builder) appendRandom(rel string, n int64) {
	b.do(func() error {
		f, err := os.OpenFile(b.path(rel), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		_, err = io.CopyN(f, b.rng(), n)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	})
}

func (b *builder) mkdir(rel string, perm uint32) {
	b.do(func() error { return os.MkdirAll(b.path(rel), 0o755) })
	b.chmod(rel, perm)
}

func (b *builder) symlink(target, rel string) {
	b.do(func() error {
		if err := b.parents(rel); err != nil {
			return err
		}
		return os.Symlink(target, b.path(rel))
	})
}

func (b *builder) link(oldRel, newRel string) {
	b.do(func() error { return os.Link(b.path(oldRel), b.path(newRel)) })
}

func (b *builder) fifo(rel string, perm uint32) {
	b.do(func() error {
		if err := b.parents(rel); err != nil {
			return err
		}
		if err := syscall.Mkfifo(b.path(rel), perm); err != nil {
			return &os.PathError{Op: "mkfifo", Path: b.path(rel), Err: err}
		}
		return os.Chmod(b.path(rel), os.FileMode(perm))
	})
}

func (b *builder) chmod(rel string, perm uint32) {
	// os.Chmod drops setuid/setgid/sticky unless given as FileMode flags.
	b.do(func() error {
		if err := syscall.Chmod(b.path(rel), perm); err != nil {
			return &os.PathError{Op: "chmod", Path: b.path(rel), Err: err}
		}
		return nil
	})
}

func (b *builder) chown(rel string, uid, gid int) {
	if !b.root {
		return
	}
	b.do(func() error { return os.Lchown(b.path(rel), uid, gid) })
}

func (b *builder) remove(rel string) {
	b.do(func() error { return os.RemoveAll(b.path(rel)) })
}

// normalizeMtimes gives every entry whose mtime came from the wall clock
// (created, written, or a directory whose entries changed) a synthetic
// time unique within step k, in walk order. Symlinks are left alone:
// duplicity neither compares nor restores their mtimes.
func normalizeMtimes(dir string, k int) error {
	lo := int64(mtimeBase)
	hi := int64(mtimeBase + Steps*mtimeSpan)
	next := int64(mtimeBase + k*mtimeSpan)
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if m := info.ModTime().Unix(); m >= lo && m < hi {
			return nil
		}
		next++
		t := unixTime(next)
		return os.Chtimes(p, t, t)
	})
}
