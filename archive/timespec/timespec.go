// Package timespec parses time strings the way duplicity 0.8.22 does, both
// for --time arguments and for the time fields of remote file names.
//
// duplicity's parser has quirks that decide which backup a restore selects,
// so they are kept on purpose: a time of 0 from the W3C forms falls through
// to the other forms, zone-less times use the zone's standard offset even
// in summer, "-07:30" style offsets apply their minutes with the wrong sign,
// and numeric fields follow Python's int() (signs, "_" separators, padding).
package timespec

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode"
)

// Interval units as duplicity defines them: a month is 30 days, a year 365.
var units = map[byte]int64{
	's': 1,
	'm': 60,
	'h': 3600,
	'D': 86400,
	'W': 7 * 86400,
	'M': 30 * 86400,
	'Y': 365 * 86400,
}

// Parse converts s to a time: "now"; Unix seconds; "YYYYMMDDTHHMMSSZ";
// W3C "YYYY-MM-DDTHH:MM:SS" with "Z", "+HH:MM" or no zone (then loc's
// standard offset); an interval before now such as "1h30m", "3D" or "2W"
// (units s m h D W M Y); or a date "YYYY-MM-DD", "YYYY/MM/DD",
// "MM/DD/YYYY", "MM-DD-YYYY" or "YYYYMMDDZ" at midnight (loc's standard
// offset). The forms are tried in duplicity's order.
func Parse(s string, now time.Time, loc *time.Location) (time.Time, error) {
	secs, err := seconds(s, now, loc)
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(secs, 0).UTC(), nil
}

