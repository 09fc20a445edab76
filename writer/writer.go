// Package writer makes backups in duplicity's format: it walks the source,
// compares it with the signatures of the chain it extends, packs snapshots,
// librsync deltas and deletions into volumes, encrypts or compresses them
// and uploads them, then uploads the new signature tar and, last, the
// manifest that makes the set visible.
//
// The stages overlap so both cores work: one goroutine reads files and
// computes signatures and deltas, one compresses and encrypts the tar
// stream, and one uploads finished volumes. Memory stays bounded: files are
// streamed in 64 KiB chunks and large signatures spill to disk.
package writer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"dupfs/archive/crypt"
	"dupfs/archive/names"
	"dupfs/backends"
	"dupfs/repo"
	"dupfs/writer/selection"
)

// SourceEntry is one path of the tree being backed up. An entry with Err
// set could not be examined (or, for a directory, listed): the previous
// state below it is kept, not recorded as deleted.
type SourceEntry = selection.Entry

// Source yields the selected paths in duplicity's order (ascending index
// tuples, a directory before its contents), then io.EOF.
type Source interface {
	Next() (SourceEntry, error)
}

// Options configure one backup run.
type Options struct {
	Source Source
	// SourceDir is the source directory as given; its canonical form is
	// recorded in the manifest (duplicity's Localdir).
	SourceDir string
	Hostname  string

	// Full forces a full backup; Incremental requires an incremental one
	// (an error when there is no chain to extend).
	Full, Incremental bool
	// FullIfOlderThan, when not zero, makes a full backup when the last full
	// one is older than it.
	FullIfOlderThan time.Time
	// AllowSourceMismatch lets an incremental extend a chain made from
	// another host or directory.
	AllowSourceMismatch bool

	VolSize int64 // bytes per volume (duplicity's --volsize, in MiB there)
	// MaxBlockSize caps librsync's signature block length (0: 2048).
	MaxBlockSize int

	// Encrypt selects encryption; with NoEncryption, volumes and signatures
	// are gzipped and manifests plain.
	Encrypt      crypt.EncryptOptions
	NoEncryption bool

	// TempDir holds volumes between packing and upload.
	TempDir string

	// Now gives the backup time (tests); nil means time.Now.
	Now func() time.Time

	// Warn receives problems with single source files; the backup goes on.
	Warn func(error)
	// Notice receives what the run decided (type of backup).
	Notice func(string)
	// Alert receives what a quiet run from cron must still report: an
	// interrupted backup found and restarted.
	Alert func(string)
	// Progress, when set, is called now and then with the stats so far.
	Progress func(Stats)
}

// ErrSourceErrors reports a backup that completed but could not read some
// source files; each was passed to Options.Warn.
var ErrSourceErrors = errors.New("backup finished, but some source files could not be read")

// Backup makes one backup of opts.Source to the target b. ropts say how the
// target is named, read and cached (its ArchiveDir is required: the lock,
// the partial files of a running backup and the signature cache live
// there).
func Backup(ctx context.Context, b backends.Backend, ropts repo.Options, opts Options) (*Stats, error) {
	if ropts.ArchiveDir == "" {
		return nil, errors.New("backup: an archive dir is required")
	}
	if opts.VolSize <= 0 {
		opts.VolSize = 200 << 20
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Warn == nil {
		opts.Warn = func(error) {}
	}
	if opts.Notice == nil {
		opts.Notice = func(string) {}
	}
	if opts.Alert == nil {
		opts.Alert = opts.Notice
	}
	unlock, err := Lock(ropts.ArchiveDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	var keys *keyPool
	if e := opts.Encrypt; !opts.NoEncryption && len(e.Recipients)+len(e.Hidden) == 0 && len(e.Passphrase) > 0 && e.Key == nil {
		// The first volume's, the signatures' and the manifest's keys,
		// derived while the target is read and the run is planned.
		keys = newKeyPool(e.Passphrase, 3)
		defer keys.close()
	}

	r, err := repo.Open(ctx, b, ropts)
	if err != nil {
		return nil, err
	}
	if cleaned, err := cleanInterrupted(ctx, r, ropts, opts.Alert); err != nil {
		return nil, err
	} else if cleaned {
		if r, err = repo.Open(ctx, b, ropts); err != nil {
			return nil, err
		}
	}
	p, err := plan(ctx, r, ropts, opts)
	if err != nil {
		return nil, err
	}
	opts.Notice(p.describe())
	st, err := run(ctx, r, ropts, opts, p, keys)
	if err != nil {
		return st, err
	}
	if st.Errors > 0 {
		return st, fmt.Errorf("%w (%d)", ErrSourceErrors, st.Errors)
	}
	return st, nil
}

// fileName formats a name of this backup's files.
func (p *backupPlan) fileName(ropts repo.Options, typ names.Type, vol int, encrypted, compressed, partial bool) string {
	n := names.Name{Type: typ, End: p.end, Volume: vol, Encrypted: encrypted, Compressed: compressed, Partial: partial}
	if !p.full {
		n.Start = p.start
	}
	return n.Format(ropts.Prefixes, ropts.Short)
}
