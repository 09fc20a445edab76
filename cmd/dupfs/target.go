package main

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"dupfs/archive/crypt"
	"dupfs/archive/names"
	"dupfs/archive/timespec"
	"dupfs/backends"
	"dupfs/backends/all"
	"dupfs/backends/retry"
	"dupfs/repo"
)

// targetFlags are duplicity's options for naming and decrypting a target,
// accepted by every command that reads one.
func targetFlags() []cli.Flag {
	return append(passphraseFlags(),
		&cli.BoolFlag{Name: "no-encryption", Usage: "the target is not encrypted (gzip only)"},
		&cli.StringFlag{Name: "file-prefix", Usage: "prefix of every file of the target"},
		&cli.StringFlag{Name: "file-prefix-archive", Usage: "prefix of volume files"},
		&cli.StringFlag{Name: "file-prefix-manifest", Usage: "prefix of manifest files"},
		&cli.StringFlag{Name: "file-prefix-signature", Usage: "prefix of signature files"},
		&cli.BoolFlag{Name: "short-filenames", Usage: "the target uses duplicity's short file names"},
		&cli.StringFlag{Name: "archive-dir", Usage: "local cache of manifests and signatures (default: duplicity's, ~/.cache/duplicity)", EnvVars: []string{"DUPFS_ARCHIVE_DIR"}},
		&cli.StringFlag{Name: "name", Usage: "name of this target's folder in the archive dir (default: MD5 of the URL, as duplicity)"},
		&cli.StringFlag{Name: "tempdir", Usage: "where decrypted volumes are spooled while read (default: the archive dir, which is private)"},
		&cli.StringFlag{Name: "secret-key-file", Usage: "armored secret key (gpg --export-secret-keys --armor) for public-key targets; its passphrase is the passphrase (PASSPHRASE, --passphrase-file or --passphrase-fd)", EnvVars: []string{"DUPFS_SECRET_KEY_FILE"}},
		&cli.StringFlag{Name: "verbosity", Aliases: []string{"v"}, Usage: "error, warning, notice, info, debug, or 0-9 (as duplicity)", Value: "notice"},
		&cli.IntFlag{Name: "num-retries", Usage: "attempts of each network request that fails for a transient reason (5xx, reset, timeout, rate limit) before giving up", Value: all.DefaultRetries + 1},
		&cli.DurationFlag{Name: "backend-retry-delay", Usage: "wait before the first retry; each later one doubles, up to 30s", Value: time.Second},
	)
}

// backendOptions are how the command opens stores: retries as asked, each
// one told at -v info.
func backendOptions(c *cli.Context) all.Options {
	n := max(c.Int("num-retries"), 1)
	level, _ := verbosity(c)
	return all.Options{
		Retry: retry.Options{
			Retries: n - 1,
			Delay:   c.Duration("backend-retry-delay"),
			Report: func(op string, attempt int, wait time.Duration, err error) {
				if level >= levelInfo {
					fmt.Fprintf(os.Stderr, "dupfs: %s failed (attempt %d of %d), retrying in %s: %v\n", op, attempt, n, wait.Round(time.Millisecond), err)
				}
			},
		},
		Warn: func(err error) {
			if level >= levelWarning {
				fmt.Fprintf(os.Stderr, "dupfs: warning: %v\n", err)
			}
		},
	}
}

// openTarget opens the target URL with the command's target flags.
func openTarget(ctx context.Context, c *cli.Context, rawURL string) (*repo.Repo, error) {
	b, opts, err := targetOptions(ctx, c, rawURL)
	if err != nil {
		return nil, err
	}
	return repo.Open(ctx, b, opts)
}

// targetOptions connects to the target URL and gathers how to name, read
// and cache its files.
func targetOptions(ctx context.Context, c *cli.Context, rawURL string) (backends.Backend, repo.Options, error) {
	keys, err := loadKeys(c)
	if err != nil {
		return nil, repo.Options{}, err
	}
	archiveDir, err := archiveDir(c, rawURL)
	if err != nil {
		return nil, repo.Options{}, err
	}
	scratch := c.String("tempdir")
	if scratch == "" {
		scratch = archiveDir
	}
	b, err := all.OpenWith(ctx, rawURL, backendOptions(c))
	if err != nil {
		return nil, repo.Options{}, err
	}
	return b, repo.Options{
		Prefixes: names.Prefixes{
			File:      c.String("file-prefix"),
			Archive:   c.String("file-prefix-archive"),
			Manifest:  c.String("file-prefix-manifest"),
			Signature: c.String("file-prefix-signature"),
		},
		Short:      c.Bool("short-filenames"),
		Keys:       keys,
		ArchiveDir: archiveDir,
		ScratchDir: scratch,
	}, nil
}

