package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"dupfs/backends"
)

// SuiteLargeSize is the size of the file the suite streams through Save
// and Open (a little over 16 MiB, not a multiple of any buffer size).
const SuiteLargeSize = 16<<20 + 12345

// suiteColdWait bounds the wait for an unseal when the store is cold.
const suiteColdWait = time.Minute

// RunSuite checks that the stores newStore makes keep the backends.Backend
// contract: List, Open, Save, Delete, ErrNotExist, replacing a file, a
// large file streamed both ways, names with odd characters, rewinding,
// short sources, cancelled contexts and concurrent saves. Each call of
// newStore must give a new, empty store (a fresh directory, container or
// prefix); the suite closes it. On a store with a cold tier
// (backends.AsCold), a read that meets a *backends.SealedError unseals
// the file and polls its state until it reads, so make unseals quick.
func RunSuite(t *testing.T, newStore func() backends.Backend) {
	t.Helper()
	open := func(t *testing.T) backends.Backend {
		b := newStore()
		t.Cleanup(func() { b.Close() })
		if b.String() == "" {
			t.Error("String() is empty")
		}
		return b
	}
	for _, c := range []struct {
		name string
		fn   func(*testing.T, backends.Backend)
	}{
		{"Empty", suiteEmpty},
		{"SaveOpenList", suiteSaveOpenList},
		{"Replace", suiteReplace},
		{"Delete", suiteDelete},
		{"OddNames", suiteOddNames},
		{"InvalidNames", suiteInvalidNames},
		{"LargeStreaming", suiteLarge},
		{"SaveRewinds", suiteSaveRewinds},
		{"ShortSource", suiteShortSource},
		{"Cancelled", suiteCancelled},
		{"ConcurrentSaves", suiteConcurrent},
	} {
		t.Run(c.name, func(t *testing.T) { c.fn(t, open(t)) })
	}
}

func suiteEmpty(t *testing.T, b backends.Backend) {
	ctx := context.Background()
	suiteWantList(t, b, nil)
	if rc, err := b.Open(ctx, "missing"); !errors.Is(err, backends.ErrNotExist) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	if err := b.Delete(ctx, "missing"); !errors.Is(err, backends.ErrNotExist) {
		t.Errorf("Delete(missing) = %v, want ErrNotExist", err)
	}
}

func suiteSaveOpenList(t *testing.T, b backends.Backend) {
	files := map[string][]byte{
		"a": []byte("alpha"),
		"duplicity-full.20261122T100000Z.vol1.difftar.gpg": bytes.Repeat([]byte{0, 1, 2, 0xff}, 2500),
		"duplicity-full.20261122T100000Z.manifest.gpg":     []byte("manifest"),
		"empty": {},
	}
	for n, data := range files {
		suiteSave(t, b, n, data)
	}
	suiteWantList(t, b, files)
	for n, data := range files {
		suiteWantContent(t, b, n, data)
	}
	if rc, err := b.Open(context.Background(), "alpha"); !errors.Is(err, backends.ErrNotExist) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Open of a name never saved = %v, want ErrNotExist", err)
	}
}

func suiteReplace(t *testing.T, b backends.Backend) {
	suiteSave(t, b, "f", bytes.Repeat([]byte("old "), 1000))
	suiteWantContent(t, b, "f", bytes.Repeat([]byte("old "), 1000))
	suiteSave(t, b, "f", []byte("new content"))
	suiteWantList(t, b, map[string][]byte{"f": []byte("new content")})
	suiteWantContent(t, b, "f", []byte("new content"))
}

