package selection

import (
	"fmt"
	"unicode"
)

// A pattern is one glob compiled the way duplicity's glob_to_regex turns
// it into a Python regular expression, matched by a small NFA instead so
// that non-UTF-8 names (surrogate-escaped, see decodeFS) and Python's
// character-class and IGNORECASE rules are reproduced exactly.
type pattern struct {
	toks []token
	fold bool // re.IGNORECASE
}

type tokKind uint8

const (
	litTok      tokKind = iota // one character
	anyTok                     // "?": [^/]
	starTok                    // "*": [^/]*
	globstarTok                // "**": .* (re.S, so newlines too)
	classTok                   // "[...]"
)

type token struct {
	kind  tokKind
	r     rune       // litTok
	class *charClass // classTok
}

// compilePattern is glob_to_regex: "**", "*", "?" and "[...]" are special;
// a "[" without a closing "]" is literal; there is no escaping.
func compilePattern(glob []rune, fold bool) (*pattern, error) {
	p := &pattern{fold: fold}
	n := len(glob)
	for i := 0; i < n; {
		c := glob[i]
		i++
		switch {
		case c == '*' && i < n && glob[i] == '*':
			p.toks = append(p.toks, token{kind: globstarTok})
			i++
		case c == '*':
			p.toks = append(p.toks, token{kind: starTok})
		case c == '?':
			p.toks = append(p.toks, token{kind: anyTok})
		case c == '[':
			j := i
			if j < n && (glob[j] == '!' || glob[j] == '^') {
				j++
			}
			if j < n && glob[j] == ']' {
				j++
			}
			for j < n && glob[j] != ']' {
				j++
			}
			if j >= n {
				p.toks = append(p.toks, token{kind: litTok, r: '['})
				continue
			}
			cls, err := parseClass(glob[i:j], fold)
			if err != nil {
				return nil, err
			}
			p.toks = append(p.toks, token{kind: classTok, class: cls})
			i = j + 1
		default:
			p.toks = append(p.toks, token{kind: litTok, r: c})
		}
	}
	return p, nil
}

// charClass is a Python regex set built from a glob's "[...]" contents.
type charClass struct {
	negate bool
	ranges [][2]rune
	cased  bool // some member has case; Python then matches by lowercase
}

// parseClass reads the text between "[" and "]" as Python's sre_parse
// reads a set: a leading "!" or "^" negates, a leading "]" is literal,
// "a-z" is a range (an error when reversed), and a "-" last is literal.
// Backslashes are literal: glob_to_regex doubles them.
func parseClass(s []rune, fold bool) (*charClass, error) {
	cc := &charClass{}
	if s[0] == '!' || s[0] == '^' {
		cc.negate = true
		s = s[1:]
	}
	for k := 0; k < len(s); {
		lo := s[k]
		k++
		if k < len(s) && s[k] == '-' {
			if k+1 == len(s) {
				cc.add(lo, lo, fold)
				cc.add('-', '-', fold)
				break
			}
			hi := s[k+1]
			k += 2
			if hi < lo {
				return nil, fmt.Errorf("%w: bad character range %s-%s", ErrGlob, encodeFS([]rune{lo}), encodeFS([]rune{hi}))
			}
			cc.add(lo, hi, fold)
			continue
		}
		cc.add(lo, lo, fold)
	}
	return cc, nil
}

func (cc *charClass) add(lo, hi rune, fold bool) {
	cc.ranges = append(cc.ranges, [2]rune{lo, hi})
	for r := lo; fold && !cc.cased && r <= hi; r++ {
		cc.cased = isCased(r)
	}
}

func (cc *charClass) has(c rune) bool {
	for _, r := range cc.ranges {
		if r[0] <= c && c <= r[1] {
			return true
		}
	}
	return false
}

// hasLowered reports whether some member lowercases to m.
func (cc *charClass) hasLowered(m rune) bool {
	for _, x := range lowerPreimages(m) {
		if cc.has(x) {
			return true
		}
	}
	return false
}

// matches is Python's IN / IN_UNI_IGNORE: with IGNORECASE and a cased set,
// c matches when its lowercase is the lowercase of a member, or one of the
// extra equivalents re._casefix lists for it.
func (cc *charClass) matches(c rune, fold bool) bool {
	var in bool
	if fold && cc.cased {
		l := unicode.ToLower(c)
		in = cc.hasLowered(l)
		for _, e := range extraCases[l] {
			in = in || cc.hasLowered(e)
		}
	} else {
		in = cc.has(c)
	}
	return in != cc.negate
}

func (p *pattern) step(t token, c rune) bool {
	switch t.kind {
	case litTok:
		return c == t.r || p.fold && foldEq(t.r, c)
	case anyTok:
		return c != '/'
	default:
		return t.class.matches(c, p.fold)
	}
}

// An end condition is what the regex requires after the glob. Python's "$"
// also matches before a final newline.
type endFunc func(s []rune, i int) bool

func endOnly(s []rune, i int) bool {
	return i == len(s) || i == len(s)-1 && s[i] == '\n'
}

// endOrSlash is "($|/)": the glob matched the path or one of its parents.
func endOrSlash(s []rune, i int) bool {
	return endOnly(s, i) || s[i] == '/'
}

// match reports whether the pattern matches a prefix s[:i] of s with
// end(s, i), as re.match of "^glob" followed by the end condition. It runs
// the token NFA over s, so time is O(len(s)·len(tokens)) without
// backtracking.
func (p *pattern) match(s []rune, end endFunc) bool {
	k := len(p.toks)
	words := k/64 + 1
	var small [2]uint64
	buf := small[:]
	if words > 1 {
		buf = make([]uint64, 2*words)
	}
	cur, next := buf[:words], buf[words:2*words]
	cur[0] = 1
	p.closure(cur)
	for i := 0; ; i++ {
		if bit(cur, k) && end(s, i) {
			return true
		}
		if i == len(s) {
			return false
		}
		c := s[i]
		clear(next)
		alive := false
		for j, t := range p.toks {
			if !bit(cur, j) {
				continue
			}
			switch {
			case t.kind == globstarTok, t.kind == starTok && c != '/':
				setBit(next, j)
			case t.kind != starTok && t.kind != globstarTok && p.step(t, c):
				setBit(next, j+1)
			default:
				continue
			}
			alive = true
		}
		if !alive {
			return false
		}
		p.closure(next)
		cur, next = next, cur
	}
}

// closure lets a star match nothing: its successor state is live too.
func (p *pattern) closure(set []uint64) {
	for j, t := range p.toks {
		if (t.kind == starTok || t.kind == globstarTok) && bit(set, j) {
			setBit(set, j+1)
		}
	}
}

func bit(set []uint64, i int) bool { return set[i/64]&(1<<(i%64)) != 0 }
func setBit(set []uint64, i int)   { set[i/64] |= 1 << (i % 64) }
