package main

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// result is one row of the report: one step run by one tool.
type result struct {
	step, tool string
	use        usage
	stored     int64 // repository size after the run
	writes     bool  // a backup step: added is what it wrote
	added      int64 // bytes the run added to the repository
	err        error // the command failed or its output was wrong
}

const mib = 1 << 20

// resultTable lays the results out as rows of cells: step, tool, wall,
// CPU, peak RSS, stored, added by the run (backup steps), dupfs/tool wall
// ratio, status.
func resultTable(results []result) (header []string, rows [][]string) {
	header = []string{"step", "tool", "wall s", "CPU s", "peak RSS MiB", "stored MiB", "added MiB", "dupfs/tool wall", "status"}
	for _, r := range results {
		row := []string{r.step, r.tool, "-", "-", "-", "-", "-", "-", "ok"}
		if r.err != nil {
			row[8] = "FAILED"
		} else {
			row[2] = fmt.Sprintf("%.2f", r.use.wall.Seconds())
			row[3] = fmt.Sprintf("%.2f", r.use.cpu.Seconds())
			row[4] = fmt.Sprintf("%.0f", float64(r.use.rss)/mib)
			if r.writes {
				row[6] = fmt.Sprintf("%.1f", float64(r.added)/mib)
			}
			if d, ok := find(results, r.step, "dupfs"); ok && r.tool != "dupfs" && r.use.wall > 0 {
				row[7] = fmt.Sprintf("%.2fx", d.use.wall.Seconds()/r.use.wall.Seconds())
			}
		}
		if r.stored > 0 {
			row[5] = fmt.Sprintf("%.1f", float64(r.stored)/mib)
		}
		rows = append(rows, row)
	}
	return header, rows
}

// find returns the successful result of tool in step.
func find(results []result, step, tool string) (result, bool) {
	for _, r := range results {
		if r.step == step && r.tool == tool && r.err == nil {
			return r, true
		}
	}
	return result{}, false
}

// formatTable renders a table as aligned text or as Markdown. Columns
// whose cells all look numeric ("-" counts) are right-aligned.
func formatTable(header []string, rows [][]string, markdown bool) string {
	width := make([]int, len(header))
	numeric := make([]bool, len(header))
	for i, h := range header {
		width[i] = utf8.RuneCountInString(h)
		numeric[i] = len(rows) > 0
	}
	for _, row := range rows {
		for i, cell := range row {
			width[i] = max(width[i], utf8.RuneCountInString(cell))
			if !looksNumeric(cell) {
				numeric[i] = false
			}
		}
	}
	pad := func(s string, i int) string {
		gap := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
		if numeric[i] {
			return gap + s
		}
		return s + gap
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, c := range cells {
			if markdown {
				b.WriteString("| " + pad(c, i) + " ")
				continue
			}
			if i > 0 {
				b.WriteString("  ")
			}
			b.WriteString(pad(c, i))
		}
		if markdown {
			b.WriteString("|")
		}
		b.WriteString("\n")
	}
	line(header)
	rule := make([]string, len(header))
	for i := range header {
		if markdown {
			rule[i] = strings.Repeat("-", max(width[i]-1, 2))
			if numeric[i] {
				rule[i] += ":"
			} else {
				rule[i] += "-"
			}
		} else {
			rule[i] = strings.Repeat("-", width[i])
		}
	}
	line(rule)
	for _, row := range rows {
		line(row)
	}
	if !markdown {
		return trimLines(b.String()) // padding of the last column
	}
	return b.String()
}

func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func looksNumeric(s string) bool {
	if s == "-" {
		return true
	}
	s = strings.TrimSuffix(s, "x")
	if s == "" {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return true
}

// verdicts says, per target, whether dupfs met it.
func verdicts(results []result, selected []step) []string {
	var out []string
	for _, s := range selected {
		d, ok := find(results, s.name, "dupfs")
		for _, t := range s.targets {
			goal := fmt.Sprintf("%s: dupfs faster than %s", s.name, t.peer)
			if t.factor != 1 {
				goal = fmt.Sprintf("%s: dupfs at least %gx faster than %s", s.name, t.factor, t.peer)
			}
			p, pok := find(results, s.name, t.peer)
			if !ok || !pok {
				out = append(out, goal+": not measured")
				continue
			}
			speedup := p.use.wall.Seconds() / max(d.use.wall.Seconds(), 1e-9)
			verdict := "not met"
			if speedup > t.factor || t.factor != 1 && speedup == t.factor {
				verdict = "met"
			}
			out = append(out, fmt.Sprintf("%s: %s (%.2f s vs %.2f s, %.1fx)", goal, verdict, d.use.wall.Seconds(), p.use.wall.Seconds(), speedup))
		}
		if s.sizeWithin > 0 {
			out = append(out, sizeVerdict(results, s))
		}
		goal := fmt.Sprintf("%s: dupfs peak RSS under %d MiB", s.name, maxRSS/mib)
		switch {
		case !ok:
			out = append(out, goal+": not measured")
		case d.use.rss < maxRSS:
			out = append(out, fmt.Sprintf("%s: met (%.0f MiB)", goal, float64(d.use.rss)/mib))
		default:
			out = append(out, fmt.Sprintf("%s: not met (%.0f MiB)", goal, float64(d.use.rss)/mib))
		}
	}
	return out
}

// sizeVerdict says whether what dupfs's run added to its repository is
// within the step's tolerance of what duplicity's added.
func sizeVerdict(results []result, s step) string {
	goal := fmt.Sprintf("%s: dupfs stored size within %g%% of duplicity's", s.name, s.sizeWithin*100)
	d, ok := find(results, s.name, "dupfs")
	p, pok := find(results, s.name, "duplicity")
	if !ok || !pok || !d.writes || !p.writes || p.added <= 0 {
		return goal + ": not measured"
	}
	diff := float64(d.added-p.added) / float64(p.added)
	verdict := "not met"
	if math.Abs(diff) <= s.sizeWithin {
		verdict = "met"
	}
	return fmt.Sprintf("%s: %s (%.1f MiB vs %.1f MiB added, %+.1f%%)", goal, verdict, float64(d.added)/mib, float64(p.added)/mib, diff*100)
}
