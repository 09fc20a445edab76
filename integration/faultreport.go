package integration

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
)

// FaultCase is one row of the fault-injection summary: what was done to
// dupfs or its store, and what the user lost because of it.
type FaultCase struct {
	Case     string // short name, e.g. "kill -9 backup #3"
	Injected string // what was done
	Lost     string // "nothing", or exactly the affected files
}

var faultReport struct {
	sync.Mutex
	rows []faultRow
}

type faultRow struct {
	FaultCase
	test   string
	passed func() bool
}

// ReportFault records c for the summary printed after the tests; the row
// shows whether t passed, so a failing case is never reported as fine.
func ReportFault(t testing.TB, c FaultCase) {
	t.Helper()
	faultReport.Lock()
	defer faultReport.Unlock()
	faultReport.rows = append(faultReport.rows, faultRow{c, t.Name(), func() bool { return !t.Failed() }})
}

// writeFaultSummary prints the table of recorded cases to w, and to the
// file named by $DUPFS_FAULT_REPORT when set (go test hides a passing
// package's output; scripts/test.sh prints that file).
func writeFaultSummary(w io.Writer) error {
	faultReport.Lock()
	rows := append([]faultRow(nil), faultReport.rows...)
	faultReport.Unlock()
	if len(rows) == 0 {
		return nil
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].test < rows[j].test })
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RESULT\tCASE\tINJECTED\tLOST")
	for _, r := range rows {
		res := "ok"
		if !r.passed() {
			res = "FAIL"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", res, r.Case, r.Injected, r.Lost)
	}
	tw.Flush()
	fmt.Fprint(w, "fault-injection summary:\n"+b.String())
	if path := os.Getenv("DUPFS_FAULT_REPORT"); path != "" {
		return os.WriteFile(path, []byte(b.String()), 0o644)
	}
	return nil
}
