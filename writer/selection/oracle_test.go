package selection

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oracleScript runs duplicity's own Select over each case (root, options,
// null separator; strings hex-encoded) and prints per case the selected
// indexes in hex, or the fatal error code / exception.
const oracleScript = `
import sys, json, io, os
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import gettext; gettext.install("duplicity")
from duplicity import config, log, path, selection
log.setup(); log.setverbosity(log.ERROR)
out = []
for c in json.load(sys.stdin):
    config.null_separator = c["null"]
    files = []
    try:
        root = path.Path(path.Path(bytes.fromhex(c["root"])).get_canonical())
        sel = selection.Select(root)
        tuples = []
        for opt, arg in c["args"]:
            if arg is None:
                tuples.append((opt, None))
                continue
            raw = bytes.fromhex(arg)
            tuples.append((opt, os.fsdecode(raw)))
            if "filelist" in opt:
                files.append(io.open(raw, "rt", encoding="UTF-8"))
        sel.ParseArgs(tuples, files)
        sel.set_iter()
        out.append({"idx": [b"/".join(p.index).hex() for p in sel]})
    except SystemExit as e:
        out.append({"err": "exit %s" % e.code})
    except Exception as e:
        out.append({"err": "%s: %s" % (type(e).__name__, e)})
print("ORACLE " + json.dumps(out))
`

type oracleCase struct {
	root  string
	args  [][2]string // option, argument ("" for none)
	null  bool
	codes string // duplicity's exit when it refuses the rules
}

type oracleOut struct {
	Idx []string `json:"idx"`
	Err string   `json:"err"`
}

