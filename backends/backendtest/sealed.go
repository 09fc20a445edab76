// Package backendtest holds test doubles for backends.
package backendtest

import (
	"context"
	"fmt"
	"io"
	"maps"
	"sync"
	"time"

	"dupfs/backends"
)

// Sealed is a fake cold store over any backend, behaving as OVH's PCA:
// files it is told to seal (Seal, or every Save with SealOnSave) list and
// stat as usual, but Open fails with a *backends.SealedError until an
// Unseal (or an Open, as a PCA GET does) has started their unseal and
// Delay has passed. Files it never sealed are plain readable files, as in
// a hot store.
//
// Its clock is Now (time.Now when nil): tests may move time by hand.
// Counters are read with Counts or Stats; the exported maps and ints are
// written under its lock.
type Sealed struct {
	backends.Backend
	Delay      time.Duration
	SealOnSave bool
	Now        func() time.Time // nil: time.Now

	mu          sync.Mutex
	ready       map[string]time.Time // when an asked-for file is readable
	sealed      map[string]bool      // files this store keeps cold
	UnsealCalls int                  // Unseal calls, even those asking for nothing
	Batches     int                  // Unseal calls that asked for something
	Asked       map[string]int       // unseal requests per name (Unseal and Open)
	Opens       map[string]int       // Open calls per name
}

var (
	_ backends.Cold      = (*Sealed)(nil)
	_ backends.Unwrapper = (*Sealed)(nil)
)

// NewSealed wraps b; nothing is sealed until Seal or a Save with
// SealOnSave. To start with the files already in b sealed, call Seal
// with no names.
func NewSealed(b backends.Backend, delay time.Duration) *Sealed {
	return &Sealed{Backend: b, Delay: delay, ready: map[string]time.Time{}, sealed: map[string]bool{}, Asked: map[string]int{}, Opens: map[string]int{}}
}

// Unwrap returns the wrapped store.
func (s *Sealed) Unwrap() backends.Backend { return s.Backend }

func (s *Sealed) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Seal seals names (every listed file when none are given); a file that
// was unsealing or unsealed must be asked for again.
func (s *Sealed) Seal(ctx context.Context, names ...string) error {
	if len(names) == 0 {
		l, err := s.Backend.List(ctx)
		if err != nil {
			return err
		}
		for _, f := range l {
			names = append(names, f.Name)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range names {
		s.sealed[n] = true
		delete(s.ready, n)
	}
	return nil
}

// Reseal puts every file this store ever sealed back in the archive, as
// PCA does some time after an unseal: all must be asked for again.
func (s *Sealed) Reseal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.ready)
}

func (s *Sealed) stateLocked(name string) backends.ColdState {
	if !s.sealed[name] {
		return backends.ColdState{State: backends.Unsealed}
	}
	at, ok := s.ready[name]
	switch {
	case !ok:
		return backends.ColdState{State: backends.Sealed}
	case s.now().Before(at):
		return backends.ColdState{State: backends.Unsealing, ReadyAt: at}
	}
	return backends.ColdState{State: backends.Unsealed}
}

// State reports where one file stands, whether or not the store holds it.
func (s *Sealed) State(name string) backends.ColdState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stateLocked(name)
}

// States reports the named files the store holds.
func (s *Sealed) States(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	l, err := s.Backend.List(ctx)
	if err != nil {
		return nil, err
	}
	held := map[string]bool{}
	for _, f := range l {
		held[f.Name] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]backends.ColdState{}
	for _, n := range names {
		if held[n] {
			out[n] = s.stateLocked(n)
		}
	}
	return out, nil
}

// Unseal starts the unseal of the sealed ones of names, all in one batch,
// and returns the states of those the store holds.
func (s *Sealed) Unseal(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	s.mu.Lock()
	s.UnsealCalls++
	asked := false
	for _, n := range names {
		if s.stateLocked(n).State == backends.Sealed {
			s.ready[n] = s.now().Add(s.Delay)
			s.Asked[n]++
			asked = true
		}
	}
	if asked {
		s.Batches++
	}
	s.mu.Unlock()
	return s.States(ctx, names)
}

// Open reads an unsealed file; a sealed one starts its unseal, as a PCA
// GET does, and says when it will be ready.
func (s *Sealed) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	s.mu.Lock()
	s.Opens[name]++
	st := s.stateLocked(name)
	if st.State == backends.Sealed {
		s.ready[name] = s.now().Add(s.Delay)
		s.Asked[name]++
		st = s.stateLocked(name)
	}
	s.mu.Unlock()
	if st.State != backends.Unsealed {
		return nil, fmt.Errorf("fake cold store: %w", &backends.SealedError{Name: name, State: st.State, ReadyAt: st.ReadyAt})
	}
	return s.Backend.Open(ctx, name)
}

// Save stores a file, sealed with SealOnSave.
func (s *Sealed) Save(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	if err := s.Backend.Save(ctx, name, r, size); err != nil {
		return err
	}
	if s.SealOnSave {
		return s.Seal(ctx, name)
	}
	return nil
}

// Counts returns a copy of the counters.
func (s *Sealed) Counts() (batches int, asked, opens map[string]int) {
	st := s.Stats()
	return st.Batches, st.Asked, st.Opens
}

// SealedStats is a snapshot of a Sealed store's counters.
type SealedStats struct {
	UnsealCalls, Batches int
	Asked, Opens         map[string]int // per name
}

// Stats returns a copy of the counters.
func (s *Sealed) Stats() SealedStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SealedStats{UnsealCalls: s.UnsealCalls, Batches: s.Batches, Asked: maps.Clone(s.Asked), Opens: maps.Clone(s.Opens)}
}
