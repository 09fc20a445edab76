// Package unseal brings the files a command needs out of cold storage
// before it reads them: it works out the whole list first, asks for every
// sealed one in one batch, then polls until all are readable, reporting
// each file's state and the ETA. Restore and the unseal command use it;
// the mount asks per file through the same Request.
package unseal

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"dupfs/backends"
	"dupfs/repo"
	"dupfs/restore"
)

// File is one stored file a command needs.
type File struct {
	Name string
	Size int64 // from the listing; 0 when unknown
}

// Needed lists what a restore of path at t reads: the manifests the
// archive dir lacks, then each set's volumes that can hold
// path. On cold storage, the metadata must be readable before the volumes
// can even be worked out: if a manifest is sealed, Needed returns what it
// knows with a *backends.SealedError, and the caller unseals the metadata
// first (Metadata) and asks again.
func Needed(ctx context.Context, r *repo.Repo, t time.Time, path string) ([]File, error) {
	files := metadata(r, false)
	plan, err := restore.MakePlan(ctx, r, t, path)
	if err != nil {
		return files, err
	}
	for i, set := range plan.Sets {
		for _, v := range plan.Volumes[i] {
			name, ok := r.VolumeName(set, v.Number)
			if !ok {
				continue // missing: the restore names it
			}
			size, _ := r.Size(name)
			files = append(files, File{Name: name, Size: size})
		}
	}
	return files, nil
}

// Metadata lists the manifests and signatures the archive dir lacks: what
// a mount reads before it can list anything.
func Metadata(r *repo.Repo) []File { return metadata(r, true) }

func metadata(r *repo.Repo, sigs bool) []File { return Files(r, r.UncachedMetadata(sigs)) }

// Files gives the named stored files their sizes from the target's listing.
func Files(r *repo.Repo, names []string) []File {
	files := make([]File, 0, len(names))
	for _, n := range names {
		size, _ := r.Size(n)
		files = append(files, File{Name: n, Size: size})
	}
	return files
}

// State is one file's place in the cold tier.
type State struct {
	File
	backends.ColdState
}

// Report is where a batch stands.
type Report struct {
	Files                    []State // by name
	Sealed, Unsealing, Ready int
	Bytes, ReadyBytes        int64
	ETA                      time.Time // the latest ReadyAt of those unsealing; zero if unknown
	Requested                int       // files asked for by this call
}

// Done reports whether every file is readable.
func (r Report) Done() bool { return r.Sealed == 0 && r.Unsealing == 0 }

func report(files []File, st map[string]backends.ColdState) Report {
	states := make([]State, 0, len(files))
	for _, f := range files {
		s, ok := st[f.Name]
		if !ok {
			// Not in the cold store (a hot store holds it, or it is
			// missing and the reader will say so): nothing to wait for.
			s = backends.ColdState{State: backends.Unsealed}
		}
		states = append(states, State{f, s})
	}
	sort.Slice(states, func(i, j int) bool { return states[i].Name < states[j].Name })
	return Summarize(states)
}

// Summarize counts files by state, with their bytes and the latest ETA.
func Summarize(states []State) Report {
	r := Report{Files: states}
	for _, f := range states {
		r.Bytes += f.Size
		switch f.State {
		case backends.Sealed:
			r.Sealed++
		case backends.Unsealing:
			r.Unsealing++
			if f.ReadyAt.After(r.ETA) {
				r.ETA = f.ReadyAt
			}
		default:
			r.Ready++
			r.ReadyBytes += f.Size
		}
	}
	return r
}

func namesOf(files []File) []string {
	n := make([]string, 0, len(files))
	for _, f := range files {
		n = append(n, f.Name)
	}
	slices.Sort(n)
	return slices.Compact(n)
}

// Check reports the files' states without asking for anything.
func Check(ctx context.Context, cold backends.Cold, files []File) (Report, error) {
	st, err := cold.States(ctx, namesOf(files))
	if err != nil {
		return Report{}, fmt.Errorf("seal states: %w", err)
	}
	return report(files, st), nil
}

// Request asks, in one batch, for every sealed file to be unsealed.
func Request(ctx context.Context, cold backends.Cold, files []File) (Report, error) {
	before, err := Check(ctx, cold, files)
	if err != nil {
		return before, err
	}
	if before.Sealed == 0 {
		return before, nil
	}
	var sealed []string
	for _, f := range before.Files {
		if f.State == backends.Sealed {
			sealed = append(sealed, f.Name)
		}
	}
	st, err := cold.Unseal(ctx, sealed)
	if err != nil {
		return before, fmt.Errorf("unseal: %w", err)
	}
	// The states after the request: the store's answer over what it said before.
	byName := make(map[string]backends.ColdState, len(before.Files))
	for _, f := range before.Files {
		byName[f.Name] = f.ColdState
		if s, ok := st[f.Name]; ok {
			byName[f.Name] = s
		}
	}
	r := report(files, byName)
	r.Requested = len(sealed)
	return r, nil
}

// Wait requests the unseal of every sealed file, then polls every
// interval until all are readable or ctx ends, calling progress after
// the request and after each poll.
func Wait(ctx context.Context, cold backends.Cold, files []File, interval time.Duration, progress func(Report)) error {
	r, err := Request(ctx, cold, files)
	if err != nil {
		return err
	}
	for {
		if progress != nil {
			progress(r)
		}
		if r.Done() {
			return nil
		}
		if r.Sealed > 0 {
			// Resealed, or an unseal that did not take: ask again.
			if r, err = Request(ctx, cold, files); err != nil {
				return err
			}
			if r.Sealed > 0 {
				return fmt.Errorf("unseal: %d files stay sealed after being asked for", r.Sealed)
			}
		}
		t := time.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for %d files to unseal: %w", r.Sealed+r.Unsealing, ctx.Err())
		case <-t.C:
		}
		if r, err = Check(ctx, cold, files); err != nil {
			return err
		}
	}
}

// Prepare makes what a restore of path at t reads readable: metadata
// first when it is sealed, then the volumes, each step one batch. With
// wait false it only asks, and returns the report.
func Prepare(ctx context.Context, r *repo.Repo, cold backends.Cold, t time.Time, path string, interval time.Duration, wait bool, progress func(Report)) (Report, error) {
	for round := 0; ; round++ {
		files, err := Needed(ctx, r, t, path)
		var se *backends.SealedError
		sealedMeta := errors.As(err, &se)
		if err != nil && !sealedMeta {
			return Report{}, err
		}
		if sealedMeta && round > 0 {
			return Report{}, err // unsealed once already, and sealed again
		}
		if !wait {
			rep, err := Request(ctx, cold, files)
			if err == nil && sealedMeta {
				err = fmt.Errorf("the volumes are known once the manifests are unsealed (ready at %s); run again then: %w", formatETA(rep.ETA), se)
			}
			return rep, err
		}
		var last Report
		if err := Wait(ctx, cold, files, interval, func(r Report) {
			last = r
			if progress != nil {
				progress(r)
			}
		}); err != nil {
			return last, err
		}
		if !sealedMeta {
			return last, nil
		}
	}
}

func formatETA(t time.Time) string {
	if t.IsZero() {
		return "an unknown time"
	}
	return t.UTC().Format(time.RFC3339)
}
