package file

import (
	"path/filepath"
	"testing"

	"dupfs/backends"
	"dupfs/backends/backendtest"
)

// The conformance suite, each store a directory not created yet.
func TestSuite(t *testing.T) {
	backendtest.RunSuite(t, func() backends.Backend {
		return New(filepath.Join(t.TempDir(), "store"))
	})
}
