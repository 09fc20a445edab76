package collection

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dupfs/archive/names"
)

// liveTarget drives the installed duplicity against a file:// target with
// a fixed archive dir, in a fixed time zone.
type liveTarget struct {
	t                     *testing.T
	dup                   string
	dir, src, target, arc string
	tz                    string
}

func (l *liveTarget) run(args ...string) string {
	l.t.Helper()
	cmd := exec.Command(l.dup, append(args, "--no-encryption", "--archive-dir", filepath.Join(l.dir, "cache"), "--name", "test")...)
	cmd.Env = append(os.Environ(), "TZ="+l.tz, "XDG_CACHE_HOME="+filepath.Join(l.dir, "xdg"))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil && args[0] == "collection-status" {
		l.t.Fatalf("duplicity %v: %v\n%s%s", args, err, out.String(), errb.String())
	}
	return out.String()
}

func (l *liveTarget) backup(kind string, at int64, extra ...string) {
	l.t.Helper()
	// Change the source so every incremental has something to store.
	if err := os.WriteFile(filepath.Join(l.src, "f"), []byte(fmt.Sprint(at)), 0o644); err != nil {
		l.t.Fatal(err)
	}
	args := append([]string{kind, "--current-time", fmt.Sprint(at)}, extra...)
	l.run(append(args, l.src, "file://"+l.target)...)
}

// listing returns a directory's names in directory order, as os.listdir.
func listing(t *testing.T, dir string) []string {
	f, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := f.Readdirnames(-1)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (l *liveTarget) compare(step string) {
	l.t.Helper()
	want := l.run("collection-status", "file://"+l.target)
	loc, err := time.LoadLocation(l.tz)
	if err != nil {
		l.t.Fatal(err)
	}
	col := Build(listing(l.t, l.target), listing(l.t, l.arc), names.Prefixes{}, false)
	var got bytes.Buffer
	if err := col.WriteStatus(&got, l.arc, loc); err != nil {
		l.t.Fatal(err)
	}
	if got.String() != want {
		l.t.Errorf("%s: status differs\n--- ours\n%s--- duplicity\n%s", step, got.String(), want)
	}
}

func (l *liveTarget) remove(paths ...string) {
	for _, p := range paths {
		if err := os.Remove(p); err != nil {
			l.t.Fatal(err)
		}
	}
}

func newLiveTarget(t *testing.T) *liveTarget {
	dup, err := exec.LookPath("duplicity")
	if err != nil {
		t.Skip("duplicity not installed")
	}
	dir := t.TempDir()
	l := &liveTarget{t: t, dup: dup, dir: dir, src: filepath.Join(dir, "src"), target: filepath.Join(dir, "target"),
		arc: filepath.Join(dir, "cache", "test"), tz: "America/St_Johns"}
	if err := os.MkdirAll(l.src, 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

// TestStatusAgainstDuplicity builds a target with duplicity (two chains),
// damages it step by step, and compares WriteStatus with duplicity's
// collection-status after each step. Skipped where duplicity is absent.
func TestStatusAgainstDuplicity(t *testing.T) {
	l := newLiveTarget(t)
	const t0 = 1795353032
	l.backup("full", t0)
	l.backup("incremental", t0+100)
	l.backup("incremental", t0+200)
	l.backup("full", t0+300)
	l.backup("incremental", t0+400)
	l.backup("incremental", t0+500)
	l.compare("two chains")

	ts := func(s int64) string { return names.FormatTime(time.Unix(t0+s, 0)) }
	rem := func(name string) string { return filepath.Join(l.target, name) }
	arc := func(name string) string { return filepath.Join(l.arc, name) }

	// The newest signature goes missing: the last incremental is dropped.
	sig45 := "duplicity-new-signatures." + ts(400) + ".to." + ts(500) + ".sigtar.gz"
	l.remove(rem(sig45), arc(sig45))
	l.compare("missing last signature")

	// An incremental loses its manifest: it is incomplete and the next
	// one is orphaned.
	l.remove(rem("duplicity-inc." + ts(0) + ".to." + ts(100) + ".manifest"))
	l.compare("missing manifest")

	// Signatures that no longer continue a chain, remote and local.
	sig01 := "duplicity-new-signatures." + ts(0) + ".to." + ts(100) + ".sigtar.gz"
	l.remove(rem(sig01), arc(sig01))
	l.compare("orphaned signatures")

	// Without the second full's signatures nothing matches the latest chain.
	full3 := "duplicity-full-signatures." + ts(300) + ".sigtar.gz"
	l.remove(rem(full3), arc(full3))
	l.compare("no primary")
}

// TestStatusPartialAgainstDuplicity compares the status of a target with
// an interrupted (restartable) backup.
func TestStatusPartialAgainstDuplicity(t *testing.T) {
	l := newLiveTarget(t)
	const t0 = 1795353032
	l.backup("full", t0)
	big := make([]byte, 2_500_000)
	rand.New(rand.NewSource(1)).Read(big)
	if err := os.WriteFile(filepath.Join(l.src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	l.backup("incremental", t0+100, "--volsize", "1", "--fail-on-volume", "2")
	if !strings.Contains(strings.Join(listing(t, l.arc), " "), ".manifest.part") {
		t.Fatal("no partial manifest left behind")
	}
	l.compare("partial incremental")
	col := Build(listing(t, l.target), listing(t, l.arc), names.Prefixes{}, false)
	if last := col.Chains[len(col.Chains)-1].Last(); !last.Partial || last.Full {
		t.Errorf("last set %+v is not a partial incremental", last)
	}
}
