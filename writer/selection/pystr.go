package selection

import (
	"unicode"
	"unicode/utf8"
)

// decodeFS decodes a file name as Python's os.fsdecode does on Linux: UTF-8
// with each undecodable byte b escaped to the lone surrogate U+DC00+b, so
// globs see one character per such byte, distinct from every real one.
func decodeFS(s string) []rune {
	out := make([]rune, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			r = 0xDC00 + rune(s[i])
		}
		out = append(out, r)
		i += n
	}
	return out
}

// encodeFS undoes decodeFS (os.fsencode).
func encodeFS(rs []rune) string {
	b := make([]byte, 0, len(rs))
	for _, r := range rs {
		if 0xDC80 <= r && r <= 0xDCFF {
			b = append(b, byte(r-0xDC00))
			continue
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// pyLower is Python's str.lower: simple lowercase mappings plus the one
// unconditional multi-character one, U+0130 to "i\u0307". (The conditional
// final-sigma rule is left out: under IGNORECASE σ and ς are equal anyway.)
func pyLower(rs []rune) []rune {
	out := make([]rune, 0, len(rs))
	for _, r := range rs {
		if r == 'İ' {
			out = append(out, 'i', '\u0307')
			continue
		}
		out = append(out, unicode.ToLower(r))
	}
	return out
}

// pyIsSpace is Python's str.isspace for one character, which str.strip and
// the regex class \s use: Unicode White_Space plus U+001C..U+001F.
func pyIsSpace(r rune) bool {
	switch r {
	case '\t', '\n', '\v', '\f', '\r', 0x1c, 0x1d, 0x1e, 0x1f, ' ', 0x85, 0xa0,
		0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0x3000:
		return true
	}
	return 0x2000 <= r && r <= 0x200a
}

// isCased is _sre.unicode_iscased: whether r has another case. Python's
// test also counts the first letter of a full uppercase (ß has "SS"); a
// case-folding orbit or an extra case covers those that can match anything.
func isCased(r rune) bool {
	_, extra := extraCases[r]
	return unicode.ToLower(r) != r || unicode.ToUpper(r) != r || unicode.SimpleFold(r) != r || extra
}

// foldEq is Python's LITERAL_UNI_IGNORE for a pattern character p: an
// uncased p matches itself only; otherwise c matches when its lowercase is
// p's or one of the extra equivalents re._casefix lists for it.
func foldEq(p, c rune) bool {
	if c == p {
		return true
	}
	if !isCased(p) {
		return false
	}
	lp, lc := unicode.ToLower(p), unicode.ToLower(c)
	if lc == lp {
		return true
	}
	for _, e := range extraCases[lp] {
		if lc == e {
			return true
		}
	}
	return false
}

// lowerPreimages lists the characters whose simple lowercase is m: m itself
// when it is lowercase, the members of its case-folding orbit that lower to
// it, and U+0130, whose lowercase "i" is outside the orbit of "i".
func lowerPreimages(m rune) []rune {
	var out []rune
	if unicode.ToLower(m) == m {
		out = append(out, m)
	}
	for r := unicode.SimpleFold(m); r != m; r = unicode.SimpleFold(r) {
		if unicode.ToLower(r) == m {
			out = append(out, r)
		}
	}
	if m == 'i' {
		out = append(out, 'İ')
	}
	return out
}

// extraCases is Python 3's re._casefix._EXTRA_CASES: lowercase characters
// that IGNORECASE treats as equal although their lowercases differ.
var extraCases = map[rune][]rune{
	0x0069: {0x0131}, 0x0073: {0x017f}, 0x00b5: {0x03bc}, 0x0131: {0x0069},
	0x017f: {0x0073}, 0x0345: {0x03b9, 0x1fbe}, 0x0390: {0x1fd3}, 0x03b0: {0x1fe3},
	0x03b2: {0x03d0}, 0x03b5: {0x03f5}, 0x03b8: {0x03d1}, 0x03b9: {0x0345, 0x1fbe},
	0x03ba: {0x03f0}, 0x03bc: {0x00b5}, 0x03c0: {0x03d6}, 0x03c1: {0x03f1},
	0x03c2: {0x03c3}, 0x03c3: {0x03c2}, 0x03c6: {0x03d5}, 0x03d0: {0x03b2},
	0x03d1: {0x03b8}, 0x03d5: {0x03c6}, 0x03d6: {0x03c0}, 0x03f0: {0x03ba},
	0x03f1: {0x03c1}, 0x03f5: {0x03b5}, 0x0432: {0x1c80}, 0x0434: {0x1c81},
	0x043e: {0x1c82}, 0x0441: {0x1c83}, 0x0442: {0x1c84, 0x1c85}, 0x044a: {0x1c86},
	0x0463: {0x1c87}, 0x1c80: {0x0432}, 0x1c81: {0x0434}, 0x1c82: {0x043e},
	0x1c83: {0x0441}, 0x1c84: {0x0442, 0x1c85}, 0x1c85: {0x0442, 0x1c84}, 0x1c86: {0x044a},
	0x1c87: {0x0463}, 0x1c88: {0xa64b}, 0x1e61: {0x1e9b}, 0x1e9b: {0x1e61},
	0x1fbe: {0x0345, 0x03b9}, 0x1fd3: {0x0390}, 0x1fe3: {0x03b0}, 0xa64b: {0x1c88},
	0xfb05: {0xfb06}, 0xfb06: {0xfb05},
}
