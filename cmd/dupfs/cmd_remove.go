package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"dupfs/archive/collection"
	"dupfs/archive/timespec"
	"dupfs/prune"
	"dupfs/repo"
	"dupfs/writer"
)

// selector picks what a retention command deletes from the collection,
// given its first argument.
type selector func(col *collection.Collection, arg string) (collection.Removal, error)

const removeListing = "Without --force, lists what would be deleted, one file per line (archive-dir files as paths)\n" +
	"and deletes nothing; with --force, deletes it, listing each file once gone."

func removeOlderThanCommand() *cli.Command {
	return removeCommand("remove-older-than", "TIME URL", "delete the backup chains that ended before TIME (the latest chain is always kept)",
		func(col *collection.Collection, arg string) (collection.Removal, error) {
			t, err := timespec.Parse(arg, time.Now(), time.Local)
			if err != nil {
				return collection.Removal{}, usageError{fmt.Errorf("time %q: %w", arg, err)}
			}
			return col.RemoveOlderThan(t), nil
		})
}

func removeAllButNFullCommand() *cli.Command {
	return removeCommand("remove-all-but-n-full", "N URL", "delete the backup chains older than the Nth newest full backup",
		byCount((*collection.Collection).RemoveAllButNFull))
}

func removeAllIncOfButNFullCommand() *cli.Command {
	return removeCommand("remove-all-inc-of-but-n-full", "N URL", "delete the incrementals of the chains older than the Nth newest full backup, keeping their fulls",
		byCount((*collection.Collection).RemoveIncsOfAllButNFull))
}

func cleanupCommand() *cli.Command {
	return removeCommand("cleanup", "URL", "delete orphaned and incomplete files left by interrupted or partly removed backups", nil)
}

func byCount(f func(*collection.Collection, int) (collection.Removal, error)) selector {
	return func(col *collection.Collection, arg string) (collection.Removal, error) {
		n, err := strconv.Atoi(arg)
		if err == nil {
			var r collection.Removal
			if r, err = f(col, n); !errors.Is(err, collection.ErrBadCount) {
				return r, err
			}
		}
		return collection.Removal{}, usageError{fmt.Errorf("count %q: want a whole number of full backups to keep, at least 1", arg)}
	}
}

// removeCommand builds one deleting command; sel nil means cleanup, which
// takes no argument before the URL.
func removeCommand(name, args, usage string, sel selector) *cli.Command {
	return &cli.Command{
		Name:        name,
		Usage:       usage,
		ArgsUsage:   args,
		Description: removeListing,
		Flags:       append(targetFlags(), &cli.BoolFlag{Name: "force", Usage: "delete (without it, only list what would be deleted)"}),
		Action: func(c *cli.Context) error {
			want := 2
			if sel == nil {
				want = 1
			}
			if err := needArgs(c, want, args); err != nil {
				return err
			}
			return runRemove(c, sel)
		},
	}
}

func runRemove(c *cli.Context, sel selector) error {
	url := c.Args().Get(c.NArg() - 1)
	if _, err := verbosity(c); err != nil {
		return err
	}
	b, opts, err := targetOptions(c.Context, c, url)
	if err != nil {
		return err
	}
	force := c.Bool("force")
	if force {
		// The backup's lock (duplicity's lockfile): never delete while a
		// backup of this target runs, nor let one start meanwhile.
		unlock, err := writer.Lock(opts.ArchiveDir)
		if err != nil {
			return err
		}
		defer unlock()
	}
	// Interrupted sets stay in their chains, as duplicity sees them: the
	// next backup resumes them, so cleanup must not take them for junk.
	opts.KeepPartial = true
	r, err := repo.Open(c.Context, b, opts)
	if err != nil {
		return err
	}
	var rm collection.Removal
	if sel == nil {
		rm = r.Collection.Extraneous()
	} else if rm, err = sel(r.Collection, c.Args().Get(0)); err != nil {
		return err
	}
	if len(rm.Files) == 0 {
		fmt.Fprintln(os.Stderr, "nothing to delete")
		return nil
	}
	what := fmt.Sprintf("%d file(s)", len(rm.Files))
	if len(rm.Chains) > 0 {
		what += fmt.Sprintf(" of %d backup chain(s)", len(rm.Chains))
	}
	show := func(f collection.File) { fmt.Println(prune.Path(opts.ArchiveDir, f)) }
	if !force {
		for _, f := range rm.Files {
			show(f)
		}
		fmt.Fprintf(os.Stderr, "would delete %s; run again with --force to delete\n", what)
		return nil
	}
	if err := prune.Run(c.Context, r.Backend(), opts.ArchiveDir, rm.Files, show); err != nil {
		return fmt.Errorf("%w (what is left is consistent: run the command again to finish)", err)
	}
	fmt.Fprintf(os.Stderr, "deleted %s\n", what)
	return nil
}
