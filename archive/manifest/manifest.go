// Package manifest reads and writes duplicity's per-backup-set manifest: the
// source host and directory, and for each volume the index range it holds
// and its hash, plus the list of changed files.
//
// Parsing follows duplicity 0.8.22, which finds fields with regular
// expressions over the whole text: keywords are case-insensitive at line
// starts, a volume block runs until the next line starting with "Volume",
// and a repeated volume number (a restarted backup) replaces the earlier
// entry and drops the higher numbers listed before it. Where duplicity
// fails on a malformed volume block, Parse fails too; the informational
// fields (Hostname, Localdir, Filelist) are read leniently.
package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"dupfs/archive/index"
)

// Limits on hostile input.
const (
	MaxSize    = 64 << 20   // bytes of manifest text
	MaxEntries = 10_000_000 // volumes, and files in the Filelist
)

// Volume describes one volume of a backup set.
type Volume struct {
	Number     int
	Start, End string // indexes ("" = root; "." in text)
	// Chunk numbers of a file split across volumes; 0 = none.
	StartChunk, EndChunk int
	// HashAlg and Hash are the best hash listed (SHA1, else MD5, else the
	// first), as written: duplicity writes lowercase hex.
	HashAlg, Hash string
}

// File is one Filelist entry.
type File struct {
	Change string // "new", "changed" or "deleted"
	Path   string // index, unquoted
}

// Manifest is a parsed manifest.
type Manifest struct {
	Hostname, Localdir string
	Volumes            []Volume // sorted by Number
	Files              []File
}

// Parse reads a manifest.
func Parse(r io.Reader) (*Manifest, error) {
	s, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("manifest: read: %w", err)
	}
	if len(s) > MaxSize {
		return nil, fmt.Errorf("manifest: larger than %d bytes", MaxSize)
	}
	l, err := scanLines(s)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Hostname: fieldValue(l.host), Localdir: fieldValue(l.dir)}
	if m.Volumes, err = volumes(s, l.volumes); err != nil {
		return nil, err
	}
	if m.Files, err = files(s, l.filelist, l.fileCount, l.volumes); err != nil {
		return nil, err
	}
	return m, nil
}

// layout is what one pass over the line starts finds, mirroring the
// regular expressions duplicity applies to the whole text.
type layout struct {
	host, dir []byte // first "<keyword><ws><value>\n" values; nil if none
	volumes   []int  // starts of lines beginning "volume<ws>"
	filelist  int    // start of the first Filelist's entries; -1 if none
	fileCount bool   // whether that Filelist's count is non-zero
}

func scanLines(s []byte) (layout, error) {
	l := layout{filelist: -1}
	hostDone, dirDone := false, false
	for p := 0; p < len(s); {
		switch s[p] | 0x20 {
		case 'h':
			if !hostDone && hasKeyword(s[p:], "hostname") {
				l.host, hostDone = lineValue(s[p+len("hostname")+1:]), true
			}
		case 'l':
			if !dirDone && hasKeyword(s[p:], "localdir") {
				l.dir, dirDone = lineValue(s[p+len("localdir")+1:]), true
			}
		case 'v':
			if hasKeyword(s[p:], "volume") {
				if len(l.volumes) == MaxEntries {
					return l, fmt.Errorf("manifest: more than %d volumes", MaxEntries)
				}
				l.volumes = append(l.volumes, p)
			}
		case 'f':
			if l.filelist < 0 && hasKeyword(s[p:], "filelist") {
				// "Filelist<ws><digits>\n"
				q := p + len("filelist") + 1
				d := q
				for d < len(s) && s[d] >= '0' && s[d] <= '9' {
					d++
				}
				if d > q && d < len(s) && s[d] == '\n' {
					l.filelist = d + 1
					l.fileCount = strings.Trim(string(s[q:d]), "0") != ""
				}
			}
		}
		nl := bytes.IndexByte(s[p:], '\n')
		if nl < 0 {
			break
		}
		p += nl + 1
	}
	return l, nil
}

// lineValue returns the text up to the next newline. Without one there is
// no value, here or in any later line, so the first keyword line decides.
func lineValue(v []byte) []byte {
	nl := bytes.IndexByte(v, '\n')
	if nl < 0 {
		return nil
	}
	return v[:nl]
}

