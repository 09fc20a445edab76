package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"dupfs/archive/collection"
	"dupfs/archive/crypt"
	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/backends/file"
	"dupfs/integration"
	"dupfs/repo"
	"dupfs/writer"
	"dupfs/writer/selection"
)

// damageFixture is a gzip chain of two sets (a full, an incremental that
// changes, adds and deletes files), several volumes each, with the source
// tree at each point.
type damageFixture struct {
	target string
	times  []time.Time
	trees  []integration.Tree
}

func newDamageFixture(t *testing.T) *damageFixture {
	t.Helper()
	ctx := context.Background()
	base := t.TempDir()
	src := filepath.Join(base, "src")
	f := &damageFixture{target: filepath.Join(base, "target")}
	for _, d := range []string{src, f.target, filepath.Join(base, "archive")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	mtime := time.Unix(1_700_000_000, 0)
	put := func(rel string, n int) {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		// Distinct mtimes: a rewrite of the same size must look changed.
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 40 {
		put(fmt.Sprintf("d%d/f%02d", i%4, i), 30<<10+i*1000)
	}
	put("big", 700<<10) // split across volumes
	now := time.Unix(1_795_000_000, 0)
	step := func(full bool) {
		now = now.Add(time.Minute)
		when := now
		sel, err := selection.New(src, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = writer.Backup(ctx, file.New(f.target), repo.Options{ArchiveDir: filepath.Join(base, "archive")}, writer.Options{
			Source: sel.Walk(ctx), SourceDir: src, Hostname: "h", Full: full,
			VolSize: 256 << 10, NoEncryption: true,
			Now: func() time.Time { return when },
		})
		if err != nil {
			t.Fatal(err)
		}
		tree, err := integration.Snapshot(src)
		if err != nil {
			t.Fatal(err)
		}
		f.times, f.trees = append(f.times, when), append(f.trees, tree)
	}
	step(true)
	mtime = mtime.Add(time.Hour)
	for i := 0; i < 40; i += 5 {
		put(fmt.Sprintf("d%d/f%02d", i%4, i), 30<<10) // changed: deltas
	}
	put("d1/new", 200<<10)
	if err := os.Remove(filepath.Join(src, "d3/f03")); err != nil {
		t.Fatal(err)
	}
	step(false)
	return f
}

// volumes returns the volume names of the fixture's set at time t.
func (f *damageFixture) volumes(t *testing.T, when time.Time) []string {
	t.Helper()
	r, err := repo.Open(context.Background(), file.New(f.target), repo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var set *collection.Set
	for _, ch := range r.Collection.Chains {
		for _, s := range ch.Sets() {
			if s.End.Equal(when) {
				set = s
			}
		}
	}
	if set == nil {
		t.Fatal("no set at", when)
	}
	var out []string
	for _, name := range set.Files() {
		if strings.Contains(name, ".difftar") {
			out = append(out, name)
		}
	}
	return out
}

// held lists the paths a stored volume holds entries (or chunks) for.
func held(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	plain, err := crypt.Open(f, false, true, crypt.Keys{})
	if err != nil {
		t.Fatal(err)
	}
	rd := difftar.NewSingleReader(plain)
	var out []string
	for {
		e, err := rd.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, index.Display(e.Index))
	}
}

// TestRestoreContainsDamage damages one volume of a set and restores each
// point: every file restored must be exact, the files not restored must be
// reported one by one and be files the damaged volume held, and a damaged
// full volume costs exactly the files it held.
func TestRestoreContainsDamage(t *testing.T) {
	f := newDamageFixture(t)
	damages := map[string]func(p string) error{
		"flipped byte": func(p string) error {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			b[len(b)/2] ^= 0x55
			return os.WriteFile(p, b, 0o600)
		},
		"truncated": func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()/3)
		},
		"deleted": os.Remove,
	}
	fullVols, incVols := f.volumes(t, f.times[0]), f.volumes(t, f.times[1])
	if len(fullVols) < 3 || len(incVols) < 2 {
		t.Fatalf("fixture: want several volumes, got full %d, inc %d", len(fullVols), len(incVols))
	}
	cases := []struct {
		vol   string
		point int  // index in f.times
		exact bool // the lost files are exactly those the volume held
	}{
		{fullVols[1], 0, true},
		{fullVols[1], 1, false},
		{fullVols[0], 0, true},
		{fullVols[len(fullVols)-1], 1, false},
		{incVols[0], 1, false},
		{incVols[len(incVols)-1], 1, false},
		{incVols[0], 0, true}, // the damaged set is after the point: nothing lost
	}
	for _, c := range cases {
		for kind, damage := range damages {
			name := fmt.Sprintf("%s/%s/point%d", kind, c.vol, c.point)
			t.Run(name, func(t *testing.T) {
				target := t.TempDir()
				copyDir(t, f.target, target)
				wantLost := held(t, filepath.Join(target, c.vol))
				if c.point == 0 && strings.Contains(c.vol, "-inc.") {
					wantLost = nil
				}
				if err := damage(filepath.Join(target, c.vol)); err != nil {
					t.Fatal(err)
				}
				r, err := repo.Open(context.Background(), file.New(target), repo.Options{ArchiveDir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				dest := filepath.Join(t.TempDir(), "out")
				var lost, volumes []string
				_, err = Run(context.Background(), r, Options{Time: f.times[c.point], Dest: dest, Warn: func(err error) {
					var nr *NotRestoredError
					var de *DamageError
					switch {
					case errors.As(err, &nr):
						lost = append(lost, nr.Path)
					case errors.As(err, &de):
						volumes = append(volumes, de.Volume)
					default:
						t.Errorf("unexpected warning: %v", err)
					}
				}})
				if len(wantLost) == 0 {
					if err != nil {
						t.Fatalf("restore: %v", err)
					}
				} else if !errors.Is(err, ErrPartial) || !strings.Contains(err.Error(), c.vol) {
					t.Fatalf("restore error = %v, want ErrPartial naming %s", err, c.vol)
				}
				if len(wantLost) > 0 && !slices.Equal(volumes, []string{c.vol}) {
					t.Errorf("damaged volumes reported %q, want %s", volumes, c.vol)
				}
				got, err := integration.Snapshot(dest)
				if err != nil {
					t.Fatal(err)
				}
				// Every difference from the source is a reported loss, and
				// every loss is something the volume held.
				isLost := map[string]bool{}
				for _, p := range lost {
					isLost[p] = true
					if !slices.Contains(wantLost, p) {
						t.Errorf("%s reported lost, but %s does not hold it", p, c.vol)
					}
				}
				for _, d := range integration.Diff(f.trees[c.point], got, integration.CompareOptions{}) {
					if p := diffPath(d); !isLost[p] && !isLost[pathParent(p)] {
						t.Errorf("not reported, yet wrong: %s", d)
					}
				}
				if c.exact {
					slices.Sort(lost)
					want := slices.Clone(wantLost)
					slices.Sort(want)
					if !slices.Equal(lost, want) {
						t.Errorf("lost %q, want exactly %q", lost, want)
					}
				}
			})
		}
	}
}

// diffPath extracts the path from an integration.Diff line (`"path": ...`).
func diffPath(line string) string {
	p, err := strconv.QuotedPrefix(line)
	if err != nil {
		return line
	}
	p, _ = strconv.Unquote(p)
	return p
}

func pathParent(p string) string {
	if i := strings.LastIndex(p, "/"); i >= 0 {
		return p[:i]
	}
	return "."
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRestoreDamageWithoutSignatures: when the signature tar that lists a
// damaged volume's paths is gone too, the restore says which range of
// paths may be missing, and what it does write is still right.
func TestRestoreDamageWithoutSignatures(t *testing.T) {
	f := newDamageFixture(t)
	target := t.TempDir()
	copyDir(t, f.target, target)
	ents, _ := os.ReadDir(target)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".sigtar") {
			os.Remove(filepath.Join(target, e.Name()))
		}
	}
	vol := f.volumes(t, f.times[0])[1]
	os.Remove(filepath.Join(target, vol))
	r, err := repo.Open(context.Background(), file.New(target), repo.Options{ArchiveDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out")
	var ranges []string
	_, err = Run(context.Background(), r, Options{Time: f.times[1], Dest: dest, Warn: func(err error) {
		if strings.Contains(err.Error(), "cannot list the files") {
			ranges = append(ranges, err.Error())
		}
	}})
	if !errors.Is(err, ErrPartial) {
		t.Fatalf("restore error = %v, want ErrPartial", err)
	}
	if len(ranges) != 1 || !strings.Contains(ranges[0], vol) {
		t.Errorf("range warnings %q, want one naming %s", ranges, vol)
	}
	got, err := integration.Snapshot(dest)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range integration.Diff(f.trees[1], got, integration.CompareOptions{}) {
		if !strings.Contains(d, ": missing") && !strings.Contains(d, "mtime") && !strings.Contains(d, "mode") {
			t.Errorf("wrong data written: %s", d)
		}
	}
}
