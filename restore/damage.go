package restore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"syscall"

	"dupfs/archive/collection"
	"dupfs/archive/crypt"
	"dupfs/archive/difftar"
	"dupfs/archive/index"
	"dupfs/archive/manifest"
	"dupfs/repo"
)

// DamageError reports a volume that could not be read: the files that
// depended on it are reported one by one, everything else is restored.
type DamageError struct {
	Volume string
	Err    error
}

func (e *DamageError) Error() string {
	return fmt.Sprintf("volume %s: %v: files stored in it are not restored", e.Volume, e.Err)
}
func (e *DamageError) Unwrap() error { return e.Err }

// NotRestoredError names a path a damaged volume kept from the restore.
type NotRestoredError struct {
	Path string // as index.Display shows it
	Err  error
}

func (e *NotRestoredError) Error() string { return e.Path + ": not restored: " + e.Err.Error() }
func (e *NotRestoredError) Unwrap() error { return e.Err }

// setStream is one set's entries for the merger, read so that a damaged
// volume costs only what it held. A volume that fails is skipped; what it
// held from the failure to its manifest end index comes back as Lost
// entries, taken from the set's signature tar, which lists every path the
// set stored. Without a readable signature tar the whole index range is
// marked unknown instead (LostAt).
type setStream struct {
	ctx    context.Context
	r      *repo.Repo
	chain  *collection.Chain
	set    *collection.Set
	vols   []manifest.Volume
	rd     *difftar.Reader
	report func(error)
	fatal  error // a failure no other volume would escape (wrong key, cancel)

	last    string // index of the last entry returned
	started bool   // some entry was returned (last is meaningful)

	// After damage: entries at or before skipTo belonged to the lost part
	// (continuations of a split file); lostVol names the volume.
	skipping bool
	skipTo   string
	lostVol  string

	sig     *difftar.Reader // the set's signature tar, opened at the first damage
	sigBody io.Closer
	sigHead *difftar.Entry // next unconsumed signature entry
	sigErr  error          // the signature tar could not be read
	unknown []span         // index ranges lost with no signature tar to list them
}

// span is an index range (after, through]; without hasAfter it starts at
// the beginning.
type span struct {
	after, through string
	hasAfter       bool
}

func (s span) contains(idx string) bool {
	if s.hasAfter && index.Compare(idx, s.after) <= 0 {
		return false
	}
	return index.Compare(idx, s.through) <= 0
}

func newSetStream(ctx context.Context, r *repo.Repo, chain *collection.Chain, set *collection.Set, vols []manifest.Volume, next func() (io.Reader, error), report func(error)) *setStream {
	rd := difftar.NewReader(next)
	rd.Resume()
	return &setStream{ctx: ctx, r: r, chain: chain, set: set, vols: vols, rd: rd, report: report}
}

// Next returns the set's next entry: a stored one, or a Lost one for a
// path the damaged part of a volume held.
func (s *setStream) Next() (*difftar.Entry, error) {
	for {
		if s.fatal != nil {
			return nil, s.fatal
		}
		if s.skipping {
			if e := s.nextLost(); e != nil {
				return s.emit(e), nil
			}
		}
		e, err := s.rd.Next()
		var d *difftar.DamageError
		if errors.As(err, &d) {
			s.damaged(d)
			continue
		}
		if err != nil {
			return nil, err
		}
		if s.skipping && index.Compare(e.Index, s.skipTo) <= 0 {
			continue
		}
		s.skipping = false
		return s.emit(e), nil
	}
}

func (s *setStream) emit(e *difftar.Entry) *difftar.Entry {
	s.last, s.started = e.Index, true
	return e
}

// Read reads the current entry's data; damage met here spoils that entry
// (the caller reports it) and the rest of its volume.
func (s *setStream) Read(p []byte) (int, error) {
	if s.fatal != nil {
		return 0, s.fatal
	}
	n, err := s.rd.Read(p)
	var d *difftar.DamageError
	if errors.As(err, &d) {
		s.damaged(d)
		if s.fatal != nil {
			return n, s.fatal
		}
		return n, &DamageError{Volume: s.lostVol, Err: unwrapVolume(d.Err)}
	}
	return n, err
}

