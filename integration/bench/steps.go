package main

import (
	"fmt"
	"path/filepath"
)

// target is one goal of a step: dupfs's wall time times factor must be
// below the peer's.
type target struct {
	peer   string
	factor float64
}

// step is one measured operation, run for every tool.
type step struct {
	name  string
	about string
	// targets are checked when dupfs and the peer both ran.
	targets []target
	// trial returns the command to measure for t, writing under out (which
	// does not exist yet), and the check run on its result afterwards.
	trial func(b *bench, t *tool, out string) (command, func() error)
}

// maxRSS is the memory target for dupfs in every step, whatever the size.
const maxRSS = 200 << 20

var steps = []step{
	{
		name:    "restore-full",
		about:   "restore the latest point (full + 5 incrementals) into an empty directory",
		targets: []target{{"duplicity", 5}, {"restic", 1}, {"borg", 1}},
		trial: func(b *bench, t *tool, out string) (command, func() error) {
			c, root := t.restoreAll(b, out)
			return c, func() error { return b.checkTree(root) }
		},
	},
	{
		name:    "restore-file",
		about:   "restore one small file from the latest point",
		targets: []target{{"duplicity", 1}, {"restic", 1}, {"borg", 1}},
		trial: func(b *bench, t *tool, out string) (command, func() error) {
			c, path := t.restoreOne(b, b.small.rel, out)
			return c, func() error { return b.checkFile(b.small.rel, path) }
		},
	},
}

// checkTree compares a restored tree with the final corpus state: counts
// and bytes, then the content of a sample that includes every changed file.
func (b *bench) checkTree(root string) error {
	got, err := summarize(root)
	if err != nil {
		return err
	}
	if got != b.want {
		return fmt.Errorf("restored %s, want %s", got, b.want)
	}
	bad, err := sameContent(b.src, root, b.probe)
	if err != nil {
		return err
	}
	if bad != "" {
		return fmt.Errorf("restored %s differs from the source", bad)
	}
	return nil
}

// checkFile compares one restored file with its source.
func (b *bench) checkFile(rel, path string) error {
	same, err := sameFile(filepath.Join(b.src, rel), path)
	if err != nil {
		return err
	}
	if !same {
		return fmt.Errorf("restored %s is missing or differs from the source", rel)
	}
	return nil
}
