package main

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestFormatTable(t *testing.T) {
	header := []string{"step", "tool", "wall s", "ratio"}
	rows := [][]string{
		{"restore-full", "dupfs", "1.50", "-"},
		{"restore-full", "duplicity", "12.00", "0.13x"},
	}
	tests := []struct {
		name     string
		markdown bool
		want     string
	}{
		{"text", false, "" +
			"step          tool       wall s  ratio\n" +
			"------------  ---------  ------  -----\n" +
			"restore-full  dupfs        1.50      -\n" +
			"restore-full  duplicity   12.00  0.13x\n"},
		{"markdown", true, "" +
			"| step         | tool      | wall s | ratio |\n" +
			"| ------------ | --------- | -----: | ----: |\n" +
			"| restore-full | dupfs     |   1.50 |     - |\n" +
			"| restore-full | duplicity |  12.00 | 0.13x |\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatTable(header, rows, tt.markdown); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestResultTableAndVerdicts(t *testing.T) {
	results := []result{
		{step: "restore-full", tool: "dupfs", use: usage{wall: 2 * time.Second, cpu: time.Second, rss: 50 << 20}, stored: 3 << 20},
		{step: "restore-full", tool: "duplicity", use: usage{wall: 8 * time.Second, cpu: 8 * time.Second, rss: 70 << 20}, stored: 3 << 20},
		{step: "restore-full", tool: "restic", use: usage{wall: time.Second}, stored: 4 << 20},
		{step: "restore-full", tool: "borg", err: errors.New("boom"), stored: 5 << 20},
	}
	_, rows := resultTable(results)
	wantRatio := []string{"-", "0.25x", "2.00x", "-"}
	wantStatus := []string{"ok", "ok", "ok", "FAILED"}
	for i, row := range rows {
		if row[6] != "-" || row[7] != wantRatio[i] || row[8] != wantStatus[i] {
			t.Errorf("row %d = %q, want no added size, ratio %s status %s", i, row, wantRatio[i], wantStatus[i])
		}
	}
	got := strings.Join(verdicts(results, []step{stepNamed(t, "restore-full")}), "\n")
	for _, want := range []string{
		"at least 5x faster than duplicity: not met (2.00 s vs 8.00 s, 4.0x)",
		"faster than restic: not met",
		"faster than borg: not measured",
		"peak RSS under 200 MiB: met (50 MiB)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("verdicts lack %q:\n%s", want, got)
		}
	}
}

func TestBackupVerdicts(t *testing.T) {
	results := []result{
		{step: "backup-full", tool: "dupfs", use: usage{wall: time.Second, rss: 90 << 20}, stored: 105 << 20, writes: true, added: 105 << 20},
		{step: "backup-full", tool: "duplicity", use: usage{wall: 6 * time.Second}, stored: 100 << 20, writes: true, added: 100 << 20},
		{step: "backup-full", tool: "restic", use: usage{wall: time.Second / 2}, stored: 80 << 20, writes: true, added: 80 << 20},
		{step: "backup-incremental", tool: "dupfs", use: usage{wall: time.Second}, stored: 130 << 20, writes: true, added: 30 << 20},
		{step: "backup-incremental", tool: "duplicity", use: usage{wall: 3 * time.Second}, stored: 120 << 20, writes: true, added: 20 << 20},
	}
	_, rows := resultTable(results)
	if rows[3][5] != "130.0" || rows[3][6] != "30.0" {
		t.Errorf("incremental row = %q, want stored 130.0 and added 30.0", rows[3])
	}
	got := strings.Join(verdicts(results, []step{stepNamed(t, "backup-full"), stepNamed(t, "backup-incremental")}), "\n")
	for _, want := range []string{
		"backup-full: dupfs at least 5x faster than duplicity: met (1.00 s vs 6.00 s, 6.0x)",
		"backup-full: dupfs faster than restic: not met",
		"backup-full: dupfs faster than borg: not measured",
		"backup-full: dupfs stored size within 10% of duplicity's: met (105.0 MiB vs 100.0 MiB added, +5.0%)",
		"backup-full: dupfs peak RSS under 200 MiB: met (90 MiB)",
		"backup-incremental: dupfs at least 4x faster than duplicity: not met (1.00 s vs 3.00 s, 3.0x)",
		"backup-incremental: dupfs stored size within 10% of duplicity's: not met (30.0 MiB vs 20.0 MiB added, +50.0%)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("verdicts lack %q:\n%s", want, got)
		}
	}
}

func stepNamed(t *testing.T, name string) step {
	for _, s := range steps {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no step %q", name)
	return step{}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{in: "150MB", want: 150 << 20},
		{in: "1.5GB", want: 3 << 29},
		{in: "2GiB", want: 2 << 30},
		{in: "512k", want: 512 << 10},
		{in: "1000", want: 1000},
		{in: "0", want: 0},
		{in: "", bad: true},
		{in: "-1MB", bad: true},
		{in: "lots", bad: true},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d, bad %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

func TestPickKeepsBudgets(t *testing.T) {
	var cands []candidate
	for i := range 1000 {
		size := int64(1000)
		if i%100 == 0 {
			size = 100000
		}
		cands = append(cands, candidate{rel: strings.Repeat("a", i%7) + string(rune('a'+i%26)) + "/" + time.Duration(i).String(), size: size, key: uint64(i*7919) % 1000})
	}
	a := pick(cands, 200000, 150)
	var total int64
	for _, c := range a {
		total += c.size
	}
	if len(a) > 150 || total > 200000 {
		t.Errorf("picked %d files, %d bytes; budgets 150, 200000", len(a), total)
	}
	if b := pick(cands, 200000, 150); len(b) != len(a) || b[0] != a[0] {
		t.Error("pick is not deterministic")
	}
}
