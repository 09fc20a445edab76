package names

import (
	"testing"
	"time"
)

func ts(s string) time.Time {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

var (
	t1 = ts("20261122T131032Z")
	t2 = ts("20261122T131040Z")
)

func TestParse(t *testing.T) {
	tiered := Prefixes{Archive: "cold_", Manifest: "hot_", Signature: "hot_"}
	cases := []struct {
		name  string
		p     Prefixes
		short bool
		want  Name
		ok    bool
	}{
		{"duplicity-full.20261122T131032Z.vol1.difftar.gz", Prefixes{}, false,
			Name{Type: FullVolume, End: t1, Volume: 1, Compressed: true}, true},
		{"duplicity-full.20261122T131032Z.vol10.difftar.gpg", Prefixes{}, false,
			Name{Type: FullVolume, End: t1, Volume: 10, Encrypted: true}, true},
		{"duplicity-full.20261122T131032Z.vol2.difftar", Prefixes{}, false,
			Name{Type: FullVolume, End: t1, Volume: 2}, true},
		{"duplicity-full.20261122T131032Z.manifest", Prefixes{}, false,
			Name{Type: FullManifest, End: t1}, true},
		{"duplicity-full.20261122T131032Z.manifest.part", Prefixes{}, false,
			Name{Type: FullManifest, End: t1, Partial: true}, true},
		{"duplicity-inc.20261122T131032Z.to.20261122T131040Z.vol3.difftar.gpg", Prefixes{}, false,
			Name{Type: IncVolume, Start: t1, End: t2, Volume: 3, Encrypted: true}, true},
		{"duplicity-inc.20261122T131032Z.to.20261122T131040Z.manifest.gpg", Prefixes{}, false,
			Name{Type: IncManifest, Start: t1, End: t2, Encrypted: true}, true},
		{"duplicity-full-signatures.20261122T131032Z.sigtar.gz", Prefixes{}, false,
			Name{Type: FullSignature, End: t1, Compressed: true}, true},
		{"duplicity-new-signatures.20261122T131032Z.to.20261122T131040Z.sigtar.part", Prefixes{}, false,
			Name{Type: NewSignature, Start: t1, End: t2, Partial: true}, true},
		// Old-style local times with offset.
		{"duplicity-full.2002-04-26T04:22:01-07:00.manifest", Prefixes{}, false,
			Name{Type: FullManifest, End: time.Unix(1019820121, 0).UTC()}, true},
		// Lower-case times are upper-cased first.
		{"duplicity-full.20261122t131032z.manifest", Prefixes{}, false,
			Name{Type: FullManifest, End: t1}, true},
		// Short names, accepted in both modes.
		{"df.townct.1.dt.z", Prefixes{}, false,
			Name{Type: FullVolume, End: time.Unix(mustB36("townct"), 0).UTC(), Volume: 1, Compressed: true}, true},
		{"di.townct.towncu.a.dt.g", Prefixes{}, true,
			Name{Type: IncVolume, Start: time.Unix(mustB36("townct"), 0).UTC(), End: time.Unix(mustB36("towncu"), 0).UTC(), Volume: 10, Encrypted: true}, true},
		{"dns.townct.towncu.st.p", Prefixes{}, true,
			Name{Type: NewSignature, Start: time.Unix(mustB36("townct"), 0).UTC(), End: time.Unix(mustB36("towncu"), 0).UTC(), Partial: true}, true},
		// Long names are invisible in short mode.
		{"duplicity-full.20261122T131032Z.manifest", Prefixes{}, true, Name{}, false},
		// Prefixes.
		{"cold_duplicity-full.20261122T131946Z.vol1.difftar.gpg", tiered, false,
			Name{Type: FullVolume, End: ts("20261122T131946Z"), Volume: 1, Encrypted: true}, true},
		{"hot_duplicity-new-signatures.20261122T131946Z.to.20261122T132022Z.sigtar.gpg", tiered, false,
			Name{Type: NewSignature, Start: ts("20261122T131946Z"), End: ts("20261122T132022Z"), Encrypted: true}, true},
		{"duplicity-full.20261122T131946Z.manifest.gpg", tiered, false, Name{}, false},
		{"cold_duplicity-full.20261122T131946Z.manifest.gpg", tiered, false, Name{}, false},
		// Prefixes are regular expressions to duplicity.
		{"aXbduplicity-full.20261122T131032Z.manifest", Prefixes{File: "a.b"}, false,
			Name{Type: FullManifest, End: t1}, true},
		// Rejected: volume 0, bad times, the epoch, foreign files.
		{"duplicity-full.20261122T131032Z.vol0.difftar.gz", Prefixes{}, false, Name{}, false},
		{"duplicity-full.bogus.manifest", Prefixes{}, false, Name{}, false},
		{"duplicity-full.19700101T000000Z.manifest", Prefixes{}, false, Name{}, false},
		{"df.0.m", Prefixes{}, false, Name{}, false},
		{"lockfile", Prefixes{}, false, Name{}, false},
		{"", Prefixes{}, false, Name{}, false},
	}
	for _, c := range cases {
		got, ok := Parse(c.name, c.p, c.short)
		if ok != c.ok || !sameName(got, c.want) {
			t.Errorf("Parse(%q, %+v, %v) = %+v, %v; want %+v, %v", c.name, c.p, c.short, got, ok, c.want, c.ok)
		}
	}
}

func mustB36(s string) int64 {
	var n int64
	for _, r := range s {
		d := int64(r - '0')
		if r >= 'a' {
			d = int64(r-'a') + 10
		}
		n = n*36 + d
	}
	return n
}

func sameName(a, b Name) bool {
	return a.Type == b.Type && a.Start.Equal(b.Start) && a.End.Equal(b.End) && a.Volume == b.Volume &&
		a.Encrypted == b.Encrypted && a.Compressed == b.Compressed && a.Partial == b.Partial
}

func TestFormat(t *testing.T) {
	p := Prefixes{File: "p_", Archive: "a_", Manifest: "m_", Signature: "s_"}
	short1 := time.Unix(mustB36("townct"), 0)
	short2 := time.Unix(mustB36("towncu"), 0)
	cases := []struct {
		n     Name
		p     Prefixes
		short bool
		want  string
	}{
		{Name{Type: FullVolume, End: t1, Volume: 1, Compressed: true}, Prefixes{}, false,
			"duplicity-full.20261122T131032Z.vol1.difftar.gz"},
		{Name{Type: FullVolume, End: t1, Volume: 12, Encrypted: true, Compressed: true}, Prefixes{}, false,
			"duplicity-full.20261122T131032Z.vol12.difftar.gpg"},
		{Name{Type: FullManifest, End: t1, Compressed: true}, Prefixes{}, false,
			"duplicity-full.20261122T131032Z.manifest"},
		{Name{Type: FullManifest, End: t1, Partial: true}, Prefixes{}, false,
			"duplicity-full.20261122T131032Z.manifest.part"},
		{Name{Type: IncManifest, Start: t1, End: t2, Encrypted: true}, p, false,
			"p_m_duplicity-inc.20261122T131032Z.to.20261122T131040Z.manifest.gpg"},
		{Name{Type: IncVolume, Start: t1, End: t2, Volume: 3}, p, false,
			"p_a_duplicity-inc.20261122T131032Z.to.20261122T131040Z.vol3.difftar"},
		{Name{Type: FullSignature, End: t1, Compressed: true}, p, false,
			"p_s_duplicity-full-signatures.20261122T131032Z.sigtar.gz"},
		{Name{Type: NewSignature, Start: t1, End: t2, Partial: true}, Prefixes{}, false,
			"duplicity-new-signatures.20261122T131032Z.to.20261122T131040Z.sigtar.part"},
		{Name{Type: FullVolume, End: short1, Volume: 1, Compressed: true}, Prefixes{}, true, "df.townct.1.dt.z"},
		{Name{Type: FullManifest, End: short1, Partial: true}, Prefixes{}, true, "df.townct.m.p"},
		{Name{Type: IncVolume, Start: short1, End: short2, Volume: 10, Encrypted: true}, Prefixes{}, true, "di.townct.towncu.a.dt.g"},
		{Name{Type: IncManifest, Start: short1, End: short2}, Prefixes{}, true, "di.townct.towncu.m"},
		{Name{Type: FullSignature, End: short1, Compressed: true}, Prefixes{}, true, "dfs.townct.st.z"},
		{Name{Type: NewSignature, Start: short1, End: short2, Encrypted: true}, Prefixes{}, true, "dns.townct.towncu.st.g"},
	}
	for _, c := range cases {
		got := c.n.Format(c.p, c.short)
		if got != c.want {
			t.Errorf("Format(%+v, short=%v) = %q, want %q", c.n, c.short, got, c.want)
			continue
		}
		back, ok := Parse(got, c.p, c.short)
		want := c.n
		if want.Type.Manifest() {
			want.Compressed = false
		}
		if want.Encrypted {
			want.Compressed = false
		}
		if !ok || !sameName(back, want) {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", got, back, ok, want)
		}
	}
}

func TestTime(t *testing.T) {
	if got := FormatTime(time.Date(2026, 11, 22, 14, 10, 32, 0, time.FixedZone("x", 3600))); got != "20261122T131032Z" {
		t.Errorf("FormatTime = %q", got)
	}
	got, err := ParseTime("20261122T131032Z")
	if err != nil || !got.Equal(t1) {
		t.Errorf("ParseTime = %v, %v", got, err)
	}
	for _, bad := range []string{"", "19700101T000000Z", "2026\xff1122T131032Z", "tomorrow"} {
		if _, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) succeeded", bad)
		}
	}
}

