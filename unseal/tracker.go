package unseal

import (
	"context"
	"sort"
	"sync"
	"time"

	"dupfs/backends"
)

// Tracker keeps the last known cold state of the files a mount has asked
// about, so that questions (an xattr, the status file) are answered from
// memory, never from the network. While unseals are pending it polls the
// store in the background, every interval.
type Tracker struct {
	cold     backends.Cold
	interval time.Duration
	logf     func(string, ...any)

	mu        sync.Mutex
	known     map[string]backends.ColdState
	requested map[string]time.Time // when this mount asked for the unseal
	readyAt   map[string]time.Time // when a requested file was first seen readable
	changed   chan struct{}        // closed and replaced at each update
	wake      chan struct{}
	stop      context.CancelFunc
	done      chan struct{}
}

// NewTracker starts tracking files of cold; Close stops it.
func NewTracker(cold backends.Cold, interval time.Duration, logf func(string, ...any)) *Tracker {
	ctx, cancel := context.WithCancel(context.Background())
	t := &Tracker{
		cold: cold, interval: interval, logf: logf,
		known: map[string]backends.ColdState{}, requested: map[string]time.Time{}, readyAt: map[string]time.Time{},
		changed: make(chan struct{}), wake: make(chan struct{}, 1), stop: cancel, done: make(chan struct{}),
	}
	go t.poll(ctx)
	return t
}

// Close stops the polling.
func (t *Tracker) Close() {
	t.stop()
	<-t.done
}

// Learn records the states of names with one question to the store (for
// a mount's start: every volume at once). Names the store does not hold
// are readable elsewhere.
func (t *Tracker) Learn(ctx context.Context, names []string) error {
	st, err := t.cold.States(ctx, names)
	if err != nil {
		return err
	}
	t.record(names, st)
	return nil
}

func (t *Tracker) record(names []string, st map[string]backends.ColdState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, n := range names {
		s, ok := st[n]
		if !ok {
			s = backends.ColdState{State: backends.Unsealed}
		}
		t.known[n] = s
		if _, asked := t.requested[n]; asked && s.State == backends.Unsealed {
			if _, ok := t.readyAt[n]; !ok {
				t.readyAt[n] = time.Now()
			}
		} else {
			delete(t.readyAt, n)
		}
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

// Known returns what is known of each name, without asking; ok is false
// when a name was never learnt.
func (t *Tracker) Known(names []string) (map[string]backends.ColdState, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]backends.ColdState, len(names))
	all := true
	for _, n := range names {
		s, ok := t.known[n]
		if !ok {
			all = false
			s = backends.ColdState{State: backends.Sealed}
		}
		out[n] = s
	}
	return out, all
}

// Request asks for the unseal of those of names not known readable, in
// one batch, and starts polling them.
func (t *Tracker) Request(ctx context.Context, names []string) error {
	files := make([]File, len(names))
	for i, n := range names {
		files[i] = File{Name: n}
	}
	rep, err := Request(ctx, t.cold, files)
	if err != nil {
		return err
	}
	st := map[string]backends.ColdState{}
	now := time.Now()
	t.mu.Lock()
	for _, f := range rep.Files {
		st[f.Name] = f.ColdState
		if f.State != backends.Unsealed {
			if _, ok := t.requested[f.Name]; !ok {
				t.requested[f.Name] = now
			}
		}
	}
	t.mu.Unlock()
	t.record(names, st)
	if rep.Requested > 0 && t.logf != nil {
		t.logf("dupfs: asked cold storage to unseal %d volumes, ready at %s", rep.Requested, formatETA(rep.ETA))
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
	return nil
}

// Mark records what a read learnt the hard way (a volume found sealed).
func (t *Tracker) Mark(name string, s backends.ColdState) {
	t.record([]string{name}, map[string]backends.ColdState{name: s})
	t.mu.Lock()
	if _, ok := t.requested[name]; !ok {
		t.requested[name] = time.Now()
	}
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// WaitReady waits until every name is known readable, up to max or the
// end of ctx, and reports whether they are.
func (t *Tracker) WaitReady(ctx context.Context, names []string, max time.Duration) bool {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	for {
		t.mu.Lock()
		ready := true
		for _, n := range names {
			if t.known[n].State != backends.Unsealed {
				ready = false
			}
		}
		changed := t.changed
		t.mu.Unlock()
		if ready {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-changed:
		}
	}
}

// keepReadable is how long a file asked for stays in Pending once it is
// readable, so that the status file shows what recently came back.
var keepReadable = time.Hour

// Pending lists, by name, the files asked for that are not readable yet,
// and those that became readable within the last hour.
func (t *Tracker) Pending() []State {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	out := make([]State, 0, len(t.requested))
	for n := range t.requested {
		if at, ok := t.readyAt[n]; ok && now.Sub(at) > keepReadable {
			delete(t.requested, n)
			delete(t.readyAt, n)
			continue
		}
		out = append(out, State{File: File{Name: n}, ColdState: t.known[n]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// readyMargin is how long after an unsealing file's ETA the tracker asks
// again; minPollGap bounds how often it asks when ETAs are near.
const (
	readyMargin = 100 * time.Millisecond
	minPollGap  = 500 * time.Millisecond
)

// waiting lists the files asked for that are not known readable, and the
// soonest of their ETAs that was still ahead at the last poll (zero if
// none): an ETA already passed then is stale and not worth a faster poll.
func (t *Tracker) waiting(last time.Time) (names []string, soonest time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for n := range t.requested {
		s := t.known[n]
		if s.State == backends.Unsealed {
			continue
		}
		names = append(names, n)
		if s.State == backends.Unsealing && s.ReadyAt.After(last) && (soonest.IsZero() || s.ReadyAt.Before(soonest)) {
			soonest = s.ReadyAt
		}
	}
	return names, soonest
}

// poll refreshes the states of the files asked for while some are not
// readable: every interval, or sooner when one is due to be ready, so a
// read waiting --unseal-wait sees it as soon as the store does. With
// nothing pending it sleeps until the next request.
func (t *Tracker) poll(ctx context.Context) {
	defer close(t.done)
	last := time.Now()
	for {
		waiting, soonest := t.waiting(last)
		var tick <-chan time.Time
		var timer *time.Timer
		if len(waiting) > 0 {
			due := last.Add(t.interval)
			if !soonest.IsZero() && soonest.Add(readyMargin).Before(due) {
				due = soonest.Add(readyMargin)
				if earliest := last.Add(min(t.interval, minPollGap)); due.Before(earliest) {
					due = earliest
				}
			}
			timer = time.NewTimer(time.Until(due))
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-t.wake:
			// A request (or a read that found a volume sealed) has
			// just learnt its files' states: when it starts a pending
			// period, the next poll is an interval (or an ETA) away.
			if timer != nil {
				timer.Stop()
			}
			if len(waiting) == 0 {
				last = time.Now()
			}
			continue
		case <-tick:
		}
		if err := t.Learn(ctx, waiting); err != nil && ctx.Err() == nil && t.logf != nil {
			t.logf("dupfs: seal states: %v", err)
		}
		last = time.Now()
	}
}
