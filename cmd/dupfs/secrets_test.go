package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/urfave/cli/v2"

	"dupfs/archive/crypt"
)

func TestFirstLine(t *testing.T) {
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{"newline", "Sekr1t\nrest\n", "Sekr1t", ""},
		{"crlf", "Sekr1t\r\n", "Sekr1t", ""},
		{"no newline", "Sekr1t", "Sekr1t", ""},
		{"spaces kept", " a b \n", " a b ", ""},
		{"empty", "\nSekr1t\n", "", "empty passphrase"},
		{"nothing", "", "", "empty passphrase"},
		{"too long", strings.Repeat("x", maxPassphrase+1), "", "longer than"},
		{"longest", strings.Repeat("x", maxPassphrase-1) + "\n", strings.Repeat("x", maxPassphrase-1), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := firstLine(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// runPassphrase resolves the passphrase of a command given args, as every
// command using targetFlags does.
func runPassphrase(t *testing.T, args ...string) (crypt.Secret, error) {
	t.Helper()
	var got crypt.Secret
	app := &cli.App{
		Name: "dupfs",
		Commands: []*cli.Command{{
			Name:  "restore",
			Flags: targetFlags(),
			Action: func(c *cli.Context) error {
				p, err := passphrase(c)
				if err != nil {
					return err
				}
				// A second ask gets the same answer, even from a descriptor.
				again, err := passphrase(c)
				if err != nil || string(again) != string(p) {
					t.Errorf("second ask: %q, %v", again, err)
				}
				got = p
				return nil
			},
		}},
		ExitErrHandler: func(*cli.Context, error) {},
	}
	err := app.Run(append([]string{"dupfs", "restore"}, args...))
	return got, err
}

func TestPassphraseSources(t *testing.T) {
	takeEnvSecrets()
	envSecrets.Lock()
	envSecrets.values["PASSPHRASE"] = crypt.Secret("from-env")
	envSecrets.Unlock()
	t.Cleanup(func() {
		envSecrets.Lock()
		delete(envSecrets.values, "PASSPHRASE")
		envSecrets.Unlock()
	})
	file := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(file, []byte("from-file\nsecond line\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	pipe := func(t *testing.T, data string) string {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		w.WriteString(data)
		w.Close()
		// passphrase closes the descriptor it reads: hand it a duplicate.
		fd, err := syscall.Dup(int(r.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		return strconv.Itoa(fd)
	}
	for _, tc := range []struct {
		name  string
		args  func(t *testing.T) []string
		want  string
		usage bool
		err   string
	}{
		{"env", func(*testing.T) []string { return nil }, "from-env", false, ""},
		{"file", func(*testing.T) []string { return []string{"--passphrase-file", file} }, "from-file", false, ""},
		{"fd", func(t *testing.T) []string { return []string{"--passphrase-fd", pipe(t, "from-fd\n")} }, "from-fd", false, ""},
		{"both", func(t *testing.T) []string {
			return []string{"--passphrase-file", file, "--passphrase-fd", "0"}
		}, "", true, "give one"},
		{"negative fd", func(*testing.T) []string { return []string{"--passphrase-fd", "-3"} }, "", true, "not a file descriptor"},
		{"closed fd", func(*testing.T) []string { return []string{"--passphrase-fd", "1000"} }, "", false, "--passphrase-fd 1000"},
		{"missing file", func(*testing.T) []string { return []string{"--passphrase-file", file + ".none"} }, "", false, "--passphrase-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := runPassphrase(t, tc.args(t)...)
			if tc.err != "" {
				var u usageError
				if err == nil || !strings.Contains(err.Error(), tc.err) || errors.As(err, &u) != tc.usage {
					t.Fatalf("err %v, want %q (usage %v)", err, tc.err, tc.usage)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestTakeEnvSecrets: the variables are gone from the environment children
// inherit, their values kept for the command.
func TestTakeEnvSecrets(t *testing.T) {
	envSecrets.Lock()
	envSecrets.taken = false
	envSecrets.Unlock()
	t.Setenv("PASSPHRASE", "p-env")
	t.Setenv("SIGN_PASSPHRASE", "s-env")
	takeEnvSecrets()
	t.Cleanup(func() {
		envSecrets.Lock()
		envSecrets.values = map[string]crypt.Secret{}
		envSecrets.Unlock()
	})
	for _, name := range envSecretNames {
		if v, ok := os.LookupEnv(name); ok {
			t.Errorf("%s still in the environment: %q", name, v)
		}
	}
	if got := string(envSecret("PASSPHRASE")) + "," + string(envSecret("SIGN_PASSPHRASE")); got != "p-env,s-env" {
		t.Errorf("kept %q, want p-env,s-env", got)
	}
}
