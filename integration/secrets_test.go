package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSecretsNeverLeak runs every command that reads a passphrase, at
// -v debug, successful and failing, and looks for the passphrase in all
// their output, in every file they wrote, in the argv of a running mount
// and, for --passphrase-fd, its environment. It also checks the modes of
// the archive dir and the mount cache under umask 022.
func TestSecretsNeverLeak(t *testing.T) {
	NeedDupfs(t)
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })

	var rnd [8]byte
	rand.Read(rnd[:])
	pass := "Sekr1t-" + hex.EncodeToString(rnd[:])
	base := NewEnv(t)
	env := base.With("PASSPHRASE=" + pass)
	cacheHome := filepath.Join(base.Home, ".cache") // created by dupfs: archive dir and mount cache

	src := filepath.Join(t.TempDir(), "src")
	write := func(rel, data string) {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.txt", "alpha\n")
	write("dir/b.txt", strings.Repeat("bravo ", 1000))
	target := filepath.Join(t.TempDir(), "target")
	url := "file://" + target

	var outputs []Result
	check := func(r Result, ok bool) Result {
		t.Helper()
		outputs = append(outputs, r)
		if (r.Code == 0) != ok {
			t.Fatalf("want success %v: %v", ok, r)
		}
		return r
	}
	check(Dupfs(t, env, "backup", "-v", "debug", src, url), true)
	time.Sleep(1100 * time.Millisecond) // the next set needs a later second
	write("dir/c.txt", "charlie\n")
	check(Dupfs(t, env, "backup", "-v", "debug", src, url), true)
	restored := filepath.Join(t.TempDir(), "restored")
	check(Dupfs(t, env, "restore", "-v", "debug", url, restored), true)
	sameTree(t, src, restored)
	check(Dupfs(t, env, "list-current-files", "-v", "debug", url), true)
	check(Dupfs(t, env, "collection-status", "-v", "debug", url), true)

	// Failing runs: a wrong passphrase that starts with the right one, so
	// showing it would show the right one too; a missing volume; a store
	// that cannot be reached.
	check(Dupfs(t, base.With("PASSPHRASE="+pass+"-wrong"), "restore", "-v", "debug", url, filepath.Join(t.TempDir(), "r")), false)
	broken := filepath.Join(t.TempDir(), "broken")
	mustRun(t, "cp", "-a", target, broken)
	vols, _ := filepath.Glob(filepath.Join(broken, "*.difftar.gpg"))
	if len(vols) == 0 {
		t.Fatal("no volume in the target")
	}
	for _, v := range vols {
		os.Remove(v)
	}
	check(Dupfs(t, env, "restore", "-v", "debug", "file://"+broken, filepath.Join(t.TempDir(), "r")), false)
	check(Dupfs(t, env.With("SWIFT_AUTHURL=http://127.0.0.1:1/auth/v1.0", "SWIFT_USERNAME=u", "SWIFT_PASSWORD=p"),
		"collection-status", "-v", "debug", "--num-retries", "1", "swift://nowhere"), false)

	// Passphrase from a file and from a descriptor, PASSPHRASE unset.
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	viaFile := filepath.Join(t.TempDir(), "via-file")
	check(Dupfs(t, base, "restore", "-v", "debug", "--passphrase-file", passFile, url, viaFile), true)
	sameTree(t, src, viaFile)
	viaFD := filepath.Join(t.TempDir(), "via-fd")
	cmd := exec.Command(dupfsBin, "restore", "-v", "debug", "--passphrase-fd", "3", url, viaFD)
	cmd.Env = base.List()
	cmd.ExtraFiles = []*os.File{passPipe(t, pass)}
	check(runCmd(cmd), true)
	sameTree(t, src, viaFD)

	// A running mount: its argv never holds the passphrase. With
	// PASSPHRASE, Linux keeps showing the initial environment in
	// /proc/PID/environ whatever the process unsets; with --passphrase-fd
	// the passphrase is in neither.
	for _, viaEnv := range []bool{true, false} {
		dir := filepath.Join(t.TempDir(), "mnt")
		os.Mkdir(dir, 0o755)
		args := []string{"mount", "-v", "debug"}
		cmd := exec.Command(dupfsBin)
		if viaEnv {
			cmd.Env = env.List()
		} else {
			cmd.Env = base.List()
			cmd.ExtraFiles = []*os.File{passPipe(t, pass)}
			args = append(args, "--passphrase-fd", "3")
		}
		cmd.Args = append([]string{dupfsBin}, append(args, url, dir)...)
		m := MountCmd(t, cmd, dir)
		got, err := os.ReadFile(filepath.Join(dir, "latest", "dir", "c.txt"))
		if err != nil || string(got) != "charlie\n" {
			t.Errorf("read through the mount: %q, %v", got, err)
		}
		mustRun(t, "ls", "-lR", dir+"/")
		pid := m.cmd.Process.Pid
		argv, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		environ, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
		if bytes.Contains(argv, []byte(pass)) {
			t.Errorf("mount's /proc/PID/cmdline holds the passphrase")
		}
		if !viaEnv && bytes.Contains(environ, []byte(pass)) {
			t.Errorf("mount with --passphrase-fd: /proc/PID/environ holds the passphrase")
		}
		if viaEnv && !bytes.Contains(environ, []byte(pass)) {
			t.Logf("note: /proc/PID/environ no longer shows PASSPHRASE")
		}
		m.stop(t, syscall.SIGTERM)
		outputs = append(outputs, Result{Args: cmd.Args, Stderr: []byte(m.stderr.String())})
	}

	for _, r := range outputs {
		if bytes.Contains(r.Stdout, []byte(pass)) || bytes.Contains(r.Stderr, []byte(pass)) {
			t.Errorf("the passphrase is in the output of %q", r.Args)
		}
	}
	for _, dir := range []string{cacheHome, target, broken} {
		filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				t.Error(err)
				return nil
			}
			if d.Type().IsRegular() {
				if b, err := os.ReadFile(p); err != nil || bytes.Contains(b, []byte(pass)) {
					t.Errorf("%s holds the passphrase (%v)", p, err)
				}
			}
			return nil
		})
	}
	// Everything dupfs made under ~/.cache, ~/.cache itself included, is
	// private: the archive dir holds file lists, the cache decrypted data.
	var files int
	filepath.WalkDir(cacheHome, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		switch {
		case fi.IsDir() && fi.Mode().Perm() != 0o700:
			t.Errorf("dir %s: mode %#o, want 0700", p, fi.Mode().Perm())
		case fi.Mode().IsRegular() && fi.Mode().Perm() != 0o600:
			t.Errorf("file %s: mode %#o, want 0600", p, fi.Mode().Perm())
		case fi.Mode().IsRegular():
			files++
		}
		return nil
	})
	if files < 4 {
		t.Errorf("only %d files under %s: the archive dir and cache were not where expected", files, cacheHome)
	}
}

// passPipe is the read end of a pipe holding pass and a newline, for
// --passphrase-fd.
func passPipe(t *testing.T, pass string) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if _, err := w.WriteString(pass + "\n"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return r
}

// runCmd runs a prepared command as Run does.
func runCmd(cmd *exec.Cmd) Result {
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: cmd.Args, Code: cmd.ProcessState.ExitCode(), Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if cmd.ProcessState == nil {
		r.Err = err
	}
	return r
}

func sameTree(t *testing.T, want, got string) {
	t.Helper()
	a, errA := Snapshot(want)
	b, errB := Snapshot(got)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if d := Diff(a, b, CompareOptions{}); len(d) > 0 {
		t.Errorf("%s differs from %s:\n%s", got, want, strings.Join(d, "\n"))
	}
}
