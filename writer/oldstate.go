package writer

import (
	"context"
	"io"

	"dupfs/archive/collection"
	"dupfs/archive/difftar"
	"dupfs/archive/replay"
	"dupfs/repo"
)

// oldState walks the signature state a chain ends with: per index, the
// newest signature-tar entry, deletions dropped.
type oldState struct {
	m       *replay.Merger
	closers []io.Closer
	group   *replay.Group
	node    *replay.Node
}

func openOldState(ctx context.Context, r *repo.Repo, sigs *collection.SigChain) (*oldState, error) {
	o := &oldState{}
	var streams []replay.Stream
	for _, name := range sigs.Files() {
		rc, err := r.OpenSigtar(ctx, name)
		if err != nil {
			o.close()
			return nil, err
		}
		o.closers = append(o.closers, rc)
		streams = append(streams, difftar.NewSingleReader(rc))
	}
	o.m = replay.NewMerger(streams, "")
	return o, nil
}

// next returns the next existing index's entry, or nil at the end. The
// entry's data (a signature) is readable with data until the next call.
func (o *oldState) next() (*difftar.Entry, error) {
	if o == nil {
		return nil, nil
	}
	for {
		g, err := o.m.Next()
		if err == io.EOF {
			o.group, o.node = nil, nil
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		n, err := replay.Resolve(g)
		if err != nil {
			return nil, err
		}
		if n != nil {
			o.group, o.node = g, n
			return n.Meta, nil
		}
	}
}

// data reads the current entry's signature.
func (o *oldState) data() io.Reader { return o.group.Data(o.node.Base) }

func (o *oldState) close() {
	if o == nil {
		return
	}
	for _, c := range o.closers {
		c.Close()
	}
}
