package verify

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"dupfs/archive/replay"
	"dupfs/backends/file"
	"dupfs/repo"
	"dupfs/restore"
	"dupfs/writer"
	"dupfs/writer/selection"
)

var (
	srcTime  = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	fullAt   = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	incAt    = fullAt.Add(time.Hour)
	bigSize  = 1<<20 + 12345
	srcMtime = "2026-01-02T03:04:05Z"
	// big.bin's mtime in the incremental: a change duplicity sees.
	bigTime = srcTime.Add(time.Hour)
)

// fixture is a target of two sets (big.bin changes in the incremental, so
// it is rebuilt from a delta and spans volumes) and the source at the end.
type fixture struct {
	target, src string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	base := t.TempDir()
	f := fixture{target: filepath.Join(base, "target"), src: filepath.Join(base, "src")}
	archive := filepath.Join(base, "archive")
	for _, d := range []string{f.src, f.target, archive, filepath.Join(f.src, "d")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(rel string, data []byte) {
		if err := os.WriteFile(filepath.Join(f.src, rel), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	big := make([]byte, bigSize)
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	write("a", []byte("hello\n"))
	write("d/b", []byte("world\n"))
	write("big.bin", big)
	if err := os.Symlink("a", filepath.Join(f.src, "l")); err != nil {
		t.Fatal(err)
	}
	backup := func(at, big time.Time) {
		t.Helper()
		for _, rel := range []string{"a", "d/b", "big.bin", "d", "."} {
			mt := srcTime
			if rel == "big.bin" {
				mt = big
			}
			if err := os.Chtimes(filepath.Join(f.src, rel), mt, mt); err != nil {
				t.Fatal(err)
			}
		}
		sel, err := selection.New(f.src, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = writer.Backup(context.Background(), file.New(f.target), repo.Options{ArchiveDir: archive}, writer.Options{
			Source: sel.Walk(context.Background()), SourceDir: f.src, Hostname: "test", NoEncryption: true,
			VolSize: 1 << 19, Now: func() time.Time { return at },
			Notice: func(string) {}, Warn: func(err error) { t.Log(err) },
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	backup(fullAt, srcTime)
	copy(big[1000:], "changed in the incremental")
	write("big.bin", big)
	backup(incAt, bigTime)
	// The cases below count on big.bin being rebuilt from a delta.
	deltas := 0
	err := eachNode(context.Background(), f.repo(t), incAt, "", nil, func(idx string, _ *replay.Group, n *replay.Node, err error) error {
		if idx == "big.bin" && n != nil {
			deltas = len(n.Deltas)
		}
		return err
	})
	if err != nil || deltas != 1 {
		t.Fatalf("fixture: big.bin has %d deltas (%v), want 1", deltas, err)
	}
	return f
}

func (f fixture) repo(t *testing.T) *repo.Repo {
	t.Helper()
	r, err := repo.Open(context.Background(), file.New(f.target), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// restored is a fresh copy of the latest point, made by restore.
func (f fixture) restored(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "copy")
	if _, err := restore.Run(context.Background(), f.repo(t), restore.Options{Time: incAt, Dest: dir}); err != nil {
		t.Fatal(err)
	}
	return dir
}

// keepMtime puts back the mtime of directories a case changed the
// entries of, so that it reports only its own change.
func keepMtime(t *testing.T, dirs ...string) {
	t.Helper()
	for _, d := range dirs {
		if err := os.Chtimes(d, srcTime, srcTime); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTree(t *testing.T) {
	f := newFixture(t)
	other := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		path   string // --path; the dir is the copy's path under it
		change func(t *testing.T, dir string)
		want   []string // without --compare-data
		data   []string // with it, when different from want
	}{
		{name: "unchanged", change: func(*testing.T, string) {}},
		{name: "same size and mtime, other data", change: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "a")
			must(t, os.WriteFile(p, []byte("HELLO\n"), 0o644))
			must(t, os.Chtimes(p, srcTime, srcTime))
		}, data: []string{"changed a: data differs"}},
		{name: "delta-built file, other data", change: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "big.bin")
			fh, err := os.OpenFile(p, os.O_WRONLY, 0)
			must(t, err)
			_, err = fh.WriteAt([]byte("X"), int64(bigSize-1))
			must(t, err)
			must(t, fh.Close())
			must(t, os.Chtimes(p, bigTime, bigTime))
		}, data: []string{"changed big.bin: data differs"}},
		{name: "delta-built file, other size", change: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "big.bin")
			must(t, os.Truncate(p, 100))
			must(t, os.Chtimes(p, bigTime, bigTime))
		}, want: []string{"changed big.bin: size 1060921 != 100"}},
		{name: "chmod", change: func(t *testing.T, dir string) {
			must(t, os.Chmod(filepath.Join(dir, "a"), 0o600))
		}, want: []string{"changed a: mode 0644 != 0600"}},
		{name: "touch", change: func(t *testing.T, dir string) {
			must(t, os.Chtimes(filepath.Join(dir, "d/b"), other, other))
		}, want: []string{"changed d/b: mtime " + srcMtime + " != 2020-01-01T00:00:00Z"}},
		{name: "deleted and added", change: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "d/b")))
			must(t, os.WriteFile(filepath.Join(dir, "n"), nil, 0o644))
			keepMtime(t, dir, filepath.Join(dir, "d"))
		}, want: []string{"missing d/b", "new n"}},
		{name: "new subtree", change: func(t *testing.T, dir string) {
			must(t, os.MkdirAll(filepath.Join(dir, "a-dir/x"), 0o755))
			keepMtime(t, dir)
		}, want: []string{"new a-dir", "new a-dir/x"}},
		{name: "symlink target", change: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "l")))
			must(t, os.Symlink("d", filepath.Join(dir, "l")))
			keepMtime(t, dir)
		}, want: []string{`changed l: target "a" != "d"`}},
		{name: "type", change: func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "a")))
			must(t, os.Symlink("d", filepath.Join(dir, "a")))
			keepMtime(t, dir)
		}, want: []string{"changed a: type reg != sym"}},
		{name: "subtree", path: "d", change: func(t *testing.T, dir string) {
			must(t, os.Chmod(filepath.Join(dir, "b"), 0o640))
		}, want: []string{"changed d/b: mode 0644 != 0640"}},
		{name: "one file", path: "d/b", change: func(t *testing.T, dir string) {
			must(t, os.Chmod(dir, 0o640))
		}, want: []string{"changed d/b: mode 0644 != 0640"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(f.restored(t), filepath.FromSlash(tc.path))
			tc.change(t, dir)
			if tc.data == nil {
				tc.data = tc.want
			}
			for _, data := range []bool{false, true} {
				want := tc.want
				if data {
					want = tc.data
				}
				var got []string
				st, err := Tree(context.Background(), f.repo(t), Options{
					Time: incAt, Path: tc.path, Dir: dir, CompareData: data,
					Report: func(d Difference) { got = append(got, d.String()) },
				})
				if !slices.Equal(got, want) {
					t.Errorf("compare data %v: differences\n%s\nwant\n%s", data, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				if (err != nil) != (len(want) > 0) || (err != nil && !errors.Is(err, ErrFailed)) {
					t.Errorf("compare data %v: err = %v", data, err)
				}
				if st.Differences != len(want) || st.Compared == 0 {
					t.Errorf("compare data %v: stats %+v", data, st)
				}
			}
		})
	}
}

