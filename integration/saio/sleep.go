package saio

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// DefaultSleepScale is what ScaledSleepEnv uses for scale 0: duplicity's
// 60 s unseal poll becomes 1.2 s, its 30 s backend retry delay 0.6 s.
const DefaultSleepScale = 0.02

// sitecustomize.py is imported by every python started with the directory
// on PYTHONPATH (duplicity runs without -E/-I). It shadows Debian's own,
// which only installs the apport hook.
const sitecustomize = `# dupfs tests: scale time.sleep by DUPLICITY_SLEEP_SCALE.
import os
import time

try:
    _scale = float(os.environ.get("DUPLICITY_SLEEP_SCALE", "1"))
except ValueError:
    _scale = 1.0
if _scale != 1.0:
    _real_sleep = time.sleep

    def _scaled_sleep(seconds):
        _real_sleep(seconds * _scale)

    time.sleep = _scaled_sleep
`

// ScaledSleepEnv writes a sitecustomize.py that scales python's time.sleep
// by DUPLICITY_SLEEP_SCALE into a temporary directory of t, and returns the
// environment to add to duplicity's: PYTHONPATH (that directory, before any
// PYTHONPATH already set) and DUPLICITY_SLEEP_SCALE=scale (0:
// DefaultSleepScale). duplicity's pca:// restore otherwise sleeps 60 s
// after each poll of an unseal.
func ScaledSleepEnv(t testing.TB, scale float64) []string {
	t.Helper()
	if scale == 0 {
		scale = DefaultSleepScale
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sitecustomize.py"), []byte(sitecustomize), 0o644); err != nil {
		t.Fatal(err)
	}
	pp := dir
	if old := os.Getenv("PYTHONPATH"); old != "" {
		pp += string(filepath.ListSeparator) + old
	}
	return []string{"PYTHONPATH=" + pp, "DUPLICITY_SLEEP_SCALE=" + strconv.FormatFloat(scale, 'g', -1, 64)}
}