// loadKeys reads the passphrase (see passphrase) and the secret key of
// --secret-key-file. Secrets never come from argv.
func loadKeys(c *cli.Context) (crypt.Keys, error) {
	pass, err := passphrase(c)
	if err != nil {
		return crypt.Keys{}, err
	}
	k := crypt.Keys{Passphrase: pass}
	if path := c.String("secret-key-file"); path != "" {
		f, err := os.Open(path)
		if err != nil {
			return k, fmt.Errorf("secret key file: %w", err)
		}
		defer f.Close()
		if k.Secret, err = crypt.ReadSecretKeys(f, k.Passphrase); err != nil {
			return k, fmt.Errorf("secret key file %s: %w", path, err)
		}
	}
	return k, nil
}

// archiveDir returns this target's local metadata folder, named as
// duplicity names it so both tools share one cache.
func archiveDir(c *cli.Context, rawURL string) (string, error) {
	base := c.String("archive-dir")
	if base == "" {
		cache := os.Getenv("XDG_CACHE_HOME")
		if cache == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("archive dir: %w (give --archive-dir)", err)
			}
			cache = filepath.Join(home, ".cache")
		}
		base = filepath.Join(cache, "duplicity")
	}
	name := c.String("name")
	if name == "" {
		sum := md5.Sum([]byte(rawURL))
		name = hex.EncodeToString(sum[:])
	}
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("archive dir: %w", err)
	}
	// Like duplicity, an existing folder's mode is the user's: told, not changed.
	warnLooseDir(c, "archive dir", dir, "")
	return dir, nil
}

// warned holds the folders warnLooseDir has told of, so a command that
// resolves one twice says it once.
var warned sync.Map

// warnLooseDir warns, at warning verbosity, that others may read dir,
// which dupfs made 0700 but found looser. then says what dupfs does about it.
func warnLooseDir(c *cli.Context, what, dir, then string) {
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	if level, _ := verbosity(c); level < levelWarning {
		return
	}
	if _, done := warned.LoadOrStore(dir, true); done {
		return
	}
	if then == "" {
		then = "chmod 700 it to keep them private"
	}
	fmt.Fprintf(os.Stderr, "dupfs: warning: %s %s has mode %#o: other users may read what is in it; %s\n", what, dir, fi.Mode().Perm(), then)
}

// Verbosity levels, duplicity's numbers.
const (
	levelError   = 0
	levelWarning = 2
	levelNotice  = 3
	levelInfo    = 4
	levelDebug   = 9
)

// verbosity parses -v as duplicity does: a digit, or a level name or its
// first letter.
func verbosity(c *cli.Context) (int, error) {
	v := strings.ToLower(c.String("verbosity"))
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 9 {
		return n, nil
	}
	for _, l := range []struct {
		name  string
		level int
	}{{"error", levelError}, {"warning", levelWarning}, {"notice", levelNotice}, {"info", levelInfo}, {"debug", levelDebug}} {
		if v != "" && strings.HasPrefix(l.name, v) {
			return l.level, nil
		}
	}
	return 0, usageError{fmt.Errorf("--verbosity %q: want error, warning, notice, info, debug or 0-9", v)}
}

func timeFlag() cli.Flag {
	return &cli.StringFlag{Name: "time", Aliases: []string{"t", "restore-time"}, Usage: "point in time: now, 3D, 2W, 1h30m, 2026-11-22, 2026-11-22T13:00:00, epoch seconds, ...", Value: "now"}
}

func parseTime(c *cli.Context) (time.Time, error) {
	t, err := timespec.Parse(c.String("time"), time.Now(), time.Local)
	if err != nil {
		return t, usageError{fmt.Errorf("--time: %w", err)}
	}
	return t, nil
}

// needArgs checks the count of positional arguments.
func needArgs(c *cli.Context, n int, what string) error {
	if c.NArg() != n {
		return usageError{fmt.Errorf("%s: expected %s, got %d argument(s)", c.Command.Name, what, c.NArg())}
	}
	return nil
}
