package collection

import (
	"errors"
	"slices"
	"time"

	"dupfs/archive/names"
)

// File is one file a retention or cleanup command deletes.
type File struct {
	Name  string
	Local bool // in the archive dir, not the target
}

// Removal is what a retention or cleanup command deletes, in the order it
// must delete it.
type Removal struct {
	Files []File
	// Chains are the backup chains touched: removed whole, or only their
	// incrementals for RemoveIncsOfAllButNFull. Empty for Extraneous.
	Chains []*Chain
}

// ErrBadCount rejects a count of full backups to keep below 1, as
// duplicity does.
var ErrBadCount = errors.New("the number of full backups to keep must be at least 1")

// The deletion order keeps a target usable if a run stops half-way:
//   - signature chains first, newest file first: a backup chain left
//     without its (old, secondary) signatures still restores, and is still
//     older than the time, so the next run removes it and them;
//   - then backup chains, newest chain and newest set first, so what is
//     left of a chain is always a shorter valid chain;
//   - within a set, its archive-dir copies, then its manifest, then its
//     volumes from the last: a set stopped half-way has no manifest, which
//     makes it an incomplete set that cleanup removes, never a set whose
//     manifest names missing volumes.

// RemoveOlderThan selects what "remove-older-than t" deletes: every backup
// chain ending before t except the primary one (a chain is kept whole when
// any of its sets is kept), the signature chains ending before t, and the
// archive-dir copies of the removed sets. Like duplicity, signature chains
// go only along with at least one backup chain. Unlike duplicity 0.8.22,
// which also deletes the remote signatures of the primary chain when t is
// after its end and a local copy of them exists, signatures of a kept
// chain are kept.
func (c *Collection) RemoveOlderThan(t time.Time) Removal {
	return c.remove(t, false)
}

// RemoveAllButNFull selects what "remove-all-but-n-full n" deletes: what
// RemoveOlderThan deletes at the time of the nth newest full backup;
// nothing when there are fewer than n full backups.
func (c *Collection) RemoveAllButNFull(n int) (Removal, error) {
	t, err := c.nthLastFull(n)
	if err != nil || t.IsZero() {
		return Removal{}, err
	}
	return c.remove(t, false), nil
}

// RemoveIncsOfAllButNFull selects what "remove-all-inc-of-but-n-full n"
// deletes: the incrementals (and new signatures) of the chains that
// RemoveAllButNFull would delete, keeping their full backups and full
// signatures.
func (c *Collection) RemoveIncsOfAllButNFull(n int) (Removal, error) {
	t, err := c.nthLastFull(n)
	if err != nil || t.IsZero() {
		return Removal{}, err
	}
	return c.remove(t, true), nil
}

// nthLastFull is the time of the nth newest full backup, zero when there
// are fewer than n.
func (c *Collection) nthLastFull(n int) (time.Time, error) {
	if n < 1 {
		return time.Time{}, ErrBadCount
	}
	if len(c.Chains) < n {
		return time.Time{}, nil
	}
	starts := make([]time.Time, len(c.Chains))
	for i, ch := range c.Chains {
		starts[i] = ch.Start()
	}
	slices.SortFunc(starts, func(a, b time.Time) int { return b.Compare(a) })
	return starts[n-1], nil
}

func (c *Collection) remove(t time.Time, incsOnly bool) Removal {
	var chains, kept []*Chain
	for _, ch := range c.Chains {
		old := ch != c.Primary && c.end(ch).Before(t)
		if old && (!incsOnly || len(ch.Incs) > 0) {
			chains = append(chains, ch)
		} else {
			kept = append(kept, ch)
		}
	}
	if len(chains) == 0 {
		return Removal{}
	}
	r := Removal{Chains: chains}
	seen := make(map[File]bool)
	add := func(f File) {
		if !seen[f] {
			seen[f] = true
			r.Files = append(r.Files, f)
		}
	}
	for i := len(c.SigChains) - 1; i >= 0; i-- {
		sig := c.SigChains[i]
		if sig == c.PrimarySig || !sig.End.Before(t) || signsOneOf(sig, kept, c) {
			continue
		}
		for j := len(sig.News) - 1; j >= 0; j-- {
			add(File{sig.News[j], sig.Local})
		}
		if !incsOnly {
			add(File{sig.Full, sig.Local})
		}
	}
	for i := len(chains) - 1; i >= 0; i-- {
		sets := chains[i].Sets()
		if incsOnly {
			sets = sets[1:]
		}
		for j := len(sets) - 1; j >= 0; j-- {
			for _, f := range c.setFiles(sets[j], true) {
				add(f)
			}
		}
	}
	return r
}

