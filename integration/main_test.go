package integration

import (
	"fmt"
	"os"
	"testing"

	"dupfs/integration/saio"
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if missing := MissingTools(); missing != "" {
		skipReason = fmt.Sprintf("interop tests need the real duplicity 0.8.22 and gpg; missing: %s (run scripts/install-test-deps.sh as root)", missing)
	}
	dir, err := os.MkdirTemp("", "dupfs-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// A build failure fails only the dupfs halves; the duplicity halves
	// still run and show whether the fixtures themselves are sound.
	dupfsBin, dupfsBuildErr = BuildDupfs(dir)
	if dupfsBuildErr != nil {
		fmt.Fprintf(os.Stderr, "dupfs checks will fail: %v\n", dupfsBuildErr)
	}
	// Stop the Swift servers the swift, pca and multi tests started.
	defer saio.StopAll()
	code := m.Run()
	if err := writeFaultSummary(os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "fault summary: %v\n", err)
	}
	return code
}
