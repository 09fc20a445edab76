package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// CommandTimeout bounds every external command, so a hang fails the test
// instead of stalling the whole run.
const CommandTimeout = 3 * time.Minute

// Tools needed by the suites that drive the real duplicity.
var requiredTools = []string{"duplicity", "gpg", "gpgconf"}

// MissingTools names the required tools not on PATH ("" if none).
func MissingTools() string {
	var missing []string
	for _, tool := range requiredTools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	return strings.Join(missing, ", ")
}

// Set by TestMain.
var (
	skipReason    string // non-empty: the real duplicity is unavailable
	dupfsBin      string
	dupfsBuildErr error
)

// NeedTools skips t when duplicity or gpg is missing.
func NeedTools(t testing.TB) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// NeedDupfs fails t when the dupfs binary could not be built.
func NeedDupfs(t testing.TB) {
	t.Helper()
	if dupfsBuildErr != nil {
		t.Fatal("dupfs binary unavailable: go build failed (its output is printed once, before the tests)")
	}
}

// BuildDupfs compiles cmd/dupfs into dir, or uses $DUPFS_BIN when set.
func BuildDupfs(dir string) (string, error) {
	if bin := os.Getenv("DUPFS_BIN"); bin != "" {
		return bin, nil
	}
	bin := filepath.Join(dir, "dupfs")
	cmd := exec.Command("go", "build", "-o", bin, "dupfs/cmd/dupfs")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build dupfs/cmd/dupfs: %w\n%s", err, out)
	}
	return bin, nil
}

// Result is the outcome of one command.
type Result struct {
	Args   []string
	Code   int // exit code; -1 if it did not run or was killed
	Stdout []byte
	Stderr []byte
	Err    error // failure to start, or the timeout
}

// String summarises r for failure messages.
func (r Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q: exit %d", r.Args, r.Code)
	if r.Err != nil {
		fmt.Fprintf(&b, " (%v)", r.Err)
	}
	fmt.Fprintf(&b, "\n--- stderr:\n%s--- stdout:\n%s", tail(r.Stderr), tail(r.Stdout))
	return b.String()
}

func tail(b []byte) []byte {
	const max = 4000
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		b = append(b, '\n')
	}
	return b
}

// Run runs a command with exactly env as its environment.
func Run(ctx context.Context, env []string, name string, args ...string) Result {
	ctx, cancel := context.WithTimeout(ctx, CommandTimeout)
	defer cancel()
	r := Result{Args: append([]string{name}, args...), Code: -1}
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	r.Stdout, r.Stderr = stdout.Bytes(), stderr.Bytes()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.Exited():
		r.Code = exit.ExitCode()
	case err != nil:
		r.Err = err
	default:
		r.Code = 0
	}
	if ctx.Err() != nil {
		r.Err = fmt.Errorf("timed out after %v: %w", CommandTimeout, ctx.Err())
	}
	return r
}

// Env is the environment for duplicity, gpg and dupfs runs: nothing is
// inherited but PATH, so a developer's ~/.gnupg or ~/.cache is never used.
type Env struct {
	Home      string
	GnuPGHome string
	Vars      []string // extra NAME=value pairs, later ones win
}

// NewEnv makes a private HOME, GNUPGHOME and TMPDIR under t.TempDir and
// stops the gpg-agent started there when t ends.
func NewEnv(t testing.TB) Env {
	t.Helper()
	home := t.TempDir()
	e := Env{Home: home, GnuPGHome: filepath.Join(home, "gnupg")}
	for _, d := range []string{e.GnuPGHome, filepath.Join(home, "tmp")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		// Runs before the temp dir is removed (cleanups run last-in first-out).
		Run(context.Background(), e.List(), "gpgconf", "--kill", "all")
	})
	return e
}

// With returns a copy of e with more variables.
func (e Env) With(vars ...string) Env {
	e.Vars = append(append([]string(nil), e.Vars...), vars...)
	return e
}

