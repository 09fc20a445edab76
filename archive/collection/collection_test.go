package collection

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"dupfs/archive/names"
)

var base = time.Date(2026, 11, 22, 13, 0, 0, 0, time.UTC)

// at returns base plus n minutes.
func at(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }

// Name builders (long names, no prefixes).
func fullVol(t, v int, suffix string) string {
	return names.Name{Type: names.FullVolume, End: at(t), Volume: v}.Format(names.Prefixes{}, false) + suffix
}
func fullMan(t int, suffix string) string {
	return names.Name{Type: names.FullManifest, End: at(t)}.Format(names.Prefixes{}, false) + suffix
}
func incVol(t1, t2, v int, suffix string) string {
	return names.Name{Type: names.IncVolume, Start: at(t1), End: at(t2), Volume: v}.Format(names.Prefixes{}, false) + suffix
}
func incMan(t1, t2 int, suffix string) string {
	return names.Name{Type: names.IncManifest, Start: at(t1), End: at(t2)}.Format(names.Prefixes{}, false) + suffix
}
func fullSig(t int, suffix string) string {
	return names.Name{Type: names.FullSignature, End: at(t)}.Format(names.Prefixes{}, false) + suffix
}
func newSig(t1, t2 int, suffix string) string {
	return names.Name{Type: names.NewSignature, Start: at(t1), End: at(t2)}.Format(names.Prefixes{}, false) + suffix
}

// full returns the remote files of a complete full backup.
func full(t, vols int) []string {
	out := []string{fullMan(t, ""), fullSig(t, ".gz")}
	for v := 1; v <= vols; v++ {
		out = append(out, fullVol(t, v, ".gz"))
	}
	return out
}

