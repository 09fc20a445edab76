// Package restore writes the state of a backup at one time into a local
// directory, as `duplicity restore` does.
package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"dupfs/archive/collection"
	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/archive/manifest"
	"dupfs/archive/replay"
	"dupfs/repo"
)

// Options for one restore.
type Options struct {
	Time  time.Time // restore the state at this time
	Path  string    // index of a file or subtree to restore ("" = all)
	Dest  string    // target directory (or file, when Path is a file)
	Force bool      // allow writing over an existing, non-empty Dest
	// Warn receives problems that skip one entry but not the restore.
	Warn func(error)
	// Progress, when set, is called after each entry with the bytes written so far.
	Progress func(entries int, bytes int64)
}

// ErrPartial reports a restore that finished but skipped some entries.
var ErrPartial = errors.New("some files could not be restored")

// ErrNotFound reports that the requested path is not in the backup.
var ErrNotFound = errors.New("not found in backup")

// Stats summarises a restore.
type Stats struct {
	Entries int
	Bytes   int64
	Skipped int // entries not restored, each passed to Warn
	Damaged int // volumes that could not be read, each passed to Warn as a *DamageError
}

// Plan is what a restore at one time reads.
type Plan struct {
	Chain *collection.Chain
	Sets  []*collection.Set
	// Volumes[i] lists the volumes of Sets[i] that can hold the path.
	Volumes [][]manifest.Volume
}

// MakePlan selects the chain and sets for time t (duplicity's rules) and,
// from their manifests, the volumes that can hold path.
func MakePlan(ctx context.Context, r *repo.Repo, t time.Time, path string) (*Plan, error) {
	chain, err := r.Collection.ChainAt(t)
	if err != nil {
		return nil, err
	}
	p := &Plan{Chain: chain, Sets: chain.SetsUntil(t)}
	for _, set := range p.Sets {
		m, err := r.Manifest(ctx, set)
		if err != nil {
			return nil, err
		}
		want := map[int]bool{}
		for _, n := range m.VolumesFor(path) {
			want[n] = true
		}
		var vols []manifest.Volume
		for _, v := range m.Volumes {
			if want[v.Number] {
				vols = append(vols, v)
			}
		}
		p.Volumes = append(p.Volumes, vols)
	}
	return p, nil
}

// Open starts reading a plan: one decrypting stream per set, merged.
// A volume that cannot be read is passed to damage (a *DamageError) and
// skipped: the paths it held resolve to replay.ErrLost, everything else
// reads on. The returned close function stops every stream.
func Open(ctx context.Context, r *repo.Repo, p *Plan, path string, damage func(error)) (*replay.Merger, func()) {
	if damage == nil {
		damage = func(error) {}
	}
	streams := make([]replay.Stream, len(p.Sets))
	var vs []*repo.VolumeStream
	var ss []*setStream
	for i, set := range p.Sets {
		v := r.NewVolumeStream(ctx, set, p.Volumes[i])
		s := newSetStream(ctx, r, p.Chain, set, p.Volumes[i], v.Next, damage)
		vs, ss = append(vs, v), append(ss, s)
		streams[i] = s
	}
	return replay.NewMerger(streams, path), func() {
		for i := range vs {
			vs[i].Close()
			ss[i].Close()
		}
	}
}

// Walk reads plan (made for path) and calls fn for each index present at
// the plan's point, in index order: with its group and node, or, when the
// index cannot be replayed (replay.ErrLost for what a damaged volume
// held), with that error alone. damage hears of each damaged volume (see
// Open). An error from fn, or a failure no damage containment covers,
// ends the walk; a volume's error is returned without the context wrapped
// around it, which would only hide the cause. Restore and verify both
// read a backup through it.
func Walk(ctx context.Context, r *repo.Repo, p *Plan, path string, damage func(error), fn func(idx string, g *replay.Group, n *replay.Node, err error) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m, stop := Open(ctx, r, p, path, damage)
	defer stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		g, err := m.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return volumeFirst(err)
		}
		n, err := replay.Resolve(g)
		switch {
		case err != nil:
			err = fn(g.Index, nil, nil, err)
		case n != nil:
			err = fn(n.Index, g, n, nil)
		}
		if err != nil {
			return volumeFirst(err)
		}
	}
}

