package writer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"dupfs/archive/collection"
	"dupfs/archive/names"
	"dupfs/repo"
)

// backupPlan is what a run will write: a full backup, or an incremental on
// the primary chain from its signature chain.
type backupPlan struct {
	full       bool
	start, end time.Time // inc: T1 (the chain's end) and T2; full: end only
	chain      *collection.Chain
	sigs       *collection.SigChain
	reason     string
}

func (p *backupPlan) describe() string {
	if p.full {
		return fmt.Sprintf("full backup %s (%s)", names.FormatTime(p.end), p.reason)
	}
	return fmt.Sprintf("incremental backup %s on the chain of %s", names.FormatTime(p.end), names.FormatTime(p.chain.Start()))
}

// plan chooses the backup type as duplicity does: incremental on the chain
// whose signatures match it, full when there is none, when asked, or when
// the last full is older than the limit.
func plan(ctx context.Context, r *repo.Repo, ropts repo.Options, opts Options) (*backupPlan, error) {
	c := r.Collection
	p := &backupPlan{full: true}
	switch {
	case opts.Full:
		p.reason = "requested"
	case c.Primary == nil || c.PrimarySig == nil:
		if opts.Incremental {
			return nil, errors.New("incremental backup: the target has no backup chain with signatures to extend (make a full backup first)")
		}
		p.reason = "no chain to extend"
	case !opts.FullIfOlderThan.IsZero() && c.Primary.Start().Before(opts.FullIfOlderThan):
		p.reason = "the last full backup is older than --full-if-older-than"
	default:
		p.full = false
		p.chain, p.sigs = c.Primary, c.PrimarySig
	}
	if !p.full && !opts.AllowSourceMismatch {
		m, err := r.Manifest(ctx, p.chain.Last())
		if err != nil {
			return nil, err
		}
		if m.Hostname != "" && m.Hostname != opts.Hostname {
			return nil, fmt.Errorf("backup source host has changed: now %q, previously %q (use --allow-source-mismatch if this is intended)", opts.Hostname, m.Hostname)
		}
		if dir := canonicalPath(opts.SourceDir); m.Localdir != "" && m.Localdir != dir {
			return nil, fmt.Errorf("backup source directory has changed: now %q, previously %q (use --allow-source-mismatch if this is intended)", dir, m.Localdir)
		}
	}
	if err := p.pickTimes(ctx, c, opts.Now); err != nil {
		return nil, err
	}
	return p, nil
}

// pickTimes sets the backup time: whole seconds, later than the chain it
// extends and than any set already stored (names must not collide).
func (p *backupPlan) pickTimes(ctx context.Context, c *collection.Collection, now func() time.Time) error {
	var latest time.Time
	for _, ch := range c.Chains {
		if ch.End().After(latest) {
			latest = ch.End()
		}
	}
	for _, s := range append(c.Incomplete, c.OrphanSets...) {
		if s.End.After(latest) {
			latest = s.End
		}
	}
	if !p.full {
		p.start = p.chain.End()
	}
	t := now().Truncate(time.Second)
	if wait := latest.Sub(t); wait > 10*time.Second {
		return fmt.Errorf("the target's latest backup (%s) is in the future: check the clock", names.FormatTime(latest))
	}
	// Like duplicity, wait out the second of the previous backup.
	for !t.After(latest) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(latest.Add(time.Second).Sub(now())):
		}
		t = now().Truncate(time.Second)
	}
	p.end = t.UTC()
	return nil
}

// canonicalPath is duplicity's canonical form of the source path: empty
// and "." components dropped, a leading "/" kept.
func canonicalPath(p string) string {
	var parts []string
	for _, s := range strings.Split(p, "/") {
		if s != "" && s != "." {
			parts = append(parts, s)
		}
	}
	joined := strings.Join(parts, "/")
	switch {
	case strings.HasPrefix(p, "/"):
		return "/" + joined
	case joined == "":
		return "."
	}
	return joined
}
