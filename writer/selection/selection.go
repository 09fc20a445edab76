// Package selection walks a backup's source tree and picks the files to back
// up with duplicity 0.8.22's semantics (duplicity/selection.py and
// globmatch.py), so an existing duplicity command line or filelist selects
// exactly the same paths.
//
// Rules are tried in command-line order and the first that includes or
// excludes a path decides; a path no rule decides is included. An include
// glob also "scans" the directories that lead to what it names: such a
// directory is yielded only when something inside it is. Globs and regular
// expressions match the whole path as duplicity spells it: the canonical
// source directory joined with the path's components by "/".
package selection

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// Rule is one selection option as given on duplicity's command line.
type Rule struct {
	Kind Kind
	// Arg is the glob, filelist file name, regular expression or file name;
	// empty for the options without an argument. File names are used as
	// given: expanding "~" or "$VAR" as duplicity does is the caller's job.
	Arg string
}

// Option adjusts how New reads rules.
type Option func(*settings)

type settings struct {
	nullSeparator bool
}

// NullSeparator makes filelists NUL-separated (duplicity's
// --null-separator) instead of newline-separated.
func NullSeparator() Option {
	return func(s *settings) { s.nullSeparator = true }
}

// Errors New wraps, matching duplicity's fatal selection errors.
var (
	// ErrFilePrefix: a glob cannot match the source directory or anything
	// under it (duplicity's "file specification cannot match any files in
	// the base directory").
	ErrFilePrefix = errors.New("cannot match any file in the source directory; globs must begin with the source directory or a pattern such as '**' that matches it")
	// ErrGlob: a malformed glob (consecutive '/', empty glob, bad [a-b] range).
	ErrGlob = errors.New("bad glob")
	// ErrRedundantInclude: the last rule only includes. duplicity refuses
	// this because everything is included by default; end with an exclude
	// such as --exclude '**'.
	ErrRedundantInclude = errors.New("the last selection rule only includes files, which is redundant since everything is included by default (end with an exclude such as --exclude '**')")
)

// Selector holds parsed rules for one source directory; Walk yields the
// selected paths. It is not changed by walking, so one Selector may serve
// several walks.
type Selector struct {
	root  string // canonical, as duplicity names it
	funcs []selFunc
}

// New parses rules (and reads the filelists they name) for the source
// directory root. Rule errors name the option, and for filelists the file
// and line.
func New(root string, rules []Rule, opts ...Option) (*Selector, error) {
	var set settings
	for _, o := range opts {
		o(&set)
	}
	if root == "" {
		return nil, errors.New("selection: empty source directory")
	}
	s := &Selector{root: canonical(root)}
	// duplicity checks glob prefixes against the root's lstat, and needs its
	// device for --exclude-other-filesystems.
	rootInfo, rootErr := os.Lstat(s.root)
	b := builder{root: s.root, rootInfo: rootInfo, rootErr: rootErr}
	for _, r := range rules {
		if err := b.add(r, set); err != nil {
			return nil, err
		}
	}
	s.funcs = b.funcs()
	if n := len(s.funcs); n > 0 && !s.funcs[n-1].exclude {
		return nil, fmt.Errorf("%s: %w", s.funcs[n-1].name, ErrRedundantInclude)
	}
	return s, nil
}

// canonical is duplicity's Path.get_canonical: "." components and repeated
// or trailing slashes removed ("./a//b/" is "a/b", "" parts of "/" stay "/").
func canonical(p string) string {
	var parts []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			parts = append(parts, c)
		}
	}
	joined := strings.Join(parts, "/")
	switch {
	case strings.HasPrefix(p, "/"):
		return "/" + joined
	case joined == "":
		return "."
	}
	return joined
}

// join is os.path.join of a canonical directory name and one child name.
func join(dir, name string) string {
	if strings.HasSuffix(dir, "/") {
		return dir + name
	}
	return dir + "/" + name
}

// verdict is what one rule says about a path.
type verdict int8

const (
	undecided verdict = iota // the rule says nothing
	excluded
	included
	scanned // a directory to descend into, yielded only if something inside is
)

func verdictOf(include bool) verdict {
	if include {
		return included
	}
	return excluded
}

// selFunc is one of duplicity's selection functions.
type selFunc struct {
	test    func(*candidate) verdict
	exclude bool   // whether it can exclude; the last one must
	name    string // for errors
}

// candidate is a path being judged. info is nil when it could not be
// lstat'ed; duplicity then treats it as nonexistent (not a directory, not
// a device, on no filesystem).
type candidate struct {
	path  string
	info  fs.FileInfo
	runes []rune // path decoded as Python sees it, filled on first use
}

func (c *candidate) decoded() []rune {
	if c.runes == nil {
		c.runes = decodeFS(c.path)
	}
	return c.runes
}

func (c *candidate) isDir() bool {
	return c.info != nil && c.info.IsDir()
}

func (c *candidate) dev() (uint64, bool) {
	if c.info == nil {
		return 0, false
	}
	st, ok := c.info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true
}

// selectPath is duplicity's Select.Select: the first rule that includes or
// excludes decides, but a pending scan overrides a later exclude, and a path
// no rule decides is included.
func (s *Selector) selectPath(c *candidate) verdict {
	scanPending := false
	for _, f := range s.funcs {
		switch v := f.test(c); v {
		case scanned:
			scanPending = true
		case included:
			return included
		case excluded:
			if scanPending {
				return scanned
			}
			return excluded
		}
	}
	if scanPending {
		return scanned
	}
	return included
}
