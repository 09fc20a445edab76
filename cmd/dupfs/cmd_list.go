package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"dupfs/archive/collection"
	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/archive/replay"
)

func listCommand() *cli.Command {
	return &cli.Command{
		Name:      "list-current-files",
		Usage:     "list the files in the backup at a time",
		ArgsUsage: "URL",
		Flags:     append(targetFlags(), timeFlag()),
		Action:    runList,
	}
}

func runList(c *cli.Context) error {
	if err := needArgs(c, 1, "URL"); err != nil {
		return err
	}
	t, err := parseTime(c)
	if err != nil {
		return err
	}
	r, err := openTarget(c.Context, c, c.Args().Get(0))
	if err != nil {
		return err
	}
	sc, err := r.Collection.SigChainAt(t)
	if err != nil {
		return err
	}
	var streams []replay.Stream
	for _, name := range sc.FilesUntil(t) {
		rc, err := r.OpenSigtar(c.Context, name)
		if err != nil {
			return err
		}
		defer rc.Close()
		streams = append(streams, difftar.NewSingleReader(rc))
	}
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	m := replay.NewMerger(streams, "")
	for {
		g, err := m.Next()
		if err == io.EOF {
			return out.Flush()
		}
		if err != nil {
			return err
		}
		n, err := replay.Resolve(g)
		if err != nil {
			return err
		}
		if n == nil {
			continue
		}
		fmt.Fprintf(out, "%s %s\n", collection.Asctime(time.Unix(n.Meta.Mtime, 0), time.Local), index.Display(n.Index))
	}
}