// fieldValue unquotes a Hostname or Localdir value, keeping it raw if it
// is not validly quoted.
func fieldValue(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	u, err := Unquote(string(v))
	if err != nil {
		return string(v)
	}
	return u
}

// isSpace is the whitespace of Python's bytes regular expressions and of
// bytes.split() and strip().
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f':
		return true
	}
	return false
}

func trimSpace(s []byte) []byte {
	for len(s) > 0 && isSpace(s[0]) {
		s = s[1:]
	}
	for len(s) > 0 && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

// fields returns up to the first three whitespace-separated fields of
// line, and how many there are (counting at most three), and the text after
// the first field.
func fields(line []byte) (f [3][]byte, n int, rest []byte) {
	for n < 3 {
		for len(line) > 0 && isSpace(line[0]) {
			line = line[1:]
		}
		if len(line) == 0 {
			break
		}
		i := 0
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		f[n] = line[:i]
		line = line[i:]
		if n == 0 {
			rest = line
		}
		n++
	}
	return f, n, rest
}

// nextLine splits off the text up to the next newline.
func nextLine(s []byte) (line, more []byte, ok bool) {
	if s == nil {
		return nil, nil, false
	}
	if i := bytes.IndexByte(s, '\n'); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, nil, true
}

// hasKeyword reports whether s starts with the lowercase ASCII keyword kw,
// in any case, followed by a whitespace byte.
func hasKeyword(s []byte, kw string) bool {
	return len(s) > len(kw) && equalFoldASCII(s[:len(kw)], kw) && isSpace(s[len(kw)])
}

func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// endOfText is where Python's "$" first matches at or after a line end:
// the end, or just before a final newline.
func endOfText(s []byte) int {
	if len(s) > 0 && s[len(s)-1] == '\n' {
		return len(s) - 1
	}
	return len(s)
}

func volumes(s []byte, starts []int) ([]Volume, error) {
	byNum := make(map[int]Volume)
	latest, highest := 0, 0
	for i, p := range starts {
		end := endOfText(s)
		if i+1 < len(starts) {
			end = starts[i+1] - 1
		}
		end = max(end, p)
		v, err := parseVolume(s[p:end])
		if err != nil {
			return nil, err
		}
		byNum[v.Number] = v
		latest, highest = v.Number, max(highest, v.Number)
	}
	// A restarted backup lists the redone volume again; entries listed
	// before it with higher numbers are stale. duplicity fails when one
	// of them is missing.
	if highest-latest > len(byNum) {
		return nil, fmt.Errorf("manifest: some of volumes %d to %d missing before restarted volume %d", latest+1, highest, latest)
	}
	for n := latest + 1; n <= highest; n++ {
		if _, ok := byNum[n]; !ok {
			return nil, fmt.Errorf("manifest: volume %d missing before restarted volume %d", n, latest)
		}
		delete(byNum, n)
	}
	vols := make([]Volume, 0, len(byNum))
	for _, v := range byNum {
		vols = append(vols, v)
	}
	slices.SortFunc(vols, func(a, b Volume) int { return a.Number - b.Number })
	return vols, nil
}

func parseVolume(block []byte) (Volume, error) {
	first, rest, _ := nextLine(trimSpace(block))
	// The first line must be "Volume <digits>:" with a single space.
	digits := 0
	if len(first) > 7 && equalFoldASCII(first[:7], "volume ") {
		for 7+digits < len(first) && first[7+digits] >= '0' && first[7+digits] <= '9' {
			digits++
		}
	}
	if digits == 0 || 7+digits >= len(first) || first[7+digits] != ':' {
		return Volume{}, fmt.Errorf("manifest: bad volume line %q", first)
	}
	num, err := strconv.Atoi(string(first[7 : 7+digits]))
	if err != nil || num > MaxEntries {
		return Volume{}, fmt.Errorf("manifest: volume number %s out of range", first[7:7+digits])
	}
	v := Volume{Number: num}
	haveStart, haveEnd := false, false
	var h hashes
	for line, rest, ok := nextLine(rest); ok; line, rest, ok = nextLine(rest) {
		if len(line) == 0 {
			continue
		}
		f, n, _ := fields(line)
		if n == 0 {
			return Volume{}, fmt.Errorf("manifest: volume %d: blank line", num)
		}
		switch {
		case equalFoldASCII(f[0], "startingpath"), equalFoldASCII(f[0], "endingpath"):
			if n < 2 {
				return Volume{}, fmt.Errorf("manifest: volume %d: %s without a path", num, f[0])
			}
			idx, err := Unquote(string(f[1]))
			if err != nil {
				return Volume{}, fmt.Errorf("manifest: volume %d: %s: %w", num, f[0], err)
			}
			if idx == "." {
				idx = ""
			}
			chunk := 0
			if n > 2 {
				if chunk, err = pyInt(string(f[2]), 10); err != nil {
					return Volume{}, fmt.Errorf("manifest: volume %d: %s chunk: %w", num, f[0], err)
				}
			}
			if equalFoldASCII(f[0], "startingpath") {
				v.Start, v.StartChunk, haveStart = idx, chunk, true
			} else {
				v.End, v.EndChunk, haveEnd = idx, chunk, true
			}
		case equalFoldASCII(f[0], "hash"):
			if n < 3 {
				return Volume{}, fmt.Errorf("manifest: volume %d: hash without a value", num)
			}
			h.add(string(f[1]), string(f[2]))
		}
	}
	if !haveStart || !haveEnd {
		return Volume{}, fmt.Errorf("manifest: volume %d: start or end index not set", num)
	}
	v.HashAlg, v.Hash = h.best()
	return v, nil
}

// hashes keeps what duplicity's choice of hash needs from a volume's Hash
// lines (a dict: a repeated name updates the value, not the order).
type hashes struct {
	first, firstVal, sha1, md5 string
	any, haveSHA1, haveMD5     bool
}

func (h *hashes) add(alg, val string) {
	if !h.any {
		h.first, h.any = alg, true
	}
	if alg == h.first {
		h.firstVal = val
	}
	switch alg {
	case "SHA1":
		h.sha1, h.haveSHA1 = val, true
	case "MD5":
		h.md5, h.haveMD5 = val, true
	}
}

// best prefers SHA1, then MD5, then the first listed.
func (h *hashes) best() (alg, val string) {
	switch {
	case h.haveSHA1:
		return "SHA1", h.sha1
	case h.haveMD5:
		return "MD5", h.md5
	case h.any:
		return h.first, h.firstVal
	}
	return "", ""
}

// files reads the Filelist section: "Filelist <count>" then entry lines up
// to the next "Volume" line or the end. Lines that cannot be entries are
// skipped, as are entries whose type is a volume keyword: written after the
// volumes they would be read as fields of the last volume.
func files(s []byte, body int, count bool, volumeStarts []int) ([]File, error) {
	if body < 0 || !count {
		return nil, nil
	}
	// The entries end before the next "Volume" line, or at the end.
	end := max(endOfText(s), body)
	for _, q := range volumeStarts {
		if q > body {
			end = min(end, q-1)
			break
		}
	}
	var out []File
	for line, rest, ok := nextLine(s[body:end]); ok; line, rest, ok = nextLine(rest) {
		f, n, after := fields(line)
		if n == 0 || equalFoldASCII(f[0], "startingpath") || equalFoldASCII(f[0], "endingpath") || equalFoldASCII(f[0], "hash") {
			continue
		}
		if len(out) == MaxEntries {
			return nil, fmt.Errorf("manifest: more than %d files", MaxEntries)
		}
		// The path is all further fields run together.
		joined := make([]byte, 0, len(after))
		for _, c := range after {
			if !isSpace(c) {
				joined = append(joined, c)
			}
		}
		raw := string(joined)
		path, err := Unquote(raw)
		if err != nil {
			path = raw
		}
		out = append(out, File{Change: string(f[0]), Path: path})
	}
	return out, nil
}

// Marshal renders m exactly as duplicity 0.8.22 writes a manifest during a
// backup: host, directory, volumes in order, then the Filelist.
func (m *Manifest) Marshal() []byte {
	var b bytes.Buffer
	if m.Hostname != "" {
		h := m.Hostname
		// duplicity writes host names raw; quote only the ones that would
		// not read back.
		if strings.ContainsRune(h, '\n') || h[0] == '"' {
			h = Quote(h)
		}
		b.WriteString("Hostname " + h + "\n")
	}
	if m.Localdir != "" {
		b.WriteString("Localdir " + Quote(m.Localdir) + "\n")
	}
	for _, v := range m.Volumes {
		fmt.Fprintf(&b, "Volume %d:\n", v.Number)
		fmt.Fprintf(&b, "    StartingPath   %s %s\n", indexText(v.Start), chunkText(v.StartChunk))
		fmt.Fprintf(&b, "    EndingPath     %s %s\n", indexText(v.End), chunkText(v.EndChunk))
		if v.HashAlg != "" {
			fmt.Fprintf(&b, "    Hash %s %s\n", v.HashAlg, v.Hash)
		}
	}
	fmt.Fprintf(&b, "Filelist %d\n", len(m.Files))
	for _, f := range m.Files {
		fmt.Fprintf(&b, "    %-7s  %s\n", f.Change, Quote(f.Path))
	}
	return b.Bytes()
}

func indexText(p string) string {
	if p == "" {
		return "."
	}
	return Quote(p)
}

func chunkText(n int) string {
	if n == 0 {
		return " "
	}
	return strconv.Itoa(n)
}

func needsQuote(c byte) bool { return isSpace(c) || c == '\\' || c == '"' || c == '\'' }

// Quote returns s unchanged unless it holds white space, a backslash or a
// quote; then it returns s in double quotes with each such byte written
// as \xNN. Other bytes, including non-UTF-8 ones, stay raw.
func Quote(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x80 && needsQuote(byte(r)) }) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if needsQuote(s[i]) {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteByte(s[i])
		}
	}
	b.WriteByte('"')
	return b.String()
}