// An older point compares with the source as it was then.
func TestTreeAtTime(t *testing.T) {
	f := newFixture(t)
	var got []string
	_, err := Tree(context.Background(), f.repo(t), Options{
		Time: fullAt, Dir: f.restored(t), CompareData: true,
		Report: func(d Difference) { got = append(got, d.String()) },
	})
	want := []string{"changed big.bin: mtime " + srcMtime + " != 2026-01-02T04:04:05Z, data differs"}
	if !errors.Is(err, ErrFailed) || !slices.Equal(got, want) {
		t.Errorf("got %q, %v", got, err)
	}
}

func TestDifferenceString(t *testing.T) {
	for _, tc := range []struct {
		d    Difference
		want string
	}{
		{Difference{Missing, "", ""}, "missing ."},
		{Difference{New, "a b/c", ""}, "new a b/c"},
		{Difference{Changed, "x: y", "mode 0644 != 0600"}, `changed "x: y": mode 0644 != 0600`},
		{Difference{New, "line\nbreak", ""}, `new "line\nbreak"`},
		{Difference{New, "bad\xff", ""}, `new "bad\xff"`},
	} {
		if got := tc.d.String(); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.d, got, tc.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTreePathNotInBackup(t *testing.T) {
	f := newFixture(t)
	_, err := Tree(context.Background(), f.repo(t), Options{Time: incAt, Path: "nope", Dir: f.src})
	if !errors.Is(err, restore.ErrNotFound) {
		t.Errorf("err = %v, want not found", err)
	}
}
