package main

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestMountPoints(t *testing.T) {
	info := `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
95 22 0:48 / /var/tmp/work/mnt rw,nosuid,nodev,relatime shared:50 - fuse.dupfs file:///x rw,user_id=0,group_id=0
96 22 0:49 / /var/tmp/with\040space\134x rw shared:51 - fuse restic rw
`
	got := mountPoints(info)
	want := []string{"/", "/var/tmp/work/mnt", `/var/tmp/with space\x`}
	if !slices.Equal(got, want) {
		t.Errorf("mountPoints = %q, want %q", got, want)
	}
	// A backslash not followed by three octal digits is kept as it is.
	if got := unescapeOctal(`a\09b\`); got != `a\09b\` {
		t.Errorf("unescapeOctal kept %q", got)
	}
}

func TestStatCPUTicks(t *testing.T) {
	// Fields 14-17 are utime, stime, cutime, cstime; the name holds
	// spaces and a parenthesis.
	stat := "4242 (borg (mount) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 150 30 7 3 20 0 3 0 900 1000 200"
	got, err := statCPUTicks(stat)
	if err != nil || got != 190 {
		t.Errorf("statCPUTicks = %d, %v; want 190", got, err)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 (x) S 1 4242 4242 0 -1 0 0 0 0 0 a 1 1 1 20"} {
		if _, err := statCPUTicks(bad); err == nil {
			t.Errorf("statCPUTicks(%q): no error", bad)
		}
	}
}

func TestFetchedPerSet(t *testing.T) {
	log := `dupfs: mounted on /m
2026/11/22 22:33:50 dupfs: fetched duplicity-full.20261122T222954Z.vol1.difftar.gpg (cache 0 bytes of 2.00 GB)
2026/11/22 22:33:51 dupfs: fetched duplicity-full.20261122T222954Z.vol2.difftar.gpg (cache 1 MB of 2.00 GB)
2026/11/22 22:33:51 dupfs: fetched duplicity-inc.20261122T222954Z.to.20261122T223054Z.vol1.difftar.gpg (cache 2 MB of 2.00 GB)
2026/11/22 22:33:52 dupfs: fetch duplicity-inc.X.to.Y.vol3.difftar.gpg: hash mismatch
`
	got := fetchedPerSet(log)
	want := map[string]int{
		"duplicity-full.20261122T222954Z":                    2,
		"duplicity-inc.20261122T222954Z.to.20261122T223054Z": 1,
	}
	if !maps.Equal(got, want) {
		t.Errorf("fetchedPerSet = %v, want %v", got, want)
	}
}

func TestMountVerdicts(t *testing.T) {
	s := time.Second
	m := &mountRun{
		sets:    6,
		fetched: map[string]int{"full": 1, "inc1": 1},
		rows: []mountRow{
			{step: mountFirst, tool: "dupfs", wall: 5 * s, rss: 90 << 20},
			{step: mountFind, tool: "dupfs", wall: s},
			{step: mountCpA, tool: "dupfs", wall: 10 * s},
			{step: mountTotal, tool: "dupfs", wall: -1, rss: 60 << 20},
			{step: mountFind, tool: "restic", wall: 2 * s},
			{step: mountCpA, tool: "restic", wall: 20 * s},
			{step: mountRestore, tool: "dupfs", wall: 8 * s},
		},
	}
	got := strings.Join(m.verdicts(), "\n")
	for _, want := range []string{
		"find: dupfs faster than restic mount: met (1.00 s vs 2.00 s, 2.0x)",
		"within 1.5x of dupfs restore of the same point: met (10.00 s vs 8.00 s, 1.25x)",
		"at least 3x faster than restic mount: not met (10.00 s vs 20.00 s, 2.0x)",
		"per set of the point's chain: met (fetched 2 volume(s) from 2 of the 6 sets, at most 1 from one)",
		"peak RSS under 150 MiB: met (90 MiB)", // the first mount's peak counts
	} {
		if !strings.Contains(got, want) {
			t.Errorf("verdicts lack %q:\n%s", want, got)
		}
	}

	// A failed row is not measured; two volumes of one set miss the target.
	m.rows[4].err = errors.New("boom")
	m.fetched["full"] = 2
	got = strings.Join(m.verdicts(), "\n")
	for _, want := range []string{"find: dupfs faster than restic mount: not measured", "chain: not met (fetched 3 volume(s)"} {
		if !strings.Contains(got, want) {
			t.Errorf("verdicts lack %q:\n%s", want, got)
		}
	}
}

func TestMountTable(t *testing.T) {
	rows := []mountRow{
		{step: mountCpA, tool: "dupfs", wall: 10 * time.Second, cpu: 5 * time.Second, rss: 57 << 20},
		{step: mountCpA, tool: "restic", wall: 20 * time.Second, cpu: 8 * time.Second, rss: 202 << 20},
		{step: mountTotal, tool: "borg", wall: -1, cpu: 11 * time.Second, rss: 78 << 20},
		{step: mountFind, tool: "borg", err: errors.New("boom")},
	}
	_, cells := mountTable(rows)
	want := [][]string{
		{mountCpA, "dupfs", "10.00", "5.00", "57", "-", "ok"},
		{mountCpA, "restic", "20.00", "8.00", "202", "0.50x", "ok"},
		{mountTotal, "borg", "-", "11.00", "78", "-", "ok"},
		{mountFind, "borg", "-", "-", "-", "-", "FAILED"},
	}
	for i := range want {
		if !slices.Equal(cells[i], want[i]) {
			t.Errorf("row %d = %q, want %q", i, cells[i], want[i])
		}
	}
}
