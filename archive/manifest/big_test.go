package manifest

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLargeInputsStayLinear parses near-limit hostile manifests; each
// must finish quickly.
func TestLargeInputsStayLinear(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	var many bytes.Buffer
	for i := 1; many.Len() < 8<<20; i++ {
		fmt.Fprintf(&many, "Volume %d:\n StartingPath a\n EndingPath b\n Hash A%d x\n", i, i)
	}
	var hashes bytes.Buffer
	hashes.WriteString("Volume 1:\n StartingPath a\n EndingPath b\n")
	for i := 0; hashes.Len() < 8<<20; i++ {
		fmt.Fprintf(&hashes, " Hash A%d x\n", i)
	}
	inputs := map[string][]byte{
		"many volumes": many.Bytes(),
		"many hashes":  hashes.Bytes(),
		"many files":   []byte("Filelist 1\n" + strings.Repeat("    new a\n", 1<<20)),
		"no newlines":  bytes.Repeat([]byte("Volume 1: x"), 1<<20),
		"newlines":     bytes.Repeat([]byte("\n"), 8<<20),
	}
	for name, in := range inputs {
		start := time.Now()
		_, _ = Parse(bytes.NewReader(in))
		t.Logf("%s: %v", name, time.Since(start))
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("%s: %v", name, d)
		}
	}
}