// List is e as a process environment.
func (e Env) List() []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.Home,
		"GNUPGHOME=" + e.GnuPGHome,
		"TMPDIR=" + filepath.Join(e.Home, "tmp"),
		"TZ=UTC", // list and status print local times; both tools must agree
		"LC_ALL=C.UTF-8",
	}, e.Vars...)
}

// Dupfs runs the dupfs binary.
func Dupfs(t testing.TB, env Env, args ...string) Result {
	t.Helper()
	NeedDupfs(t)
	return Run(t.Context(), env.List(), dupfsBin, args...)
}

// Backup drives the real duplicity against one file:// target.
type Backup struct {
	Target     string   // target directory
	ArchiveDir string   // duplicity's --archive-dir
	Options    []string // on every duplicity command (encryption, prefixes)
	Env        Env
	Times      []string // end time of each backup set made, YYYYMMDDTHHMMSSZ
}

// NewBackup prepares an empty target and archive dir under t.TempDir.
func NewBackup(t testing.TB, env Env, options ...string) *Backup {
	t.Helper()
	dir := t.TempDir()
	b := &Backup{
		Target:     filepath.Join(dir, "target"),
		ArchiveDir: filepath.Join(dir, "duplicity-cache"),
		Options:    options,
		Env:        env,
	}
	if err := os.Mkdir(b.Target, 0o755); err != nil {
		t.Fatal(err)
	}
	return b
}

// URL is the target as duplicity and dupfs take it.
func (b *Backup) URL() string { return "file://" + b.Target }

// Duplicity runs `duplicity <command> <b.Options> --archive-dir ... args...`.
func (b *Backup) Duplicity(t testing.TB, command string, args ...string) Result {
	t.Helper()
	argv := append([]string{command}, b.Options...)
	argv = append(argv, "--archive-dir", b.ArchiveDir)
	argv = append(argv, args...)
	return Run(t.Context(), b.Env.List(), "duplicity", argv...)
}

// MustDuplicity is Duplicity that fails t on a non-zero exit.
func (b *Backup) MustDuplicity(t testing.TB, command string, args ...string) Result {
	t.Helper()
	r := b.Duplicity(t, command, args...)
	if r.Code != 0 {
		t.Fatalf("duplicity failed: %v", r)
	}
	return r
}

// Run backs src up (a full if full, else an incremental) in 1 MiB volumes
// and returns the new set's time, which it also appends to b.Times.
func (b *Backup) Run(t testing.TB, src string, full bool) string {
	t.Helper()
	command := "incremental"
	if full {
		command = "full"
	}
	b.MustDuplicity(t, command, "--volsize", "1", src, b.URL())
	latest, err := LatestSetTime(b.Target)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.Times); n > 0 && latest <= b.Times[n-1] {
		t.Fatalf("duplicity %s made no new set after %s", command, b.Times[n-1])
	}
	b.Times = append(b.Times, latest)
	return latest
}

// Files lists the names in the target, sorted.
func (b *Backup) Files(t testing.TB) []string {
	t.Helper()
	ents, err := os.ReadDir(b.Target)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, 0, len(ents))
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

var manifestTime = regexp.MustCompile(`duplicity-(?:full|inc\.\d{8}T\d{6}Z\.to)\.(\d{8}T\d{6}Z)\.manifest`)

// LatestSetTime is the newest set end time among the manifests in dir.
func LatestSetTime(dir string) (string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	var times []string
	for _, e := range ents {
		if m := manifestTime.FindStringSubmatch(e.Name()); m != nil {
			times = append(times, m[1])
		}
	}
	if len(times) == 0 {
		return "", fmt.Errorf("no manifest in %s", dir)
	}
	sort.Strings(times)
	return times[len(times)-1], nil
}

// ParseTime reads a YYYYMMDDTHHMMSSZ time.
func ParseTime(s string) (time.Time, error) {
	return time.Parse("20060102T150405Z", s)
}

func unixTime(sec int64) time.Time { return time.Unix(sec, 0) }
