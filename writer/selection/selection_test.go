package selection

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"/tmp/x": "/tmp/x", "/tmp//x/./": "/tmp/x", "/": "/", "//": "/", "./a/b/": "a/b",
		".": ".", "./": ".", "a/../b": "a/../b",
	} {
		if got := canonical(in); got != want {
			t.Errorf("canonical(%q) = %q, want %q", in, got, want)
		}
	}
	if got := join("/", "a"); got != "/a" {
		t.Errorf("join(/, a) = %q", got)
	}
}

func TestFilelistLine(t *testing.T) {
	tests := []struct {
		line    string
		def     bool
		glob    string
		inc, ok bool
	}{
		{"", true, "", false, false},
		{"   \t", true, "", false, false},
		{"# c", true, "", false, false},
		{"  # c", true, "", false, false},
		{"/a  ", true, "/a", true, true},
		{"\x1c/a\u00a0", false, "/a", false, true}, // Python's whitespace
		{"+ /a", false, "/a", true, true},
		{"- /a", true, "/a", false, true},
		{"-/a", true, "-/a", true, true},    // no space: part of the glob
		{"+  /a", false, " /a", true, true}, // only one space goes
		{"- # x", true, "# x", false, true},
		{"'/a b'", true, "/a b", true, true},
		{"\"/a\"", true, "/a", true, true},
		{"'/a\"", true, "'/a\"", true, true},
		{"'", true, "", false, false},
		{"- ''", true, "", false, false},
		{"+", true, "+", true, true},
	}
	for _, tt := range tests {
		glob, inc, ok := filelistLine(tt.line, tt.def)
		if glob != tt.glob || ok != tt.ok || ok && inc != tt.inc {
			t.Errorf("filelistLine(%q, %v) = %q %v %v, want %q %v %v", tt.line, tt.def, glob, inc, ok, tt.glob, tt.inc, tt.ok)
		}
	}
}

func TestKinds(t *testing.T) {
	for k := Include; k <= ExcludeDeviceFiles; k++ {
		if got, ok := KindFor(k.String()); !ok || got != k {
			t.Errorf("KindFor(%q) = %v %v", k.String(), got, ok)
		}
	}
	if k, _ := KindFor("--exclude-globbing-filelist"); k != ExcludeFilelist {
		t.Errorf("--exclude-globbing-filelist: %v", k)
	}
	if _, ok := KindFor("--exclude-older-than"); ok {
		t.Error("--exclude-older-than accepted")
	}
	if ExcludeDeviceFiles.HasArg() || !ExcludeIfPresent.HasArg() {
		t.Error("HasArg")
	}
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	list := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	okList := list("ok", dir+"/a\n- **\n")
	tests := []struct {
		rules []Rule
		is    error
		says  string
	}{
		{[]Rule{{Exclude, "/elsewhere"}}, ErrFilePrefix, `--exclude "/elsewhere"`},
		{[]Rule{{Exclude, "elsewhere/**"}}, ErrFilePrefix, "elsewhere"},
		{[]Rule{{Exclude, dir + "//a"}}, ErrGlob, "consecutive"},
		{[]Rule{{Exclude, ""}}, ErrGlob, "empty"},
		{[]Rule{{Exclude, "ignorecase:"}}, ErrGlob, "empty"},
		{[]Rule{{Exclude, dir + "/[b-a]"}}, ErrGlob, "range"},
		{[]Rule{{Include, dir + "/a"}}, ErrRedundantInclude, `--include "` + dir + `/a"`},
		{[]Rule{{Exclude, "**"}, {IncludeRegexp, "x"}}, ErrRedundantInclude, "--include-regexp"},
		{[]Rule{{Include, "**"}, {ExcludeDeviceFiles, ""}}, ErrRedundantInclude, "--include"},
		{[]Rule{{IncludeFilelist, list("inc", dir+"/a\n")}}, ErrRedundantInclude, dir + "/a"},
		{[]Rule{{ExcludeFilelist, list("bad", "# x\n\n/elsewhere\n")}}, ErrFilePrefix, "exclude-filelist " + dir + "/bad: line 3 \"/elsewhere\""},
		{[]Rule{{ExcludeFilelist, filepath.Join(dir, "missing")}}, fs.ErrNotExist, "exclude-filelist " + dir + "/missing: no such file"},
		{[]Rule{{IncludeFilelist, list("latin1", dir+"/caf\xe9\n")}}, nil, "include-filelist " + dir + "/latin1: not valid UTF-8"},
		{[]Rule{{ExcludeRegexp, "(a"}}, nil, `--exclude-regexp "(a"`},
		{[]Rule{{ExcludeRegexp, "(?=a)"}}, nil, "--exclude-regexp"},
		{[]Rule{{Kind(99), ""}}, nil, "unknown rule kind"},
		{[]Rule{{IncludeFilelist, okList}, {Include, "/x"}}, ErrFilePrefix, `--include "/x"`},
	}
	for _, tt := range tests {
		_, err := New(dir, tt.rules)
		if err == nil {
			t.Errorf("%v: no error", tt.rules)
			continue
		}
		if tt.is != nil && !errors.Is(err, tt.is) {
			t.Errorf("%v: %v, want %v", tt.rules, err, tt.is)
		}
		if !strings.Contains(err.Error(), tt.says) {
			t.Errorf("%v: %q does not say %q", tt.rules, err, tt.says)
		}
	}
	if _, err := New("", nil); err == nil {
		t.Error("empty root accepted")
	}
	if _, err := New(filepath.Join(dir, "missing"), []Rule{{ExcludeOtherFilesystems, ""}}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("other filesystems, missing root: %v", err)
	}
}

