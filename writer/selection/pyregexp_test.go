package selection

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

var pyRegexpTests = []struct {
	expr, subject string
	want          bool
}{
	{`\.py$`, "/r/a.py", true},
	{`\.py$`, "/r/a.py\n", true}, // "$" before a final newline
	{`\.py$`, "/r/a.py\n\n", false},
	{`\.py\Z`, "/r/a.py\n", false},
	{`(?m)py$`, "/r/a.py\nx", true},
	{`^/r/\d+$`, "/r/١٢", true}, // Unicode digits
	{`^/r/\w+$`, "/r/héllo_1", true},
	{`^/r/\W`, "/r/é", false},
	{`\s`, "/r/a\u00a0b", true},
	{`\s`, "/r/a\x1cb", true},
	{`/\S+$`, "/r/ab", true},
	{`[\d]x`, "/r/٣x", true},
	{`[\w-]+\.txt`, "/r/é-b.txt", true},
	{`[\s]`, "/r/a\u3000", true},
	{`[]x]`, "/r/]", true},
	{`[^]x]`, "/r/]", true}, // matches "/"
	{`^[^]x/]+$`, "]", false},
	{`[[:alpha:]]`, "/r/a]", true}, // "[" is a member, then a literal "]"
	{`[[:alpha:]]`, "/r/b", false},
	{`(?i)FOO`, "/r/foo", true},
	{`(?P<n>a)b`, "/r/ab", true},
	{`a{2}`, "/r/aa", true},
	{`\bfoo`, "/r/foo", true},
	{`caf.`, "/r/caf\xff", true}, // an undecodable byte is one character
}

func TestPyRegexp(t *testing.T) {
	for _, tt := range pyRegexpTests {
		re, err := compilePyRegexp(tt.expr)
		if err != nil {
			t.Errorf("%q: %v", tt.expr, err)
			continue
		}
		if got := re.MatchString(tt.subject); got != tt.want {
			t.Errorf("%q on %q = %v, want %v", tt.expr, tt.subject, got, tt.want)
		}
	}
	for _, expr := range []string{`(a`, `(?=a)`, `(a)\1`, `(?x) a`, `[\W]`, `a\`} {
		if _, err := compilePyRegexp(expr); err == nil {
			t.Errorf("%q compiled", expr)
		}
	}
}

// TestPyRegexpTable checks the table's expectations with Python's re.search
// (JSON turns the undecodable byte into U+FFFD, which "." matches too).
func TestPyRegexpTable(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	var in [][2]string
	for _, tt := range pyRegexpTests {
		in = append(in, [2]string{tt.expr, tt.subject})
	}
	js, _ := json.Marshal(in)
	cmd := exec.Command("python3", "-c", `
import sys, json, re
print(json.dumps([bool(re.search(e, s)) for e, s in json.load(sys.stdin)]))
`)
	cmd.Stdin = bytes.NewReader(js)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var want []bool
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, tt := range pyRegexpTests {
		if want[i] != tt.want {
			t.Errorf("%q on %q: Python says %v", tt.expr, tt.subject, want[i])
		}
	}
}
