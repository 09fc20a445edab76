package collection

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"dupfs/archive/names"
)

func rem(names ...string) []File {
	out := make([]File, len(names))
	for i, n := range names {
		out[i] = File{Name: n}
	}
	return out
}

func loc(names ...string) []File {
	out := make([]File, len(names))
	for i, n := range names {
		out[i] = File{Name: n, Local: true}
	}
	return out
}

func files(parts ...[]File) []File {
	var out []File
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Three chains: A = full@0 (2 volumes) + 0→1 + 1→2, B = full@10 + 10→11,
// C = full@20 + 20→21 (primary). The archive dir holds the manifests and
// signatures of all of them, as after backups with one archive dir.
var (
	threeRemote = join(full(0, 2), inc(0, 1), inc(1, 2), full(10, 1), inc(10, 11), full(20, 1), inc(20, 21))
	threeLocal  = []string{
		fullMan(0, ""), fullSig(0, ".gz"), incMan(0, 1, ""), newSig(0, 1, ".gz"), incMan(1, 2, ""), newSig(1, 2, ".gz"),
		fullMan(10, ""), fullSig(10, ".gz"), incMan(10, 11, ""), newSig(10, 11, ".gz"),
		fullMan(20, ""), fullSig(20, ".gz"), incMan(20, 21, ""), newSig(20, 21, ".gz"),
	}
	// What removing chain A whole deletes, in order: signatures newest
	// first (local chain after remote on equal ends, so first here), then
	// sets newest first, each local copies, manifest, volumes from the last.
	removeA = files(
		loc(newSig(1, 2, ".gz"), newSig(0, 1, ".gz"), fullSig(0, ".gz")),
		rem(newSig(1, 2, ".gz"), newSig(0, 1, ".gz"), fullSig(0, ".gz")),
		loc(incMan(1, 2, "")), rem(incMan(1, 2, ""), incVol(1, 2, 1, ".gz")),
		loc(incMan(0, 1, "")), rem(incMan(0, 1, ""), incVol(0, 1, 1, ".gz")),
		loc(fullMan(0, "")), rem(fullMan(0, ""), fullVol(0, 2, ".gz"), fullVol(0, 1, ".gz")),
	)
	removeBSigs = files(
		loc(newSig(10, 11, ".gz"), fullSig(10, ".gz")),
		rem(newSig(10, 11, ".gz"), fullSig(10, ".gz")),
	)
	removeBSets = files(
		loc(incMan(10, 11, "")), rem(incMan(10, 11, ""), incVol(10, 11, 1, ".gz")),
		loc(fullMan(10, "")), rem(fullMan(10, ""), fullVol(10, 1, ".gz")),
	)
)

func TestRemoveOlderThan(t *testing.T) {
	aSigs, aSets := removeA[:6], removeA[6:]
	cases := []struct {
		name   string
		remote []string
		local  []string
		t      time.Time
		want   []File
		chains int
	}{
		{name: "before everything", remote: threeRemote, local: threeLocal, t: at(0)},
		{name: "exactly at the end of the oldest chain keeps it", remote: threeRemote, local: threeLocal, t: at(2)},
		{name: "inside a chain keeps it whole", remote: threeRemote, local: threeLocal, t: at(1)},
		{name: "just after the oldest chain", remote: threeRemote, local: threeLocal, t: at(2).Add(time.Second), want: removeA, chains: 1},
		{name: "exactly at the second chain's end", remote: threeRemote, local: threeLocal, t: at(11), want: removeA, chains: 1},
		{
			name: "two chains", remote: threeRemote, local: threeLocal, t: at(12),
			want: files(removeBSigs, aSigs, removeBSets, aSets), chains: 2,
		},
		{
			// The primary chain ends before t: kept, and so are its
			// signatures, remote ones included.
			name: "after everything keeps the primary chain", remote: threeRemote, local: threeLocal, t: at(1000),
			want: files(removeBSigs, aSigs, removeBSets, aSets), chains: 2,
		},
		{
			name: "no archive dir", remote: threeRemote, t: at(5),
			want: files(
				rem(newSig(1, 2, ".gz"), newSig(0, 1, ".gz"), fullSig(0, ".gz")),
				rem(incMan(1, 2, ""), incVol(1, 2, 1, ".gz"), incMan(0, 1, ""), incVol(0, 1, 1, ".gz")),
				rem(fullMan(0, ""), fullVol(0, 2, ".gz"), fullVol(0, 1, ".gz")),
			),
			chains: 1,
		},
		{
			// An old signature chain with no backup chain goes along only
			// when some backup chain goes, as in duplicity.
			name: "lone old signatures stay", remote: join([]string{fullSig(5, ".gz")}, full(20, 1)), t: at(30),
		},
		{
			name: "lone old signatures go with an old chain", remote: join(full(0, 1), []string{fullSig(5, ".gz")}, full(20, 1)), t: at(30),
			want:   rem(fullSig(5, ".gz"), fullSig(0, ".gz"), fullMan(0, ""), fullVol(0, 1, ".gz")),
			chains: 1,
		},
		{
			// An interrupted incremental of an old chain: its local
			// partial manifest goes first, then its volumes.
			name:   "partial set in an old chain",
			remote: join(full(0, 1), []string{incVol(0, 1, 1, ".gz")}, full(20, 1)),
			local:  []string{incMan(0, 1, ".part")},
			t:      at(10),
			want: files(
				rem(fullSig(0, ".gz")),
				loc(incMan(0, 1, ".part")), rem(incVol(0, 1, 1, ".gz")),
				rem(fullMan(0, ""), fullVol(0, 1, ".gz")),
			),
			chains: 1,
		},
		{name: "empty target", t: at(10)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Build(tc.remote, tc.local, names.Prefixes{}, false)
			r := c.RemoveOlderThan(tc.t)
			if !slices.Equal(r.Files, tc.want) {
				t.Errorf("files:\n got %v\nwant %v", r.Files, tc.want)
			}
			if len(r.Chains) != tc.chains {
				t.Errorf("chains: got %d, want %d", len(r.Chains), tc.chains)
			}
		})
	}
}

