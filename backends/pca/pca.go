// Package pca is the pca:// backend: OVH Public Cloud Archive, a Swift
// container in the PCA storage policy where every object is sealed once
// written. A sealed object lists and answers HEAD, but a GET only starts
// its unseal (HTTP 429 with Retry-After, the seconds until it is
// readable); once unsealed it reads as any Swift object. Configured by
// duplicity's PCA_* variables (see swift.Connect), with a path prefix or
// without.
//
// The seal state comes from the container listing with policy_extra=true,
// whose entries carry policy_retrieval_state (sealed, unsealing, unsealed)
// and policy_retrieval_delay (seconds left while unsealing). A 429 answer
// to a GET is a seal only when the listing says the object is sealed or
// unsealing; on an unsealed object it is Swift's own rate limit, which the
// retry layer waits out. Nothing here waits for an unseal.
package pca

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	ncw "github.com/ncw/swift/v2"

	"dupfs/backends"
	"dupfs/backends/swift"
)

// Policy is the storage policy of an archive container.
const Policy = "PCA"

// unsealWorkers bounds the GETs an Unseal sends at once.
const unsealWorkers = 8

// Backend is a PCA container: Swift's operations plus the cold tier.
type Backend struct {
	*swift.Backend
	now func() time.Time
}

var (
	_ backends.Backend = (*Backend)(nil)
	_ backends.Cold    = (*Backend)(nil)
)

