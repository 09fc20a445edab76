package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// The backup steps write their own repositories, one place per tool under
// work/bk, from their own copy of the corpus, so the stores setup built
// (and the restore steps read) stay as they are. backup-full backs the copy
// up into empty repositories; backup-incremental applies one more round of
// changes to the copy and backs it up on top of each tool's full backup,
// which is saved under work/bk-base so every run of the incremental starts
// from the same repository.

// backupRun is the backup steps' state within one bench run.
type backupRun struct {
	src     string          // the copy of the corpus being backed up
	mutated bool            // src has had its round of changes
	base    map[string]bool // tools whose full backup of the unchanged copy is saved
	want    summary         // what a restore of src must give
	probe   []string        // files whose content a restore is checked on
}

// backupRound is the change round the incremental backs up: one past the
// rounds setup made, so it changes files the earlier rounds left alone.
const backupRound = rounds + 1

func (b *bench) backupDir(name string) string { return filepath.Join(b.work, "bk", name) }
func (b *bench) baseDir(name string) string   { return filepath.Join(b.work, "bk-base", name) }

// backupTool is tool name as it backs the copy up into its own place;
// archive names the borg archive restores read.
func (b *bench) backupTool(name, archive string) *tool {
	tools := b.toolsAt(place{dir: b.backupDir(name), src: b.bk.src, borgArchive: archive})
	i := slices.IndexFunc(tools, func(t *tool) bool { return t.name == name })
	return tools[i]
}

// freshBackupSource copies the final corpus state to the backup steps'
// source; saved full backups of an earlier copy no longer apply.
func (b *bench) freshBackupSource(ctx context.Context) error {
	b.bk = backupRun{src: filepath.Join(b.work, "bsrc"), base: map[string]bool{}, want: b.want, probe: b.probe}
	if err := os.RemoveAll(b.bk.src); err != nil {
		return fmt.Errorf("clean %s: %w", b.bk.src, err)
	}
	if err := os.RemoveAll(filepath.Join(b.work, "bk-base")); err != nil {
		return fmt.Errorf("clean saved backups: %w", err)
	}
	// cp -a keeps modes, mtimes and symlinks as the corpus has them.
	return run(ctx, command{argv: []string{"cp", "-a", b.src, b.bk.src}}, b.setupLog)
}

func prepareBackupFull(ctx context.Context, b *bench, _ []*tool) error {
	return b.freshBackupSource(ctx)
}

// startBackup empties tool name's place and creates its repository.
func (b *bench) startBackup(ctx context.Context, name string) (*tool, error) {
	dir := b.backupDir(name)
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("clean %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	t := b.backupTool(name, "::full")
	if t.init != nil {
		if err := run(ctx, t.init(), b.setupLog); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func backupFullTrial(ctx context.Context, b *bench, t *tool, out string) (trialSpec, error) {
	if b.bk.mutated {
		return trialSpec{}, errors.New("the backup source has already been changed")
	}
	bt, err := b.startBackup(ctx, t.name)
	if err != nil {
		return trialSpec{}, err
	}
	return trialSpec{
		cmd:    bt.backup("full"),
		warm:   []string{b.bk.src},
		repo:   bt.store.dir,
		writes: true,
		check: func() error {
			// Saved before the check's restore, which may touch caches.
			if err := b.saveBase(ctx, t.name); err != nil {
				return err
			}
			return b.checkBackup(ctx, t.name, "::full", out)
		},
	}, nil
}

// saveBase keeps tool name's place as its full backup left it.
func (b *bench) saveBase(ctx context.Context, name string) error {
	dst := b.baseDir(name)
	if err := os.RemoveAll(dst); err != nil {
		return fmt.Errorf("clean %s: %w", dst, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	if err := run(ctx, command{argv: []string{"cp", "-a", b.backupDir(name), dst}}, b.setupLog); err != nil {
		return err
	}
	b.bk.base[name] = true
	return nil
}

// prepareBackupIncremental makes the full backups backup-full did not
// (when it was not run, or failed), then changes the copy.
func prepareBackupIncremental(ctx context.Context, b *bench, tools []*tool) error {
	if b.bk.src == "" {
		if err := b.freshBackupSource(ctx); err != nil {
			return err
		}
	}
	for _, t := range tools {
		if b.bk.base[t.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: %s full backup for the incremental (not measured)\n", t.name)
		bt, err := b.startBackup(ctx, t.name)
		if err != nil {
			return err
		}
		if err := run(ctx, bt.backup("full"), b.setupLog); err != nil {
			return fmt.Errorf("%s full backup: %w", t.name, err)
		}
		if err := b.saveBase(ctx, t.name); err != nil {
			return err
		}
	}
	// duplicity names sets by the second; the changes must come after it.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
	touched, err := mutate(b.bk.src, backupRound)
	if err != nil {
		return err
	}
	b.bk.mutated = true
	files, err := regularFiles(b.bk.src)
	if err != nil {
		return err
	}
	if b.bk.want, err = summarize(b.bk.src); err != nil {
		return err
	}
	b.bk.probe = probeSample(files, touched, 2000)
	return nil
}

func backupIncrementalTrial(ctx context.Context, b *bench, t *tool, out string) (trialSpec, error) {
	if !b.bk.base[t.name] {
		return trialSpec{}, errors.New("no full backup to extend")
	}
	dir := b.backupDir(t.name)
	if err := os.RemoveAll(dir); err != nil {
		return trialSpec{}, fmt.Errorf("clean %s: %w", dir, err)
	}
	if err := run(ctx, command{argv: []string{"cp", "-a", b.baseDir(t.name), dir}}, b.setupLog); err != nil {
		return trialSpec{}, err
	}
	bt := b.backupTool(t.name, "::incremental")
	before, err := treeBytes(bt.store.dir)
	if err != nil {
		return trialSpec{}, err
	}
	return trialSpec{
		cmd: bt.backup("incremental"),
		// The repository and caches too: an incremental reads the old
		// signatures or indexes.
		warm:   append([]string{b.bk.src}, bt.store.warm...),
		repo:   bt.store.dir,
		writes: true,
		before: before,
		check:  func() error { return b.checkBackup(ctx, t.name, "::incremental", out) },
	}, nil
}

// checkBackup restores tool name's latest backup into out and compares it
// with the source. What dupfs wrote is restored by duplicity, when it is
// installed: the point is that duplicity reads it.
func (b *bench) checkBackup(ctx context.Context, name, archive, out string) error {
	reader := name
	if name == "dupfs" && missing([]string{"duplicity", "gpg"}) == "" {
		reader = "duplicity"
	}
	tools := b.toolsAt(place{dir: b.backupDir(name), src: b.bk.src, borgArchive: archive})
	t := tools[slices.IndexFunc(tools, func(t *tool) bool { return t.name == reader })]
	c, root := t.restoreAll(b, out)
	if c.dir != "" {
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return err
		}
	}
	log := filepath.Join(b.work, "logs", "check.log")
	if err := run(ctx, c, log); err != nil {
		return fmt.Errorf("%s restore of the backup: %w", reader, err)
	}
	return checkTreeAgainst(b.bk.src, b.bk.want, b.bk.probe, root)
}