var errQuote = errors.New("bad quoted string")

// Unquote reverses Quote. Strings not starting with a double quote are
// returned as they are; duplicity leaves every byte but \xNN escapes alone.
func Unquote(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("%w: empty", errQuote)
	}
	if s[0] != '"' {
		return s, nil
	}
	if s[len(s)-1] != '"' {
		return "", fmt.Errorf("%w %q: no closing quote", errQuote, s)
	}
	var b strings.Builder
	for i := 1; i < len(s)-1; {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			i++
			continue
		}
		if i+1 >= len(s) || s[i+1] != 'x' {
			return "", fmt.Errorf("%w %q: backslash without x", errQuote, s)
		}
		n, err := pyInt(s[min(i+2, len(s)):min(i+4, len(s))], 16)
		if err != nil || n < 0 || n > 255 {
			return "", fmt.Errorf("%w %q: bad escape", errQuote, s)
		}
		b.WriteByte(byte(n))
		i += 4
	}
	return b.String(), nil
}

// pyInt parses an integer as Python's int() does for ASCII text: optional
// surrounding white space and sign, and single underscores between digits.
func pyInt(s string, base int) (int, error) {
	t := strings.TrimFunc(s, func(r rune) bool { return r < 0x80 && isSpace(byte(r)) })
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg, t = t[0] == '-', t[1:]
	}
	if t == "" || t[0] == '+' || t[0] == '-' || t[0] == '_' || t[len(t)-1] == '_' || strings.Contains(t, "__") {
		return 0, fmt.Errorf("bad number %q", s)
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(t, "_", ""), base, 0)
	if err != nil {
		return 0, fmt.Errorf("bad number %q", s)
	}
	if neg {
		n = -n
	}
	return int(n), nil
}

// VolumesFor returns the numbers of the volumes that can hold p or entries
// below it: those with start[:len(p)] <= p <= end, comparing indexes as
// tuples of components. The root ("") selects every volume.
func (m *Manifest) VolumesFor(p string) []int {
	var out []int
	depth := strings.Count(p, "/") + 1
	for _, v := range m.Volumes {
		if p == "" || (index.Compare(truncate(v.Start, depth), p) <= 0 && index.Compare(p, v.End) <= 0) {
			out = append(out, v.Number)
		}
	}
	return out
}

// truncate keeps the first n components of index p.
func truncate(p string, n int) string {
	if p == "" {
		return ""
	}
	for i := 0; i < len(p); i++ {
		if p[i] == '/' {
			n--
			if n == 0 {
				return p[:i]
			}
		}
	}
	return p
}