func TestStem(t *testing.T) {
	cases := map[string]string{
		"duplicity-full.20261122T131032Z.manifest.gpg":           "duplicity-full.20261122T131032Z.manifest",
		"duplicity-full.20261122T131032Z.manifest.part":          "duplicity-full.20261122T131032Z.manifest",
		"duplicity-full.20261122T131032Z.manifest":               "duplicity-full.20261122T131032Z.manifest",
		"duplicity-full-signatures.20261122T131032Z.sigtar.gz":   "duplicity-full-signatures.20261122T131032Z.sigtar",
		"duplicity-full-signatures.20261122T131032Z.sigtar.part": "duplicity-full-signatures.20261122T131032Z.sigtar",
		"df.townct.m.g":   "df.townct.m",
		"df.townct.m.p":   "df.townct.m",
		"dfs.townct.st.z": "dfs.townct.st",
		"x.gz.gpg":        "x.gz",
		".gz":             ".gz",
		"..gz":            "..gz",
		"a..gz":           "a.",
		"x.tar":           "x.tar",
	}
	for in, want := range cases {
		if got := Stem(in); got != want {
			t.Errorf("Stem(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range oracleNames {
		f.Add(n, false)
		f.Add(n, true)
	}
	f.Fuzz(func(t *testing.T, name string, short bool) {
		n, ok := Parse(name, Prefixes{}, short)
		if !ok {
			return
		}
		if n.Type.Volume() && n.Volume < 1 {
			t.Fatalf("Parse(%q): volume %d", name, n.Volume)
		}
		// Formatting a parsed name gives a name that parses the same,
		// for times duplicity can write back.
		for _, tm := range []time.Time{n.Start, n.End} {
			if !tm.IsZero() && (tm.Unix() <= 0 || tm.Year() <= 1900 || tm.Year() >= 2100) {
				return
			}
		}
		if n.Type.Manifest() {
			n.Compressed = false
		}
		s := n.Format(Prefixes{}, short)
		back, ok := Parse(s, Prefixes{}, short)
		if !ok || !sameName(back, n) {
			t.Fatalf("Parse(%q) = %+v; its Format %q parses as %+v, %v", name, n, s, back, ok)
		}
	})
}
