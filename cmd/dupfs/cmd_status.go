package main

import (
	"dupfs/repo"

	"os"
	"time"

	"github.com/urfave/cli/v2"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:      "collection-status",
		Usage:     "summarise the backup chains and sets of a target",
		ArgsUsage: "URL",
		Flags:     targetFlags(),
		Action: func(c *cli.Context) error {
			if err := needArgs(c, 1, "URL"); err != nil {
				return err
			}
			b, opts, err := targetOptions(c.Context, c, c.Args().Get(0))
			if err != nil {
				return err
			}
			// Show interrupted sets where duplicity shows them.
			opts.KeepPartial = true
			r, err := repo.Open(c.Context, b, opts)
			if err != nil {
				return err
			}
			dir, err := archiveDir(c, c.Args().Get(0))
			if err != nil {
				return err
			}
			return r.Collection.WriteStatus(os.Stdout, dir, time.Local)
		},
	}
}