// signsOneOf reports whether sig is the signature chain of one of chains.
func signsOneOf(sig *SigChain, chains []*Chain, c *Collection) bool {
	for _, ch := range chains {
		if sig.Start.Equal(ch.Start()) && (sig.End.Equal(ch.End()) || sig.End.Equal(c.end(ch))) {
			return true
		}
	}
	return false
}

// setFiles lists a set's files in deletion order: with withLocal, every
// archive-dir file of the set's times first (manifest copies, a partial
// manifest, signatures, as duplicity removes them with the set), then the
// remote manifest, then the volumes from the last.
func (c *Collection) setFiles(s *Set, withLocal bool) []File {
	var out []File
	if withLocal {
		want := keyOf(s.Full, s.Start, s.End)
		for _, e := range c.local {
			if localKey(e.n) == want {
				out = append(out, File{e.name, true})
			}
		}
	}
	if s.Manifest != "" {
		out = append(out, File{s.Manifest, false})
	}
	nums := make([]int, 0, len(s.Volumes))
	for n := range s.Volumes {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	for i := len(nums) - 1; i >= 0; i-- {
		out = append(out, File{s.Volumes[nums[i]], false})
	}
	return out
}

// localKey is the set key an archive-dir file belongs to: full
// signatures go with the full set of their time, new signatures with the
// incremental of their times.
func localKey(n names.Name) setKey {
	full := n.Type.Full() || n.Type == names.FullSignature
	return keyOf(full, n.Start, n.End)
}

// Extraneous selects what "cleanup" deletes, as duplicity's cleanup does.
// First the interrupted last set of the chain with the newest full (a
// local partial manifest, which the next backup would resume), again
// while the newest chain ends so: duplicity's cleanup drops it whole, its
// archive-dir files included. Then the remote files of orphaned and
// incomplete sets, remote signatures that fit no chain, and archive-dir
// signatures that fit no chain. Archive-dir manifests of orphaned or
// incomplete sets are left, as duplicity leaves them; an interrupted set
// at the end of an older chain is kept, as in duplicity.
func (c *Collection) Extraneous() Removal {
	var r Removal
	seen := make(map[File]bool)
	add := func(files ...File) {
		for _, f := range files {
			if !seen[f] {
				seen[f] = true
				r.Files = append(r.Files, f)
			}
		}
	}
	chains := make([][]*Set, len(c.Chains))
	for i, ch := range c.Chains {
		chains[i] = ch.Sets()
	}
	for len(chains) > 0 {
		newest := 0
		for i, sets := range chains {
			if !sets[0].End.Before(chains[newest][0].End) {
				newest = i
			}
		}
		sets := chains[newest]
		last := sets[len(sets)-1]
		if !last.Partial {
			break
		}
		add(c.setFiles(last, true)...)
		if len(sets) == 1 {
			chains = slices.Delete(chains, newest, newest+1)
		} else {
			chains[newest] = sets[:len(sets)-1]
		}
	}
	for _, s := range append(slices.Clone(c.OrphanSets), c.Incomplete...) {
		add(c.setFiles(s, false)...)
	}
	for _, n := range c.remoteOrphanSigs {
		add(File{n, false})
	}
	for _, n := range c.LocalOrphans {
		add(File{n, true})
	}
	return r
}
