package replay

import (
	"fmt"
	"io"
	"os"

	"dupfs/archive/index"
	"dupfs/archive/librsync"
)

// Scratch makes temporary files for intermediate versions of a file; the
// caller removes them with the returned function.
type Scratch func() (*os.File, func(), error)

// WriteContent writes node n's data to dst: the base set's snapshot with
// every delta applied in order. Intermediate versions go to scratch files
// (librsync patches need random access to their basis), so memory stays
// bounded whatever the file size.
func (g *Group) WriteContent(dst io.Writer, n *Node, scratch Scratch) error {
	if len(n.Deltas) == 0 {
		if _, err := io.Copy(dst, g.Data(n.Base)); err != nil {
			return fmt.Errorf("%s: %w", index.Display(n.Index), err)
		}
		return nil
	}
	basis, drop, err := scratch()
	if err != nil {
		return err
	}
	defer func() { drop() }()
	if _, err := io.Copy(basis, g.Data(n.Base)); err != nil {
		return fmt.Errorf("%s: %w", index.Display(n.Index), err)
	}
	for k, d := range n.Deltas {
		var out io.Writer = dst
		var next *os.File
		var dropNext func()
		if k < len(n.Deltas)-1 {
			if next, dropNext, err = scratch(); err != nil {
				return err
			}
			out = next
		}
		err := librsync.Patch(out, basis, g.Data(d))
		if err != nil {
			if dropNext != nil {
				dropNext()
			}
			return fmt.Errorf("%s: applying delta: %w", index.Display(n.Index), err)
		}
		if next != nil {
			drop()
			basis, drop = next, dropNext
		}
	}
	return nil
}