// LostAt reports whether the set may have held idx in a damaged range that
// no signature tar could list (replay.Merger asks streams that have no
// entry for a group).
func (s *setStream) LostAt(idx string) bool {
	for _, sp := range s.unknown {
		if sp.contains(idx) {
			return true
		}
	}
	return false
}

// damaged records that volume d.Volume (of the plan's list) failed after
// the last returned entry, and arranges for what it held to be reported.
func (s *setStream) damaged(d *difftar.DamageError) {
	end := ""
	s.lostVol = fmt.Sprintf("#%d", d.Volume)
	if d.Volume >= 1 && d.Volume <= len(s.vols) {
		v := s.vols[d.Volume-1]
		end = v.End
		s.lostVol, _ = s.r.VolumeName(s.set, v.Number)
	}
	if notDamage(d.Err) {
		s.fatal = d.Err
		var pe *fs.PathError
		if (errors.Is(d.Err, syscall.ENOSPC) || errors.Is(d.Err, syscall.EDQUOT)) && errors.As(d.Err, &pe) {
			// The tar reader's context would make it read like damage.
			s.fatal = fmt.Errorf("no room to spool volume %s (see --tempdir): %w", s.lostVol, pe)
		}
		return
	}
	s.report(&DamageError{Volume: s.lostVol, Err: unwrapVolume(d.Err)})
	s.skipping, s.skipTo = true, end
	if s.sig == nil && s.sigErr == nil {
		s.openSig()
	}
	if s.sigErr != nil {
		s.unknown = append(s.unknown, span{after: s.last, hasAfter: s.started, through: end})
		s.report(fmt.Errorf("volume %s: cannot list the files it held (%v); every path from %s to %s may be missing", s.lostVol, s.sigErr, s.fromDisplay(), index.Display(end)))
	}
}

func (s *setStream) fromDisplay() string {
	if !s.started {
		return "the start"
	}
	return index.Display(s.last)
}

func (s *setStream) openSig() {
	name := s.r.Collection.SigFor(s.chain, s.set)
	if name == "" {
		s.sigErr = errors.New("no signature file for the set")
		return
	}
	rc, err := s.r.OpenSigtar(s.ctx, name)
	if err != nil {
		s.sigErr = err
		return
	}
	s.sig, s.sigBody = difftar.NewSingleReader(rc), rc
}

// nextLost returns a Lost entry for the next signature-tar path in the
// lost range, or nil when the range is exhausted.
func (s *setStream) nextLost() *difftar.Entry {
	if s.sig == nil {
		return nil
	}
	for {
		if s.sigHead == nil {
			e, err := s.sig.Next()
			if err != nil {
				if err != io.EOF {
					s.report(fmt.Errorf("signatures of volume %s: %w", s.lostVol, err))
				}
				s.closeSig()
				return nil
			}
			s.sigHead = e
		}
		e := s.sigHead
		if s.started && index.Compare(e.Index, s.last) <= 0 {
			s.sigHead = nil // before the damage: stored and already returned
			continue
		}
		if index.Compare(e.Index, s.skipTo) > 0 {
			return nil // after the damaged volume; kept for later damage
		}
		s.sigHead = nil
		return &difftar.Entry{Index: e.Index, Kind: difftar.Lost, Type: e.Type}
	}
}

func (s *setStream) closeSig() {
	if s.sigBody != nil {
		s.sigBody.Close()
	}
	s.sig, s.sigBody, s.sigHead = nil, nil, nil
}

// Close releases the signature tar, if damage opened it.
func (s *setStream) Close() { s.closeSig() }

// notDamage tells failures that are not the volume's fault, so reading on
// is pointless or wrong: only a volume that is missing, or whose stored
// bytes fail their hash, decryption or decompression, is damage. A store
// that cannot deliver, a wrong key, a full scratch disk, a cancel, or a
// malformed tar in a volume that passed its hash (a hostile archive) stop
// the restore.
func notDamage(err error) bool {
	var ve *repo.VolumeError
	return !errors.As(err, &ve) || errors.Is(err, repo.ErrFetch) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, crypt.ErrBadPassphrase) || errors.Is(err, crypt.ErrNoSecretKey)
}

// unwrapVolume drops the repo's own naming of the volume, which the
// DamageError repeats.
func unwrapVolume(err error) error {
	var ve *repo.VolumeError
	if errors.As(err, &ve) {
		return ve.Err
	}
	return err
}
