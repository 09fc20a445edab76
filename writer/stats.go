package writer

import (
	"fmt"
	"io"
	"strings"
	"time"

	"dupfs/archive/collection"
)

// Stats are duplicity's backup statistics.
type Stats struct {
	StartTime, EndTime         time.Time
	SourceFiles                int64
	SourceFileSize             int64
	NewFiles, NewFileSize      int64
	DeletedFiles               int64
	ChangedFiles               int64
	ChangedFileSize            int64
	ChangedDeltaSize           int64
	DeltaEntries               int64
	RawDeltaSize               int64
	TotalDestinationSizeChange int64
	Errors                     int64
}

// WriteBlock writes the statistics block duplicity prints after a backup,
// with dates in loc.
func (s *Stats) WriteBlock(w io.Writer, loc *time.Location) error {
	const header = "--------------[ Backup Statistics ]--------------"
	var b strings.Builder
	b.WriteString(header + "\n")
	elapsed := s.EndTime.Sub(s.StartTime).Seconds()
	fmt.Fprintf(&b, "StartTime %.2f (%s)\n", epoch(s.StartTime), collection.Asctime(s.StartTime, loc))
	fmt.Fprintf(&b, "EndTime %.2f (%s)\n", epoch(s.EndTime), collection.Asctime(s.EndTime, loc))
	fmt.Fprintf(&b, "ElapsedTime %.2f (%s)\n", elapsed, prettyDuration(elapsed))
	fmt.Fprintf(&b, "SourceFiles %d\n", s.SourceFiles)
	sized := func(name string, n int64) { fmt.Fprintf(&b, "%s %d (%s)\n", name, n, PrettySize(n)) }
	sized("SourceFileSize", s.SourceFileSize)
	fmt.Fprintf(&b, "NewFiles %d\n", s.NewFiles)
	sized("NewFileSize", s.NewFileSize)
	fmt.Fprintf(&b, "DeletedFiles %d\n", s.DeletedFiles)
	fmt.Fprintf(&b, "ChangedFiles %d\n", s.ChangedFiles)
	sized("ChangedFileSize", s.ChangedFileSize)
	sized("ChangedDeltaSize", s.ChangedDeltaSize)
	fmt.Fprintf(&b, "DeltaEntries %d\n", s.DeltaEntries)
	sized("RawDeltaSize", s.RawDeltaSize)
	sized("TotalDestinationSizeChange", s.TotalDestinationSizeChange)
	fmt.Fprintf(&b, "Errors %d\n", s.Errors)
	b.WriteString(strings.Repeat("-", len(header)) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// prettyDuration is duplicity's "N hours N minutes S seconds".
func prettyDuration(sec float64) string {
	var parts []string
	unit := func(n int64, one, many string) {
		if n == 1 {
			parts = append(parts, "1 "+one)
		} else if n > 1 {
			parts = append(parts, fmt.Sprintf("%d %s", n, many))
		}
	}
	h := int64(sec) / 3600
	m := int64(sec) % 3600 / 60
	unit(h, "hour", "hours")
	unit(m, "minute", "minutes")
	s := sec - float64(h*3600+m*60)
	if s == 1 {
		parts = append(parts, "1 second")
	} else if s > 1 || len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%.2f seconds", s))
	}
	return strings.Join(parts, " ")
}

// PrettySize is duplicity's size form: binary units with three significant
// digits, or "N bytes".
func PrettySize(n int64) string {
	if n < 1024 {
		if n == 1 {
			return "1 byte"
		}
		return fmt.Sprintf("%d bytes", n)
	}
	v := float64(n)
	units := []string{"KB", "MB", "GB", "TB"}
	u := -1
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f %s", v, units[u])
	case v < 100:
		return fmt.Sprintf("%.1f %s", v, units[u])
	}
	return fmt.Sprintf("%.0f %s", v, units[u])
}
