// Package prune deletes the files a retention or cleanup command selected
// (collection.Removal) from a target and its archive dir, in the given
// order, stopping at the first failure so that the order's guarantees
// hold for what is left.
package prune

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"dupfs/archive/collection"
	"dupfs/backends"
)

// Run deletes files in order: remote ones from b (give it the target's
// retrying backend), local ones from archiveDir. A file already gone
// counts as deleted, so a run stopped half-way can simply be run again.
// done, if not nil, is told of each file once it is gone.
func Run(ctx context.Context, b backends.Backend, archiveDir string, files []collection.File, done func(collection.File)) error {
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := remove(ctx, b, archiveDir, f); err != nil {
			return err
		}
		if done != nil {
			done(f)
		}
	}
	return nil
}

func remove(ctx context.Context, b backends.Backend, archiveDir string, f collection.File) error {
	if !f.Local {
		if err := b.Delete(ctx, f.Name); err != nil && !errors.Is(err, backends.ErrNotExist) {
			return fmt.Errorf("delete %s from %s: %w", f.Name, b, err)
		}
		return nil
	}
	if archiveDir == "" {
		return fmt.Errorf("delete %s: no archive dir", f.Name)
	}
	p := Path(archiveDir, f)
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete %s: %w", p, err)
	}
	return nil
}

// Path is how a file is named to users: a remote file by its name, an
// archive-dir file by its path (remote names never hold a slash).
func Path(archiveDir string, f collection.File) string {
	if f.Local {
		return filepath.Join(archiveDir, f.Name)
	}
	return f.Name
}
