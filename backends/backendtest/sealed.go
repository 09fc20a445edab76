// Package backendtest holds test doubles for backends.
package backendtest

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"dupfs/backends"
)

// Sealed is a fake cold store over any backend: files it is told to seal
// (Seal, or every Save with SealOnSave) read only after an Unseal and a
// delay, as OVH's PCA behaves. Its clock is real time.
type Sealed struct {
	backends.Backend
	Delay      time.Duration
	SealOnSave bool

	mu      sync.Mutex
	ready   map[string]time.Time // sealed: absent from ready but in sealed
	sealed  map[string]bool
	Batches int            // Unseal calls that asked for something
	Asked   map[string]int // unseal requests per name
	Opens   map[string]int // Open calls per name
}

var (
	_ backends.Cold      = (*Sealed)(nil)
	_ backends.Unwrapper = (*Sealed)(nil)
)

// NewSealed wraps b; nothing is sealed until Seal or a Save.
func NewSealed(b backends.Backend, delay time.Duration) *Sealed {
	return &Sealed{Backend: b, Delay: delay, ready: map[string]time.Time{}, sealed: map[string]bool{}, Asked: map[string]int{}, Opens: map[string]int{}}
}

// Unwrap returns the wrapped store.
func (s *Sealed) Unwrap() backends.Backend { return s.Backend }

// Seal seals names (every listed file when none are given).
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

func (s *Sealed) stateLocked(name string) backends.ColdState {
	if !s.sealed[name] {
		return backends.ColdState{State: backends.Unsealed}
	}
	at, ok := s.ready[name]
	switch {
	case !ok:
		return backends.ColdState{State: backends.Sealed}
	case time.Now().Before(at):
		return backends.ColdState{State: backends.Unsealing, ReadyAt: at}
	}
	return backends.ColdState{State: backends.Unsealed}
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

// Unseal starts the unseal of the sealed ones of names.
func (s *Sealed) Unseal(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	s.mu.Lock()
	asked := false
	for _, n := range names {
		if s.stateLocked(n).State == backends.Sealed {
			s.ready[n] = time.Now().Add(s.Delay)
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
		s.ready[name] = time.Now().Add(s.Delay)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	asked, opens = map[string]int{}, map[string]int{}
	for k, v := range s.Asked {
		asked[k] = v
	}
	for k, v := range s.Opens {
		opens[k] = v
	}
	return s.Batches, asked, opens
}
