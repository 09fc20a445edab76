package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/urfave/cli/v2"

	"dupfs/archive/crypt"
)

// Passphrases come from the environment, a file or an inherited file
// descriptor; never from argv, where any user can read them in
// /proc/PID/cmdline.

// maxPassphrase bounds what is read from --passphrase-file or -fd.
const maxPassphrase = 64 << 10

// envSecretNames are the environment variables holding passphrases.
var envSecretNames = []string{"PASSPHRASE", "SIGN_PASSPHRASE"}

// envSecrets keeps what takeEnvSecrets removed from the environment.
var envSecrets struct {
	sync.Mutex
	taken  bool
	values map[string]crypt.Secret
}

// takeEnvSecrets moves the passphrases out of the process environment, so
// no child (fusermount3, started by the FUSE library) inherits them. It
// runs first thing in main; later calls change nothing. The kernel's copy
// of the initial environment, /proc/PID/environ, is not changed by this:
// --passphrase-fd keeps a passphrase out of it.
func takeEnvSecrets() {
	envSecrets.Lock()
	defer envSecrets.Unlock()
	if envSecrets.taken {
		return
	}
	envSecrets.taken = true
	envSecrets.values = make(map[string]crypt.Secret)
	for _, name := range envSecretNames {
		if v, ok := os.LookupEnv(name); ok {
			envSecrets.values[name] = crypt.Secret(v)
			os.Unsetenv(name)
		}
	}
}

// envSecret is the value the environment variable name had at start.
func envSecret(name string) crypt.Secret {
	takeEnvSecrets()
	envSecrets.Lock()
	defer envSecrets.Unlock()
	return envSecrets.values[name]
}

func passphraseFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "passphrase-file", Usage: "read the passphrase from the first line of this file instead of PASSPHRASE"},
		&cli.IntFlag{Name: "passphrase-fd", Usage: "read the passphrase from this inherited file descriptor, up to the first newline (as gpg's --passphrase-fd), instead of PASSPHRASE", Value: -1, DefaultText: "none"},
	}
}

// passphraseKey is where the resolved passphrase is kept in the app's
// Metadata: a descriptor can be read only once, and backup asks twice.
const passphraseKey = "dupfs.passphrase"

// passphrase is the command's passphrase: from --passphrase-fd or
// --passphrase-file when given, else PASSPHRASE. Empty means none.
func passphrase(c *cli.Context) (crypt.Secret, error) {
	if v, ok := c.App.Metadata[passphraseKey].(crypt.Secret); ok {
		return v, nil
	}
	var (
		pass crypt.Secret
		err  error
	)
	fd, file := c.Int("passphrase-fd"), c.String("passphrase-file")
	switch {
	case c.IsSet("passphrase-fd") && file != "":
		return nil, usageError{errors.New("--passphrase-fd and --passphrase-file: give one")}
	case c.IsSet("passphrase-fd"):
		if fd < 0 {
			return nil, usageError{fmt.Errorf("--passphrase-fd %d: not a file descriptor", fd)}
		}
		f := os.NewFile(uintptr(fd), "passphrase-fd")
		pass, err = firstLine(f)
		// The standard descriptors stay open: the caller may still use them.
		if fd > 2 {
			f.Close()
		}
		if err != nil {
			return nil, fmt.Errorf("--passphrase-fd %d: %w", fd, err)
		}
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("--passphrase-file: %w", err)
		}
		pass, err = firstLine(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--passphrase-file %s: %w", file, err)
		}
	default:
		pass = envSecret("PASSPHRASE")
	}
	if c.App.Metadata == nil {
		c.App.Metadata = make(map[string]any)
	}
	c.App.Metadata[passphraseKey] = pass
	return pass, nil
}

// signPassphrase unlocks --sign-key-file: SIGN_PASSPHRASE, else the
// passphrase.
func signPassphrase(c *cli.Context) (crypt.Secret, error) {
	if p := envSecret("SIGN_PASSPHRASE"); len(p) > 0 {
		return p, nil
	}
	return passphrase(c)
}

// firstLine reads r up to its first newline, which is dropped with a CR
// before it; an empty line is an error, since it would mean no passphrase.
func firstLine(r io.Reader) (crypt.Secret, error) {
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxPassphrase+1), maxPassphrase+1).ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull) || len(line) > maxPassphrase:
		return nil, fmt.Errorf("first line longer than %d bytes", maxPassphrase)
	case err != nil && !errors.Is(err, io.EOF):
		return nil, err
	}
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	if len(line) == 0 {
		return nil, errors.New("empty passphrase")
	}
	return crypt.Secret(bytes.Clone(line)), nil
}
