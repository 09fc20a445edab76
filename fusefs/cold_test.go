package fusefs

import (
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/unseal"
)

func TestStatusText(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	st := func(name string, s backends.SealState, in time.Duration) unseal.State {
		var at time.Time
		if in > 0 {
			at = now.Add(in)
		}
		return unseal.State{File: unseal.File{Name: name}, ColdState: backends.ColdState{State: s, ReadyAt: at}}
	}
	for _, tc := range []struct {
		name    string
		pending []unseal.State
		want    []string
	}{
		{"nothing", nil, []string{"nothing is being unsealed"}},
		{"mixed", []unseal.State{st("v1", backends.Unsealed, 0), st("v2", backends.Unsealing, 90*time.Second), st("v3", backends.Sealed, 0)}, []string{
			"v1\tunsealed",
			"v2\tunsealing\tready at 2026-11-22T10:01:30Z (in 1m30s)",
			"v3\tsealed",
			"3 volumes asked for: 1 readable, 1 unsealing, 1 sealed; all ready at 2026-11-22T10:01:30Z",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Split(strings.TrimSuffix(statusText(tc.pending, now), "\n"), "\n")
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
