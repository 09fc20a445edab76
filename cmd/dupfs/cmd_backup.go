package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/urfave/cli/v2"

	"dupfs/archive/crypt"
	"dupfs/archive/timespec"
	"dupfs/backends"
	"dupfs/repo"
	"dupfs/unseal"
	"dupfs/writer"
	"dupfs/writer/selection"
)

// backupCommands are duplicity's three spellings: "backup" (full or
// incremental as needed), "full" and "incremental".
func backupCommands() []*cli.Command {
	return []*cli.Command{
		backupCommand("backup", "back up SRC to URL: incremental on the latest chain, or full when there is none", false, false),
		backupCommand("full", "make a full backup of SRC to URL", true, false),
		backupCommand("incremental", "make an incremental backup of SRC to URL (fails when there is no chain to extend)", false, true),
	}
}

func backupCommand(name, usage string, full, inc bool) *cli.Command {
	rules := &ruleList{}
	flags := append(targetFlags(),
		&cli.StringFlag{Name: "full-if-older-than", Usage: "make a full backup when the last full is older than this (e.g. 30D)"},
		&cli.IntFlag{Name: "volsize", Usage: "volume size in MiB", Value: 200},
		unsealPollFlag(),
		&cli.IntFlag{Name: "max-blocksize", Usage: "largest librsync signature block, in bytes", Value: 2048},
		&cli.StringSliceFlag{Name: "encrypt-key-file", Usage: "armored public key (gpg --export --armor) to encrypt to; repeatable", EnvVars: []string{"DUPFS_ENCRYPT_KEY_FILE"}},
		&cli.StringSliceFlag{Name: "hidden-encrypt-key-file", Usage: "as --encrypt-key-file, without the key id in the files (gpg --hidden-recipient)"},
		&cli.StringFlag{Name: "sign-key-file", Usage: "armored secret key (gpg --export-secret-keys --armor) to sign with; its passphrase is read from SIGN_PASSPHRASE", EnvVars: []string{"DUPFS_SIGN_KEY_FILE"}},
		&cli.BoolFlag{Name: "allow-source-mismatch", Usage: "extend a chain made from another host or source directory"},
		&cli.BoolFlag{Name: "print-statistics", Usage: "print the statistics block even when not on a terminal"},
		&cli.BoolFlag{Name: "no-print-statistics", Usage: "never print the statistics block"},
		&cli.BoolFlag{Name: "null-separator", Usage: "filelists are NUL-separated"},
	)
	if !full {
		flags = append(flags, &cli.BoolFlag{Name: "full", Usage: "make a full backup"})
	}
	flags = append(flags, rules.flags()...)
	return &cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "SRC URL",
		Description: "Writes a backup in duplicity's format; duplicity and dupfs can both restore it.\n" +
			"The passphrase comes from PASSPHRASE, --passphrase-file or --passphrase-fd. Selection options apply in the order given, first match wins.\n" +
			"Exit codes: 0 done, 1 failed (nothing new is visible on the target), 2 bad usage,\n" +
			"3 done but some source files could not be read (each is named on stderr).",
		Flags: flags,
		Action: func(c *cli.Context) error {
			return runBackup(c, full || c.Bool("full"), inc, rules.rules)
		},
	}
}

func runBackup(c *cli.Context, full, inc bool, rules []selection.Rule) error {
	if err := needArgs(c, 2, "SRC URL"); err != nil {
		return err
	}
	level, err := verbosity(c)
	if err != nil {
		return err
	}
	src, url := c.Args().Get(0), c.Args().Get(1)
	if fi, err := os.Stat(src); err != nil {
		return fmt.Errorf("source: %w", err)
	} else if !fi.IsDir() {
		return usageError{fmt.Errorf("source %s is not a directory", src)}
	}
	var opts []selection.Option
	if c.Bool("null-separator") {
		opts = append(opts, selection.NullSeparator())
	}
	sel, err := selection.New(src, rules, opts...)
	if err != nil {
		return usageError{err}
	}
	enc, err := encryptOptions(c)
	if err != nil {
		return err
	}
	var olderThan time.Time
	if s := c.String("full-if-older-than"); s != "" {
		if olderThan, err = timespec.Parse(s, time.Now(), time.Local); err != nil {
			return usageError{fmt.Errorf("--full-if-older-than: %w", err)}
		}
	}
	if c.Int("volsize") < 1 {
		return usageError{errors.New("--volsize: must be at least 1 (MiB)")}
	}
	b, ropts, err := targetOptions(c.Context, c, url)
	if err != nil {
		return err
	}
	defer b.Close()
	if cold, ok := backends.AsCold(b); ok {
		// An incremental reads the chain's manifests and signatures: with
		// the archive dir lost, on a store where they are sealed, they
		// are unsealed first (one batch), and waited for.
		r, err := repo.Open(c.Context, b, ropts)
		if err != nil {
			return err
		}
		if err := waitUnsealed(c, cold, unseal.Metadata(r)); err != nil {
			return err
		}
	}
	host, _ := os.Hostname()
	prog := newProgress("backing up")
	st, err := writer.Backup(c.Context, b, ropts, writer.Options{
		Source:              sel.Walk(c.Context),
		SourceDir:           src,
		Hostname:            host,
		Full:                full,
		Incremental:         inc,
		FullIfOlderThan:     olderThan,
		AllowSourceMismatch: c.Bool("allow-source-mismatch"),
		VolSize:             int64(c.Int("volsize")) << 20,
		MaxBlockSize:        c.Int("max-blocksize"),
		Encrypt:             enc,
		NoEncryption:        c.Bool("no-encryption"),
		TempDir:             c.String("tempdir"),
		Warn: func(err error) {
			prog.clear()
			fmt.Fprintf(os.Stderr, "dupfs: warning: %v\n", err)
		},
		Notice: func(s string) {
			if level >= levelNotice && (prog.tty || level >= levelInfo) {
				prog.clear()
				fmt.Fprintf(os.Stderr, "dupfs: %s\n", s)
			}
		},
		Alert: func(s string) {
			prog.clear()
			fmt.Fprintf(os.Stderr, "dupfs: %s\n", s)
		},
		Progress: func(s writer.Stats) { prog.update(int(s.SourceFiles), s.SourceFileSize) },
	})
	prog.done()
	if st != nil && st.EndTime.After(st.StartTime) || errors.Is(err, writer.ErrSourceErrors) {
		show := !c.Bool("no-print-statistics") && (prog.tty || level >= levelInfo || c.Bool("print-statistics") || err != nil)
		if show {
			st.WriteBlock(os.Stdout, time.Local)
		}
	}
	return err
}