func suiteDelete(t *testing.T, b backends.Backend) {
	ctx := context.Background()
	suiteSave(t, b, "keep", []byte("k"))
	suiteSave(t, b, "drop", []byte("d"))
	if err := b.Delete(ctx, "drop"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	suiteWantList(t, b, map[string][]byte{"keep": []byte("k")})
	if rc, err := b.Open(ctx, "drop"); !errors.Is(err, backends.ErrNotExist) {
		if rc != nil {
			rc.Close()
		}
		t.Errorf("Open after Delete = %v, want ErrNotExist", err)
	}
	if err := b.Delete(ctx, "drop"); !errors.Is(err, backends.ErrNotExist) {
		t.Errorf("second Delete = %v, want ErrNotExist", err)
	}
	suiteWantContent(t, b, "keep", []byte("k"))
}

// suiteOddNameList are names a store must keep as they are: URL
// metacharacters, percent escapes, spaces, quotes, shell and glob
// characters, non-ASCII, leading dots and dashes, and a long name.
var suiteOddNameList = []string{
	"a b", " lead and trail ", "é", "日本語.txt", "100%", "%2F", "%zz", "a+b", "a?b=c&d",
	"a#frag", "semi;colon", "colon:x", "tilde~", `quote'"`, "star*", "-dash", `back\slash`,
	"[br]{ce}", "$HOME", "@at!", "..dots", "dots..", ".hidden", "a\u00a0nbsp", "emoji\U0001F600",
	strings.Repeat("long-", 40) + "name",
}

func suiteOddNames(t *testing.T, b backends.Backend) {
	ctx := context.Background()
	files := map[string][]byte{}
	for i, n := range suiteOddNameList {
		files[n] = []byte(fmt.Sprintf("file %d: %q", i, n))
		suiteSave(t, b, n, files[n])
	}
	suiteWantList(t, b, files)
	for n, data := range files {
		suiteWantContent(t, b, n, data)
	}
	for n := range files {
		if err := b.Delete(ctx, n); err != nil {
			t.Errorf("Delete(%q): %v", n, err)
		}
	}
	suiteWantList(t, b, nil)
}

func suiteInvalidNames(t *testing.T, b backends.Backend) {
	ctx := context.Background()
	for _, n := range []string{"", ".", "..", "a/b", "../up"} {
		if err := b.Save(ctx, n, bytes.NewReader([]byte("x")), 1); err == nil {
			t.Errorf("Save(%q) accepted", n)
		}
	}
	suiteWantList(t, b, nil)
}

// suiteLarge streams a file bigger than any buffer through Save and Open
// (generated and checked on the fly, never held in memory), and closes a
// reader early.
func suiteLarge(t *testing.T, b backends.Backend) {
	ctx := context.Background()
	src := &suiteStream{size: SuiteLargeSize}
	if err := b.Save(ctx, "large", src, SuiteLargeSize); err != nil {
		t.Fatalf("Save(large): %v", err)
	}
	suiteWantSizes(t, b, map[string]int64{"large": SuiteLargeSize})
	rc := suiteOpen(t, b, "large")
	n, err := io.Copy(&suiteChecker{}, rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil || n != SuiteLargeSize {
		t.Fatalf("read back %d bytes of %d: %v", n, int64(SuiteLargeSize), err)
	}
	rc = suiteOpen(t, b, "large")
	buf := make([]byte, 1024)
	if _, err := io.ReadFull(rc, buf); err != nil {
		t.Fatalf("read the first KiB: %v", err)
	}
	if !bytes.Equal(buf, suiteBytes(0, 1024)) {
		t.Error("the first KiB differs")
	}
	done := make(chan error, 1)
	go func() { done <- rc.Close() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close of a reader not read to the end hangs")
	}
}

func suiteSaveRewinds(t *testing.T, b backends.Backend) {
	r := bytes.NewReader([]byte("from the start"))
	r.Seek(0, io.SeekEnd)
	if err := b.Save(context.Background(), "r", r, r.Size()); err != nil {
		t.Fatalf("Save from a reader at its end: %v", err)
	}
	suiteWantContent(t, b, "r", []byte("from the start"))
}

func suiteShortSource(t *testing.T, b backends.Backend) {
	if err := b.Save(context.Background(), "short", bytes.NewReader([]byte("abc")), 10); err == nil {
		t.Error("Save of 3 bytes declared as 10 accepted")
	}
	suiteWantList(t, b, nil)
}

func suiteCancelled(t *testing.T, b backends.Backend) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Save(ctx, "c", bytes.NewReader([]byte("x")), 1); err == nil {
		t.Error("Save under a cancelled context succeeded")
	}
	suiteWantList(t, b, nil)
}

func suiteConcurrent(t *testing.T, b backends.Backend) {
	files := map[string][]byte{}
	for i := range 6 {
		files[fmt.Sprintf("c%d", i)] = bytes.Repeat([]byte{byte(i)}, 1000+i)
	}
	var wg sync.WaitGroup
	for n, data := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := b.Save(context.Background(), n, bytes.NewReader(data), int64(len(data))); err != nil {
				t.Errorf("Save(%q): %v", n, err)
			}
		}()
	}
	wg.Wait()
	suiteWantList(t, b, files)
}

