package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSelectionSameAsDuplicity gives one set of include/exclude rules to
// `duplicity full` and to `dupfs backup` for the same source: the two
// targets must hold the same paths (duplicity lists both), and the dupfs
// target must restore, with duplicity, exactly those paths of the source.
// The rules exercise first-match-wins (in the filelist and across
// options), directories kept only because something inside is included,
// "**" and "ignorecase:" globs, "+ "/"- " filelist lines, comments and
// blank lines in a filelist that both tools read unchanged, and
// --exclude-if-present.
func TestSelectionSameAsDuplicity(t *testing.T) {
	t.Parallel()
	NeedTools(t)
	NeedDupfs(t)
	env := NewEnv(t)
	src := filepath.Join(t.TempDir(), "src")
	files := map[string]string{
		"a.txt":                  "root files fall to the final exclude",
		"docs/readme.txt":        "kept by --include docs",
		"docs/important.log":     "kept: its + line comes before - *.log",
		"docs/other.log":         "dropped by - *.log",
		"docs/Notes.TMP":         "dropped by ignorecase:**/*.tmp",
		"docs/draft.tmp":         "dropped by **/*.tmp",
		"projects/p1/main.go":    "kept by --include projects",
		"projects/p1/main.tmp":   "dropped by **/*.tmp",
		"projects/p1/keep/x.tmp": "kept: + **/keep/** comes first",
		"projects/p1/keep/y.txt": "kept",
		"projects/p1/build/out.o": "dropped by --exclude **/build, " +
			"although --include projects comes later",
		"projects/p1/CACHE/blob":  "dropped by ignorecase:**/cache",
		"projects/p2/.nobackup":   "marks p2 for --exclude-if-present",
		"projects/p2/code.go":     "dropped with p2",
		"projects/p3/cache.txt":   "kept: **/cache matches whole names only",
		"deep/a/b/c/wanted.txt":   "kept by the first --include; its directories come along",
		"deep/a/other.txt":        "dropped by SRC/deep in the filelist",
		"deep/x.txt":              "dropped by SRC/deep",
		"media/photo.jpg":         "kept by ignorecase:**/media/*.jpg",
		"media/photo.JPG":         "kept by the same",
		"media/song.mp3":          "dropped by --exclude SRC/media",
		"other/file":              "dropped by the final **",
		"other/keep/z":            "kept by + **/keep/**: other/ comes along",
		"deep/a/b/c/d/e/skip.txt": "dropped by SRC/deep",
	}
	for rel, content := range files {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, dir := range []string{"docs/empty", "other/empty"} {
		if err := os.MkdirAll(filepath.Join(src, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Fixed mtimes, so the two listings (which print them) can agree.
	if err := normalizeMtimes(src, 0); err != nil {
		t.Fatal(err)
	}

	filelist := filepath.Join(t.TempDir(), "exclude.list")
	list := strings.Join([]string{
		"# one list for both tools",
		"+ **/keep/**",
		"",
		"**/*.tmp",
		"  - ignorecase:**/*.tmp  ",
		"- ignorecase:**/cache",
		"+ " + src + "/docs/important.log",
		"- " + src + "/docs/*.log",
		`"` + src + `/deep"`,
	}, "\n") + "\n"
	if err := os.WriteFile(filelist, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := []string{
		"--exclude-if-present", ".nobackup",
		"--include", src + "/deep/a/b/c/wanted.txt",
		"--exclude-filelist", filelist,
		"--exclude", "**/build",
		"--include", "ignorecase:**/media/*.jpg",
		"--exclude", src + "/media",
		"--include", src + "/docs",
		"--include", src + "/projects",
		"--exclude", "**",
	}

	ref := NewBackup(t, env, "--no-encryption")
	got := NewBackup(t, env, "--no-encryption")
	dupfsCache := filepath.Join(t.TempDir(), "dupfs-cache")

	// "ignorecase:" lowercases the whole glob, so one naming the source
	// directory (whose name has capitals, from t.TempDir) matches nothing
	// in it: both tools must refuse the rules and write nothing.
	bad := append([]string{"--include", "ignorecase:" + src + "/media/*.jpg"}, rules...)
	if r := ref.Duplicity(t, "full", append(bad, src, ref.URL())...); r.Code == 0 {
		t.Fatalf("duplicity accepted a glob that cannot match: %v", r)
	}
	r := Dupfs(t, env, append(append([]string{"backup", "--no-encryption", "--archive-dir", dupfsCache}, bad...), src, got.URL())...)
	if r.Code != 2 || !strings.Contains(string(r.Stderr), "media/*.jpg") {
		t.Errorf("dupfs: want exit 2 naming the glob that cannot match, got %v", r)
	}
	if files := got.Files(t); len(files) != 0 {
		t.Errorf("the refused dupfs run stored %q", files)
	}

	ref.MustDuplicity(t, "full", append(rules, src, ref.URL())...)
	args := append([]string{"backup", "--no-encryption", "--archive-dir", dupfsCache}, rules...)
	mustDupfs(t, env, append(args, src, got.URL())...)

	want := listStrings(ParseListing(ref.MustDuplicity(t, "list-current-files", ref.URL()).Stdout))
	have := listStrings(ParseListing(got.MustDuplicity(t, "list-current-files", got.URL()).Stdout))
	t.Logf("duplicity selected:\n%s", strings.Join(want, "\n"))
	if d := diffLists(want, have); d != "" {
		t.Errorf("dupfs backed up other paths than duplicity (- duplicity, + dupfs):\n%s", d)
	}

	// The fixture must show what the test claims: duplicity's own choice
	// keeps and drops these.
	selected := map[string]bool{}
	for _, e := range ParseListing(ref.MustDuplicity(t, "list-current-files", ref.URL()).Stdout) {
		selected[e.Path] = true
	}
	for rel, kept := range map[string]bool{
		"docs/important.log": true, "docs/other.log": false, "docs/Notes.TMP": false, "docs/empty": true,
		"projects/p1/keep/x.tmp": true, "projects/p1/main.tmp": false, "projects/p1/build": false,
		"projects/p1/CACHE": false, "projects/p2": false, "projects/p3/cache.txt": true,
		"deep/a/b/c/wanted.txt": true, "deep/a/b/c": true, "deep/a/other.txt": false, "deep/a/b/c/d": false,
		"media/photo.JPG": true, "media/song.mp3": false, "other/keep/z": true, "other/file": false,
		"other/empty": false, "a.txt": false,
	} {
		if selected[rel] != kept {
			t.Errorf("fixture: duplicity's choice for %s is %v, the test expects %v", rel, selected[rel], kept)
		}
	}

	// Same content too: duplicity restores the dupfs target to exactly
	// the selected part of the source.
	snap, err := Snapshot(src)
	if err != nil {
		t.Fatal(err)
	}
	wantTree := Tree{}
	for p, e := range snap {
		if selected[displayPath(p)] {
			wantTree[p] = e
		}
	}
	out := filepath.Join(t.TempDir(), "out")
	got.MustDuplicity(t, "restore", got.URL(), out)
	checkTree(t, wantTree, out)
}