func TestNewAccepts(t *testing.T) {
	dir := t.TempDir()
	for _, rules := range [][]Rule{
		nil,
		{{ExcludeIfPresent, ".nobackup"}},
		{{ExcludeDeviceFiles, ""}, {ExcludeOtherFilesystems, ""}},
		{{Include, "ignorecase:**/X"}, {Exclude, "**"}},
		{{Exclude, dir}}, // excludes everything but the source itself
		{{Exclude, "/"}}, // a parent of the source matches it
		{{Exclude, dir + "/"}},
		{{Include, "**/a"}, {Exclude, "**"}, {ExcludeIfPresent, "x"}},
	} {
		if _, err := New(dir, rules); err != nil {
			t.Errorf("%v: %v", rules, err)
		}
	}
	// "ignorecase:" lowercases before the prefix check, so it fails on a
	// source directory with capitals (t.TempDir has them).
	if _, err := New(dir, []Rule{{Exclude, "ignorecase:" + dir + "/x"}}); !errors.Is(err, ErrFilePrefix) {
		t.Errorf("ignorecase with capitals in the source: %v", err)
	}
}

// TestSelectPath checks how verdicts of successive rules combine.
func TestSelectPath(t *testing.T) {
	fixed := func(v verdict) selFunc { return selFunc{test: func(*candidate) verdict { return v }} }
	tests := []struct {
		funcs []verdict
		want  verdict
	}{
		{nil, included},
		{[]verdict{undecided}, included},
		{[]verdict{excluded, included}, excluded},
		{[]verdict{scanned, excluded}, scanned},  // a pending scan beats a later exclude
		{[]verdict{scanned, included}, included}, // but not an include
		{[]verdict{scanned, undecided}, scanned},
		{[]verdict{undecided, included, excluded}, included},
	}
	for _, tt := range tests {
		s := &Selector{}
		for _, v := range tt.funcs {
			s.funcs = append(s.funcs, fixed(v))
		}
		if got := s.selectPath(&candidate{}); got != tt.want {
			t.Errorf("%v: %d, want %d", tt.funcs, got, tt.want)
		}
	}
}