func TestRemoveByCount(t *testing.T) {
	aSigs, aSets := removeA[:6], removeA[6:]
	incsOfA := files(
		loc(newSig(1, 2, ".gz"), newSig(0, 1, ".gz")),
		rem(newSig(1, 2, ".gz"), newSig(0, 1, ".gz")),
		removeA[6:12],
	)
	cases := []struct {
		name     string
		remote   []string
		noLocal  bool // else threeLocal
		incsOnly bool
		n        int
		want     []File
		err      error
	}{
		{name: "keep 1", remote: threeRemote, n: 1, want: files(removeBSigs, aSigs, removeBSets, aSets)},
		{name: "keep 2", remote: threeRemote, n: 2, want: removeA},
		{name: "keep 3 of 3", remote: threeRemote, n: 3},
		{name: "keep more than there are", remote: threeRemote, n: 7},
		{name: "zero refused", remote: threeRemote, n: 0, err: ErrBadCount},
		{name: "negative refused", remote: threeRemote, n: -1, err: ErrBadCount},
		{name: "incrementals, keep 1", remote: threeRemote, incsOnly: true, n: 1, want: files(
			loc(newSig(10, 11, ".gz")), rem(newSig(10, 11, ".gz")),
			loc(newSig(1, 2, ".gz"), newSig(0, 1, ".gz")), rem(newSig(1, 2, ".gz"), newSig(0, 1, ".gz")),
			removeBSets[:3], removeA[6:12],
		)},
		{name: "incrementals, keep 2", remote: threeRemote, incsOnly: true, n: 2, want: incsOfA},
		{name: "incrementals, keep 3", remote: threeRemote, incsOnly: true, n: 3},
		{name: "incrementals, zero refused", remote: threeRemote, incsOnly: true, err: ErrBadCount},
		{
			// Old chains without incrementals: nothing to do.
			name: "incrementals of fulls only", remote: join(full(0, 1), full(10, 1), full(20, 1), inc(20, 21)),
			noLocal: true, incsOnly: true, n: 1,
		},
		{
			// Only chain B has incrementals among the old ones.
			name: "incrementals of some", remote: join(full(0, 2), threeRemote[len(full(0, 2))+6:]),
			noLocal: true, incsOnly: true, n: 1, want: files(rem(newSig(10, 11, ".gz")), rem(incMan(10, 11, ""), incVol(10, 11, 1, ".gz"))),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			local := threeLocal
			if tc.noLocal {
				local = nil
			}
			c := Build(tc.remote, local, names.Prefixes{}, false)
			var r Removal
			var err error
			if tc.incsOnly {
				r, err = c.RemoveIncsOfAllButNFull(tc.n)
			} else {
				r, err = c.RemoveAllButNFull(tc.n)
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("error: got %v, want %v", err, tc.err)
			}
			if !slices.Equal(r.Files, tc.want) {
				t.Errorf("files:\n got %v\nwant %v", r.Files, tc.want)
			}
		})
	}
}