// inc returns the remote files of a complete incremental.
func inc(t1, t2 int) []string {
	return []string{incVol(t1, t2, 1, ".gz"), incMan(t1, t2, ""), newSig(t1, t2, ".gz")}
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// describe summarises chains as "full@T+inc@T..." in minutes.
func describe(chains []*Chain) string {
	var parts []string
	for _, ch := range chains {
		var s []string
		for _, set := range ch.Sets() {
			kind := "inc"
			if set.Full {
				kind = "full"
			}
			s = append(s, kind+"@"+minutes(set.End))
		}
		parts = append(parts, strings.Join(s, "+"))
	}
	return strings.Join(parts, " ")
}

func minutes(t time.Time) string { return t.Sub(base).String() }

func TestBuild(t *testing.T) {
	cases := []struct {
		name         string
		remote       []string
		local        []string
		chains       string
		primary      bool
		orphans      []string
		localOrphans []string
		incomplete   int
	}{
		{
			name:    "one chain",
			remote:  join(full(0, 2), inc(0, 1), inc(1, 2)),
			chains:  "full@0s+inc@1m0s+inc@2m0s",
			primary: true,
		},
		{
			name:    "two chains sorted by end",
			remote:  join(full(10, 1), inc(10, 11), full(0, 1), inc(0, 1)),
			chains:  "full@0s+inc@1m0s full@10m0s+inc@11m0s",
			primary: true,
		},
		{
			name:    "orphaned incremental",
			remote:  join(full(0, 1), inc(5, 6)),
			chains:  "full@0s",
			primary: true,
			orphans: []string{incVol(5, 6, 1, ".gz"), incMan(5, 6, ""), newSig(5, 6, ".gz")},
		},
		{
			name:       "set without manifest is incomplete and breaks the chain",
			remote:     join(full(0, 1), []string{incVol(0, 1, 1, ".gz"), newSig(0, 1, ".gz")}, inc(1, 2)),
			chains:     "full@0s",
			orphans:    []string{incVol(1, 2, 1, ".gz"), incMan(1, 2, "")},
			incomplete: 1,
		},
		{
			name:   "later incremental with the same start replaces the last one",
			remote: join(full(0, 1), inc(0, 1), []string{incVol(0, 3, 1, ".gz"), incMan(0, 3, ""), newSig(0, 3, ".gz")}),
			chains: "full@0s+inc@3m0s",
			// The new signatures 0-1 and 0-3 both start at 0: the first
			// (in list order) joins, the other is orphaned, so no
			// signature chain reaches the replacing set.
			orphans: []string{newSig(0, 3, ".gz")},
		},
		{
			name:    "a full without volumes still starts a chain",
			remote:  []string{fullMan(0, ""), fullSig(0, ".gz")},
			chains:  "full@0s",
			primary: true,
		},
		{
			name:   "no signatures, no primary",
			remote: []string{fullMan(0, ""), fullVol(0, 1, ".gz")},
			chains: "full@0s",
		},
		{
			name:         "local orphaned signature",
			remote:       join(full(0, 1)),
			local:        []string{fullSig(0, ".gz"), newSig(3, 4, ".gz")},
			chains:       "full@0s",
			primary:      true,
			localOrphans: []string{newSig(3, 4, ".gz")},
		},
		{
			name:       "missing last new signature drops the last incremental",
			remote:     join(full(0, 1), inc(0, 1), inc(1, 2), []string{incVol(2, 3, 1, ".gz"), incMan(2, 3, "")}),
			chains:     "full@0s+inc@1m0s+inc@2m0s",
			primary:    true,
			incomplete: 1,
		},
		{
			name:   "signature ending at the full does not excuse a single incremental",
			remote: join(full(0, 1), []string{incVol(0, 1, 1, ".gz"), incMan(0, 1, "")}),
			chains: "full@0s+inc@1m0s",
		},
		{
			name:   "foreign and unparseable names are ignored",
			remote: join(full(0, 1), []string{"lockfile", "duplicity-full.bogus.manifest", "README"}),
			chains: "full@0s", primary: true,
		},
	}
	for _, c := range cases {
		col := Build(c.remote, c.local, names.Prefixes{}, false)
		if got := describe(col.Chains); got != c.chains {
			t.Errorf("%s: chains %q, want %q", c.name, got, c.chains)
		}
		if (col.Primary != nil) != c.primary {
			t.Errorf("%s: primary %v", c.name, col.Primary != nil)
		}
		if !reflect.DeepEqual(col.Orphans, c.orphans) {
			t.Errorf("%s: orphans %q, want %q", c.name, col.Orphans, c.orphans)
		}
		if !reflect.DeepEqual(col.LocalOrphans, c.localOrphans) {
			t.Errorf("%s: local orphans %q, want %q", c.name, col.LocalOrphans, c.localOrphans)
		}
		if len(col.Incomplete) != c.incomplete {
			t.Errorf("%s: %d incomplete sets, want %d", c.name, len(col.Incomplete), c.incomplete)
		}
	}
}

func TestSetDetails(t *testing.T) {
	remote := []string{
		fullVol(0, 2, ".gpg"), fullVol(0, 1, ".gpg"), fullMan(0, ".gpg"), fullSig(0, ".gpg"),
		incVol(0, 1, 1, ".gpg"),
	}
	local := []string{fullMan(0, ""), incMan(0, 1, ".part"), fullSig(0, ".gz"), newSig(0, 1, ".part")}
	col := Build(remote, local, names.Prefixes{}, false)
	if len(col.Chains) != 1 || len(col.Chains[0].Incs) != 1 {
		t.Fatalf("chains %s", describe(col.Chains))
	}
	f := col.Chains[0].Full
	if !f.Full || !f.Start.Equal(at(0)) || !f.End.Equal(at(0)) || !f.Encrypted || f.Partial || !f.Complete() {
		t.Errorf("full set %+v", f)
	}
	if f.Manifest != fullMan(0, ".gpg") || f.LocalManifest != fullMan(0, "") {
		t.Errorf("full manifests %q %q", f.Manifest, f.LocalManifest)
	}
	if got := f.Files(); !reflect.DeepEqual(got, []string{fullVol(0, 1, ".gpg"), fullVol(0, 2, ".gpg"), fullMan(0, ".gpg")}) {
		t.Errorf("full files %q", got)
	}
	i := col.Chains[0].Incs[0]
	// A local partial manifest makes the set complete and restartable;
	// its encrypted volume makes it encrypted.
	if !i.Partial || !i.Complete() || i.Manifest != "" || i.LocalManifest != incMan(0, 1, ".part") || !i.Encrypted {
		t.Errorf("partial set %+v", i)
	}
	if col.Primary == nil || !col.PrimarySig.Local || len(col.PrimarySig.News) != 1 {
		t.Errorf("primary %+v sig %+v", col.Primary, col.PrimarySig)
	}
	if col.Chains[0].Last() != i {
		t.Error("Last is not the partial incremental")
	}
}

func TestPrimaryPrefersLocalSignatures(t *testing.T) {
	remote := join(full(0, 1), inc(0, 1))
	local := []string{fullSig(0, ".gz"), newSig(0, 1, ".gz")}
	col := Build(remote, local, names.Prefixes{}, false)
	if len(col.SigChains) != 2 || col.SigChains[0].Local || !col.SigChains[1].Local {
		t.Fatalf("sig chains %+v", col.SigChains)
	}
	if col.PrimarySig != col.SigChains[1] {
		t.Error("primary signature chain is not the local one")
	}
}

func TestChainAt(t *testing.T) {
	col := Build(join(full(0, 1), inc(0, 1), inc(1, 2), full(10, 1), inc(10, 12)), nil, names.Prefixes{}, false)
	cases := []struct {
		t    time.Time
		want int // chain index
		sets int // sets applied
	}{
		{at(-5), 0, 1}, // before everything: earliest chain, its full
		{at(0), 0, 1},  // exactly the first full
		{at(1), 0, 2},  // exactly an incremental
		{at(1).Add(time.Second), 0, 2},
		{at(2), 0, 3},  // chain end
		{at(5), 0, 3},  // between chains: the earlier one, complete
		{at(10), 1, 1}, // the second full
		{at(11), 1, 1}, // inside the second chain, before its inc
		{at(12), 1, 2},
		{at(100), 1, 2}, // after everything
	}
	for _, c := range cases {
		ch, err := col.ChainAt(c.t)
		if err != nil {
			t.Errorf("ChainAt(%s): %v", minutes(c.t), err)
			continue
		}
		if ch != col.Chains[c.want] || len(ch.SetsUntil(c.t)) != c.sets {
			t.Errorf("ChainAt(%s) = %s with %d sets", minutes(c.t), describe([]*Chain{ch}), len(ch.SetsUntil(c.t)))
		}
	}

	overlap := Build(join(full(0, 1), inc(0, 20), full(10, 1)), nil, names.Prefixes{}, false)
	if _, err := overlap.ChainAt(at(10)); err == nil || !strings.Contains(err.Error(), "two backup chains") {
		t.Errorf("overlapping chains: %v", err)
	}
	if _, err := Build(nil, nil, names.Prefixes{}, false).ChainAt(at(0)); !errors.Is(err, ErrNoChains) {
		t.Errorf("empty: %v", err)
	}
}

func TestSigChainAt(t *testing.T) {
	col := Build(join(full(0, 1), inc(0, 1), inc(1, 2), full(10, 1)), nil, names.Prefixes{}, false)
	cases := []struct {
		t     time.Time
		full  int
		files int
	}{
		{at(-1), 0, 1},
		{at(0), 0, 1},
		{at(1), 0, 2},
		{at(5), 0, 3},
		{at(10), 10, 1},
		{at(50), 10, 1},
	}
	for _, c := range cases {
		sc, err := col.SigChainAt(c.t)
		if err != nil {
			t.Fatal(err)
		}
		if !sc.Start.Equal(at(c.full)) || len(sc.FilesUntil(c.t)) != c.files {
			t.Errorf("SigChainAt(%s) = chain at %s, %q", minutes(c.t), minutes(sc.Start), sc.FilesUntil(c.t))
		}
	}
	sc, _ := col.SigChainAt(at(5))
	want := []string{fullSig(0, ".gz"), newSig(0, 1, ".gz"), newSig(1, 2, ".gz")}
	if !reflect.DeepEqual(sc.Files(), want) || !reflect.DeepEqual(sc.FilesUntil(at(1)), want[:2]) {
		t.Errorf("files %q / %q", sc.Files(), sc.FilesUntil(at(1)))
	}
	if _, err := Build(nil, nil, names.Prefixes{}, false).SigChainAt(at(0)); !errors.Is(err, ErrNoSigChains) {
		t.Errorf("empty: %v", err)
	}
}

func TestShortNamesAndPrefixes(t *testing.T) {
	p := names.Prefixes{Archive: "cold_", Manifest: "hot_", Signature: "hot_"}
	var remote []string
	for _, n := range []names.Name{
		{Type: names.FullVolume, End: at(0), Volume: 1, Encrypted: true},
		{Type: names.FullManifest, End: at(0), Encrypted: true},
		{Type: names.FullSignature, End: at(0), Encrypted: true},
	} {
		remote = append(remote, n.Format(p, true))
	}
	remote = append(remote, fullMan(5, ""))
	col := Build(remote, nil, p, true)
	if describe(col.Chains) != "full@0s" || col.Primary == nil || !col.Chains[0].Full.Encrypted {
		t.Errorf("chains %s primary %v", describe(col.Chains), col.Primary)
	}
}

func TestAsctime(t *testing.T) {
	cases := map[time.Time]string{
		time.Date(2026, 11, 22, 13, 10, 32, 0, time.UTC): "Sun Nov 22 13:10:32 2026",
		time.Date(2026, 11, 2, 3, 4, 5, 0, time.UTC):     "Mon Nov  2 03:04:05 2026",
		time.Date(999, 1, 1, 0, 0, 0, 0, time.UTC):       "Tue Jan  1 00:00:00 999",
	}
	for in, want := range cases {
		if got := Asctime(in, time.UTC); got != want {
			t.Errorf("Asctime(%v) = %q, want %q", in, got, want)
		}
	}
	if got := Asctime(time.Date(2026, 11, 22, 13, 10, 32, 0, time.UTC), time.FixedZone("x", -3*3600)); got != "Sun Nov 22 10:10:32 2026" {
		t.Errorf("zoned: %q", got)
	}
}

func FuzzBuild(f *testing.F) {
	f.Add(strings.Join(join(full(0, 2), inc(0, 1), inc(1, 2), full(10, 1)), "\n"), strings.Join([]string{fullSig(0, ".gz"), incMan(1, 2, ".part")}, "\n"))
	f.Add(strings.Join(join(full(0, 1), inc(0, 20), full(10, 1), inc(5, 6)), "\n"), "")
	f.Fuzz(func(t *testing.T, remote, local string) {
		col := Build(strings.Split(remote, "\n"), strings.Split(local, "\n"), names.Prefixes{}, false)
		var b strings.Builder
		if err := col.WriteStatus(&b, "/cache", time.UTC); err != nil {
			t.Fatal(err)
		}
		for _, tm := range []time.Time{at(-1), at(0), at(5), at(15)} {
			if ch, err := col.ChainAt(tm); err == nil {
				ch.SetsUntil(tm)
			}
			if sc, err := col.SigChainAt(tm); err == nil {
				sc.FilesUntil(tm)
			}
		}
	})
}
