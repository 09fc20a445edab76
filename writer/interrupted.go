package writer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"dupfs/archive/collection"
	"dupfs/archive/names"
	"dupfs/prune"
	"dupfs/repo"
)

// setKey identifies a backup set by its type and times; volumes, manifest
// and signatures of one set share it.
type setKey struct {
	full       bool
	start, end int64
}

func keyOf(n names.Name) setKey {
	full := n.Type.Full() || n.Type == names.FullSignature
	k := setKey{full: full, end: n.End.Unix()}
	if !full {
		k.start = n.Start.Unix()
	}
	return k
}

func (k setKey) String() string {
	if k.full {
		return "full " + names.FormatTime(time.Unix(k.end, 0))
	}
	return "incremental " + names.FormatTime(time.Unix(k.start, 0)) + " to " + names.FormatTime(time.Unix(k.end, 0))
}

// cleanInterrupted finds backups interrupted before their manifest was
// stored: the archive dir holds their partial manifest, the target has no
// manifest for them. Their stored volumes and signatures are deleted, so
// the run starts that backup over (duplicity would resume it; starting
// over is as safe and simpler). Without the local partial manifest a set
// lacking its manifest is left alone: it may be a prefix mismatch rather
// than a crash, and `cleanup` is the command that deletes such sets.
// Reports whether it changed anything, so the caller lists the target again.
func cleanInterrupted(ctx context.Context, r *repo.Repo, ropts repo.Options, notice func(string)) (bool, error) {
	dir := ropts.ArchiveDir
	removeStaleTemps(dir)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false, fmt.Errorf("archive dir: %w", err)
	}
	local := map[setKey][]string{}
	var partial []setKey
	for _, e := range ents {
		n, ok := names.Parse(e.Name(), ropts.Prefixes, ropts.Short)
		if !ok || n.Type.Volume() {
			continue
		}
		k := keyOf(n)
		local[k] = append(local[k], e.Name())
		if n.Partial && n.Type.Manifest() {
			partial = append(partial, k)
		}
	}
	if len(partial) == 0 {
		return false, nil
	}
	files, err := r.Backend().List(ctx)
	if err != nil {
		return false, fmt.Errorf("list %s: %w", r.Backend(), err)
	}
	remote := map[setKey][]string{}
	hasManifest := map[setKey]bool{}
	for _, f := range files {
		n, ok := names.Parse(f.Name, ropts.Prefixes, ropts.Short)
		if !ok {
			continue
		}
		k := keyOf(n)
		remote[k] = append(remote[k], f.Name)
		if n.Type.Manifest() {
			hasManifest[k] = true
		}
	}
	for _, k := range partial {
		if hasManifest[k] {
			// Finished remotely; only the local bookkeeping was cut short.
			for _, name := range local[k] {
				if n, _ := names.Parse(name, ropts.Prefixes, ropts.Short); n.Partial {
					if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
						return true, fmt.Errorf("archive dir: %w", err)
					}
				}
			}
			continue
		}
		notice(fmt.Sprintf("found the interrupted backup %s (%d stored files, no manifest): deleting it and starting over", k, len(remote[k])))
		var del []collection.File
		for _, name := range remote[k] {
			del = append(del, collection.File{Name: name})
		}
		for _, name := range local[k] {
			del = append(del, collection.File{Name: name, Local: true})
		}
		if err := prune.Run(ctx, r.Backend(), dir, del, nil); err != nil {
			return true, fmt.Errorf("the interrupted backup %s: %w", k, err)
		}
	}
	return true, nil
}

// removeStaleTemps deletes temporary files a killed run left in the archive
// dir; the caller holds the lock, so none is in use.
func removeStaleTemps(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".dupfs-") || strings.HasSuffix(e.Name(), ".part.tmp") {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}
