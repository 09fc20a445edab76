package selection

import (
	"encoding/json"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"unicode"
)

func TestDecodeFS(t *testing.T) {
	tests := []struct {
		in   string
		want []rune
	}{
		{"a/é", []rune{'a', '/', 'é'}},
		{"\xe2\x82A", []rune{0xDCE2, 0xDC82, 'A'}},       // a truncated sequence: one escape per byte
		{"\xed\xa0\x80", []rune{0xDCED, 0xDCA0, 0xDC80}}, // an encoded surrogate is not UTF-8
		{"\xc0\xaf", []rune{0xDCC0, 0xDCAF}},             // nor an overlong "/"
		{"\xef\xbf\xbd\xff", []rune{0xFFFD, 0xDCFF}},     // a real U+FFFD stays itself
		{"\xf0\x9f\x98\x80\xf0\x9f", []rune{0x1F600, 0xDCF0, 0xDC9F}},
	}
	for _, tt := range tests {
		got := decodeFS(tt.in)
		if !slices.Equal(got, tt.want) {
			t.Errorf("decodeFS(%q) = %U, want %U", tt.in, got, tt.want)
		}
		if back := encodeFS(got); back != tt.in {
			t.Errorf("encodeFS(decodeFS(%q)) = %q", tt.in, back)
		}
	}
}

// TestLowerPreimages checks lowerPreimages against every character.
func TestLowerPreimages(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		m := unicode.ToLower(r)
		if !slices.Contains(lowerPreimages(m), r) {
			t.Fatalf("lowerPreimages(%U) lacks %U", m, r)
		}
	}
}

func TestPyStrings(t *testing.T) {
	if got := string(pyLower([]rune("AİΣ\u212a"))); got != "ai\u0307σk" {
		t.Errorf("pyLower = %q", got)
	}
	for _, r := range []rune{'\t', '\x1c', '\x1f', 0x85, 0xa0, 0x2007, 0x3000} {
		if !pyIsSpace(r) {
			t.Errorf("pyIsSpace(%U) = false", r)
		}
	}
	for _, r := range []rune{'a', 0x200b, 0xfeff, 0x180e} {
		if pyIsSpace(r) {
			t.Errorf("pyIsSpace(%U) = true", r)
		}
	}
}

// TestPyTablesAgainstPython compares pyIsSpace and extraCases with the
// installed Python's.
func TestPyTablesAgainstPython(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	out, err := exec.Command("python3", "-c", `
import json
from re import _casefix
print(json.dumps({"space": [c for c in range(0x110000) if chr(c).isspace()],
                  "extra": {str(k): list(v) for k, v in _casefix._EXTRA_CASES.items()}}))
`).Output()
	if err != nil {
		t.Skipf("python3: %v", err)
	}
	var py struct {
		Space []rune
		Extra map[string][]rune
	}
	if err := json.Unmarshal(out, &py); err != nil {
		t.Fatal(err)
	}
	var space []rune
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if pyIsSpace(r) {
			space = append(space, r)
		}
	}
	if !slices.Equal(space, py.Space) {
		t.Errorf("pyIsSpace: %U, Python %U", space, py.Space)
	}
	if len(py.Extra) != len(extraCases) {
		t.Errorf("extraCases has %d entries, Python %d", len(extraCases), len(py.Extra))
	}
	for k, v := range py.Extra {
		n, _ := strconv.Atoi(k)
		if !slices.Equal(extraCases[rune(n)], v) {
			t.Errorf("extraCases[%U] = %U, Python %U", n, extraCases[rune(n)], v)
		}
	}
}
