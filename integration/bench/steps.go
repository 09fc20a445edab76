package main

import (
	"context"
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
	// sizeWithin, when above 0, is how far the bytes dupfs's run adds to
	// its repository may be from duplicity's, as a fraction of the latter.
	sizeWithin float64
	// prepare, when set, runs once before any tool's run (not measured).
	prepare func(ctx context.Context, b *bench, tools []*tool) error
	// trial sets one run up for t (not measured) and returns what to
	// measure and check; out, for restored files, does not exist yet.
	trial func(ctx context.Context, b *bench, t *tool, out string) (trialSpec, error)
	// session, when set, replaces trial: it measures the step for every
	// tool at once, with the results so far at hand, keeps its own table
	// and returns how many of its measurements failed.
	session func(ctx context.Context, b *bench, tools []*tool, done []result) int
}

// trialSpec is one run of a step for one tool.
type trialSpec struct {
	cmd   command
	warm  []string     // read before the command, so it finds them in the page cache
	check func() error // run on the command's result
	// repo is the repository the run reads or writes; its size after the
	// run is the stored size. For a step that writes, before is the size
	// it had before, so the difference is what the run added.
	repo   string
	writes bool
	before int64
}

// maxRSS is the memory target for dupfs in every step, whatever the size.
const maxRSS = 200 << 20

var steps = []step{
	{
		name:       "backup-full",
		about:      "full backup of a copy of the final corpus state into an empty encrypted repository",
		targets:    []target{{"duplicity", 5}, {"restic", 1}, {"borg", 1}},
		sizeWithin: 0.10,
		prepare:    prepareBackupFull,
		trial:      backupFullTrial,
	},
	{
		name:       "backup-incremental",
		about:      "incremental backup on top of that full backup after one more round of ~1% changes (round 6)",
		targets:    []target{{"duplicity", 4}, {"restic", 1}},
		sizeWithin: 0.10,
		prepare:    prepareBackupIncremental,
		trial:      backupIncrementalTrial,
	},
	{
		name:    "restore-full",
		about:   "restore the latest point (full + 5 incrementals) into an empty directory",
		targets: []target{{"duplicity", 5}, {"restic", 1}, {"borg", 1}},
		trial: func(_ context.Context, b *bench, t *tool, out string) (trialSpec, error) {
			c, root := t.restoreAll(b, out)
			return trialSpec{cmd: c, warm: t.store.warm, repo: t.store.dir, check: func() error { return b.checkTree(root) }}, nil
		},
	},
	{
		name:    "restore-file",
		about:   "restore one small file from the latest point",
		targets: []target{{"duplicity", 1}, {"restic", 1}, {"borg", 1}},
		trial: func(_ context.Context, b *bench, t *tool, out string) (trialSpec, error) {
			c, path := t.restoreOne(b, b.small.rel, out)
			return trialSpec{cmd: c, warm: t.store.warm, repo: t.store.dir, check: func() error { return b.checkFile(b.small.rel, path) }}, nil
		},
	},
	{
		name:    "mount",
		about:   "dupfs mount, restic mount and borg mount of the latest point: ready, ls, find, one small read, cp, cp -a (its own table)",
		session: mountSession,
	},
}

// checkTree compares a restored tree with the final corpus state.
func (b *bench) checkTree(root string) error {
	return checkTreeAgainst(b.src, b.want, b.probe, root)
}

// checkTreeAgainst compares a restored tree with the source tree src:
// counts and bytes (want), then the content of probe, a sample that
// includes every changed file.
func checkTreeAgainst(src string, want summary, probe []string, root string) error {
	got, err := summarize(root)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("restored %s, want %s", got, want)
	}
	bad, err := sameContent(src, root, probe)
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
