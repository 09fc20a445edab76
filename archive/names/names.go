// Package names parses and formats the names of duplicity's remote and
// archive-dir files (volumes, manifests, signatures), long and short forms.
package names

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"dupfs/archive/timespec"
)

// Type is the kind of file a name denotes.
type Type int

// The file kinds; the zero Type is invalid.
const (
	FullVolume Type = iota + 1
	FullManifest
	IncVolume
	IncManifest
	FullSignature
	NewSignature
)

var typeNames = map[Type]string{
	FullVolume:    "full volume",
	FullManifest:  "full manifest",
	IncVolume:     "inc volume",
	IncManifest:   "inc manifest",
	FullSignature: "full signature",
	NewSignature:  "new signature",
}

func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Full reports whether t belongs to a full backup (volume or manifest).
func (t Type) Full() bool { return t == FullVolume || t == FullManifest }

// Inc reports whether t belongs to an incremental backup.
func (t Type) Inc() bool { return t == IncVolume || t == IncManifest }

// Volume reports whether t is a data volume.
func (t Type) Volume() bool { return t == FullVolume || t == IncVolume }

// Manifest reports whether t is a manifest.
func (t Type) Manifest() bool { return t == FullManifest || t == IncManifest }

// Prefixes are duplicity's --file-prefix options: File goes before every
// name, then Archive before volumes, Manifest before manifests and
// Signature before signatures.
type Prefixes struct {
	File, Archive, Manifest, Signature string
}

// Name is a parsed file name.
type Name struct {
	Type  Type
	Start time.Time // inc/new-sig: T1; zero for full types
	End   time.Time // full: T; inc/new-sig: T2
	// Volume numbers volumes, from 1.
	Volume int
	// Partial is set for ".part"/".p" manifests and signatures (duplicity
	// never reports it for volumes).
	Encrypted, Compressed, Partial bool
}

const timeLayout = "20060102T150405Z"

// FormatTime renders t as duplicity writes times into names, in UTC.
func FormatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// clock is the current time for interval-style time fields; tests fix it.
var clock = time.Now

// ParseTime reads the time field of a long file name as duplicity does: the
// field is upper-cased and may then be any --time form (so old-style
// "2002-04-26T04:22:01-07:00" works; zone-less forms use the local zone).
// The Unix epoch itself is rejected, as duplicity treats it as "no time".
func ParseTime(s string) (time.Time, error) {
	if !utf8.ValidString(s) {
		return time.Time{}, fmt.Errorf("bad time string %q: not UTF-8", s)
	}
	t, err := timespec.Parse(strings.ToUpper(s), clock(), time.Local)
	if err != nil {
		return time.Time{}, err
	}
	if t.Unix() == 0 {
		return time.Time{}, fmt.Errorf("bad time string %q: the epoch", s)
	}
	return t, nil
}

// Format renders n as duplicity writes it. Times are whole seconds in UTC;
// the suffix is .gpg (.g) when Encrypted, else .gz (.z) when Compressed;
// manifests are never compressed.
func (n Name) Format(p Prefixes, short bool) string {
	var b strings.Builder
	b.WriteString(p.File)
	switch {
	case n.Type.Volume():
		b.WriteString(p.Archive)
	case n.Type.Manifest():
		b.WriteString(p.Manifest)
	default:
		b.WriteString(p.Signature)
	}
	ts := func(t time.Time) string {
		if short {
			return strconv.FormatInt(t.Unix(), 36)
		}
		return FormatTime(t)
	}
	var vol string
	switch {
	case n.Type.Volume() && short:
		vol = strconv.FormatInt(int64(n.Volume), 36) + ".dt"
	case n.Type.Volume():
		vol = "vol" + strconv.Itoa(n.Volume) + ".difftar"
	case short:
		vol = "m"
	default:
		vol = "manifest"
	}
	switch {
	case n.Type.Full() && short:
		b.WriteString("df." + ts(n.End) + "." + vol)
	case n.Type.Full():
		b.WriteString("duplicity-full." + ts(n.End) + "." + vol)
	case n.Type.Inc() && short:
		b.WriteString("di." + ts(n.Start) + "." + ts(n.End) + "." + vol)
	case n.Type.Inc():
		b.WriteString("duplicity-inc." + ts(n.Start) + ".to." + ts(n.End) + "." + vol)
	case n.Type == FullSignature && short:
		b.WriteString("dfs." + ts(n.End) + ".st")
	case n.Type == FullSignature:
		b.WriteString("duplicity-full-signatures." + ts(n.End) + ".sigtar")
	case n.Type == NewSignature && short:
		b.WriteString("dns." + ts(n.Start) + "." + ts(n.End) + ".st")
	default:
		b.WriteString("duplicity-new-signatures." + ts(n.Start) + ".to." + ts(n.End) + ".sigtar")
	}
	if n.Partial {
		b.WriteString(pick(short, ".p", ".part"))
	}
	switch {
	case n.Encrypted:
		b.WriteString(pick(short, ".g", ".gpg"))
	case n.Compressed && !n.Type.Manifest():
		b.WriteString(pick(short, ".z", ".gz"))
	}
	return b.String()
}

