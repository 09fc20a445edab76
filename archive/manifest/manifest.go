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
//
// The text is read a line at a time, as none of those expressions needs to
// look further ahead than the next line, so a manifest of any length parses
// in bounded memory.
package manifest

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"dupfs/archive/index"
)

// Limits on hostile input. The text may be of any length, but its lines
// and what a parse keeps are bounded.
const (
	MaxLine = 1 << 20 // bytes in one line, its newline included
	// MaxRetained bounds the bytes kept: volumes as listed (restarts
	// included) and, for Parse, Filelist entries, each counted as its
	// struct plus its strings.
	MaxRetained = 256 << 20
	MaxVolume   = 10_000_000 // highest volume number
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

// Parse reads a manifest, keeping its Filelist in m.Files.
func Parse(r io.Reader) (*Manifest, error) {
	p := parser{keep: true}
	return p.run(r)
}

// ParseWith reads a manifest, passing each Filelist entry to onFile as it
// is read instead of keeping it; a nil onFile skips them, and an error
// from onFile ends the parse with that error. onFile may see entries of a
// manifest that turns out to be malformed further on.
func ParseWith(r io.Reader, onFile func(File) error) (*Manifest, error) {
	p := parser{onFile: onFile}
	return p.run(r)
}

// Where the line being read stands relative to the first Filelist whose
// count parses.
const (
	listNone  = iota // not found yet
	listCount        // a "Filelist" line ended after the keyword: this line may be the count
	listFirst        // first entry: it may start a volume and still be an entry
	listIn           // entries, up to a line starting a volume
	listDone
)

type parser struct {
	keep   bool // collect Filelist entries into m.Files
	onFile func(File) error
	kept   int // bytes retained, against MaxRetained

	m         Manifest
	host, dir field
	vols      []Volume // as listed
	inVol     bool     // whether blk is open
	blk       block
	list      int
}

func (p *parser) run(r io.Reader) (*Manifest, error) {
	p.host.kw, p.dir.kw = "hostname", "localdir"
	lr := lineReader{r: bufio.NewReaderSize(r, 64<<10)}
	for {
		line, ended, err := lr.next()
		if err != nil {
			return nil, err
		}
		if len(line) > 0 || ended {
			if err := p.line(line, ended); err != nil {
				return nil, err
			}
		}
		if !ended {
			break
		}
	}
	if err := p.endVolume(); err != nil {
		return nil, err
	}
	vols, err := current(p.vols)
	if err != nil {
		return nil, err
	}
	p.m.Volumes = vols
	p.m.Hostname, p.m.Localdir = p.host.val, p.dir.val
	return &p.m, nil
}

// lineReader splits text into lines of up to MaxLine bytes. Most fit the
// bufio buffer and are returned in place; longer ones are gathered in long.
type lineReader struct {
	r    *bufio.Reader
	long []byte
	n    int // lines read
}

// next returns the next line without its newline, and whether it had one;
// a line without one is the last.
func (lr *lineReader) next() (line []byte, ended bool, err error) {
	lr.n++
	line, err = lr.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		lr.long = append(lr.long[:0], line...)
		for err == bufio.ErrBufferFull && len(lr.long) <= MaxLine {
			line, err = lr.r.ReadSlice('\n')
			lr.long = append(lr.long, line...)
		}
		if len(lr.long) > MaxLine {
			return nil, false, fmt.Errorf("manifest: line %d longer than %d bytes (MaxLine)", lr.n, MaxLine)
		}
		line = lr.long
	}
	if err != nil && err != io.EOF {
		return nil, false, fmt.Errorf("manifest: read: %w", err)
	}
	if err == nil {
		return line[:len(line)-1], true, nil
	}
	return line, false, nil
}

