// Package pca is the pca:// backend: OVH Public Cloud Archive, a Swift
// container in the PCA storage policy where every object is sealed once
// written. A sealed object lists and answers HEAD, but a GET only starts
// its unseal (HTTP 429 with Retry-After); once unsealed it reads as any
// Swift object. Configured by duplicity's PCA_* variables.
package pca

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	ncw "github.com/ncw/swift/v2"

	"dupfs/backends"
	"dupfs/backends/swift"
)

// Policy is the storage policy of an archive container.
const Policy = "PCA"

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
	conn, err := swift.Connect(env, "PCA_", 2)
	if err != nil {
		return nil, fmt.Errorf("pca://%s: %w", u.Host, err)
	}
	sb, err := swift.New(u, "pca", conn)
	if err != nil {
		return nil, err
	}
	b := &Backend{Backend: sb, now: time.Now}
	if err := b.ensureContainer(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *Backend) ensureContainer(ctx context.Context) error {
	_, h, err := b.Conn.Container(ctx, b.Container)
	if errors.Is(err, ncw.ContainerNotFound) {
		if err := b.Conn.ContainerCreate(ctx, b.Container, ncw.Headers{"X-Storage-Policy": Policy}); err != nil {
			return fmt.Errorf("%s: create container in policy %s: %w", b, Policy, swift.Classify(err))
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("%s: %w", b, swift.Classify(err))
	}
	if p := header(h, "X-Storage-Policy"); p != Policy {
		return backends.Permanent(fmt.Errorf("%s: container %q has storage policy %q, not %s: its objects would not be archived (use swift:// for it, or another container)", b, b.Container, p, Policy))
	}
	return nil
}

func header(h ncw.Headers, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

// Open streams an object; a sealed or unsealing one is a
// *backends.SealedError saying when it will be ready (the GET itself asked
// for the unseal, as PCA does).
func (b *Backend) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	rc, err := b.Backend.Open(ctx, name)
	var ra *backends.RetryAfterError
	if errors.As(err, &ra) {
		return nil, &backends.SealedError{Name: name, State: backends.Unsealing, ReadyAt: b.now().Add(ra.After)}
	}
	return rc, err
}

// States reads the seal state of the named objects from one listing.
func (b *Backend) States(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	out := map[string]backends.ColdState{}
	now := b.now()
	err := b.Walk(ctx, url.Values{"policy_extra": {"true"}}, func(o swift.Object) error {
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
		// No policy fields: not an archive object, always readable.
		return backends.ColdState{State: backends.Unsealed}
	}
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
	if f < 0 {
		return 0, false
	}
	return time.Duration(f * float64(time.Second)), true
}

// Unseal asks for every sealed one of names with a GET each (PCA's way:
// the answer is 429 with the seconds until it is readable), and returns
// the states after.
func (b *Backend) Unseal(ctx context.Context, names []string) (map[string]backends.ColdState, error) {
	st, err := b.States(ctx, names)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		s, ok := st[n]
		if !ok || s.State != backends.Sealed {
			continue
		}
		if st[n], err = b.unseal(ctx, n); err != nil {
			return st, err
		}
	}
	return st, nil
}

func (b *Backend) unseal(ctx context.Context, name string) (backends.ColdState, error) {
	obj := b.Prefix + name
	// Only the status and headers are wanted: a 200 means it was unsealed
	// meanwhile, and the body is not read.
	resp, hdr, err := b.Conn.Call(ctx, b.Conn.StorageUrl, ncw.RequestOpts{
		Container: b.Container, ObjectName: obj, Operation: "GET",
		Headers: ncw.Headers{"Range": "bytes=0-0"}, ErrorMap: ncw.ContainerErrorMap, NoResponse: true,
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	if err == nil {
		return backends.ColdState{State: backends.Unsealed}, nil
	}
	var se *ncw.Error
	if errors.As(err, &se) && se.StatusCode == http.StatusTooManyRequests {
		s := backends.ColdState{State: backends.Unsealing}
		if d, ok := swift.RetryAfter(hdr); ok {
			s.ReadyAt = b.now().Add(d)
		}
		return s, nil
	}
	return backends.ColdState{}, fmt.Errorf("%s: unseal %s: %w", b, name, swift.Classify(err))
}