// buildTree makes a source tree with the shapes selection must handle.
func buildTree(t *testing.T, root string) {
	t.Helper()
	dirs := []string{".hidden", "a/b/deep/deeper", "a.d", "CaseDir/Sub", "with space", "unicodé",
		"dir\xfe", "cache", "skipme/sub", "keep/empty", "A"}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := []string{".hidden/x.txt", ".dotfile", "a/b/c.txt", "a/b/d.py", "a/b/deep/deeper/target.py",
		"a/b.txt", "a-c", "a.d/e.py", "a0", "Foo", "foo", "FOO", "CaseDir/Sub/File.TXT", "with space/file name.txt",
		"unicodé/ñ.txt", "Σίσυφος", "bad\xff name", "dir\xfe/x\x80y.py", "cache/.nobackup", "cache/junk.bin",
		"skipme/.nobackup", "skipme/sub/f", "nl\n", "[brackets]", "q?mark", "star*file", "A/x.py", "trail "}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(root, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"link-to-a": "a", "link-file": "a/b.txt", "dangling": "nowhere"} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(root, "a", "sock"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	// A device file where the sandbox allows one (root without a device cgroup).
	_ = syscall.Mknod(filepath.Join(root, "nulldev"), syscall.S_IFCHR|0o600, 1<<8|3)
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestAgainstDuplicity compares Walk with duplicity's Select over a real
// tree for many rule lists. Skipped where duplicity is absent.
func TestAgainstDuplicity(t *testing.T) {
	if _, err := os.Stat("/usr/lib/python3/dist-packages/duplicity/selection.py"); err != nil {
		t.Skip("duplicity not installed")
	}
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 not installed")
	}
	base, err := os.MkdirTemp("", "dupsel") // lowercase, unlike t.TempDir: ignorecase globs need that
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	R := filepath.Join(base, "src")
	buildTree(t, R)
	t.Chdir(base) // for the relative source directories

	fl := func(name, text string) string { return writeFile(t, filepath.Join(base, name), text) }
	excl := fl("excl.txt", "# comment\n\n  "+R+"/a/b/*.py  \r\n- "+R+"/.hidden\n+ "+R+"/a.d\n'"+R+"/Foo'\n\""+R+"/foo\"\n"+R+"/a.d\n'\n  - "+R+"/a0\u00a0\r\x1c "+R+"/A \x1f\n")
	incl := fl("incl.txt", "- "+R+"/a/b/deep\n"+R+"/a\n"+R+"/unicodé/ñ.txt\n**/*.TXT\n- **\n")
	nul := fl("nul.txt", R+"/a/b\x00- "+R+"/a/b.txt\x00"+R+"/with space/\x00- **\x00")
	badUTF8 := fl("bad.txt", R+"/bad\xff name\n")
	prefixErr := fl("prefix.txt", "/elsewhere\n")

	o := func(args ...string) [][2]string {
		var out [][2]string
		for i := 0; i < len(args); i++ {
			k, _ := KindFor(args[i])
			if k.HasArg() {
				out = append(out, [2]string{args[i], args[i+1]})
				i++
			} else {
				out = append(out, [2]string{args[i], ""})
			}
		}
		return out
	}
	cases := []oracleCase{
		{root: R},
		{root: R + "/./", args: o("--exclude", "**/*.py")},
		{root: R, args: o("--include", "**/*.py", "--exclude", "**")},
		{root: R, args: o("--include", R+"/a/b/deep/deeper/target.py", "--exclude", "**")},
		{root: R, args: o("--exclude", R+"/a/b", "--include", R+"/a", "--exclude", "**")},
		{root: R, args: o("--include", R+"/a/b", "--exclude", R+"/a")},
		{root: R, args: o("--exclude", R+"/a", "--include", R+"/a/b", "--exclude", "**/c.txt")},
		{root: R, args: o("--include", "ignorecase:**/foo", "--exclude", "**")},
		{root: R, args: o("--include", "IgnoreCase:"+R+"/casedir/sub/*.txt", "--exclude", "**")},
		{root: R, args: o("--include", "ignorecase:**/ΣΊΣΥΦΟΣ", "--include", "ignorecase:**/[f]O[!x]", "--exclude", "**")},
		{root: R, args: o("--exclude", R+"/.*")},
		{root: R, args: o("--exclude", "**/.*", "--exclude", "**/*[ ]*")},
		{root: R, args: o("--exclude-if-present", ".nobackup")},
		{root: R, args: o("--include", R+"/skipme", "--exclude-if-present", ".nobackup", "--exclude", "**")},
		{root: R, args: o("--exclude-regexp", `\.py$`, "--exclude-regexp", `^.*/[A-Z]+$`)},
		{root: R, args: o("--include-regexp", `/a(/|$)`, "--exclude", "**")},
		{root: R, args: o("--exclude-regexp", `nl$`, "--exclude-regexp", `(?i)/foo$`, "--exclude-regexp", `/\w+\.TXT`)},
		{root: R, args: o("--exclude-regexp", `[^\x00-\x7f]`, "--exclude-regexp", `\s`, "--exclude-regexp", `[]x][\d]`)},
		{root: R, args: o("--exclude-filelist", excl)},
		{root: R, args: o("--include-filelist", incl)},
		{root: R, args: o("--include-globbing-filelist", nul), null: true},
		{root: R, args: o("--exclude", R+"/a/", "--exclude", R+"/a-c/", "--exclude", R+"/link-to-a/")},
		{root: R, args: o("--include", R+"/[a-c]*", "--exclude", "**")},
		{root: R, args: o("--exclude", "**/[!a-z]*")},
		{root: R, args: o("--exclude", R+"/?", "--exclude", R+"/[[]*", "--exclude", R+"/q[?]*")},
		{root: R, args: o("--include", R+"/with space", "--include", R+"/unicodé", "--exclude", "**/ñ*", "--exclude", "**")},
		{root: R, args: o("--exclude", "**/bad\xff name", "--include", "**/dir\xfe", "--exclude", "**")},
		{root: R, args: o("--exclude", "**/nl", "--exclude", "**/trail")},
		{root: R, args: o("--exclude-device-files", "--exclude-other-filesystems", "--exclude", R+"/a/**/d*")},
		{root: R, args: o("--include", R+"/link-to-a", "--include", "**/deeper", "--exclude", "**")},
		{root: R, args: o("--include", "/", "--exclude", "**")},
		{root: R + "/a", args: o("--exclude", "**b**", "--include", R, "--exclude", "**")},
		{root: "src", args: o("--include", "src/a/b", "--exclude", "**")},
		{root: "./src/a/", args: o("--exclude", "src/a/b/*.py", "--exclude", "**/b.txt")},
		{root: ".", args: o("--exclude", "./src/*", "--exclude", "**.txt")},
		{root: R + "/CaseDir", args: o("--exclude", "ignorecase:"+R+"/CaseDir/sub"), codes: "exit 14"},
		{root: R, args: o("--include", "/elsewhere", "--exclude", "**"), codes: "exit 14"},
		{root: R, args: o("--exclude-filelist", prefixErr), codes: "exit 14"},
		{root: R, args: o("--exclude", R+"//a"), codes: "exit 15"},
		{root: R, args: o("--exclude", "**", "--include", R+"/a"), codes: "exit 16"},
		{root: R, args: o("--include", R+"/a", "--exclude-if-present", "x"), codes: "exit 16"},
		{root: R, args: o("--exclude", R+"/[z-a]"), codes: "error"},
		{root: R, args: o("--exclude-regexp", "("), codes: "error"},
		{root: R, args: o("--exclude-filelist", badUTF8), codes: "UnicodeDecodeError"},
	}

	var in []map[string]any
	for _, c := range cases {
		args := [][]any{}
		for _, a := range c.args {
			var arg any
			if k, _ := KindFor(a[0]); k.HasArg() {
				arg = hex.EncodeToString([]byte(a[1]))
			}
			args = append(args, []any{a[0], arg})
		}
		in = append(in, map[string]any{"root": hex.EncodeToString([]byte(c.root)), "args": args, "null": c.null})
	}
	js, _ := json.Marshal(in)
	cmd := exec.Command("python3", "-c", oracleScript)
	cmd.Dir = base
	cmd.Stdin = bytes.NewReader(js)
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	_, line, ok := strings.Cut(string(stdout), "ORACLE ")
	if !ok {
		t.Fatalf("python printed no result: %s", stdout)
	}
	var want []oracleOut
	if err := json.Unmarshal([]byte(line), &want); err != nil {
		t.Fatal(err)
	}

	for i, c := range cases {
		w := want[i]
		got, err := walkCase(c)
		if w.Err != "" || c.codes != "" {
			if !strings.Contains(w.Err, c.codes) || c.codes == "" {
				t.Errorf("case %d %q: duplicity %q, expected %q", i, c.args, w.Err, c.codes)
			}
			if err == nil {
				t.Errorf("case %d %q: duplicity failed (%s), Go did not", i, c.args, w.Err)
			} else if sentinel := map[string]error{"exit 14": ErrFilePrefix, "exit 15": ErrGlob, "exit 16": ErrRedundantInclude}[c.codes]; sentinel != nil && !errors.Is(err, sentinel) {
				t.Errorf("case %d %q: got %v, want %v", i, c.args, err, sentinel)
			}
			continue
		}
		if err != nil {
			t.Errorf("case %d %q: %v", i, c.args, err)
			continue
		}
		var wantIdx []string
		for _, h := range w.Idx {
			b, _ := hex.DecodeString(h)
			wantIdx = append(wantIdx, string(b))
		}
		if strings.Join(got, "\x00") != strings.Join(wantIdx, "\x00") {
			t.Errorf("case %d %q:\n got %q\nwant %q", i, c.args, got, wantIdx)
		}
	}
}

func walkCase(c oracleCase) ([]string, error) {
	var rules []Rule
	for _, a := range c.args {
		k, _ := KindFor(a[0])
		rules = append(rules, Rule{Kind: k, Arg: a[1]})
	}
	var opts []Option
	if c.null {
		opts = append(opts, NullSeparator())
	}
	sel, err := New(c.root, rules, opts...)
	if err != nil {
		return nil, err
	}
	w := sel.Walk(context.Background())
	var got []string
	for {
		e, err := w.Next()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		if e.Err != nil {
			return got, e.Err
		}
		got = append(got, e.Index)
	}
}

// globOracleScript runs duplicity's select_fn_from_glob (include) on pairs
// of glob and path, lowercasing the glob first for ignorecase as
// glob_get_normal_sf does, and prints 0/1/2, "n" (None) or "e" (error).
const globOracleScript = `
import sys, json, os, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, "/usr/lib/python3/dist-packages")
import gettext; gettext.install("duplicity")
from duplicity import globmatch
class P:
    def __init__(s, n, d): s.uc_name, s.d = n, d
    def isdir(s): return s.d
out = []
for g, fold, names in json.load(sys.stdin):
    g = os.fsdecode(bytes.fromhex(g))
    if fold: g = g.lower()
    try:
        f = globmatch.select_fn_from_glob(g, 1, fold)
    except Exception:
        out.append("e"); continue
    res = ""
    for n, d in names:
        r = f(P(os.fsdecode(bytes.fromhex(n)), d))
        res += "n" if r is None else str(r)
    out.append(res)
print("ORACLE " + json.dumps(out))
`

// TestGlobAgainstDuplicity compares globFunc with duplicity's glob matcher
// on random globs and paths over an alphabet of the characters that matter.
func TestGlobAgainstDuplicity(t *testing.T) {
	if _, err := os.Stat("/usr/lib/python3/dist-packages/duplicity/globmatch.py"); err != nil {
		t.Skip("duplicity not installed")
	}
	rng := rand.New(rand.NewSource(7))
	globAlpha := []string{"a", "b", "A", "/", "/", "*", "*", "?", "[", "]", "!", "^", "-", "\\", "\n", "é", "É",
		"ß", "ẞ", "ﬀ", "ſ", "s", "S", "\u212a", "k", "İ", "i", "ı", "Σ", "ς", "\xff", "\xc3", ".", "z"}
	nameAlpha := []string{"a", "b", "A", "/", "/", "-", "\\", "\n", "é", "É", "ß", "ſ", "s", "S", "K", "\u212a",
		"k", "İ", "i", "I", "ı", "σ", "ς", "ẞ", "ﬀ", "\xff", "\xc3", "[", "]", "!", ".", "z"}
	gen := func(alpha []string, n int) string {
		var b strings.Builder
		for range rng.Intn(n) + 1 {
			b.WriteString(alpha[rng.Intn(len(alpha))])
		}
		return b.String()
	}
	type gcase struct {
		glob  string
		fold  bool
		names []string
		dirs  []bool
	}
	var cases []gcase
	var in []any
	for range 3000 {
		c := gcase{glob: gen(globAlpha, 9), fold: rng.Intn(3) == 0}
		var names []any
		for k := range 8 {
			n := gen(nameAlpha, 8)
			if k >= 2 {
				n = instantiate(rng, c.glob, nameAlpha)
			}
			if strings.HasSuffix(n, "/") && n != "/" {
				n += "a"
			}
			d := rng.Intn(2) == 0
			c.names, c.dirs = append(c.names, n), append(c.dirs, d)
			names = append(names, []any{hex.EncodeToString([]byte(n)), d})
		}
		cases = append(cases, c)
		in = append(in, []any{hex.EncodeToString([]byte(c.glob)), c.fold, names})
	}
	js, _ := json.Marshal(in)
	cmd := exec.Command("python3", "-c", globOracleScript)
	cmd.Stdin = bytes.NewReader(js)
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v", err)
	}
	_, line, _ := strings.Cut(string(stdout), "ORACLE ")
	var want []string
	if err := json.Unmarshal([]byte(line), &want); err != nil {
		t.Fatal(err)
	}
	failures := 0
	for i, c := range cases {
		glob := decodeFS(c.glob)
		if c.fold {
			glob = pyLower(glob)
		}
		got := "e"
		if g, err := newGlobFunc(glob, true, c.fold); err == nil {
			got = ""
			for k, n := range c.names {
				got += map[verdict]string{undecided: "n", excluded: "0", included: "1", scanned: "2"}[g.test(&candidate{path: n, info: fakeInfo{dir: c.dirs[k]}})]
			}
		}
		if got != want[i] {
			failures++
			if failures <= 20 {
				t.Errorf("glob %q fold=%v names %q dirs %v: got %s, duplicity %s", c.glob, c.fold, c.names, c.dirs, got, want[i])
			}
		}
	}
}