// line handles one line, without its newline; ended tells whether it had one.
func (p *parser) line(line []byte, ended bool) error {
	p.host.line(line, ended)
	p.dir.line(line, ended)
	vol, _, _ := keyword(line, ended, "volume")
	if vol {
		if err := p.endVolume(); err != nil {
			return err
		}
		if err := p.startVolume(line); err != nil {
			return err
		}
	} else if p.inVol {
		if err := p.volumeLine(line); err != nil {
			return err
		}
	}
	if !p.keep && p.onFile == nil {
		return nil
	}
	switch p.list {
	case listNone:
		p.listHeader(line, ended)
	case listCount:
		if ended && isDigits(line) {
			p.startList(line)
		} else {
			p.list = listNone
			p.listHeader(line, ended)
		}
	case listFirst:
		p.list = listIn
		return p.entry(line)
	case listIn:
		if vol {
			p.list = listDone
			return nil
		}
		return p.entry(line)
	}
	return nil
}

// keyword reports whether line starts with the lowercase ASCII keyword kw,
// in any case, followed by a whitespace byte, and returns what follows
// that byte. The byte may be the line's newline: then next is set, as a
// value runs on into the following line.
func keyword(line []byte, ended bool, kw string) (ok, next bool, rest []byte) {
	if len(line) < len(kw) || !equalFoldASCII(line[:len(kw)], kw) {
		return false, false, nil
	}
	if len(line) == len(kw) {
		return ended, ended, nil
	}
	return isSpace(line[len(kw)]), false, line[len(kw)+1:]
}

// field is Hostname or Localdir. duplicity takes the first line starting
// with the keyword and the text after it up to the next newline; without
// one there is no value.
type field struct {
	kw         string
	done, next bool
	val        string
}