func pick(short bool, s, l string) string {
	if short {
		return s
	}
	return l
}

// Stem returns name without one trailing .gpg, .g, .gz, .z, .part or .p
// extension, so a local "x.manifest.part" or "x.sigtar.gz" pairs with a
// remote "x.manifest.gpg" or "x.sigtar.gpg". Like Python's splitext, a
// name that is all dots before the extension keeps it. (duplicity's own
// list lacks ".p", so it never pairs short-name partials.)
func Stem(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 || strings.Trim(name[:i], ".") == "" {
		return name
	}
	switch name[i:] {
	case ".gpg", ".g", ".gz", ".z", ".part", ".p":
		return name[:i]
	}
	return name
}

// pattern matches one kind of name. When the prefixes form a valid Go
// regular expression they are part of re, as duplicity pastes them into its
// regular expressions unescaped; otherwise lit is a literal prefix and re
// matches the rest.
type pattern struct {
	lit string
	re  *regexp.Regexp
	// submatch numbers of the named fields, -1 if absent
	time, start, end, num, partial int
}

// fields are the parts of a matched name.
type fields struct {
	time, start, end, num string
	partial               bool
}

func newPattern(prefix, body string) *pattern {
	// Python's "$" also matches before a final newline.
	body += `(?:\n?\z|\.)`
	pt := &pattern{}
	re, err := regexp.Compile("^" + prefix + body)
	if err != nil {
		pt.lit = prefix
		re = regexp.MustCompile("^" + body)
	}
	pt.re = re
	// Our groups come last, whatever groups the prefix has.
	last := func(name string) int {
		names := re.SubexpNames()
		for i := len(names) - 1; i > 0; i-- {
			if names[i] == name {
				return i
			}
		}
		return -1
	}
	pt.time, pt.start, pt.end, pt.num, pt.partial = last("time"), last("start"), last("end"), last("num"), last("partial")
	return pt
}

func (pt *pattern) match(name string) (fields, bool) {
	rest, ok := strings.CutPrefix(name, pt.lit)
	if !ok {
		return fields{}, false
	}
	m := pt.re.FindStringSubmatchIndex(rest)
	if m == nil {
		return fields{}, false
	}
	group := func(i int) string {
		if i < 0 || m[2*i] < 0 {
			return ""
		}
		return rest[m[2*i]:m[2*i+1]]
	}
	return fields{
		time:    group(pt.time),
		start:   group(pt.start),
		end:     group(pt.end),
		num:     group(pt.num),
		partial: pt.partial >= 0 && m[2*pt.partial] >= 0,
	}, true
}

// forms holds the short and long pattern of one kind of name.
type forms struct{ short, long *pattern }

type patternSet struct {
	fullVol, fullMan, incVol, incMan, fullSig, newSig forms
}

var patternCache sync.Map // Prefixes -> *patternSet

func patternsFor(p Prefixes) *patternSet {
	if ps, ok := patternCache.Load(p); ok {
		return ps.(*patternSet)
	}
	a, m, g := p.File+p.Archive, p.File+p.Manifest, p.File+p.Signature
	const (
		lt  = `(?P<time>.*?)`
		ls  = `(?P<start>.*?)\.to\.(?P<end>.*?)`
		st  = `(?P<time>[0-9a-z]+?)`
		ss  = `(?P<start>[0-9a-z]+?)\.(?P<end>[0-9a-z]+?)`
		lpt = `(?P<partial>\.part)?`
		spt = `(?P<partial>\.p)?`
	)
	ps := &patternSet{
		fullVol: forms{
			short: newPattern(a, `df\.`+st+`\.(?P<num>[0-9a-z]+)\.dt`+spt),
			long:  newPattern(a, `duplicity-full\.`+lt+`\.vol(?P<num>[0-9]+)\.difftar`+lpt),
		},
		fullMan: forms{
			short: newPattern(m, `df\.`+st+`\.m`+spt),
			long:  newPattern(m, `duplicity-full\.`+lt+`\.manifest`+lpt),
		},
		incVol: forms{
			short: newPattern(a, `di\.`+ss+`\.(?P<num>[0-9a-z]+)\.dt`),
			long:  newPattern(a, `duplicity-inc\.`+ls+`\.vol(?P<num>[0-9]+)\.difftar`),
		},
		incMan: forms{
			short: newPattern(m, `di\.`+ss+`\.m`+spt),
			long:  newPattern(m, `duplicity-inc\.`+ls+`\.manifest`+lpt),
		},
		fullSig: forms{
			short: newPattern(g, `dfs\.`+st+`\.st`+spt),
			long:  newPattern(g, `duplicity-full-signatures\.`+lt+`\.sigtar`+lpt),
		},
		newSig: forms{
			short: newPattern(g, `dns\.`+ss+`\.st`+spt),
			long:  newPattern(g, `duplicity-new-signatures\.`+ls+`\.sigtar`+lpt),
		},
	}
	actual, _ := patternCache.LoadOrStore(p, ps)
	return actual.(*patternSet)
}

