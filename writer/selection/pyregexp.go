package selection

import (
	"errors"
	"regexp"
	"strings"
)

// Python's Unicode classes for str patterns, in RE2 syntax.
const (
	pyDigit = `\p{Nd}`
	pyWord  = `\p{L}\p{N}_`
	pySpace = `\t-\r\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}`
)

// compilePyRegexp compiles a Python regular expression (duplicity's
// --include-regexp / --exclude-regexp, applied with re.search) as RE2.
// Where the two syntaxes share a spelling but not a meaning it translates:
// "$" also matches before a final newline, \Z is the very end, \d \w \s
// are Unicode classes, and "[" inside a set is literal. Python-only
// constructs (backreferences, lookaround, verbose mode) are errors, as
// RE2 rejects them. \b and \B stay ASCII word boundaries.
func compilePyRegexp(expr string) (*regexp.Regexp, error) {
	multiline := pyMultiline(expr)
	var b strings.Builder
	inClass := false
	classStart := false // at a set's first member, where "]" is literal
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		first := classStart
		classStart = false
		switch {
		case c == '\\' && i+1 < len(expr):
			i++
			s, err := pyEscape(expr[i:i+1], inClass)
			if err != nil {
				return nil, err
			}
			b.WriteString(s)
		case inClass && c == ']' && !first:
			inClass = false
			b.WriteByte(c)
		case inClass && (c == '[' || c == ']'):
			b.WriteString(`\` + string(c))
		case inClass:
			b.WriteByte(c)
		case c == '[':
			b.WriteByte(c)
			if i+1 < len(expr) && expr[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			inClass, classStart = true, true
		case c == '$' && !multiline:
			b.WriteString(`(?:\n?\z)`)
		default:
			b.WriteByte(c)
		}
	}
	return regexp.Compile(b.String())
}

// pyEscape translates the escape "\" + c (c is one byte).
func pyEscape(c string, inClass bool) (string, error) {
	if inClass {
		switch c {
		case "d":
			return pyDigit, nil
		case "D":
			return `\P{Nd}`, nil
		case "w":
			return pyWord, nil
		case "s":
			return pySpace, nil
		case "W", "S":
			return "", errors.New(`\W and \S inside [...] are not supported`)
		}
		return `\` + c, nil
	}
	switch c {
	case "d":
		return pyDigit, nil
	case "D":
		return `\P{Nd}`, nil
	case "w":
		return "[" + pyWord + "]", nil
	case "W":
		return "[^" + pyWord + "]", nil
	case "s":
		return "[" + pySpace + "]", nil
	case "S":
		return "[^" + pySpace + "]", nil
	case "Z":
		return `\z`, nil
	}
	return `\` + c, nil
}

// pyMultiline reports whether an inline flag group turns on re.M, under
// which "$" means the same in both syntaxes.
func pyMultiline(expr string) bool {
	for i := 0; i+2 < len(expr); i++ {
		if expr[i] != '(' || expr[i+1] != '?' || (i > 0 && expr[i-1] == '\\') {
			continue
		}
		for j := i + 2; j < len(expr) && strings.IndexByte("aiLmsux", expr[j]) >= 0; j++ {
			if expr[j] == 'm' {
				return true
			}
		}
	}
	return false
}
