package integration

import (
	"bytes"
	"regexp"
	"strings"
)

// asctime as Python prints it, e.g. "Sun Nov 22 14:28:50 2026".
const asctimePattern = `[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d{2}:\d{2}:\d{2} \d{4}`

var listLine = regexp.MustCompile(`^(` + asctimePattern + `) (.*)$`)

// ListEntry is one path of a list-current-files output.
type ListEntry struct {
	Date string
	Path string // raw bytes, "." for the root
}

// ParseListing reads `list-current-files` output: "<asctime> <path>" per
// entry. Paths are printed raw, so a name with a newline continues on the
// next line; lines before the first entry are headers and are skipped.
func ParseListing(out []byte) []ListEntry {
	var entries []ListEntry
	lines := bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n"))
	for _, line := range lines {
		if m := listLine.FindSubmatch(line); m != nil {
			entries = append(entries, ListEntry{Date: string(m[1]), Path: string(m[2])})
			continue
		}
		if n := len(entries); n > 0 {
			entries[n-1].Path += "\n" + string(line)
		}
	}
	return entries
}

var (
	statusKeep = []string{
		"Found primary backup chain",
		"No backup chains with active signatures found",
		"Chain start time:",
		"Chain end time:",
		"Number of contained backup sets:",
		"Total number of contained volumes:",
		"No orphaned or incomplete backup sets found.",
		"Also found",
	}
	statusChains = regexp.MustCompile(`^(Found \d+ secondary backup chains?\.|and \d+ incomplete backup sets?\.)$`)
	statusSet    = regexp.MustCompile(`^(Full|Incremental)\s+(` + asctimePattern + `)\s+(\d+)$`)
	spaces       = regexp.MustCompile(`\s+`)
)

// StatusSummary reduces `collection-status` output to the lines that
// describe the chains and sets (whitespace collapsed), dropping everything
// that legitimately differs between tools: the archive dir, backend name,
// headers and warnings' wording.
func StatusSummary(out []byte) []string {
	var sum []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(spaces.ReplaceAllString(line, " "))
		if m := statusSet.FindStringSubmatch(line); m != nil {
			sum = append(sum, m[1]+" "+m[2]+" "+m[3])
			continue
		}
		if statusChains.MatchString(line) {
			sum = append(sum, line)
			continue
		}
		for _, p := range statusKeep {
			if strings.HasPrefix(line, p) {
				sum = append(sum, line)
				break
			}
		}
	}
	return sum
}
