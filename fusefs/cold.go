package fusefs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"dupfs/backends"
	"dupfs/points"
	"dupfs/unseal"
)

// SealedErrno is what a read of a file whose volumes are still sealed
// fails with, once --unseal-wait has passed: "Resource temporarily
// unavailable" is what the user should do (try again later), and no FUSE
// request may block for the hours an unseal takes.
const SealedErrno = syscall.EAGAIN

// StatusFile is the name of the cold-storage status file at the root.
const StatusFile = ".dupfs-status"

// Cold makes reads work over a cold store: a read that needs sealed
// volumes asks for all of them at once and waits up to Wait.
type Cold struct {
	Tracker *unseal.Tracker
	Wait    time.Duration
}

// SetCold turns on cold-storage reads; call it before mounting. Volumes
// are then read ahead only once known readable.
func (f *FS) SetCold(c *Cold) {
	f.cold = c
	if f.data != nil {
		f.data.ReadAheadOK = func(volume string) bool {
			known, _ := c.Tracker.Known([]string{volume})
			return known[volume].State == backends.Unsealed
		}
	}
}

// unsealFor makes the volumes n needs at p readable, or fails with
// SealedErrno after the wait.
func (f *FS) unsealFor(ctx context.Context, what string, p *points.Point, n *points.Node) syscall.Errno {
	if f.data.Cached(ctx, p, n) {
		return 0 // its content is in the cache, whatever its volumes
	}
	_, missing, err := f.data.Volumes(ctx, p, n)
	if err != nil {
		return f.errno(what, err)
	}
	if len(missing) == 0 {
		return 0
	}
	ready := func() bool {
		known, _ := f.cold.Tracker.Known(missing)
		for _, s := range known {
			if s.State != backends.Unsealed {
				return false
			}
		}
		return true
	}
	if ready() {
		return 0
	}
	if f.unsealingPastWait(missing) {
		// Already asked for, and not ready within the wait: fail at once,
		// so that a cp -a over a point in the archive does not spend
		// --unseal-wait on each of its files.
		f.Logf("dupfs: %s: %s; failing with EAGAIN until then", what, coldState(f.cold.Tracker, missing))
		return SealedErrno
	}
	if err := f.cold.Tracker.Request(ctx, missing); err != nil {
		return f.errno(what, err)
	}
	// The request learned the states: volumes unsealed before (dupfs
	// unseal, another mount) are readable now, whatever --unseal-wait.
	if ready() {
		return 0
	}
	if f.cold.Wait > 0 && f.cold.Tracker.WaitReady(ctx, missing, f.cold.Wait) {
		return 0
	}
	if ctx.Err() != nil {
		return syscall.EINTR
	}
	f.Logf("dupfs: %s: %s; failing with EAGAIN until then", what, coldState(f.cold.Tracker, missing))
	return SealedErrno
}

// unsealingPastWait reports whether every volume of vols that is not
// readable is already unsealing, and the last one is due after the wait.
func (f *FS) unsealingPastWait(vols []string) bool {
	known, _ := f.cold.Tracker.Known(vols)
	var eta time.Time
	for _, s := range known {
		switch s.State {
		case backends.Unsealed:
			continue
		case backends.Unsealing:
			if s.ReadyAt.IsZero() {
				return false
			}
			if s.ReadyAt.After(eta) {
				eta = s.ReadyAt
			}
		default:
			return false
		}
	}
	return !eta.IsZero() && time.Until(eta) > f.cold.Wait
}

// coldState describes the states of volumes, for the xattr and the log:
// "ready", "sealed: N volumes (...)" or "unsealing: N volumes, ready at T".
func coldState(t *unseal.Tracker, vols []string) string {
	known, _ := t.Known(vols)
	var sealed, unsealing []string
	var eta time.Time
	for _, v := range vols {
		switch s := known[v]; s.State {
		case backends.Sealed:
			sealed = append(sealed, v)
		case backends.Unsealing:
			unsealing = append(unsealing, v)
			if s.ReadyAt.After(eta) {
				eta = s.ReadyAt
			}
		}
	}
	switch {
	case len(sealed) > 0:
		return fmt.Sprintf("sealed: %d volumes (%s)", len(sealed)+len(unsealing), strings.Join(append(sealed, unsealing...), " "))
	case len(unsealing) > 0:
		at := "an unknown time"
		if !eta.IsZero() {
			at = eta.UTC().Format(time.RFC3339)
		}
		return fmt.Sprintf("unsealing: %d volumes, ready at %s", len(unsealing), at)
	}
	return "ready"
}

// sealedErrno maps a volume found sealed while reading (the state was
// stale, or it was sealed again) to SealedErrno, and records it.
func (f *FS) sealedErrno(what string, err error) (syscall.Errno, bool) {
	var se *backends.SealedError
	if !errors.As(err, &se) {
		return 0, false
	}
	if f.cold != nil {
		f.cold.Tracker.Mark(se.Name, backends.ColdState{State: se.State, ReadyAt: se.ReadyAt})
	}
	f.Logf("dupfs: %s: %v", what, se)
	return SealedErrno, true
}

// statusNode is the root's status file: the volumes this mount asked to
// unseal, with their states, regenerated at each open.
type statusNode struct {
	fs.Inode
	t *unseal.Tracker
}

var _ = (fs.NodeOpener)((*statusNode)(nil))
var _ = (fs.NodeGetattrer)((*statusNode)(nil))

func (s *statusNode) Getattr(ctx context.Context, fh fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	out.Mode = syscall.S_IFREG | 0o444
	if h, ok := fh.(*statusHandle); ok {
		out.Size = uint64(len(h.text))
	}
	return 0
}

func (s *statusNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	// Direct I/O: the size changes from one open to the next.
	return &statusHandle{text: []byte(statusText(s.t.Pending(), time.Now()))}, fuse.FOPEN_DIRECT_IO, 0
}

func statusText(pending []unseal.State, now time.Time) string {
	if len(pending) == 0 {
		return "nothing is being unsealed\n"
	}
	var b strings.Builder
	for _, p := range pending {
		line := p.Name + "\t" + p.State.String()
		if p.State == backends.Unsealing && !p.ReadyAt.IsZero() {
			line += "\tready at " + p.ReadyAt.UTC().Format(time.RFC3339) + " (in " + p.ReadyAt.Sub(now).Round(time.Second).String() + ")"
		}
		b.WriteString(line + "\n")
	}
	r := unseal.Summarize(pending)
	fmt.Fprintf(&b, "%d volumes asked for: %d readable, %d unsealing, %d sealed", len(pending), r.Ready, r.Unsealing, r.Sealed)
	if !r.ETA.IsZero() {
		fmt.Fprintf(&b, "; all ready at %s", r.ETA.UTC().Format(time.RFC3339))
	}
	b.WriteString("\n")
	return b.String()
}

type statusHandle struct{ text []byte }

var _ = (fs.FileReader)((*statusHandle)(nil))

func (h *statusHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(h.text)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(h.text[off:min(int64(len(h.text)), off+int64(len(dest)))]), 0
}