func (f *field) line(line []byte, ended bool) {
	if f.next {
		f.next = false
		if ended {
			f.val = fieldValue(line)
		}
		return
	}
	if f.done {
		return
	}
	ok, next, rest := keyword(line, ended, f.kw)
	if !ok {
		return
	}
	f.done, f.next = true, next
	if !next && ended {
		f.val = fieldValue(rest)
	}
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

func isDigits(s []byte) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(s) > 0
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

func (p *parser) charge(n int) error {
	p.kept += n
	if p.kept > MaxRetained {
		return fmt.Errorf("manifest: volumes and files to keep exceed %d bytes (MaxRetained)", MaxRetained)
	}
	return nil
}

// block is the volume block being read. duplicity strips the block's
// surrounding whitespace, then fails on a line of only whitespace; so such
// a line is an error only if more than whitespace follows in the block.
type block struct {
	v                  Volume
	haveStart, haveEnd bool
	blank              bool // a whitespace-only line was seen
	h                  hashes
}

// startVolume opens a block; its first line must be "Volume <digits>:"
// with a single space.
func (p *parser) startVolume(first []byte) error {
	digits := 0
	if len(first) > 7 && equalFoldASCII(first[:7], "volume ") {
		for 7+digits < len(first) && first[7+digits] >= '0' && first[7+digits] <= '9' {
			digits++
		}
	}
	if digits == 0 || 7+digits >= len(first) || first[7+digits] != ':' {
		return fmt.Errorf("manifest: bad volume line %q", first)
	}
	num, err := strconv.Atoi(string(first[7 : 7+digits]))
	if err != nil || num > MaxVolume {
		return fmt.Errorf("manifest: volume number %s out of range", first[7:7+digits])
	}
	p.blk, p.inVol = block{v: Volume{Number: num}}, true
	return nil
}

func (p *parser) volumeLine(line []byte) error {
	b := &p.blk
	num := b.v.Number
	if len(line) == 0 {
		return nil
	}
	f, n, _ := fields(line)
	if n == 0 {
		b.blank = true
		return nil
	}
	if b.blank {
		return fmt.Errorf("manifest: volume %d: blank line", num)
	}
	switch {
	case equalFoldASCII(f[0], "startingpath"), equalFoldASCII(f[0], "endingpath"):
		if n < 2 {
			return fmt.Errorf("manifest: volume %d: %s without a path", num, f[0])
		}
		idx, err := Unquote(string(f[1]))
		if err != nil {
			return fmt.Errorf("manifest: volume %d: %s: %w", num, f[0], err)
		}
		if idx == "." {
			idx = ""
		}
		chunk := 0
		if n > 2 {
			if chunk, err = pyInt(string(f[2]), 10); err != nil {
				return fmt.Errorf("manifest: volume %d: %s chunk: %w", num, f[0], err)
			}
		}
		if equalFoldASCII(f[0], "startingpath") {
			b.v.Start, b.v.StartChunk, b.haveStart = idx, chunk, true
		} else {
			b.v.End, b.v.EndChunk, b.haveEnd = idx, chunk, true
		}
	case equalFoldASCII(f[0], "hash"):
		if n < 3 {
			return fmt.Errorf("manifest: volume %d: hash without a value", num)
		}
		b.h.add(f[1], f[2])
	}
	return nil
}

// endVolume closes the open block, if any.
func (p *parser) endVolume() error {
	if !p.inVol {
		return nil
	}
	p.inVol = false
	v := p.blk.v
	if !p.blk.haveStart || !p.blk.haveEnd {
		return fmt.Errorf("manifest: volume %d: start or end index not set", v.Number)
	}
	v.HashAlg, v.Hash = p.blk.h.best()
	if err := p.charge(int(unsafe.Sizeof(v)) + len(v.Start) + len(v.End) + len(v.HashAlg) + len(v.Hash)); err != nil {
		return err
	}
	p.vols = append(p.vols, v)
	return nil
}

// current applies restarts to the volumes as listed: a repeated number
// replaces the earlier entry, and entries listed before it with higher
// numbers are stale. duplicity fails when one of those is missing.
func current(vols []Volume) ([]Volume, error) {
	if len(vols) == 0 {
		return nil, nil
	}
	latest := vols[len(vols)-1].Number
	// Stable, so the last listed of each number comes last.
	slices.SortStableFunc(vols, func(a, b Volume) int { return cmp.Compare(a.Number, b.Number) })
	out := vols[:0]
	for i, v := range vols {
		if i+1 == len(vols) || vols[i+1].Number != v.Number {
			out = append(out, v)
		}
	}
	keep, _ := slices.BinarySearchFunc(out, latest+1, func(v Volume, n int) int { return cmp.Compare(v.Number, n) })
	for i, v := range out[keep:] {
		if want := latest + 1 + i; v.Number != want {
			return nil, fmt.Errorf("manifest: volume %d missing before restarted volume %d", want, latest)
		}
	}
	return out[:keep], nil
}

// hashes keeps what duplicity's choice of hash needs from a volume's Hash
// lines (a dict: a repeated name updates the value, not the order).
type hashes struct {
	first, firstVal, sha1, md5 string
	any, haveSHA1, haveMD5     bool
}

func (h *hashes) add(alg, val []byte) {
	if !h.any {
		h.first, h.any = string(alg), true
	}
	if string(alg) == h.first {
		h.firstVal = string(val)
	}
	switch string(alg) {
	case "SHA1":
		h.sha1, h.haveSHA1 = string(val), true
	case "MD5":
		h.md5, h.haveMD5 = string(val), true
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

// listHeader looks for "Filelist<ws><digits>\n", where the whitespace may
// be a newline.
func (p *parser) listHeader(line []byte, ended bool) {
	ok, next, rest := keyword(line, ended, "filelist")
	switch {
	case next:
		p.list = listCount
	case ok && ended && isDigits(rest):
		p.startList(rest)
	}
}

// startList begins the entries after the count line; a zero count means
// none.
func (p *parser) startList(count []byte) {
	p.list = listFirst
	if len(bytes.Trim(count, "0")) == 0 {
		p.list = listDone
	}
}

// entry reads a Filelist line. Lines that cannot be entries are skipped,
// as are entries whose type is a volume keyword: written after the volumes
// they would be read as fields of the last volume.
func (p *parser) entry(line []byte) error {
	f, n, after := fields(line)
	if n == 0 || equalFoldASCII(f[0], "startingpath") || equalFoldASCII(f[0], "endingpath") || equalFoldASCII(f[0], "hash") {
		return nil
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
	file := File{Change: string(f[0]), Path: path}
	if !p.keep {
		return p.onFile(file)
	}
	if err := p.charge(int(unsafe.Sizeof(file)) + len(file.Change) + len(file.Path)); err != nil {
		return err
	}
	p.m.Files = append(p.m.Files, file)
	return nil
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
