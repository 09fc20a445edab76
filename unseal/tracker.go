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
		known: map[string]backends.ColdState{}, requested: map[string]time.Time{},
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

// Pending lists the files asked for that are not readable yet, and those
// that became readable since, by name.
func (t *Tracker) Pending() []State {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]State, 0, len(t.requested))
	for n := range t.requested {
		out = append(out, State{File: File{Name: n}, ColdState: t.known[n]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (t *Tracker) poll(ctx context.Context) {
	defer close(t.done)
	for {
		var waiting []string
		t.mu.Lock()
		for n := range t.requested {
			if t.known[n].State != backends.Unsealed {
				waiting = append(waiting, n)
			}
		}
		t.mu.Unlock()
		if len(waiting) > 0 {
			if err := t.Learn(ctx, waiting); err != nil && ctx.Err() == nil && t.logf != nil {
				t.logf("dupfs: seal states: %v", err)
			}
		}
		var tick <-chan time.Time
		if len(waiting) > 0 {
			tick = time.After(t.interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.wake:
			// A new request: its states were just recorded; poll from
			// the next interval.
			select {
			case <-ctx.Done():
				return
			case <-time.After(t.interval):
			}
		case <-tick:
		}
	}
}
