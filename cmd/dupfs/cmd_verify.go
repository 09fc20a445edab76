package main

import (
	"bufio"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"dupfs/backends"
	"dupfs/repo"
	"dupfs/unseal"
	"dupfs/verify"
)

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:      "verify",
		Usage:     "compare the backup with a local directory, or check every stored file",
		ArgsUsage: "URL [DIR]",
		Description: "With DIR: compares the backup at --time (default: the latest) with DIR, or with --path the\n" +
			"file or subtree DIR is a copy of: type, permissions, owner, mtime, size, symlink target, and\n" +
			"with --compare-data contents. Prints one line per difference on stdout:\n" +
			"  changed PATH: WHAT BACKUP != LOCAL[, ...] | missing PATH | new PATH\n" +
			"Without DIR: reads every stored volume, manifest and signature file of every chain through,\n" +
			"checking hashes, decryption and tar structure; prints \"ok NAME\" or \"FAILED NAME: reason\".\n" +
			"Exits 1 when anything differs or failed.",
		Flags: append(targetFlags(),
			timeFlag(),
			pathFlag("relative path of the file or directory to verify; DIR is its copy"),
			&cli.BoolFlag{Name: "compare-data", Usage: "compare file contents too"},
			unsealPollFlag(),
		),
		Action: runVerify,
	}
}

func runVerify(c *cli.Context) error {
	if c.NArg() != 1 && c.NArg() != 2 {
		return usageError{fmt.Errorf("verify: expected URL [DIR], got %d argument(s)", c.NArg())}
	}
	t, err := parseTime(c)
	if err != nil {
		return err
	}
	level, err := verbosity(c)
	if err != nil {
		return err
	}
	b, ropts, err := targetOptions(c.Context, c, c.Args().Get(0))
	if err != nil {
		return err
	}
	r, err := repo.Open(c.Context, b, ropts)
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	if c.NArg() == 1 {
		if cold, ok := backends.AsCold(r.Backend()); ok {
			if err := waitUnsealed(c, cold, unseal.Files(r, verify.StoredFiles(r))); err != nil {
				return err
			}
		}
		st, err := verify.Stored(c.Context, r, verify.StoredOptions{
			Prefixes: ropts.Prefixes,
			Short:    ropts.Short,
			Keys:     ropts.Keys,
			Report:   func(res verify.Result) { fmt.Fprintln(out, res) },
		})
		out.Flush()
		if level >= levelNotice && st.Files > 0 {
			fmt.Fprintf(os.Stderr, "Verify complete: %d files checked, %d failed.\n", st.Files, st.Failed)
		}
		return err
	}
	path := restorePath(c)
	if err := unsealFirst(c, r, t, path); err != nil {
		return err
	}
	st, err := verify.Tree(c.Context, r, verify.Options{
		Time:        t,
		Path:        path,
		Dir:         c.Args().Get(1),
		CompareData: c.Bool("compare-data"),
		ScratchDir:  ropts.ScratchDir,
		Report:      func(d verify.Difference) { fmt.Fprintln(out, d) },
		Damaged: func(err error) {
			out.Flush()
			fmt.Fprintf(os.Stderr, "dupfs: warning: %v\n", err)
		},
	})
	out.Flush()
	if level >= levelNotice && st.Compared > 0 {
		fmt.Fprintf(os.Stderr, "Verify complete: %d files compared, %d differences found.\n", st.Compared, st.Differences)
	}
	return err
}