// matchPair tries the volume and the manifest pattern of one form.
func matchPair(vol, man *pattern, name string) (f fields, isVol, ok bool) {
	if vol != nil {
		if f, ok = vol.match(name); ok {
			return f, true, true
		}
	}
	if man != nil {
		if f, ok = man.match(name); ok {
			return f, false, true
		}
	}
	return fields{}, false, false
}

// matchForms tries the short forms, then, unless only short names are in
// use, the long forms, as duplicity does.
func matchForms(vol, man forms, name string, short bool) (f fields, isVol, isShort, ok bool) {
	if f, isVol, ok = matchPair(vol.short, man.short, name); ok {
		return f, isVol, true, true
	}
	if short {
		return fields{}, false, false, false
	}
	f, isVol, ok = matchPair(vol.long, man.long, name)
	return f, isVol, false, ok
}

func fieldTime(s string, short bool) (time.Time, bool) {
	if short {
		n, err := strconv.ParseUint(s, 36, 63)
		if err != nil || n == 0 {
			return time.Time{}, false
		}
		return time.Unix(int64(n), 0).UTC(), true
	}
	t, err := ParseTime(s)
	return t, err == nil
}

func fieldNum(s string, short bool) (int, bool) {
	base := 10
	if short {
		base = 36
	}
	n, err := strconv.ParseInt(s, base, 0)
	// duplicity asserts on volume 0.
	return int(n), err == nil && n > 0
}

// Parse recognises a duplicity file name the way duplicity 0.8.22 does:
// full backups first (volume, then manifest), then incrementals, then
// signatures; short forms are always tried, long forms unless short is set.
// Names with unparseable times, and foreign names, are rejected.
func Parse(name string, p Prefixes, short bool) (Name, bool) {
	ps := patternsFor(p)
	n, ok := parseSet(name, ps.fullVol, ps.fullMan, FullVolume, FullManifest, short)
	if !ok {
		n, ok = parseSet(name, ps.incVol, ps.incMan, IncVolume, IncManifest, short)
	}
	if !ok {
		n, ok = parseSig(name, ps, short)
	}
	if !ok {
		return Name{}, false
	}
	n.Compressed = strings.HasSuffix(name, ".z") || (!short && strings.HasSuffix(name, "gz"))
	n.Encrypted = strings.HasSuffix(name, ".g") || (!short && strings.HasSuffix(name, ".gpg"))
	return n, true
}

func parseSet(name string, vol, man forms, vt, mt Type, short bool) (Name, bool) {
	f, isVol, isShort, ok := matchForms(vol, man, name, short)
	if !ok {
		return Name{}, false
	}
	var n Name
	if vt == FullVolume {
		if n.End, ok = fieldTime(f.time, isShort); !ok {
			return Name{}, false
		}
	} else {
		if n.Start, ok = fieldTime(f.start, isShort); !ok {
			return Name{}, false
		}
		if n.End, ok = fieldTime(f.end, isShort); !ok {
			return Name{}, false
		}
	}
	if isVol {
		n.Type = vt
		if n.Volume, ok = fieldNum(f.num, isShort); !ok {
			return Name{}, false
		}
		return n, true
	}
	n.Type = mt
	n.Partial = f.partial
	return n, true
}

func parseSig(name string, ps *patternSet, short bool) (Name, bool) {
	// A recognised full-signature name with a bad time is not retried as a
	// new-signature name.
	if f, _, isShort, ok := matchForms(forms{}, ps.fullSig, name, short); ok {
		t, ok := fieldTime(f.time, isShort)
		return Name{Type: FullSignature, End: t, Partial: f.partial}, ok
	}
	f, _, isShort, ok := matchForms(forms{}, ps.newSig, name, short)
	if !ok {
		return Name{}, false
	}
	n := Name{Type: NewSignature, Partial: f.partial}
	if n.Start, ok = fieldTime(f.start, isShort); !ok {
		return Name{}, false
	}
	if n.End, ok = fieldTime(f.end, isShort); !ok {
		return Name{}, false
	}
	return n, true
}
