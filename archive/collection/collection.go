// Package collection groups the files of a duplicity target (and of its
// local archive dir) into backup sets, backup chains and signature chains
// exactly as duplicity 0.8.22 does, and selects the chain for a time.
package collection

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"dupfs/archive/names"
)

// Set is one backup session: a full or an incremental.
type Set struct {
	Full       bool
	Start, End time.Time // full: Start == End == T
	// Manifest is the remote manifest name ("" if none).
	Manifest string
	// LocalManifest is the archive-dir manifest of the set: the
	// ".manifest.part" file when Partial, else a plain copy; "" if none.
	LocalManifest string
	Volumes       map[int]string // volume number -> remote file name
	Encrypted     bool
	// Partial is set when a local .manifest.part exists: the backup was
	// interrupted and the next backup restarts it.
	Partial bool
}

// Complete reports whether the set has a manifest (remote, or a local
// partial one), which duplicity requires before using a set.
func (s *Set) Complete() bool { return s.Manifest != "" || s.Partial }

// Files returns the remote files of the set: volumes in number order, then
// the remote manifest.
func (s *Set) Files() []string {
	nums := make([]int, 0, len(s.Volumes))
	for n := range s.Volumes {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	out := make([]string, 0, len(nums)+1)
	for _, n := range nums {
		out = append(out, s.Volumes[n])
	}
	if s.Manifest != "" {
		out = append(out, s.Manifest)
	}
	return out
}

// Chain is a full set and the incrementals based on it, oldest first.
type Chain struct {
	Full *Set
	Incs []*Set
}

// Start is the time of the full backup.
func (c *Chain) Start() time.Time { return c.Full.End }

// End is the time of the last set.
func (c *Chain) End() time.Time { return c.Last().End }

// Last returns the newest set of the chain.
func (c *Chain) Last() *Set {
	if len(c.Incs) > 0 {
		return c.Incs[len(c.Incs)-1]
	}
	return c.Full
}

// Sets returns the full set followed by the incrementals.
func (c *Chain) Sets() []*Set {
	return append([]*Set{c.Full}, c.Incs...)
}

// SetsUntil returns the sets a restore at time t applies: the full set and
// every incremental that ended at or before t.
func (c *Chain) SetsUntil(t time.Time) []*Set {
	out := []*Set{c.Full}
	for _, s := range c.Incs {
		if !s.End.After(t) {
			out = append(out, s)
		}
	}
	return out
}

// SigChain is a full signature and the new signatures based on it.
type SigChain struct {
	Full    string
	News    []string
	NewEnds []time.Time // end time (T2) of each of News
	Start   time.Time
	End     time.Time
	Local   bool // in the archive dir rather than the target
}

// Files returns every signature file of the chain, full signature first.
func (s *SigChain) Files() []string {
	return append([]string{s.Full}, s.News...)
}

// FilesUntil returns the full signature and the new signatures that ended
// at or before t, in order, as list-current-files combines them.
func (s *SigChain) FilesUntil(t time.Time) []string {
	out := []string{s.Full}
	for i, n := range s.News {
		if !s.NewEnds[i].After(t) {
			out = append(out, n)
		}
	}
	return out
}

// Collection is the state of a target.
type Collection struct {
	Chains     []*Chain // all backup chains, oldest (by end time) first
	Primary    *Chain   // latest chain, when a signature chain matches it
	PrimarySig *SigChain
	SigChains  []*SigChain // local and remote, by end time; remote first on ties
	// Orphans are remote files that belong to no chain: the files of
	// OrphanSets, then signatures that fit no signature chain.
	Orphans []string
	// LocalOrphans are archive-dir signatures that fit no chain.
	LocalOrphans []string
	// OrphanSets are complete incremental sets that fit no chain.
	OrphanSets []*Set
	// Incomplete are sets without a manifest, and an incremental dropped
	// from the primary chain because its signature is missing.
	Incomplete []*Set

	remoteOrphanSigs []string
	local            []entry   // archive-dir files, for removing a set's copies
	discarded        bool      // the primary chain lost its last incremental
	staleEnd         time.Time // the primary chain's end before that
}

type entry struct {
	name  string
	n     names.Name
	local bool
}

type setKey struct {
	full       bool
	start, end int64
}

// Build groups remote file names and archive-dir file names (local, may be
// nil) as duplicity does. Names that do not parse are ignored. The order of
// the lists matters where duplicity's does (first file of a set, ties).
func Build(remote, local []string, p names.Prefixes, short bool) *Collection {
	parse := func(list []string, isLocal bool) []entry {
		var out []entry
		for _, name := range list {
			if n, ok := names.Parse(name, p, short); ok {
				out = append(out, entry{name, n, isLocal})
			}
		}
		return out
	}
	rem, loc := parse(remote, false), parse(local, true)
	c := &Collection{local: loc}

	// Local partial files come first, so a partial manifest decides the
	// set's flags.
	var files []entry
	for _, e := range loc {
		if e.n.Partial {
			files = append(files, e)
		}
	}
	files = append(files, rem...)
	sets := groupSets(files)
	for _, s := range sets {
		if s.Complete() {
			s.LocalManifest = localManifest(s, loc)
		}
	}

	var complete []*Set
	for _, s := range sets {
		if s.Complete() {
			complete = append(complete, s)
		} else {
			c.Incomplete = append(c.Incomplete, s)
		}
	}
	slices.SortStableFunc(complete, func(a, b *Set) int { return a.End.Compare(b.End) })
	for _, s := range complete {
		if s.Full {
			c.Chains = append(c.Chains, &Chain{Full: s})
			continue
		}
		added := false
		for _, ch := range c.Chains {
			if added = addInc(ch, s); added {
				break
			}
		}
		if !added {
			c.OrphanSets = append(c.OrphanSets, s)
			c.Orphans = append(c.Orphans, s.Files()...)
		}
	}
	slices.SortStableFunc(c.Chains, func(a, b *Chain) int { return a.End().Compare(b.End()) })

	localSigs, localOrphans := sigChains(loc, true)
	remoteSigs, remoteOrphans := sigChains(rem, false)
	c.LocalOrphans = localOrphans
	c.remoteOrphanSigs = remoteOrphans
	c.Orphans = append(c.Orphans, remoteOrphans...)
	c.SigChains = append(localSigs, remoteSigs...)
	slices.SortStableFunc(c.SigChains, func(a, b *SigChain) int {
		if d := a.End.Compare(b.End); d != 0 {
			return d
		}
		return boolInt(a.Local) - boolInt(b.Local)
	})
	c.matchPrimary()
	return c
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func keyOf(full bool, start, end time.Time) setKey {
	if full {
		return setKey{full: true, end: end.Unix()}
	}
	return setKey{start: start.Unix(), end: end.Unix()}
}

// groupSets puts volumes and manifests into sets in order of first
// appearance. Duplicate volume numbers or manifests (which make duplicity
// stop) keep the first file.
func groupSets(files []entry) []*Set {
	byKey := make(map[setKey]*Set)
	var sets []*Set
	for _, e := range files {
		if !e.n.Type.Full() && !e.n.Type.Inc() {
			continue
		}
		k := keyOf(e.n.Type.Full(), e.n.Start, e.n.End)
		s, ok := byKey[k]
		if !ok {
			s = &Set{
				Full:      e.n.Type.Full(),
				Start:     e.n.Start,
				End:       e.n.End,
				Volumes:   make(map[int]string),
				Encrypted: e.n.Encrypted,
				Partial:   e.n.Partial,
			}
			if s.Full {
				s.Start = s.End
			}
			byKey[k] = s
			sets = append(sets, s)
		} else if s.Partial && e.n.Encrypted {
			// The partial manifest is plaintext; the volumes tell.
			s.Encrypted = true
		}
		switch {
		case e.n.Type.Volume():
			if _, dup := s.Volumes[e.n.Volume]; !dup {
				s.Volumes[e.n.Volume] = e.name
			}
		case e.local:
			s.LocalManifest = e.name
		case s.Manifest == "":
			s.Manifest = e.name
		}
	}
	return sets
}

// localManifest finds the archive-dir manifest of s: the partial one, or
// else the first local manifest with the same times.
func localManifest(s *Set, loc []entry) string {
	if s.Partial && s.LocalManifest != "" {
		return s.LocalManifest
	}
	want := keyOf(s.Full, s.Start, s.End)
	for _, e := range loc {
		if e.n.Type.Manifest() && keyOf(e.n.Type.Full(), e.n.Start, e.n.End) == want {
			return e.name
		}
	}
	return ""
}

// addInc appends inc to ch if it continues the chain, or lets it replace
// the last incremental when both start at the same time and inc ends later.
func addInc(ch *Chain, inc *Set) bool {
	if ch.End().Equal(inc.Start) {
		ch.Incs = append(ch.Incs, inc)
		return true
	}
	if n := len(ch.Incs); n > 0 && inc.Start.Equal(ch.Incs[n-1].Start) && inc.End.After(ch.Incs[n-1].End) {
		ch.Incs[n-1] = inc
		return true
	}
	return false
}

// sigChains builds signature chains from one place's files: each full
// signature starts a chain (in list order); new signatures, by start time,
// join the first chain ending where they start.
func sigChains(files []entry, local bool) (chains []*SigChain, orphans []string) {
	var news []entry
	for _, e := range files {
		switch e.n.Type {
		case names.FullSignature:
			chains = append(chains, &SigChain{Full: e.name, Start: e.n.End, End: e.n.End, Local: local})
		case names.NewSignature:
			news = append(news, e)
		}
	}
	slices.SortStableFunc(news, func(a, b entry) int { return a.n.Start.Compare(b.n.Start) })
	for _, e := range news {
		i := slices.IndexFunc(chains, func(ch *SigChain) bool { return ch.End.Equal(e.n.Start) })
		if i < 0 {
			orphans = append(orphans, e.name)
			continue
		}
		ch := chains[i]
		ch.News = append(ch.News, e.name)
		ch.NewEnds = append(ch.NewEnds, e.n.End)
		ch.End = e.n.End
	}
	return chains, orphans
}

// matchPrimary pairs the latest backup chain with the newest signature
// chain ending with it. A signature chain ending at the chain's
// second-to-last incremental also matches; the last incremental is then
// dropped as incomplete.
func (c *Collection) matchPrimary() {
	if len(c.Chains) == 0 {
		return
	}
	latest := c.Chains[len(c.Chains)-1]
	for i := len(c.SigChains) - 1; i >= 0; i-- {
		sig := c.SigChains[i]
		n := len(latest.Incs)
		switch {
		case sig.End.Equal(latest.End()):
		case n >= 2 && sig.End.Equal(latest.Incs[n-2].End):
			c.discarded, c.staleEnd = true, latest.End()
			c.Incomplete = append(c.Incomplete, latest.Incs[n-1])
			latest.Incs = latest.Incs[:n-1]
		default:
			continue
		}
		c.Primary, c.PrimarySig = latest, sig
		return
	}
}

// Secondary returns the chains other than the primary one.
func (c *Collection) Secondary() []*Chain {
	var out []*Chain
	for _, ch := range c.Chains {
		if ch != c.Primary {
			out = append(out, ch)
		}
	}
	return out
}

// end is a chain's end time as duplicity keeps it: the primary chain keeps
// the end of an incremental dropped for lack of a signature.
func (c *Collection) end(ch *Chain) time.Time {
	if c.discarded && ch == c.Primary {
		return c.staleEnd
	}
	return ch.End()
}

// ErrNoChains is returned when a target holds no complete backup chain.
var ErrNoChains = errors.New("no backup chains found")

// ErrNoSigChains is returned when a target holds no signature chain.
var ErrNoSigChains = errors.New("no signature chains found")

// ChainAt selects the chain a restore at time t uses: the one covering t
// (an error if two do), else the latest one ending before t, else the
// earliest.
func (c *Collection) ChainAt(t time.Time) (*Chain, error) {
	if len(c.Chains) == 0 {
		return nil, ErrNoChains
	}
	var covering []*Chain
	for _, ch := range c.Chains {
		if !t.Before(ch.Start()) && !t.After(c.end(ch)) {
			covering = append(covering, ch)
		}
	}
	switch {
	case len(covering) > 1:
		return nil, fmt.Errorf("two backup chains cover time %s", names.FormatTime(t))
	case len(covering) == 1:
		return covering[0], nil
	}
	for i := len(c.Chains) - 1; i >= 0; i-- {
		if c.end(c.Chains[i]).Before(t) {
			return c.Chains[i], nil
		}
	}
	return c.Chains[0], nil
}

// SigChainAt selects the signature chain for time t as list-current-files
// does: the last covering t (local preferred), else the latest ending
// before t, else the earliest.
func (c *Collection) SigChainAt(t time.Time) (*SigChain, error) {
	if len(c.SigChains) == 0 {
		return nil, ErrNoSigChains
	}
	for i := len(c.SigChains) - 1; i >= 0; i-- {
		if ch := c.SigChains[i]; !t.Before(ch.Start) && !t.After(ch.End) {
			return ch, nil
		}
	}
	for i := len(c.SigChains) - 1; i >= 0; i-- {
		if c.SigChains[i].End.Before(t) {
			return c.SigChains[i], nil
		}
	}
	return c.SigChains[0], nil
}

// LastFull returns the time of the newest full backup (zero if none).
func (c *Collection) LastFull() time.Time {
	var t time.Time
	for _, ch := range c.Chains {
		if ch.Start().After(t) {
			t = ch.Start()
		}
	}
	return t
}

// DropPartial moves sets that have only a local partial manifest (a backup
// interrupted before storing its manifest) out of the chains, into
// Incomplete, so that readers never use a half-written set. duplicity
// keeps them, and its collection-status shows them so; dupfs's status
// does the same by not calling this. A partial set is always the last of
// its chain; a chain whose full set is partial goes entirely.
func (c *Collection) DropPartial() {
	kept := c.Chains[:0]
	for _, ch := range c.Chains {
		for len(ch.Incs) > 0 && ch.Last().Manifest == "" {
			c.Incomplete = append(c.Incomplete, ch.Last())
			ch.Incs = ch.Incs[:len(ch.Incs)-1]
		}
		if ch.Full.Manifest == "" {
			c.Incomplete = append(c.Incomplete, ch.Sets()...)
			continue
		}
		kept = append(kept, ch)
	}
	c.Chains = kept
}

// SigFor returns the signature file of a set of chain: from the signature
// chain that starts with the chain, the archive dir's copy preferred; ""
// when there is none.
func (c *Collection) SigFor(chain *Chain, set *Set) string {
	var found string
	for _, sc := range c.SigChains {
		if !sc.Start.Equal(chain.Start()) {
			continue
		}
		name := ""
		if set.Full {
			name = sc.Full
		} else {
			for i, n := range sc.News {
				if sc.NewEnds[i].Equal(set.End) {
					name = n
				}
			}
		}
		if name != "" && (found == "" || sc.Local) {
			found = name
		}
	}
	return found
}