// encryptOptions reads the passphrase and key files. Secrets come from the
// environment, files and descriptors, never from argv.
func encryptOptions(c *cli.Context) (crypt.EncryptOptions, error) {
	var o crypt.EncryptOptions
	if c.Bool("no-encryption") {
		if len(c.StringSlice("encrypt-key-file")) > 0 || len(c.StringSlice("hidden-encrypt-key-file")) > 0 {
			return o, usageError{errors.New("--no-encryption conflicts with --encrypt-key-file")}
		}
		return o, nil
	}
	read := func(paths []string) (openpgp.EntityList, error) {
		var all openpgp.EntityList
		for _, p := range paths {
			f, err := os.Open(p)
			if err != nil {
				return nil, fmt.Errorf("public key file: %w", err)
			}
			keys, err := crypt.ReadPublicKeys(f)
			f.Close()
			if err != nil {
				return nil, fmt.Errorf("public key file %s: %w", p, err)
			}
			all = append(all, keys...)
		}
		return all, nil
	}
	var err error
	if o.Recipients, err = read(c.StringSlice("encrypt-key-file")); err != nil {
		return o, err
	}
	if o.Hidden, err = read(c.StringSlice("hidden-encrypt-key-file")); err != nil {
		return o, err
	}
	if p := c.String("sign-key-file"); p != "" {
		f, err := os.Open(p)
		if err != nil {
			return o, fmt.Errorf("sign key file: %w", err)
		}
		pass, err := signPassphrase(c)
		if err != nil {
			f.Close()
			return o, err
		}
		keys, err := crypt.ReadSecretKeys(f, pass)
		f.Close()
		if err != nil {
			return o, fmt.Errorf("sign key file %s (passphrase from SIGN_PASSPHRASE): %w", p, err)
		}
		if len(keys) == 0 {
			return o, fmt.Errorf("sign key file %s: no key", p)
		}
		o.Signer = keys[0]
	}
	if len(o.Recipients) == 0 && len(o.Hidden) == 0 {
		pass, err := passphrase(c)
		if err != nil {
			return o, err
		}
		if len(pass) == 0 {
			return o, usageError{errors.New("no passphrase: set PASSPHRASE, give --passphrase-file or --passphrase-fd, or use --encrypt-key-file or --no-encryption")}
		}
		o.Passphrase = pass
	}
	return o, nil
}

// ruleList collects selection options in command-line order: duplicity's
// rules are first-match-wins, so their relative order matters, which
// separate slice flags would lose.
type ruleList struct{ rules []selection.Rule }

func (l *ruleList) flags() []cli.Flag {
	var out []cli.Flag
	for _, k := range []selection.Kind{
		selection.Include, selection.Exclude, selection.IncludeFilelist, selection.ExcludeFilelist,
		selection.IncludeRegexp, selection.ExcludeRegexp, selection.ExcludeIfPresent,
		selection.ExcludeOtherFilesystems, selection.ExcludeDeviceFiles,
	} {
		out = append(out, &cli.GenericFlag{
			Name:  strings.TrimPrefix(k.String(), "--"),
			Usage: "selection rule, as duplicity's " + k.String(),
			Value: &ruleValue{list: l, kind: k},
		})
	}
	return out
}

// ruleValue is a flag.Value appending to the shared ordered list.
type ruleValue struct {
	list *ruleList
	kind selection.Kind
}

func (v *ruleValue) Set(s string) error {
	r := selection.Rule{Kind: v.kind}
	if v.kind.HasArg() {
		r.Arg = s
	}
	v.list.rules = append(v.list.rules, r)
	return nil
}

func (v *ruleValue) String() string { return "" }

// IsBoolFlag lets the options without an argument stand alone.
func (v *ruleValue) IsBoolFlag() bool { return !v.kind.HasArg() }
