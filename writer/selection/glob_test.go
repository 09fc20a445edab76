package selection

import (
	"errors"
	"testing"
)

func TestGlobFunc(t *testing.T) {
	const (
		n = undecided
		x = excluded
		i = included
		s = scanned
	)
	tests := []struct {
		glob    string
		include bool
		path    string
		dir     bool
		want    verdict
	}{
		{"/r/a", true, "/r/a", false, i},
		{"/r/a", true, "/r/a/b/c", false, i}, // inside a matching directory
		{"/r/a", true, "/r", true, s},        // on the way to a match
		{"/r/a", true, "/", true, s},
		{"/r/a", false, "/r", true, n}, // excludes never scan
		{"/r/a", false, "/r/a/b", false, x},
		{"/r/a", true, "/r/ab", false, n},
		{"/r/a", true, "/r/a\n", false, i}, // Python's "$" matches before a final newline
		{"/r/a", true, "/r/a\n\n", false, n},
		{"/r/*.py", true, "/r/x.py", false, i},
		{"/r/*.py", true, "/r/d/x.py", false, n},
		{"/r/*.py", true, "/r/d", true, n},
		{"/r/**.py", true, "/r/d/e/x.py", false, i},
		{"/r/**.py", true, "/r/d", true, s},
		{"/r/**.py", true, "/r/d/x.pyc", false, s}, // scanning stops at "**", even for files
		{"**/x", true, "/r/x", false, i},
		{"**/x", true, "/r/y", false, s},
		{"**/x", false, "/r/y", false, n},
		{"/r/?", true, "/r/é", false, i},
		{"/r/?", true, "/r/\xff", false, i},       // one undecodable byte is one character
		{"/r/?", true, "/r/\xe2\x82", false, n},   // two of them are two
		{"/r/\xff", true, "/r/\xff", false, i},    // and match themselves
		{"/r/\xff", true, "/r/\uFFFD", false, n},  // but not U+FFFD
		{"/r/a/", true, "/r/a", true, i},          // "/" at the end: a directory
		{"/r/a/", true, "/r/a", false, n},         // so a file is not matched
		{"/r/a/", true, "/r/a/f", false, i},       // but what is in it is
		{"/", true, "/anything/at/all", false, i}, // "/" is "/**"
		{"/r/[!a]b", true, "/r/cb", false, i},
		{"/r/[!a]b", true, "/r/ab", false, n},
		{"/r/[^a]b", true, "/r/ab", false, n},
		{"/r/[]]", true, "/r/]", false, i},   // a leading "]" is a member
		{"/r/[!]]", true, "/r/]", false, n},  // also after "!"
		{"/r/[a-]", true, "/r/-", false, i},  // a trailing "-" is a member
		{"/r/[", true, "/r/[", false, i},     // unclosed: literal
		{"/r/[!]", true, "/r/[!]", false, i}, // "[!]" alone is unclosed too
		{"/r/[a/b]", true, "/r/a", false, i}, // a "/" inside a set
		{"/r/[a/b]", true, "/r/[a", true, s}, // and the scan prefix cut in the set
		{"/r/[\\]", true, "/r/\\", false, i}, // backslashes are plain characters
		{"/r/[[:a:]]", true, "/r/a]", false, i},
		{"/r/***", true, "/r/x/y", false, i},
		{"r/a", true, "r", true, s}, // relative source directories
	}
	for _, tt := range tests {
		g, err := newGlobFunc(decodeFS(tt.glob), tt.include, false)
		if err != nil {
			t.Errorf("%q: %v", tt.glob, err)
			continue
		}
		if got := g.test(&candidate{path: tt.path, info: fakeInfo{dir: tt.dir}}); got != tt.want {
			t.Errorf("glob %q include=%v on %q (dir %v) = %d, want %d", tt.glob, tt.include, tt.path, tt.dir, got, tt.want)
		}
	}
}

func TestGlobIgnorecase(t *testing.T) {
	tests := []struct {
		glob, path string
		want       bool
	}{
		{"ignorecase:/r/FOO", "/r/foo", true},
		{"IGNORECASE:/r/foo", "/r/FoO", true},
		{"ignorecase:/r/[A-C]x", "/r/bX", true},
		{"ignorecase:/r/k", "/r/\u212a", true}, // KELVIN SIGN lowercases to k
		{"ignorecase:/r/s", "/r/ſ", true},      // re._casefix extra case
		{"ignorecase:/r/[s]", "/r/ſ", true},
		{"ignorecase:/r/[q-t]", "/r/ſ", true},
		{"ignorecase:/r/i", "/r/İ", true},  // U+0130 lowercases to i for re
		{"ignorecase:/r/İ", "/r/İ", false}, // but str.lower makes the glob "i̇"
		{"ignorecase:/r/ΣΑΣ", "/r/σας", true},
		{"ignorecase:/r/[!a]", "/r/A", false},
		{"ignorecase:/r/[0-9]", "/r/5", true},
		{"ignorecase:/r/ß", "/r/ẞ", true},
		{"ignorecase:/r/\xff", "/r/\xff", true},
		{"ignorecase/r/foo", "/r/FOO", false}, // no colon: not the prefix
	}
	for _, tt := range tests {
		glob, fold := ignorecase(decodeFS(tt.glob))
		g, err := newGlobFunc(glob, true, fold)
		if err != nil {
			t.Errorf("%q: %v", tt.glob, err)
			continue
		}
		if got := g.test(&candidate{path: tt.path}) == included; got != tt.want {
			t.Errorf("glob %q on %q: %v, want %v", tt.glob, tt.path, got, tt.want)
		}
	}
}

func TestGlobErrors(t *testing.T) {
	for _, glob := range []string{"", "/r//a", "//a", "/r/[z-a]", "/r/[a--]"} {
		if _, err := newGlobFunc(decodeFS(glob), true, false); !errors.Is(err, ErrGlob) {
			t.Errorf("%q: %v, want ErrGlob", glob, err)
		}
	}
	// Consecutive slashes after "**" are never checked, as in duplicity.
	for _, glob := range []string{"**//a", "/r/**//a", "/r/a//"} {
		if _, err := newGlobFunc(decodeFS(glob), true, false); err != nil {
			t.Errorf("%q: %v", glob, err)
		}
	}
}

// TestMatchLongPattern covers patterns with more NFA states than one word.
func TestMatchLongPattern(t *testing.T) {
	glob := "/r"
	path := "/r"
	for range 40 {
		glob += "/*a"
		path += "/xa"
	}
	g, err := newGlobFunc(decodeFS(glob), true, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := g.test(&candidate{path: path}); got != included {
		t.Errorf("long glob: %d", got)
	}
	if got := g.test(&candidate{path: path[:len(path)-1] + "b"}); got != undecided {
		t.Errorf("long glob, last differs: %d", got)
	}
}