// instantiate makes a path the glob likely matches, or nearly: wildcards
// become random text, letters may change case, and the result may be cut
// at a "/" or extended below.
func instantiate(rng *rand.Rand, glob string, alpha []string) string {
	var b strings.Builder
	for _, r := range decodeFS(glob) {
		c := encodeFS([]rune{r})
		switch {
		case r == '*' || r == '?' || r == '[' || r == ']':
			for range rng.Intn(3) {
				b.WriteString(alpha[rng.Intn(len(alpha))])
			}
		case rng.Intn(4) == 0:
			b.WriteString(strings.ToUpper(c))
		case rng.Intn(4) == 0:
			b.WriteString(strings.ToLower(c))
		default:
			b.WriteString(c)
		}
	}
	n := b.String()
	if i := strings.LastIndexByte(n, '/'); i > 0 && rng.Intn(3) == 0 {
		n = n[:i]
	} else if rng.Intn(3) == 0 {
		n += "/" + alpha[rng.Intn(len(alpha))]
	}
	if n = strings.TrimSuffix(n, "/"); n == "" {
		n = "/"
	}
	return n
}

// fakeInfo is an fs.FileInfo that is a directory or a regular file.
type fakeInfo struct{ dir bool }

func (f fakeInfo) Name() string       { return "x" }
func (f fakeInfo) Size() int64        { return 0 }
func (f fakeInfo) ModTime() time.Time { return time.Time{} }
func (f fakeInfo) IsDir() bool        { return f.dir }
func (f fakeInfo) Sys() any           { return nil }
func (f fakeInfo) Mode() fs.FileMode {
	if f.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
