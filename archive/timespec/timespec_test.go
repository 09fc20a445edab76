package timespec

import (
	"math"
	"strings"
	"testing"
	"time"
	_ "time/tzdata"
)

const bad = math.MinInt64

// now is the fixed "current time" of every case: Sun Nov 22 13:10:32 UTC 2026.
var now = time.Unix(1795353032, 0)

// Expected Unix seconds in UTC, America/St_Johns (standard offset -03:30)
// and Europe/Berlin (+01:00), produced by duplicity 0.8.22's genstrtotime
// with the same current time. For 1901 St John's still kept local mean
// time (-3:30:52), which duplicity's mktime applies.
var cases = []struct {
	in                string
	utc, stjohns, ber int64
}{
	{"now", 1795353032, 1795353032, 1795353032},
	{"NOW", bad, bad, bad},
	{"0", 0, 0, 0},
	{"1795353032", 1795353032, 1795353032, 1795353032},
	{"1795353032\n", 1795353032, 1795353032, 1795353032},
	{"007", 7, 7, 7},
	{"20261122T131032Z", 1795353032, 1795353032, 1795353032},
	{"20261122T131032X", 1795353032, 1795353032, 1795353032},
	{"20261122t131032z", bad, bad, bad},
	{"20261122T131032", 1795353032, bad, bad},
	{"2026-11-22T13:10:32Z", 1795353032, 1795353032, 1795353032},
	{"2026-11-22T13:10:32", 1795353032, 1795365632, 1795349432},
	{"2026-11-22T13:10:32+01:00", 1795349432, 1795349432, 1795349432},
	{"2026-11-22T13:10:32-07:00", 1795378232, 1795378232, 1795378232},
	{"2026-11-22T13:10:32-07:30", 1795376432, 1795376432, 1795376432},
	{"2026-11-22T13:10:32+05:30", 1795333232, 1795333232, 1795333232},
	{"2002-04-26T04:22:01-07:00", 1019820121, 1019820121, 1019820121},
	{"1h30m", 1795347632, 1795347632, 1795347632},
	{"3D", 1795093832, 1795093832, 1795093832},
	{"2W", 1794143432, 1794143432, 1794143432},
	{"1M", 1792761032, 1792761032, 1792761032},
	{"1Y", 1763817032, 1763817032, 1763817032},
	{"30s", 1795353002, 1795353002, 1795353002},
	{"5m", 1795352732, 1795352732, 1795352732},
	{"1h", 1795349432, 1795349432, 1795349432},
	{"1D2s", 1795266630, 1795266630, 1795266630},
	{"1h30", bad, bad, bad},
	{"h", bad, bad, bad},
	{"1", 1, 1, 1},
	{"1x", bad, bad, bad},
	{"3d", bad, bad, bad},
	{"2001-04-23", 987984000, 987996600, 987980400},
	{"2001/4/3", 986256000, 986268600, 986252400},
	{"2001-4/3", 986256000, 986268600, 986252400},
	{"04/23/2001", 987984000, 987996600, 987980400},
	{"4-23-2001", 987984000, 987996600, 987980400},
	{"4/23/2001\n", 987984000, 987996600, 987980400},
	{"20010423Z", 987984000, 987996600, 987980400},
	{"2001-02-31", 983577600, 983590200, 983574000},
	{"2001-13-01", bad, bad, bad},
	{"1900-01-01", bad, bad, bad},
	{"1901-01-01", -2177452800, -2177440148, -2177456400},
	{"2099-12-31", 4102358400, 4102371000, 4102354800},
	{"2100-01-01", bad, bad, bad},
	{"20261122T131060Z", 1795353060, 1795353060, 1795353060},
	{"20261122T131062Z", bad, bad, bad},
	{"20261131T000000Z", 1796083200, 1796083200, 1796083200},
	{"19700101T000000Z", bad, bad, bad},
	{"2026112T2131032Z", 1793655063, 1793655063, 1793655063},
	{"+2026-+1-+1T+1:+1:+1Z", bad, bad, bad},
	{"2026-11-22T13:10:32+0100", bad, bad, bad},
	{"2026-11-22T13:10:32 ", bad, bad, bad},
	{"\uff12\uff10\uff12\uff16\uff11\uff11\uff12\uff12T\uff11\uff13\uff11\uff10\uff13\uff12Z", 1795353032, 1795353032, 1795353032},
	{"2026_11-22T13:10:32Z", bad, bad, bad},
	{"1_000", bad, bad, bad},
	{"-5", bad, bad, bad},
	{"", bad, bad, bad},
	{"  ", bad, bad, bad},
	{"2026-11-22", 1795305600, 1795318200, 1795302000},
	{"11/22/2026", 1795305600, 1795318200, 1795302000},
	{"abc", bad, bad, bad},
	{"1h-30m", bad, bad, bad},
	{"99999999999999999999s", bad, bad, bad},
	{"2026-11-22T13:10:32Z\n", bad, bad, bad},
	{"20261122T1310321Z", bad, bad, bad},
	{"2026-11-22T13:10:32+01:00x", bad, bad, bad},
	{"2026-11-22T13:10:32.5Z", bad, bad, bad},
	{"1970-01-01T00:00:00Z", bad, bad, bad},
	{"1970-01-01T00:00:00", bad, 12600, -3600},
	{"1970-01-01", bad, 12600, -3600},
}

func TestParse(t *testing.T) {
	zones := []string{"UTC", "America/St_Johns", "Europe/Berlin"}
	for zi, name := range zones {
		loc, err := time.LoadLocation(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			want := [...]int64{c.utc, c.stjohns, c.ber}[zi]
			got, err := Parse(c.in, now, loc)
			switch {
			case want == bad && err == nil:
				t.Errorf("%s: Parse(%q) = %d, want error", name, c.in, got.Unix())
			case want != bad && err != nil:
				t.Errorf("%s: Parse(%q): %v, want %d", name, c.in, err, want)
			case want != bad && got.Unix() != want:
				t.Errorf("%s: Parse(%q) = %d, want %d", name, c.in, got.Unix(), want)
			}
		}
	}
}

func TestParseSummerUsesStandardOffset(t *testing.T) {
	// duplicity reads zone-less times with time.timezone, the standard
	// offset, even when daylight saving time is in force.
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	summer := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	got, err := Parse("2026-07-01", summer, loc)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(1782860400); got.Unix() != want {
		t.Errorf("got %d, want %d", got.Unix(), want)
	}
}

func TestErrorNamesInput(t *testing.T) {
	_, err := Parse("yesterday", now, time.UTC)
	if err == nil || !strings.Contains(err.Error(), `"yesterday"`) {
		t.Errorf("error %v does not name the input", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, c := range cases {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := Parse(s, now, time.UTC)
		if err == nil && got.Location() != time.UTC {
			t.Errorf("Parse(%q) not in UTC", s)
		}
	})
}
