package integration

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	file := Entry{Type: "file", Perm: 0o644, Size: 3, SHA256: [32]byte{1}, Mtime: 10}
	link := Entry{Type: "symlink", Perm: 0o777, Target: "x", Mtime: 10}
	with := func(e Entry, f func(*Entry)) Entry { f(&e); return e }
	for _, tc := range []struct {
		name      string
		want, got Tree
		opt       CompareOptions
		diff      []string
	}{
		{"equal", Tree{"a": file, "l": link}, Tree{"a": file, "l": link}, CompareOptions{}, nil},
		{"missing and extra", Tree{"a": file}, Tree{"b": file}, CompareOptions{},
			[]string{`"a": missing (want file)`, `"b": unexpected file`}},
		{"type", Tree{"a": file}, Tree{"a": link}, CompareOptions{}, []string{`"a": type symlink, want file`}},
		{"all attributes at once", Tree{"a": file},
			Tree{"a": with(file, func(e *Entry) { e.Perm, e.UID, e.SHA256, e.Mtime = 0o600, 7, [32]byte{2}, 11 })},
			CompareOptions{},
			[]string{`"a": mode 0600, want 0644, owner 7:0, want 0:0, content differs, mtime 11, want 10`}},
		{"size", Tree{"a": file}, Tree{"a": with(file, func(e *Entry) { e.Size = 4 })}, CompareOptions{},
			[]string{`"a": size 4, want 3`}},
		{"owner ignored", Tree{"a": file}, Tree{"a": with(file, func(e *Entry) { e.GID = 5 })},
			CompareOptions{IgnoreOwner: true}, nil},
		{"symlink mtime ignored, target not", Tree{"l": link},
			Tree{"l": with(link, func(e *Entry) { e.Mtime, e.Target = 99, "y" })}, CompareOptions{},
			[]string{`"l": target "y", want "x"`}},
		{"root and odd names", Tree{"": file, "a\nb": file}, Tree{}, CompareOptions{},
			[]string{`".": missing (want file)`, `"a\nb": missing (want file)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Diff(tc.want, tc.got, tc.opt); !reflect.DeepEqual(got, tc.diff) {
				t.Errorf("Diff = %q, want %q", got, tc.diff)
			}
		})
	}
}

func TestTreeSub(t *testing.T) {
	tree := Tree{"": {Type: "dir"}, "d": {Type: "dir"}, "d/f": {Type: "file"}, "d-x": {Type: "file"}, "f": {Type: "file"}}
	if got, want := tree.Sub("d"), (Tree{"": {Type: "dir"}, "f": {Type: "file"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Sub(d) = %v, want %v", got, want)
	}
	if got, want := tree.Sub("f"), (Tree{"": {Type: "file"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("Sub(f) = %v, want %v", got, want)
	}
	if got, want := tree.Paths(), []string{"", "d", "d/f", "d-x", "f"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Paths = %q, want %q", got, want)
	}
}

// TestScenarioDeterministic builds the scenario twice: both trees must be
// identical at every step (mtimes included), and every step but the last
// must change something.
func TestScenarioDeterministic(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, d := range []string{a, b} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var prev Tree
	for k := range Steps {
		var snaps [2]Tree
		for i, d := range []string{a, b} {
			if err := ApplyStep(d, k); err != nil {
				t.Fatal(err)
			}
			s, err := Snapshot(d)
			if err != nil {
				t.Fatal(err)
			}
			snaps[i] = s
		}
		if d := Diff(snaps[0], snaps[1], CompareOptions{}); len(d) > 0 {
			t.Fatalf("step %d differs between runs:\n%s", k, strings.Join(d, "\n"))
		}
		changed := prev == nil || len(Diff(prev, snaps[0], CompareOptions{})) > 0
		if changed != (k < Steps-1) {
			t.Errorf("step %d: changed = %v", k, changed)
		}
		prev = snaps[0]
	}
	if e := prev["big.bin"]; e.Size != BigFileSize+10_000 {
		t.Errorf("big.bin size %d at the end", e.Size)
	}
	if e := prev[deepFile]; e.Type != "file" || len(deepFile) <= 255 {
		t.Errorf("deep file: %+v, path length %d", e, len(deepFile))
	}
}

func TestParseListing(t *testing.T) {
	out := "Local and Remote metadata are synchronized, no sync needed.\n" +
		"Last full backup date: Sun Nov 22 14:28:50 2026\n" +
		"Sun Nov 22 14:28:50 2026 .\n" +
		"Mon Jul 14 02:40:01 2017 new\nline\n" +
		"Mon Jul  3 02:40:01 2017 bad\xff\n"
	want := []ListEntry{
		{"Sun Nov 22 14:28:50 2026", "."},
		{"Mon Jul 14 02:40:01 2017", "new\nline"},
		{"Mon Jul  3 02:40:01 2017", "bad\xff"},
	}
	if got := ParseListing([]byte(out)); !reflect.DeepEqual(got, want) {
		t.Errorf("ParseListing = %q, want %q", got, want)
	}
}

func TestStatusSummary(t *testing.T) {
	out := `Last full backup date: Sun Nov 22 13:20:42 2026
Collection Status
-----------------
Connecting with backend: BackendWrapper
Archive dir: /tmp/dx/cache

Found 0 secondary backup chains.

Found primary backup chain with matching signature chain:
-------------------------
Chain start time: Sun Nov 22 13:20:09 2026
Chain end time: Sun Nov 22 13:20:28 2026
Number of contained backup sets: 2
Total number of contained volumes: 7
 Type of backup set:                            Time:      Num volumes:
                Full         Sun Nov 22 13:20:09 2026                 6
         Incremental         Sun Nov 22 13:20:28 2026                 1
-------------------------
No orphaned or incomplete backup sets found.
`
	want := []string{
		"Found 0 secondary backup chains.",
		"Found primary backup chain with matching signature chain:",
		"Chain start time: Sun Nov 22 13:20:09 2026",
		"Chain end time: Sun Nov 22 13:20:28 2026",
		"Number of contained backup sets: 2",
		"Total number of contained volumes: 7",
		"Full Sun Nov 22 13:20:09 2026 6",
		"Incremental Sun Nov 22 13:20:28 2026 1",
		"No orphaned or incomplete backup sets found.",
	}
	if got := StatusSummary([]byte(out)); !reflect.DeepEqual(got, want) {
		t.Errorf("StatusSummary =\n%q\nwant\n%q", got, want)
	}
}

func TestPrimaryFingerprint(t *testing.T) {
	colons := "sec:u:3072:1:171BAAD4CB9FB6AD:1795357807:::u:::scESC:::+:::23::0:\n" +
		"fpr:::::::::9D1D65CE20BAF8E14AB99984171BAAD4CB9FB6AD:\n" +
		"ssb:u:3072:1:EC33E2177B23DE2B:1795357807::::::e:::+:::23:\n" +
		"fpr:::::::::27F358C0EF1E0D832A2501E2EC33E2177B23DE2B:\n"
	if got := primaryFingerprint([]byte(colons)); got != "9D1D65CE20BAF8E14AB99984171BAAD4CB9FB6AD" {
		t.Errorf("primaryFingerprint = %q", got)
	}
}
