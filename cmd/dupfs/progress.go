package main

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// progress draws a one-line counter on stderr when it is a terminal and
// stays silent otherwise (cron).
type progress struct {
	label string
	tty   bool
	last  time.Time
	shown bool
}

func newProgress(label string) *progress {
	_, err := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	return &progress{label: label, tty: err == nil}
}

func (p *progress) update(entries int, bytes int64) {
	if !p.tty || time.Since(p.last) < 200*time.Millisecond {
		return
	}
	p.last = time.Now()
	p.shown = true
	fmt.Fprintf(os.Stderr, "\r\033[K%s: %d entries, %s", p.label, entries, humanBytes(bytes))
}

func (p *progress) clear() {
	if p.shown {
		fmt.Fprint(os.Stderr, "\r\033[K")
	}
}

func (p *progress) done() { p.clear(); p.shown = false }

// humanBytes formats a size with binary units, as duplicity prints them.
func humanBytes(n int64) string {
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
