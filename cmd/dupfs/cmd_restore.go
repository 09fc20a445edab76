package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"dupfs/restore"
)

func restoreCommand() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "restore the backup as it was at a time into a directory",
		ArgsUsage: "URL DIR",
		Description: "Restores the whole backup, or one file or subtree with --path, as it was at --time\n" +
			"(default: the latest backup). DIR must be empty or missing unless --force is given.",
		Flags: append(targetFlags(),
			timeFlag(),
			pathFlag("relative path of a file or directory to restore; DIR becomes it"),
			&cli.BoolFlag{Name: "force", Usage: "restore into an existing, non-empty DIR, overwriting what is there"},
			unsealPollFlag(),
		),
		Action: runRestore,
	}
}

func runRestore(c *cli.Context) error {
	if err := needArgs(c, 2, "URL DIR"); err != nil {
		return err
	}
	t, err := parseTime(c)
	if err != nil {
		return err
	}
	level, err := verbosity(c)
	if err != nil {
		return err
	}
	path := restorePath(c)
	r, err := openTarget(c.Context, c, c.Args().Get(0))
	if err != nil {
		return err
	}
	if err := unsealFirst(c, r, t, path); err != nil {
		return err
	}
	prog := newProgress("restoring")
	st, err := restore.Run(c.Context, r, restore.Options{
		Time:  t,
		Path:  path,
		Dest:  c.Args().Get(1),
		Force: c.Bool("force"),
		Warn: func(err error) {
			// What damage cost is shown at every verbosity: it is the
			// list of files the user does not have back.
			var lost *restore.NotRestoredError
			var damaged *restore.DamageError
			if level >= levelWarning || errors.As(err, &lost) || errors.As(err, &damaged) {
				prog.clear()
				fmt.Fprintf(os.Stderr, "dupfs: warning: %v\n", err)
			}
		},
		Progress: prog.update,
	})
	prog.done()
	if err != nil {
		return err
	}
	if level >= levelInfo || prog.tty {
		fmt.Fprintf(os.Stderr, "restored %d entries, %s\n", st.Entries, humanBytes(st.Bytes))
	}
	return nil
}