func TestExtraneous(t *testing.T) {
	cases := []struct {
		name   string
		remote []string
		local  []string
		want   []File
	}{
		{name: "clean", remote: threeRemote, local: threeLocal},
		{
			name:   "orphaned incremental, manifest first",
			remote: join(full(0, 1), inc(5, 6)),
			want:   rem(incMan(5, 6, ""), incVol(5, 6, 1, ".gz"), newSig(5, 6, ".gz")),
		},
		{
			name:   "incomplete set and orphaned signatures",
			remote: join(full(0, 1), []string{fullVol(10, 1, ".gz"), fullVol(10, 2, ".gz"), newSig(3, 4, ".gz")}),
			local:  []string{newSig(7, 8, ".gz"), fullSig(0, ".gz")},
			want:   files(rem(fullVol(10, 2, ".gz"), fullVol(10, 1, ".gz"), newSig(3, 4, ".gz")), loc(newSig(7, 8, ".gz"))),
		},
		{
			// duplicity's cleanup drops the interrupted last set of the
			// newest chain, partial manifest first.
			name:   "interrupted last set of the newest chain",
			remote: join(full(0, 1), []string{incVol(0, 1, 1, ".gz"), incVol(0, 1, 2, ".gz")}),
			local:  []string{incMan(0, 1, ".part"), newSig(0, 1, ".part")},
			want:   files(loc(incMan(0, 1, ".part"), newSig(0, 1, ".part")), rem(incVol(0, 1, 2, ".gz"), incVol(0, 1, 1, ".gz"))),
		},
		{
			name:   "interrupted full after a chain",
			remote: join(full(0, 1), []string{fullVol(10, 1, ".gz")}),
			local:  []string{fullMan(10, ".part")},
			want:   files(loc(fullMan(10, ".part")), rem(fullVol(10, 1, ".gz"))),
		},
		{
			// Not the newest chain: kept, in duplicity too.
			name:   "interrupted set of an older chain",
			remote: join(full(0, 1), []string{incVol(0, 1, 1, ".gz")}, full(10, 1)),
			local:  []string{incMan(0, 1, ".part")},
		},
		{
			// duplicity drops the last incremental of the primary chain
			// when its signature is missing; cleanup removes it, manifest
			// included.
			name:   "incremental without signatures",
			remote: join(full(0, 1), inc(0, 1), []string{incVol(1, 2, 1, ".gz"), incMan(1, 2, "")}),
			want:   rem(incMan(1, 2, ""), incVol(1, 2, 1, ".gz")),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := Build(tc.remote, tc.local, names.Prefixes{}, false)
			r := c.Extraneous()
			if !slices.Equal(r.Files, tc.want) {
				t.Errorf("files:\n got %v\nwant %v", r.Files, tc.want)
			}
		})
	}
}

// TestRemovalStoppedAnywhere stops each removal after every prefix of its
// order, as a killed --force run would: the kept chains must be intact,
// no set may keep a manifest with volumes gone, and running the command
// again and then cleanup must leave exactly what a whole run leaves.
func TestRemovalStoppedAnywhere(t *testing.T) {
	cases := []struct {
		name string
		sel  func(c *Collection) Removal
	}{
		{"older than", func(c *Collection) Removal { return c.RemoveOlderThan(at(12)) }},
		{"all but 1 full", func(c *Collection) Removal { r, _ := c.RemoveAllButNFull(1); return r }},
		{"incrementals of all but 1 full", func(c *Collection) Removal { r, _ := c.RemoveIncsOfAllButNFull(1); return r }},
	}
	build := func(state map[File]bool) *Collection {
		var remote, local []string
		for _, n := range threeRemote {
			if state[File{n, false}] {
				remote = append(remote, n)
			}
		}
		for _, n := range threeLocal {
			if state[File{n, true}] {
				local = append(local, n)
			}
		}
		return Build(remote, local, names.Prefixes{}, false)
	}
	without := func(state map[File]bool, files []File) map[File]bool {
		out := make(map[File]bool, len(state))
		for f := range state {
			if !slices.Contains(files, f) {
				out[f] = true
			}
		}
		return out
	}
	all := make(map[File]bool)
	for _, n := range threeRemote {
		all[File{n, false}] = true
	}
	for _, n := range threeLocal {
		all[File{n, true}] = true
	}
	orig := Build(threeRemote, threeLocal, names.Prefixes{}, false)
	volumes := make(map[string]int) // by manifest
	for _, ch := range orig.Chains {
		for _, s := range ch.Sets() {
			volumes[s.Manifest] = len(s.Volumes)
		}
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			whole := tc.sel(orig)
			final := without(all, whole.Files)
			kept := build(final).Chains
			for k := range whole.Files {
				state := without(all, whole.Files[:k])
				c := build(state)
				// Every kept set is still in its chain.
				for _, want := range kept {
					if !slices.ContainsFunc(c.Chains, func(ch *Chain) bool {
						return strings.HasPrefix(describe([]*Chain{ch}), describe([]*Chain{want}))
					}) {
						t.Errorf("stopped after %d files: kept chain %s broken: %s", k, describe([]*Chain{want}), describe(c.Chains))
					}
				}
				for _, ch := range c.Chains {
					for _, s := range ch.Sets() {
						if len(s.Volumes) != volumes[s.Manifest] {
							t.Errorf("stopped after %d files: %s has %d of its %d volumes", k, s.Manifest, len(s.Volumes), volumes[s.Manifest])
						}
					}
				}
				state = without(state, tc.sel(c).Files)
				state = without(state, build(state).Extraneous().Files)
				if !maps.Equal(state, final) {
					t.Errorf("stopped after %d files, then run again and cleaned up: left %v, want %v", k, state, final)
				}
			}
		})
	}
}
