package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"dupfs/backends"
	"dupfs/repo"
	"dupfs/unseal"
)

func unsealCommand() *cli.Command {
	return &cli.Command{
		Name:      "unseal",
		Usage:     "bring the volumes a restore needs out of cold storage (pca://), and wait for them",
		ArgsUsage: "URL",
		Description: "Works out every stored file a restore of --path at --time reads, asks the cold store to\n" +
			"unseal all the sealed ones in one batch, then polls until they are readable, showing\n" +
			"each file's state and the ETA. Run it before copying from a mount; restore does it by\n" +
			"itself. On a store without a cold tier there is nothing to do.",
		Flags: append(targetFlags(),
			timeFlag(),
			pathFlag("relative path of the file or directory to be restored"),
			&cli.BoolFlag{Name: "no-wait", Usage: "ask for the unseal and exit, printing when the files will be ready"},
			&cli.BoolFlag{Name: "dry-run", Usage: "list the files and bytes needed, and their states; ask for nothing"},
			unsealPollFlag(),
		),
		Action: runUnseal,
	}
}

func unsealPollFlag() cli.Flag {
	return &cli.DurationFlag{Name: "unseal-poll", Usage: "how often to ask the cold store how the unseal goes", Value: time.Minute}
}

func runUnseal(c *cli.Context) error {
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
	cold, ok := backends.AsCold(r.Backend())
	if !ok {
		fmt.Printf("%s has no cold tier: every file is readable, nothing to unseal\n", r.Backend())
		return nil
	}
	path := restorePath(c)
	if c.Bool("dry-run") {
		files, err := unseal.Needed(c.Context, r, t, path)
		if err != nil && len(files) == 0 {
			return err
		}
		rep, cerr := unseal.Check(c.Context, cold, files)
		if cerr != nil {
			return cerr
		}
		printFiles(rep)
		if err != nil {
			fmt.Printf("(more volumes once the manifests are readable: %v)\n", err)
		}
		return nil
	}
	level, _ := verbosity(c)
	show := newUnsealProgress(level)
	first := true
	update := func(rep unseal.Report) {
		// What was asked for (each round: the manifests when sealed,
		// then the volumes), with each file's state, before the wait.
		if first || rep.Requested > 0 {
			show.p.clear()
			printFiles(rep)
			if rep.Requested > 0 {
				fmt.Printf("asked to unseal %d files, ready at %s\n", rep.Requested, etaText(rep.ETA))
			}
		}
		first = false
		show.update(rep)
	}
	rep, err := unseal.Prepare(c.Context, r, cold, t, path, c.Duration("unseal-poll"), !c.Bool("no-wait"), update)
	show.done()
	if err != nil {
		return err
	}
	if c.Bool("no-wait") {
		printFiles(rep)
		if rep.Done() {
			fmt.Println("all files are readable")
		} else {
			fmt.Printf("asked to unseal %d files; %d unsealing, ready at %s\n", rep.Requested, rep.Sealed+rep.Unsealing, etaText(rep.ETA))
		}
		return nil
	}
	fmt.Printf("%d files (%s) are readable\n", len(rep.Files), humanBytes(rep.Bytes))
	return nil
}

// pathFlag is duplicity's --file-to-restore (read with restorePath), with
// what it means to the command.
func pathFlag(usage string) cli.Flag {
	return &cli.StringFlag{Name: "path", Aliases: []string{"file-to-restore", "r"}, Usage: usage}
}

func restorePath(c *cli.Context) string {
	path := strings.Trim(c.String("path"), "/")
	if path == "." {
		return ""
	}
	return path
}

// printFiles lists each file with its size and state, one per line, for
// scripts: NAME<TAB>BYTES<TAB>STATE[<TAB>READY-AT].
func printFiles(rep unseal.Report) {
	for _, f := range rep.Files {
		line := fmt.Sprintf("%s\t%d\t%s", f.Name, f.Size, f.State)
		if f.State == backends.Unsealing && !f.ReadyAt.IsZero() {
			line += "\t" + f.ReadyAt.UTC().Format(time.RFC3339)
		}
		fmt.Println(line)
	}
	fmt.Printf("%d files, %s: %d readable, %d unsealing, %d sealed\n", len(rep.Files), humanBytes(rep.Bytes), rep.Ready, rep.Unsealing, rep.Sealed)
}

func etaText(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return fmt.Sprintf("%s (in %s)", t.UTC().Format(time.RFC3339), time.Until(t).Round(time.Second))
}

// unsealProgress shows the wait: a redrawn line on a terminal, else one
// line each time the counts change (at notice level), for cron's mail.
type unsealProgress struct {
	p     *progress
	level int
	last  string
}

func newUnsealProgress(level int) *unsealProgress {
	return &unsealProgress{p: newProgress("unsealing"), level: level}
}

func (u *unsealProgress) update(rep unseal.Report) {
	if rep.Done() && u.last == "" {
		return // nothing was ever sealed: say nothing
	}
	line := fmt.Sprintf("cold storage: %d/%d files readable (%s of %s), %d unsealing, %d sealed", rep.Ready, len(rep.Files), humanBytes(rep.ReadyBytes), humanBytes(rep.Bytes), rep.Unsealing, rep.Sealed)
	if !rep.Done() {
		line += ", ready at " + etaText(rep.ETA)
	}
	if u.p.tty {
		u.p.shown = true
		fmt.Fprintf(os.Stderr, "\r\033[K%s", line)
		return
	}
	// Without a terminal (cron), a line only when the counts change.
	key := fmt.Sprint(rep.Ready, rep.Unsealing, rep.Sealed)
	if key != u.last && u.level >= levelNotice {
		fmt.Fprintln(os.Stderr, "dupfs: "+line)
	}
	u.last = key
}

func (u *unsealProgress) done() { u.p.done() }

// waitUnsealed asks for the sealed ones of files in one batch and waits
// until all are readable, showing how it goes.
func waitUnsealed(c *cli.Context, cold backends.Cold, files []unseal.File) error {
	level, _ := verbosity(c)
	show := newUnsealProgress(level)
	defer show.done()
	return unseal.Wait(c.Context, cold, files, c.Duration("unseal-poll"), show.update)
}

// unsealFirst makes the files a restore reads readable when the target is
// on cold storage, waiting as long as it takes (restore is the command
// the user asked to wait).
func unsealFirst(c *cli.Context, r *repo.Repo, t time.Time, path string) error {
	cold, ok := backends.AsCold(r.Backend())
	if !ok {
		return nil
	}
	level, _ := verbosity(c)
	show := newUnsealProgress(level)
	defer show.done()
	_, err := unseal.Prepare(c.Context, r, cold, t, path, c.Duration("unseal-poll"), true, show.update)
	return err
}
