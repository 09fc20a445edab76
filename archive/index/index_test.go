package index

import (
	"errors"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

func TestCompareOrder(t *testing.T) {
	want := []string{"", "a", "a/b", "a/b/c", "a-c", "a.d", "a0", "b", "\xff"}
	got := append([]string(nil), want...)
	sort.Slice(got, func(i, j int) bool { return Compare(got[i], got[j]) < 0 })
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("order = %q, want %q", got, want)
		}
	}
	for _, s := range want {
		if Compare(s, s) != 0 {
			t.Errorf("Compare(%q,%q) != 0", s, s)
		}
	}
}

func TestWithinRel(t *testing.T) {
	tests := []struct {
		p, prefix string
		within    bool
		rel       string
	}{
		{"a/b", "", true, "a/b"},
		{"a/b", "a", true, "b"},
		{"a", "a", true, ""},
		{"ab", "a", false, ""},
		{"a/b/c", "a/b", true, "c"},
	}
	for _, tc := range tests {
		if got := Within(tc.p, tc.prefix); got != tc.within {
			t.Errorf("Within(%q,%q) = %v", tc.p, tc.prefix, got)
		}
		if tc.within {
			if got := Rel(tc.p, tc.prefix); got != tc.rel {
				t.Errorf("Rel(%q,%q) = %q, want %q", tc.p, tc.prefix, got, tc.rel)
			}
		}
	}
}

func TestCheck(t *testing.T) {
	for _, ok := range []string{"", "a", "a/b", "..a", "a..", "\xff\xfe"} {
		if err := Check(ok); err != nil {
			t.Errorf("Check(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"/a", "a/", "..", "a/../b", "a//b", ".", "a/./b", "a\x00b"} {
		if err := Check(bad); !errors.Is(err, ErrUnsafe) {
			t.Errorf("Check(%q) = %v, want ErrUnsafe", bad, err)
		}
	}
}

func TestParentBase(t *testing.T) {
	if Parent("a/b/c") != "a/b" || Parent("a") != "" || Base("a/b/c") != "c" || Base("a") != "a" {
		t.Fatal("Parent/Base wrong")
	}
}

// FuzzCheck: an index Check accepts never leaves the root it is joined to
// and never names it twice over ("a/../a").
func FuzzCheck(f *testing.F) {
	for _, s := range []string{"", "a", "a/b", "..", "a/../b", "/etc", "a//b", "./a", "a/.", "a\x00b", "...", "a/..b", strings.Repeat("d/", 100) + "f"} {
		f.Add(s)
	}
	const root = "/restore/root"
	f.Fuzz(func(t *testing.T, p string) {
		if Check(p) != nil {
			return
		}
		j := filepath.Join(root, p)
		if p == "" {
			if j != root {
				t.Fatalf("root joins to %q", j)
			}
			return
		}
		if !strings.HasPrefix(j, root+"/") || j != root+"/"+p || strings.IndexByte(p, 0) >= 0 {
			t.Fatalf("Check accepts %q, which joins to %q", p, j)
		}
	})
}
