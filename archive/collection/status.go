package collection

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Asctime renders t in loc like C's asctime: "Sun Nov  2 13:10:32 2026".
func Asctime(t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	t = t.In(loc)
	return fmt.Sprintf("%s %d", t.Format("Mon Jan _2 15:04:05"), t.Year())
}

// plural picks duplicity's singular message for exactly one item.
func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// WriteWarnings writes the warnings duplicity prints (on stdout) while it
// examines a target, before any command's own output.
func (c *Collection) WriteWarnings(w io.Writer) error {
	bw := bufio.NewWriter(w)
	line := func(s string) { bw.WriteString(s + "\n") }
	if c.discarded {
		line("Warning, discarding last backup set, because of missing signature file.")
	}
	if len(c.LocalOrphans) > 0 {
		line(plural(len(c.LocalOrphans), "Warning, found the following local orphaned signature file:",
			"Warning, found the following local orphaned signature files:") + "\n" + strings.Join(c.LocalOrphans, "\n"))
	}
	if len(c.remoteOrphanSigs) > 0 {
		line(plural(len(c.remoteOrphanSigs), "Warning, found the following remote orphaned signature file:",
			"Warning, found the following remote orphaned signature files:") + "\n" + strings.Join(c.remoteOrphanSigs, "\n"))
	}
	if len(c.SigChains) > 0 && c.Primary == nil {
		line("Warning, found signatures but no corresponding backup files")
	}
	if len(c.Incomplete) > 0 {
		line("Warning, found incomplete backup sets, probably left from aborted session")
	}
	if len(c.OrphanSets) > 0 {
		sets := make([]string, len(c.OrphanSets))
		for i, s := range c.OrphanSets {
			sets[i] = setString(s)
		}
		line(plural(len(c.OrphanSets), "Warning, found the following orphaned backup file:",
			"Warning, found the following orphaned backup files:") + "\n" + strings.Join(sets, "\n"))
	}
	return bw.Flush()
}

// setString lists a set's manifest and volumes as duplicity's warning
// does (volumes here in number order; duplicity uses listing order).
func setString(s *Set) string {
	var files []string
	switch {
	case s.Manifest != "":
		files = append(files, s.Manifest)
	case s.Partial:
		files = append(files, s.LocalManifest)
	}
	all := s.Files()
	if s.Manifest != "" {
		all = all[:len(all)-1]
	}
	return "[" + strings.Join(append(files, all...), ", ") + "]"
}

// WriteLastFull writes the "Last full backup date" line every command
// prints.
func (c *Collection) WriteLastFull(w io.Writer, loc *time.Location) error {
	date := "none"
	if t := c.LastFull(); !t.IsZero() {
		date = Asctime(t, loc)
	}
	_, err := fmt.Fprintf(w, "Last full backup date: %s\n", date)
	return err
}

// WriteStatus writes what "duplicity collection-status" prints: the
// warnings, the last full backup date and the report. Dates are shown in
// loc; archiveDir is shown as given.
func (c *Collection) WriteStatus(w io.Writer, archiveDir string, loc *time.Location) error {
	if err := c.WriteWarnings(w); err != nil {
		return err
	}
	if err := c.WriteLastFull(w, loc); err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	line := func(s string) { bw.WriteString(s + "\n") }
	line("Collection Status")
	line("-----------------")
	line("Connecting with backend: BackendWrapper")
	line("Archive dir: " + archiveDir)
	secondary := c.Secondary()
	line("\n" + fmt.Sprintf(plural(len(secondary), "Found %d secondary backup chain.", "Found %d secondary backup chains."), len(secondary)))
	for i, ch := range secondary {
		line(fmt.Sprintf("Secondary chain %d of %d:", i+1, len(secondary)))
		c.writeChain(line, ch, loc)
		line("")
	}
	if c.Primary != nil {
		line("\nFound primary backup chain with matching signature chain:")
		c.writeChain(line, c.Primary, loc)
	} else {
		line("No backup chains with active signatures found")
	}
	if len(c.OrphanSets) > 0 || len(c.Incomplete) > 0 {
		line(fmt.Sprintf(plural(len(c.OrphanSets), "Also found %d backup set not part of any chain,",
			"Also found %d backup sets not part of any chain,"), len(c.OrphanSets)))
		line(fmt.Sprintf(plural(len(c.Incomplete), "and %d incomplete backup set.", "and %d incomplete backup sets."), len(c.Incomplete)))
		line(`These may be deleted by running duplicity with the "cleanup" command.`)
	} else {
		line("No orphaned or incomplete backup sets found.")
	}
	return bw.Flush()
}

func (c *Collection) writeChain(line func(string), ch *Chain, loc *time.Location) {
	const row = "%20s   %30s   %15s"
	volumes := 0
	for _, s := range ch.Sets() {
		volumes += len(s.Volumes)
	}
	line("-------------------------")
	line("Chain start time: " + Asctime(ch.Start(), loc))
	line("Chain end time: " + Asctime(c.end(ch), loc))
	line(fmt.Sprintf("Number of contained backup sets: %d", len(ch.Incs)+1))
	line(fmt.Sprintf("Total number of contained volumes: %d", volumes))
	line(fmt.Sprintf(row, "Type of backup set:", "Time:", "Num volumes:"))
	for _, s := range ch.Sets() {
		kind := "Incremental"
		if s.Full {
			kind = "Full"
		}
		line(fmt.Sprintf(row, kind, Asctime(s.End, loc), fmt.Sprint(len(s.Volumes))))
	}
	line("-------------------------")
}