// Open opens pca://container[/prefix] with the PCA_* variables. A missing
// container is created in the PCA policy; an existing one in another
// policy is refused, since its objects would not be archived.
func Open(ctx context.Context, u *url.URL, env backends.Env) (backends.Backend, error) {
	// duplicity's pca backend uses keystone v2 when PCA_AUTHVERSION is unset.
	conn, err := swift.Connect(env, "PCA_", 2)
	if err != nil {
		return nil, fmt.Errorf("pca://%s: %w", u.Host, err)
	}
	sb, err := swift.New(u, "pca", conn)
	if err != nil {
		return nil, err
	}
	b := New(sb)
	if err := b.ensureContainer(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

// New makes a PCA backend over a Swift one. Nothing is sent.
func New(sb *swift.Backend) *Backend { return &Backend{Backend: sb, now: time.Now} }

func (b *Backend) ensureContainer(ctx context.Context) error {
	h, err := b.EnsureContainer(ctx, ncw.Headers{"X-Storage-Policy": Policy})
	if err != nil || h == nil {
		return err
	}
	switch p := swift.Header(h, "X-Storage-Policy"); p {
	case Policy:
		return nil
	case "":
		return backends.Permanent(fmt.Errorf("%s: container %q reports no storage policy, not %s: its objects would not be archived", b, b.Container, Policy))
	default:
		return backends.Permanent(fmt.Errorf("%s: container %q has storage policy %q, not %s: its objects would not be archived (use swift:// for it, or another container)", b, b.Container, p, Policy))
	}
}

// Open streams an object. A sealed or unsealing one is a
// *backends.SealedError saying when it will be ready: the GET itself
// asked for the unseal, as PCA does.
func (b *Backend) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return b.OpenFrom(ctx, name, 0, "")
}

// OpenFrom is Open from an offset (see swift.Backend.OpenFrom).
func (b *Backend) OpenFrom(ctx context.Context, name string, offset int64, version string) (io.ReadCloser, error) {
	rc, err := b.Backend.OpenFrom(ctx, name, offset, version)
	if err != nil && (swift.IsStatus(err, http.StatusTooManyRequests) || swift.IsStatus(err, 498)) {
		return nil, b.throttled(ctx, name, err)
	}
	return rc, err
}

// throttled tells a seal from a rate limit, after a GET of name answered
// 429: the listing says which.
func (b *Backend) throttled(ctx context.Context, name string, err error) error {
	now := b.now()
	st, found, lerr := b.stateOf(ctx, name)
	if lerr != nil {
		// Not known: leave the 429 to the retry layer, which tries the GET
		// again (and with it this lookup).
		return fmt.Errorf("%w (its seal state is unknown: %v)", err, lerr)
	}
	if !found || st.State == backends.Unsealed {
		return err // Swift's rate limit (a RetryAfterError when it says how long)
	}
	se := &backends.SealedError{Name: name, State: backends.Unsealing, ReadyAt: st.ReadyAt}
	var ra *backends.RetryAfterError
	if errors.As(err, &ra) {
		se.ReadyAt = now.Add(ra.After)
	}
	return se
}

// stateOf reads one object's state from a listing of the names that start
// with it.
func (b *Backend) stateOf(ctx context.Context, name string) (backends.ColdState, bool, error) {
	var st backends.ColdState
	found := false
	now := b.now()
	err := b.Walk(ctx, name, url.Values{"policy_extra": {"true"}}, func(o swift.Object) error {
		if o.Name == name {
			st, found = state(o, now), true
		}
		return nil
	})
	return st, found, err
}

// States reads the seal state of the named objects from one listing (of
// the names starting with the only one, when there is one).
func (b *Backend) States(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	out := map[string]backends.ColdState{}
	if len(names) == 0 {
		return out, nil
	}
	if len(names) == 1 {
		st, ok, err := b.stateOf(ctx, names[0])
		if err != nil {
			return nil, err
		}
		if ok {
			out[names[0]] = st
		}
		return out, nil
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	now := b.now()
	err := b.Walk(ctx, "", url.Values{"policy_extra": {"true"}}, func(o swift.Object) error {
		if want[o.Name] {
			out[o.Name] = state(o, now)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// state reads a listing entry's policy fields.
func state(o swift.Object, now time.Time) backends.ColdState {
	switch o.RetrievalState {
	case "unsealing":
		s := backends.ColdState{State: backends.Unsealing}
		if d, ok := seconds(o.RetrievalDelay); ok {
			s.ReadyAt = now.Add(d)
		}
		return s
	case "unsealed":
		return backends.ColdState{State: backends.Unsealed}
	case "":
		// No policy fields: the server does not archive it, and a GET
		// says the rest.
		return backends.ColdState{State: backends.Unsealed}
	}
	// "sealed", or a state this code does not know: asking for an unseal
	// costs one GET.
	return backends.ColdState{State: backends.Sealed}
}

// seconds reads policy_retrieval_delay, a number or a numeric string.
func seconds(v any) (time.Duration, bool) {
	var f float64
	switch x := v.(type) {
	case float64:
		f = x
	case string:
		n, err := strconv.ParseFloat(x, 64)
		if err != nil {
			return 0, false
		}
		f = n
	default:
		return 0, false
	}
	if f < 0 || f > 1<<31 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// Unseal asks for every sealed one of names with a GET each (PCA's way:
// the answer is 429 with the seconds until it is readable), and returns
// the states after. Unsealing and unsealed objects are not asked again;
// names the store does not hold are left out.
func (b *Backend) Unseal(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	st, err := b.States(ctx, names)
	if err != nil {
		return nil, err
	}
	var sealed []string
	for _, n := range names {
		if s, ok := st[n]; ok && s.State == backends.Sealed {
			sealed = append(sealed, n)
			st[n] = backends.ColdState{State: backends.Unsealing} // once, for duplicates
		}
	}
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
		sem   = make(chan struct{}, unsealWorkers)
	)
	for _, n := range sealed {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return st, ctx.Err()
		}
		mu.Lock()
		stop := first != nil
		mu.Unlock()
		if stop {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			s, found, err := b.unseal(ctx, n)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				st[n] = backends.ColdState{State: backends.Sealed}
				if first == nil {
					first = err
				}
			case !found:
				delete(st, n)
			default:
				st[n] = s
			}
		}()
	}
	wg.Wait()
	return st, first
}

// unseal sends the GET that starts name's unseal; a 200 means it was
// unsealed meanwhile, and its body is closed unread.
func (b *Backend) unseal(ctx context.Context, name string) (backends.ColdState, bool, error) {
	obj, err := b.ObjectName(name)
	if err != nil {
		return backends.ColdState{}, false, err
	}
	f, hdr, err := b.Conn.ObjectOpen(ctx, b.Container, obj, false, ncw.Headers{"Range": "bytes=0-0"})
	if err == nil {
		f.Close()
		return backends.ColdState{State: backends.Unsealed}, true, nil
	}
	if errors.Is(err, ncw.ObjectNotFound) {
		return backends.ColdState{}, false, nil
	}
	if swift.IsStatus(err, http.StatusTooManyRequests) || swift.IsStatus(err, 498) {
		s := backends.ColdState{State: backends.Unsealing}
		if d, ok := swift.RetryAfter(hdr); ok {
			s.ReadyAt = b.now().Add(d)
		}
		return s, true, nil
	}
	return backends.ColdState{}, true, fmt.Errorf("%s: unseal %s: %w", b, name, swift.Classify(err))
}
