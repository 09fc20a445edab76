package manifest

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
)

func readTestdata(t testing.TB, name string) []byte {
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The testdata manifests were written by duplicity 0.8.22 (tricky names,
// a 5-volume backup, an incremental, an empty source, and a restarted
// backup that lists volume 3 twice).
func TestRoundTripDuplicityManifests(t *testing.T) {
	for _, name := range []string{"tricky.manifest", "multivol.manifest", "inc.manifest", "empty.manifest"} {
		in := readTestdata(t, name)
		m, err := Parse(bytes.NewReader(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if out := m.Marshal(); !bytes.Equal(out, in) {
			t.Errorf("%s: Marshal differs:\n%q\nwant\n%q", name, out, in)
		}
	}
}

func TestParseTricky(t *testing.T) {
	m, err := Parse(bytes.NewReader(readTestdata(t, "tricky.manifest")))
	if err != nil {
		t.Fatal(err)
	}
	if m.Hostname != "vm" || m.Localdir != "src" {
		t.Errorf("host %q dir %q", m.Hostname, m.Localdir)
	}
	wantVol := Volume{Number: 1, Start: "", End: "vt\vff\f", HashAlg: "SHA1", Hash: "eb801aa8df105217b978762d791f4dab6b56e9b4"}
	if len(m.Volumes) != 1 || m.Volumes[0] != wantVol {
		t.Errorf("volumes %+v", m.Volumes)
	}
	wantPaths := []string{"bad\xff\xfename", "cr\rlf", "ddd/sub/f", "dir with space/in\"side", "héllo wörld ✓.txt",
		"new\nline", "plain", "quote\"s'back\\slash", "sp ace", "ta\tb", "vt\vff\f"}
	var paths []string
	for _, f := range m.Files {
		if f.Change != "new" {
			t.Errorf("file %+v", f)
		}
		paths = append(paths, f.Path)
	}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Errorf("paths %q", paths)
	}
}

func TestParseMultivolAndRestart(t *testing.T) {
	want := []Volume{
		{1, "", "r1", 0, 15, "SHA1", ""},
		{2, "r1", "r1", 16, 30, "SHA1", ""},
		{3, "r1", "r2 x", 31, 7, "SHA1", ""},
		{4, "r2 x", "r2 x", 8, 22, "SHA1", ""},
		{5, "r2 x", "r4", 0, 0, "SHA1", ""},
	}
	for _, name := range []string{"multivol.manifest", "restart.manifest"} {
		m, err := Parse(bytes.NewReader(readTestdata(t, name)))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var got []Volume
		for _, v := range m.Volumes {
			if len(v.Hash) != 40 {
				t.Errorf("%s: volume %d hash %q", name, v.Number, v.Hash)
			}
			v.Hash = ""
			got = append(got, v)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: volumes\n%+v\nwant\n%+v", name, got, want)
		}
	}
}

func vols(spec ...string) string { return strings.Join(spec, "") }

func TestParseRules(t *testing.T) {
	v := func(n, start, end string) string {
		return "Volume " + n + ":\n    StartingPath   " + start + "\n    EndingPath     " + end + "\n"
	}
	cases := []struct {
		name string
		in   string
		nums []int    // volume numbers, nil with err
		err  string   // substring of the error
		host string   // expected Hostname
		fl   []string // expected "change path" entries
	}{
		{"restart drops higher numbers", vols(v("1", ".", "a"), v("2", "a", "b"), v("3", "b", "c"), v("2", "a", "bb")), []int{1, 2}, "", "", nil},
		{"restart with gap fails", vols(v("1", ".", "a"), v("5", "a", "b"), v("2", "a", "c")), nil, "missing", "", nil},
		{"lower number last drops the rest", vols(v("2", ".", "a"), v("1", "a", "b")), []int{1}, "", "", nil},
		{"far restart fails early", vols(v("1", ".", "a"), v("9999999", "a", "b"), v("1", "a", "c")), nil, "missing", "", nil},
		{"numbers not contiguous", vols(v("1", ".", "a"), v("3", "a", "b")), []int{1, 3}, "", "", nil},
		{"keywords in any case", "HOSTNAME h\nvolume 1:\n  startingpath . 3\n  ENDINGPATH a\n  hash md5 x\n", []int{1}, "", "h", nil},
		{"missing end", "Volume 1:\n    StartingPath .\n", nil, "start or end", "", nil},
		{"bad first line", "Volume\t1:\n    StartingPath .\n    EndingPath .\n", nil, "bad volume line", "", nil},
		{"blank line", "Volume 1:\n    StartingPath .\n   \n    EndingPath .\n", nil, "blank line", "", nil},
		{"bad chunk", "Volume 1:\n    StartingPath . x\n    EndingPath .\n", nil, "chunk", "", nil},
		{"bad quoting", "Volume 1:\n    StartingPath \"a\n    EndingPath .\n", nil, "quote", "", nil},
		{"hash without value", "Volume 1:\n    StartingPath .\n    EndingPath .\n    Hash SHA1\n", nil, "hash", "", nil},
		{"no volumes", "Hostname h\n", nil, "", "h", nil},
		{"host needs newline", "Hostname h", nil, "", "", nil},
		{"host on next line", "Hostname\nh\n", nil, "", "h", nil},
		{"host quoted", "Hostname \"a\\x20b\"\n", nil, "", "a b", nil},
		{"filelist before volumes", "Filelist 2\n    new      a\n    deleted  \"b\\x20c\"\n" + v("1", ".", "a"), []int{1}, "", "", []string{"new a", "deleted b c"}},
		{"filelist after volumes", v("1", ".", "a") + "Filelist 1\n    changed  a\n", []int{1}, "", "", []string{"changed a"}},
		{"filelist count zero", "Filelist 0\n    new a\n", nil, "", "", nil},
		{"filelist skips keyword types", "Filelist 2\n    hash  a\n    new b\n", nil, "", "", []string{"new b"}},
		{"filelist lines joined", "Filelist 1\n    new a b\n", nil, "", "", []string{"new ab"}},
	}
	for _, c := range cases {
		m, err := Parse(strings.NewReader(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var nums []int
		for _, v := range m.Volumes {
			nums = append(nums, v.Number)
		}
		var fl []string
		for _, f := range m.Files {
			fl = append(fl, f.Change+" "+f.Path)
		}
		if !reflect.DeepEqual(nums, c.nums) || m.Hostname != c.host || !reflect.DeepEqual(fl, c.fl) {
			t.Errorf("%s: volumes %v host %q files %q", c.name, nums, m.Hostname, fl)
		}
	}
}

func TestParseHashAndChunks(t *testing.T) {
	m, err := Parse(strings.NewReader("Volume 1:\n    StartingPath   a/b +1_6\n    EndingPath     \"c\\x20d\" -2\n    Hash MD5 aa\n    Hash X bb\n    Hash SHA1 cc\n    Hash MD5 dd\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Volume{Number: 1, Start: "a/b", End: "c d", StartChunk: 16, EndChunk: -2, HashAlg: "SHA1", Hash: "cc"}
	if m.Volumes[0] != want {
		t.Errorf("got %+v", m.Volumes[0])
	}
	m, err = Parse(strings.NewReader("Volume 1:\n    StartingPath .\n    EndingPath .\n    Hash X bb\n    Hash MD5 aa\n"))
	if err != nil || m.Volumes[0].HashAlg != "MD5" {
		t.Errorf("best hash: %+v %v", m.Volumes, err)
	}
}

func TestLimits(t *testing.T) {
	line := func(n int) io.Reader {
		return io.MultiReader(strings.NewReader("Filelist 1\n    new a\n"), repeatBytes('x', n), strings.NewReader("\n"))
	}
	_, err := Parse(line(MaxLine))
	if err == nil || !strings.Contains(err.Error(), "line 3 longer than 1048576 bytes (MaxLine)") {
		t.Errorf("overlong line: %v", err)
	}
	if _, err := Parse(line(MaxLine - 1)); err != nil {
		t.Errorf("longest line: %v", err)
	}
	_, err = Parse(strings.NewReader("Volume 10000001:\n    StartingPath .\n    EndingPath .\n"))
	if err == nil {
		t.Error("huge volume number accepted")
	}
}

type repeatReader struct {
	c byte
	n int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.n)
	for i := range p[:n] {
		p[i] = r.c
	}
	r.n -= n
	return n, nil
}

func repeatBytes(c byte, n int) *repeatReader { return &repeatReader{c, n} }

func TestQuote(t *testing.T) {
	cases := map[string]string{
		"plain":              "plain",
		"":                   "",
		"sp ace":             `"sp\x20ace"`,
		"quote\"s'back\\sl":  `"quote\x22s\x27back\x5csl"`,
		"t\tn\nv\vf\fr\r":    `"t\x09n\x0av\x0bf\x0cr\x0d"`,
		"bad\xff\xfename":    "bad\xff\xfename",
		"héllo wörld":        "\"héllo\\x20wörld\"",
		"a/b c":              `"a/b\x20c"`,
		"\x00nul\x1bescape":  "\x00nul\x1bescape",
		"\"starts with none": `"\x22starts\x20with\x20none"`,
	}
	for in, want := range cases {
		got := Quote(in)
		if got != want {
			t.Errorf("Quote(%q) = %q, want %q", in, got, want)
		}
		if in == "" {
			continue
		}
		back, err := Unquote(got)
		if err != nil || back != in {
			t.Errorf("Unquote(%q) = %q, %v", got, back, err)
		}
	}
	unq := []struct {
		in, want string
		ok       bool
	}{
		{`"\x41\x4A"`, "AJ", true},
		{`"a"b"`, `a"b`, true},
		{`"`, "", true},
		{`'x'`, `'x'`, true},
		{`"\x+f"`, "\x0f", true},
		{`"\x f"`, "\x0f", true},
		{`"\x-f"`, "", false},
		{`"\y41"`, "", false},
		{`"\x4"`, "", false},
		{`"abc`, "", false},
		{``, "", false},
	}
	for _, c := range unq {
		got, err := Unquote(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("Unquote(%q) = %q, %v", c.in, got, err)
		}
	}
}

func TestVolumesFor(t *testing.T) {
	m := &Manifest{Volumes: []Volume{
		{Number: 1, Start: "", End: "a/b"},
		{Number: 2, Start: "a/b", End: "a/z"},
		{Number: 3, Start: "a/z", End: "c"},
		{Number: 4, Start: "c", End: "d/e/f"},
	}}
	cases := map[string][]int{
		"":        {1, 2, 3, 4},
		"a":       {1, 2, 3},
		"a/b":     {1, 2},
		"a/c":     {2},
		"a/z/q":   {3},
		"a-b":     {3},
		"b":       {3},
		"c":       {3, 4},
		"d":       {4},
		"d/e":     {4},
		"d/e/f/g": nil,
		"e":       nil,
	}
	for p, want := range cases {
		if got := m.VolumesFor(p); !reflect.DeepEqual(got, want) {
			t.Errorf("VolumesFor(%q) = %v, want %v", p, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, name := range []string{"tricky.manifest", "multivol.manifest", "inc.manifest", "empty.manifest", "restart.manifest"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("Filelist 1\n    new a\nVolume 1:\n    StartingPath . 1\n    EndingPath \"a\\x20\" 2\n    Hash MD5 x\n"))
	f.Add([]byte("Hostname\n\"x\\x0ay\"\nvolume 2:\nstartingpath a\nendingpath b\nVolume 1:\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := Parse(bytes.NewReader(in))
		if err != nil {
			return
		}
		out := m.Marshal()
		m2, err := Parse(bytes.NewReader(out))
		if err != nil {
			t.Fatalf("Marshal output does not parse: %v\n%q", err, out)
		}
		if !reflect.DeepEqual(normal(m), normal(m2)) {
			t.Fatalf("round trip differs:\n%+v\n%+v\n%q", m, m2, out)
		}
	})
}

// normal makes empty and nil slices compare equal.
func normal(m *Manifest) Manifest {
	c := *m
	if len(c.Volumes) == 0 {
		c.Volumes = nil
	}
	if len(c.Files) == 0 {
		c.Files = nil
	}
	return c
}