// Run restores opts.Path at opts.Time into opts.Dest.
func Run(ctx context.Context, r *repo.Repo, opts Options) (Stats, error) {
	var st Stats
	if err := index.Check(opts.Path); err != nil {
		return st, fmt.Errorf("path to restore: %w", err)
	}
	if err := checkDest(opts.Dest, opts.Force); err != nil {
		return st, err
	}
	plan, err := MakePlan(ctx, r, opts.Time, opts.Path)
	if err != nil {
		return st, err
	}
	if opts.Warn != nil {
		if s := incompleteAfter(r, plan, opts.Time); s != nil {
			opts.Warn(fmt.Errorf("backup set of %s is incomplete (no manifest: interrupted, or its manifest is lost); restoring %s, the last complete point before it",
				s.End.UTC().Format(time.RFC3339), plan.Sets[len(plan.Sets)-1].End.UTC().Format(time.RFC3339)))
		}
	}
	warn := func(err error) {
		st.Skipped++
		if opts.Warn != nil {
			opts.Warn(err)
		}
	}
	var firstDamage error
	damage := func(err error) {
		var d *DamageError
		if errors.As(err, &d) {
			st.Damaged++
			if firstDamage == nil {
				firstDamage = err
			}
		}
		if opts.Warn != nil {
			opts.Warn(err)
		}
	}
	w := newDiskWriter(opts.Dest, opts.Force)
	err = Walk(ctx, r, plan, opts.Path, damage, func(idx string, g *replay.Group, n *replay.Node, err error) error {
		if err != nil {
			if errors.Is(err, replay.ErrLost) {
				err = &NotRestoredError{Path: index.Display(idx), Err: replay.ErrLost}
			}
			warn(err)
			return nil
		}
		if n.Index == "" && opts.Path == "" && n.Meta.Type != difftar.Dir {
			return fmt.Errorf("backup root is a %v, not a directory: %w", n.Meta.Type, replay.ErrCorrupt)
		}
		written, err := w.write(g, n, index.Rel(n.Index, opts.Path))
		if err != nil {
			var skipped *skipError
			if !errors.As(err, &skipped) {
				return err
			}
			warn(err)
			return nil
		}
		st.Entries++
		st.Bytes += written
		if opts.Progress != nil {
			opts.Progress(st.Entries, st.Bytes)
		}
		return nil
	})
	if err != nil {
		return st, err
	}
	if err := w.finish(); err != nil {
		return st, err
	}
	if st.Damaged > 0 {
		return st, fmt.Errorf("%w (%d damaged volume(s) in all); %d entries not restored: %w", firstDamage, st.Damaged, st.Skipped, ErrPartial)
	}
	if st.Entries == 0 {
		if opts.Path != "" {
			return st, fmt.Errorf("%s: %w at %s", opts.Path, ErrNotFound, opts.Time.UTC().Format(time.RFC3339))
		}
		return st, fmt.Errorf("backup at %s: %w", opts.Time.UTC().Format(time.RFC3339), ErrNotFound)
	}
	if st.Skipped > 0 {
		return st, fmt.Errorf("%d entries skipped: %w", st.Skipped, ErrPartial)
	}
	return st, nil
}

// incompleteAfter returns the newest incomplete set between the plan's
// point and t: the point the user asked for that the restore cannot give.
func incompleteAfter(r *repo.Repo, p *Plan, t time.Time) *collection.Set {
	end := p.Sets[len(p.Sets)-1].End
	var found *collection.Set
	for _, s := range r.Collection.Incomplete {
		if s.End.After(end) && !s.End.After(t) && (found == nil || s.End.After(found.End)) {
			found = s
		}
	}
	return found
}

// volumeFirst reports a damaged or missing volume by itself: the tar and
// file context wrapped around it would only hide the cause.
func volumeFirst(err error) error {
	var ve *repo.VolumeError
	if errors.As(err, &ve) {
		return ve
	}
	return err
}

// checkDest refuses to restore over existing data unless forced.
func checkDest(dest string, force bool) error {
	if dest == "" {
		return errors.New("no restore destination given")
	}
	fi, err := os.Lstat(dest)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore destination: %w", err)
	}
	if force {
		return nil
	}
	if !fi.IsDir() {
		return fmt.Errorf("restore destination %s exists; use --force to overwrite it", dest)
	}
	f, err := os.Open(dest)
	if err != nil {
		return fmt.Errorf("restore destination: %w", err)
	}
	defer f.Close()
	if names, _ := f.Readdirnames(1); len(names) > 0 {
		return fmt.Errorf("restore destination %s is not empty; use --force to restore into it", dest)
	}
	return nil
}
