package manifest

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// MarshalHead renders the host, directory and volume lines as duplicity
// writes them during a backup, without the Filelist (which a writer
// streams: it can be long).
func (m *Manifest) MarshalHead() []byte {
	var b bytes.Buffer
	if m.Hostname != "" {
		h := m.Hostname
		// duplicity writes host names raw; quote only the ones that would
		// not read back.
		if strings.ContainsRune(h, '\n') || h[0] == '"' {
			h = Quote(h)
		}
		b.WriteString("Hostname " + h + "\n")
	}
	if m.Localdir != "" {
		b.WriteString("Localdir " + Quote(m.Localdir) + "\n")
	}
	for _, v := range m.Volumes {
		fmt.Fprintf(&b, "Volume %d:\n", v.Number)
		fmt.Fprintf(&b, "    StartingPath   %s %s\n", indexText(v.Start), chunkText(v.StartChunk))
		fmt.Fprintf(&b, "    EndingPath     %s %s\n", indexText(v.End), chunkText(v.EndChunk))
		if v.HashAlg != "" {
			fmt.Fprintf(&b, "    Hash %s %s\n", v.HashAlg, v.Hash)
		}
	}
	return b.Bytes()
}

// FilelistLine is the line that opens a Filelist of n entries.
func FilelistLine(n int) string { return "Filelist " + strconv.Itoa(n) + "\n" }

// FileLine renders one Filelist entry.
func FileLine(f File) string { return fmt.Sprintf("    %-7s  %s\n", f.Change, Quote(f.Path)) }