func suiteSave(t *testing.T, b backends.Backend, name string, data []byte) {
	t.Helper()
	if err := b.Save(context.Background(), name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Save(%q): %v", name, err)
	}
}

// suiteOpen opens name; on a cold store, a sealed file is unsealed first.
func suiteOpen(t *testing.T, b backends.Backend, name string) io.ReadCloser {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(suiteColdWait)
	for asked := false; ; {
		rc, err := b.Open(ctx, name)
		var se *backends.SealedError
		if !errors.As(err, &se) {
			if err != nil {
				t.Fatalf("Open(%q): %v", name, err)
			}
			return rc
		}
		cold, ok := backends.AsCold(b)
		if !ok {
			t.Fatalf("Open(%q) = %v from a store without a cold tier", name, err)
		}
		if se.Name != name {
			t.Errorf("SealedError names %q, want %q", se.Name, name)
		}
		var st map[string]backends.ColdState
		if !asked {
			st, err = cold.Unseal(ctx, []string{name})
			asked = true
		} else {
			st, err = cold.States(ctx, []string{name})
		}
		if err != nil {
			t.Fatalf("unseal %q: %v", name, err)
		}
		if _, ok := st[name]; !ok {
			t.Fatalf("the cold tier does not know %q", name)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not readable after %s: %v", name, suiteColdWait, err)
		}
		if st[name].State != backends.Unsealed {
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func suiteWantContent(t *testing.T, b backends.Backend, name string, want []byte) {
	t.Helper()
	rc := suiteOpen(t, b, name)
	got, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%q reads %d bytes %.40q, want %d bytes %.40q", name, len(got), got, len(want), want)
	}
}

func suiteWantList(t *testing.T, b backends.Backend, files map[string][]byte) {
	t.Helper()
	sizes := map[string]int64{}
	for n, d := range files {
		sizes[n] = int64(len(d))
	}
	suiteWantSizes(t, b, sizes)
}

func suiteWantSizes(t *testing.T, b backends.Backend, want map[string]int64) {
	t.Helper()
	l, err := b.List(context.Background())
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	var got, exp []string
	for _, f := range l {
		got = append(got, fmt.Sprintf("%q:%d", f.Name, f.Size))
	}
	for n, s := range want {
		exp = append(exp, fmt.Sprintf("%q:%d", n, s))
	}
	sort.Strings(got)
	sort.Strings(exp)
	if !slices.Equal(got, exp) {
		t.Errorf("List = %v\nwant   %v", got, exp)
	}
}

// suiteByte is the content of the large file at offset i: a hash of i,
// so a byte read from the wrong offset shows.
func suiteByte(i int64) byte { return byte(uint64(i) * 0x9E3779B97F4A7C15 >> 56) }

func suiteBytes(off, n int64) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = suiteByte(off + int64(i))
	}
	return p
}

// suiteStream is the large file as an io.ReadSeeker, generated on demand.
type suiteStream struct{ off, size int64 }

func (s *suiteStream) Read(p []byte) (int, error) {
	if s.off >= s.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), s.size-s.off)
	for i := range n {
		p[i] = suiteByte(s.off + i)
	}
	s.off += n
	return int(n), nil
}

func (s *suiteStream) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += s.off
	case io.SeekEnd:
		off += s.size
	}
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	s.off = off
	return off, nil
}

// suiteChecker compares what is written to it with the large file.
type suiteChecker struct{ off int64 }

func (c *suiteChecker) Write(p []byte) (int, error) {
	for i, v := range p {
		if want := suiteByte(c.off + int64(i)); v != want {
			return i, fmt.Errorf("byte %d is %#x, want %#x", c.off+int64(i), v, want)
		}
	}
	c.off += int64(len(p))
	return len(p), nil
}
