package writer

import (
	"context"
	"errors"

	"dupfs/archive/manifest"
	"dupfs/archive/owners"
	"dupfs/repo"
)

// run writes the planned backup: volumes while the source is walked, then
// the signature tar, then the manifest.
func run(ctx context.Context, r *repo.Repo, ropts repo.Options, opts Options, p *backupPlan, keys *keyPool) (*Stats, error) {
	st := &Stats{StartTime: opts.Now()}
	if opts.TempDir == "" {
		opts.TempDir = ropts.ArchiveDir
	}
	var old *oldState
	if !p.full {
		var err error
		if old, err = openOldState(ctx, r, p.sigs); err != nil {
			return st, err
		}
		defer old.close()
	}
	m, err := newMeta(ropts, &opts, p, keys)
	if err != nil {
		return st, err
	}
	// On failure the partial manifest stays: the next run finds it and
	// deletes what this one stored.
	defer m.closeFiles()

	upCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	up := newUploader(upCtx, r.Backend(), cancel)
	vols := newVolumeSeq(upCtx, ropts, &opts, p, up, m.checkpoint, keys)
	sigBuf := &spill{dir: opts.TempDir}
	defer sigBuf.close()
	pk := &packer{
		ctx:    upCtx,
		opts:   &opts,
		old:    old,
		vols:   vols,
		sig:    m.sig,
		files:  m.fileList,
		st:     st,
		users:  owners.Users(),
		groups: owners.Groups(),
		buf:    make([]byte, chunkSize),
		sigBuf: sigBuf,
	}
	err = pk.run()
	var done []manifest.Volume
	if err == nil {
		done, err = vols.close()
	} else {
		vols.abort()
	}
	// The signature tar is compressed and encrypted while the last volume
	// is stored, and stored after it.
	var sig *encoded
	prepared := make(chan error, 1)
	if err == nil {
		go func() {
			var perr error
			sig, perr = m.prepare()
			prepared <- perr
		}()
	} else {
		prepared <- nil
	}
	uerr := up.wait()
	perr := <-prepared
	defer sig.discard()
	if err == nil {
		err = perr
	}
	st.TotalDestinationSizeChange = up.bytes.Load()
	if uerr != nil {
		// The upload failure is the cause; the packer only saw the cancel.
		err = uerr
	}
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			err = ctx.Err()
		}
		return st, err
	}
	if err := m.publish(ctx, r.Backend(), sig, done); err != nil {
		return st, err
	}
	st.EndTime = opts.Now()
	return st, nil
}
