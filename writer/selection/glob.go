package selection

import "fmt"

// globFunc is duplicity's select_fn_from_glob: a path matching the glob,
// or inside a directory matching it, is included or excluded; for include
// globs, a path naming a directory on the way to a match is scanned.
type globFunc struct {
	include bool
	full    *pattern   // the glob; matches a path or any of its parents
	dirOnly bool       // the glob ended in "/": an exact match must be a directory
	scans   []*pattern // the glob's leading "/"-separated parts
}

// ignorecase strips duplicity's case-insensitive prefix (itself matched
// case-insensitively) and lowercases the rest as Python's str.lower does.
func ignorecase(glob []rune) ([]rune, bool) {
	const prefix = "ignorecase:"
	if len(glob) < len(prefix) {
		return glob, false
	}
	for i := range len(prefix) {
		c := glob[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != rune(prefix[i]) {
			return glob, false
		}
	}
	return pyLower(glob[len(prefix):]), true
}

func newGlobFunc(glob []rune, include, fold bool) (*globFunc, error) {
	if len(glob) == 0 {
		return nil, fmt.Errorf("%w: empty glob", ErrGlob)
	}
	g := &globFunc{include: include}
	switch {
	case string(glob) == "/":
		glob = []rune("/**") // "/" is everything
	case glob[len(glob)-1] == '/':
		g.dirOnly = true
		glob = glob[:len(glob)-1]
	}
	var err error
	if g.full, err = compilePattern(glob, fold); err != nil {
		return nil, err
	}
	// Scanning stops at "**": anything below it may match.
	scanGlob := glob
	for i := 0; i+1 < len(glob); i++ {
		if glob[i] == '*' && glob[i+1] == '*' {
			scanGlob = glob[:i+2]
			break
		}
	}
	parts := splitRunes(scanGlob, '/')
	for i, p := range parts {
		if len(p) == 0 && 0 < i && i < len(parts)-1 {
			return nil, fmt.Errorf("%w: consecutive '/'s in %q", ErrGlob, encodeFS(glob))
		}
	}
	for i := range parts {
		prefix := joinRunes(parts[:i+1], '/')
		if i == 0 && len(prefix) == 0 {
			prefix = []rune("/") // the root is the only directory ending in "/"
		}
		p, err := compilePattern(prefix, fold)
		if err != nil {
			return nil, err
		}
		g.scans = append(g.scans, p)
	}
	return g, nil
}

func (g *globFunc) test(c *candidate) verdict {
	name := c.decoded()
	if g.full.match(name, endOrSlash) {
		if g.dirOnly && g.full.match(name, endOnly) && !c.isDir() {
			return undecided
		}
		return verdictOf(g.include)
	}
	if g.include {
		for _, p := range g.scans {
			if p.match(name, endOnly) {
				return scanned
			}
		}
	}
	return undecided
}

func splitRunes(s []rune, sep rune) [][]rune {
	var parts [][]rune
	start := 0
	for i, r := range s {
		if r == sep {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}

func joinRunes(parts [][]rune, sep rune) []rune {
	var out []rune
	for i, p := range parts {
		if i > 0 {
			out = append(out, sep)
		}
		out = append(out, p...)
	}
	return out
}