func seconds(s string, now time.Time, loc *time.Location) (int64, error) {
	if s == "now" {
		return now.Unix(), nil
	}
	if digits, ok := trimFinalNewline(s); ok && allASCIIDigits(digits) {
		n, ok := pyInt(s, 10)
		if !ok {
			return 0, fmt.Errorf("bad time string %q: out of range", s)
		}
		return n, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	z := zone{loc: loc, std: standardOffset(now.In(loc))}
	tzd := z.tzd()
	if t, ok := z.w3Seconds(s); ok && t != 0 {
		return t, nil
	}
	if t, ok := z.w3Seconds(s + tzd); ok && t != 0 {
		return t, nil
	}
	if iv, ok := intervalSeconds(s); ok {
		t := now.Unix() - iv
		if t > now.Unix() {
			return 0, fmt.Errorf("bad time string %q: interval out of range", s)
		}
		return t, nil
	}
	if y, m, d, ok := matchDate(s); ok {
		if t, ok := z.w3Seconds(fmt.Sprintf("%s-%02d-%02dT00:00:00%s", y, m, d, tzd)); ok && t != 0 {
			return t, nil
		}
	}
	return 0, fmt.Errorf("bad time string %q: expected now, an interval like 2h30m or 3D, a W3C datetime like 2002-04-26T04:22:01-07:00, or a date like 2001-04-23 or 4/23/2001", s)
}

// zone is the local zone as duplicity sees it: loc, and its standard
// offset at the current time (Python's time.timezone).
type zone struct {
	loc *time.Location
	std int
}

// w3Seconds parses "YYYYMMDDTHHMMSSZ" (exactly 16 characters, UTC; the
// last character is not checked) and "YYYY-MM-DDTHH:MM:SS" followed by "Z"
// or "+HH:MM", as duplicity's stringtotime does.
func (z zone) w3Seconds(s string) (int64, bool) {
	// duplicity slices by characters, not bytes.
	rs := []rune(s)
	head := rs[:min(len(rs), 19)]
	dateStr, dayStr, ok := strings.Cut(string(head), "T")
	if !ok || strings.Contains(dayStr, "T") {
		return 0, false
	}
	date, day := []rune(dateStr), []rune(dayStr)
	var f [6]int64
	compact := len(rs) == 16
	if compact {
		parts := []string{
			slice(date, 0, 4), slice(date, 4, 6), slice(date, 6, 8),
			slice(day, 0, 2), slice(day, 2, 4), slice(day, 4, 6),
		}
		for i, p := range parts {
			if f[i], ok = pyInt(p, 10); !ok {
				return 0, false
			}
		}
	} else {
		dp := strings.Split(dateStr, "-")
		tp := strings.Split(dayStr, ":")
		if len(dp) != 3 || len(tp) != 3 {
			return 0, false
		}
		for i, p := range append(dp, tp...) {
			if f[i], ok = pyInt(p, 10); !ok {
				return 0, false
			}
		}
	}
	year, month, mday, hour, minute, sec := f[0], f[1], f[2], f[3], f[4], f[5]
	if year <= 1900 || year >= 2100 || month < 1 || month > 12 || mday < 1 || mday > 31 ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 61 {
		return 0, false
	}
	// Out-of-range days (Feb 31) and leap seconds roll over, as with timegm.
	t := time.Date(int(year), time.Month(month), int(mday), int(hour), int(minute), int(sec), 0, time.UTC).Unix()
	if compact {
		return t, true
	}
	// duplicity goes through mktime(isdst=0) and subtracts time.timezone,
	// which cancels out unless the zone's standard offset has changed
	// since that date.
	local := time.Date(int(year), time.Month(month), int(mday), int(hour), int(minute), int(sec), 0, z.loc)
	t += int64(z.std - standardOffset(local))
	off, ok := tzdSeconds(string(rs[min(len(rs), 19):]))
	if !ok {
		return 0, false
	}
	return t + off, true
}

func slice(r []rune, i, j int) string {
	i, j = min(i, len(r)), min(j, len(r))
	return string(r[i:j])
}

// tzdSeconds returns how far UTC is ahead of a "Z" or "+HH:MM" zone. Like
// duplicity it adds the minutes with a plus sign even for negative zones;
// its own writer compensates by flooring the hour ("-03:30" is written
// as "-04:30"), so names it wrote still read back exactly.
func tzdSeconds(tzd string) (int64, bool) {
	if tzd == "Z" {
		return 0, true
	}
	r := []rune(tzd)
	if len(r) != 6 || (r[0] != '-' && r[0] != '+') || r[3] != ':' {
		return 0, false
	}
	h, ok1 := pyInt(string(r[:3]), 10)
	m, ok2 := pyInt(string(r[4:]), 10)
	if !ok1 || !ok2 {
		return 0, false
	}
	return -60 * (60*h + m), true
}

// tzd renders the standard offset the way duplicity's gettzd(0) does: "Z",
// or sign, floored hours, ":" and minutes.
func (z zone) tzd() string {
	minutes := floorDiv(int64(z.std), 60)
	if minutes == 0 {
		return "Z"
	}
	sign := "+"
	if minutes < 0 {
		sign = "-"
	}
	h, m := floorDiv(minutes, 60), floorMod(minutes, 60)
	if h < 0 {
		h = -h
	}
	return fmt.Sprintf("%s%02d:%02d", sign, h, m)
}

// standardOffset mimics Python's time.timezone: the zone's offset outside
// daylight saving time in the current year.
func standardOffset(t time.Time) int {
	if !t.IsDST() {
		_, off := t.Zone()
		return off
	}
	for _, m := range []time.Month{time.January, time.July} {
		probe := time.Date(t.Year(), m, 1, 12, 0, 0, 0, t.Location())
		if !probe.IsDST() {
			_, off := probe.Zone()
			return off
		}
	}
	_, off := t.Zone()
	return off
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// intervalSeconds parses "4D2s"-style intervals (at least two characters,
// each part digits plus one unit letter).
func intervalSeconds(s string) (int64, bool) {
	if len(s) < 2 {
		return 0, false
	}
	var total int64
	for s != "" {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i == len(s) {
			return 0, false
		}
		unit, ok := units[s[i]]
		if !ok {
			return 0, false
		}
		n, ok := pyInt(s[:i], 10)
		if !ok || n > math.MaxInt64/unit || total > math.MaxInt64-n*unit {
			return 0, false
		}
		total += n * unit
		s = s[i+1:]
	}
	return total, true
}

// matchDate recognises YYYY[-/]M[M][-/]D[D], M[M][-/]D[D][-/]YYYY and
// YYYYMMDDZ; like Python's "$" it tolerates one trailing newline.
func matchDate(s string) (year string, month, day int64, ok bool) {
	s, _ = trimFinalNewline(s)
	digits := func(p string, lo, hi int) bool {
		return len(p) >= lo && len(p) <= hi && allASCIIDigits(p)
	}
	num := func(p string) int64 { n, _ := pyInt(p, 10); return n }
	sep := func(r rune) bool { return r == '-' || r == '/' }
	if p := strings.FieldsFunc(s, sep); len(p) == 3 && len(p[0])+len(p[1])+len(p[2])+2 == len(s) {
		if digits(p[0], 4, 4) && digits(p[1], 1, 2) && digits(p[2], 1, 2) {
			return p[0], num(p[1]), num(p[2]), true
		}
		if digits(p[0], 1, 2) && digits(p[1], 1, 2) && digits(p[2], 4, 4) {
			return p[2], num(p[0]), num(p[1]), true
		}
	}
	if len(s) == 9 && s[8] == 'Z' && allASCIIDigits(s[:8]) {
		return s[:4], num(s[4:6]), num(s[6:8]), true
	}
	return "", 0, 0, false
}

func trimFinalNewline(s string) (string, bool) {
	if strings.HasSuffix(s, "\n") {
		s = s[:len(s)-1]
	}
	return s, s != ""
}

func allASCIIDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// pyInt converts s like Python's int(s, base): surrounding white space,
// an optional sign, single "_" between digits, and any Unicode decimal
// digits. It reports false on syntax errors and int64 overflow.
func pyInt(s string, base int64) (int64, bool) {
	s = strings.TrimFunc(s, isPySpace)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if s == "" {
		return 0, false
	}
	var n int64
	prevDigit := false
	for _, r := range s {
		if r == '_' {
			if !prevDigit {
				return 0, false
			}
			prevDigit = false
			continue
		}
		d, ok := digitValue(r)
		if !ok || d >= base {
			return 0, false
		}
		if n > (math.MaxInt64-d)/base {
			return 0, false
		}
		n = n*base + d
		prevDigit = true
	}
	if !prevDigit {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

func isPySpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// digitValue maps ASCII letters (for bases above 10) and Unicode decimal
// digits to their values. Every decimal digit block in Unicode is a run of
// ten starting at zero, so the value is the distance from the run's start.
func digitValue(r rune) (int64, bool) {
	switch {
	case r >= '0' && r <= '9':
		return int64(r - '0'), true
	case r >= 'a' && r <= 'z':
		return int64(r-'a') + 10, true
	case r >= 'A' && r <= 'Z':
		return int64(r-'A') + 10, true
	case r > unicode.MaxASCII && unicode.Is(unicode.Nd, r):
		start := r
		for unicode.Is(unicode.Nd, start-1) {
			start--
		}
		return int64(r-start) % 10, true
	}
	return 0, false
}
