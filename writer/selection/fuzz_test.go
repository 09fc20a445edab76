package selection

import "testing"

// refMatch is a slow backtracking matcher for the same tokens, the
// reference for the NFA in pattern.match.
func refMatch(p *pattern, s []rune, end endFunc) bool {
	var rec func(j, i int) bool
	rec = func(j, i int) bool {
		if j == len(p.toks) {
			return end(s, i)
		}
		switch t := p.toks[j]; t.kind {
		case starTok, globstarTok:
			for k := i; ; k++ {
				if rec(j+1, k) {
					return true
				}
				if k == len(s) || t.kind == starTok && s[k] == '/' {
					return false
				}
			}
		default:
			return i < len(s) && p.step(t, s[i]) && rec(j+1, i+1)
		}
	}
	return rec(0, 0)
}

func FuzzGlob(f *testing.F) {
	for _, seed := range [][2]string{
		{"/r/**.py", "/r/a/b.py"}, {"**/x", "/r/x"}, {"/r/[!a-c]?*", "/r/d\xffz"}, {"ignorecase:/R/[A-Z]", "/r/K"},
		{"/r/a/", "/r/a"}, {"/r//a", "/r"}, {"/r/[", "/r/["}, {"/r/[]-]x", "/r/-x\n"}, {"/", "/"},
	} {
		f.Add(seed[0], seed[1], true)
	}
	f.Fuzz(func(t *testing.T, glob, name string, dir bool) {
		text, fold := ignorecase(decodeFS(glob))
		g, err := newGlobFunc(text, true, fold)
		if err != nil {
			return
		}
		g.test(&candidate{path: name, info: fakeInfo{dir: dir}})
		if len(g.full.toks) > 12 || len(name) > 24 {
			return // the reference is exponential
		}
		s := decodeFS(name)
		for _, p := range append(g.scans, g.full) {
			for _, end := range []endFunc{endOnly, endOrSlash} {
				if got, want := p.match(s, end), refMatch(p, s, end); got != want {
					t.Fatalf("glob %q on %q: NFA %v, reference %v", glob, name, got, want)
				}
			}
		}
	})
}

func FuzzPyRegexp(f *testing.F) {
	for _, seed := range []string{`\.py$`, `[]a\d]`, `[^]\w-]`, `(?m)a$`, `\`, `[`, `(?P<m>x)`} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		if re, err := compilePyRegexp(expr); err == nil {
			re.MatchString("/r/a.py\n")
		}
	})
}
