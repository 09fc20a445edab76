// Package swift is the swift:// backend: an OpenStack Swift container, with
// an optional path prefix, configured by duplicity's SWIFT_* variables.
// Package pca builds OVH's cold archive on the same code.
package swift

import (
	"context"
	"encoding/json"
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
)

// maxObject is Swift's default limit for one object (larger ones need
// segments; duplicity volumes are far smaller).
const maxObject = 5 << 30

// Backend stores files as objects of one container, under a prefix.
type Backend struct {
	Conn      *ncw.Connection
	Scheme    string // for messages: swift or pca
	Container string
	Prefix    string // "" or "dir/sub/", with its trailing slash
}

var _ backends.Backend = (*Backend)(nil)

// Open opens swift://container[/prefix] with the SWIFT_* variables, and
// creates the container if it is missing.
func Open(ctx context.Context, u *url.URL, env backends.Env) (backends.Backend, error) {
	conn, err := Connect(env, "SWIFT_", 1)
	if err != nil {
		return nil, fmt.Errorf("swift://%s: %w", u.Host, err)
	}
	b, err := New(u, "swift", conn)
	if err != nil {
		return nil, err
	}
	if _, _, err := b.Conn.Container(ctx, b.Container); errors.Is(err, ncw.ContainerNotFound) {
		err = b.Conn.ContainerCreate(ctx, b.Container, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: create container: %w", b, Classify(err))
		}
	} else if err != nil {
		return nil, fmt.Errorf("%s: %w", b, Classify(err))
	}
	return b, nil
}

// New makes a backend for the container and prefix of u.
func New(u *url.URL, scheme string, conn *ncw.Connection) (*Backend, error) {
	if u.Host == "" {
		return nil, fmt.Errorf("%s URL %q: no container (want %s://container[/prefix])", scheme, u.Redacted(), scheme)
	}
	b := &Backend{Conn: conn, Scheme: scheme, Container: u.Host}
	if p := strings.Trim(u.Path, "/"); p != "" {
		b.Prefix = p + "/"
	}
	return b, nil
}

func (b *Backend) String() string {
	return b.Scheme + "://" + b.Container + "/" + strings.TrimSuffix(b.Prefix, "/")
}

// Close releases idle connections.
func (b *Backend) Close() error {
	if t, ok := b.Conn.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// Object is one listed object, with the extra fields a storage policy
// may add to the listing (OVH's policy_extra).
type Object struct {
	Name           string `json:"name"`
	Subdir         string `json:"subdir"`
	Bytes          int64  `json:"bytes"`
	RetrievalState string `json:"policy_retrieval_state"`
	RetrievalDelay any    `json:"policy_retrieval_delay"`
}

// Walk lists the objects under the prefix, a page at a time (Swift caps
// a page; the marker pages on), calling fn with names without the prefix.
// extra adds query parameters, such as policy_extra for PCA.
func (b *Backend) Walk(ctx context.Context, extra url.Values, fn func(Object) error) error {
	marker := ""
	for {
		q := url.Values{"format": {"json"}}
		for k, v := range extra {
			q[k] = v
		}
		if b.Prefix != "" {
			q.Set("prefix", b.Prefix)
		}
		if marker != "" {
			q.Set("marker", marker)
		}
		var page []Object
		resp, _, err := b.Conn.Call(ctx, b.Conn.StorageUrl, ncw.RequestOpts{
			Container: b.Container, Operation: "GET", Parameters: q, ErrorMap: ncw.ContainerErrorMap,
		})
		if err == nil {
			err = decodeJSON(resp, &page)
		}
		if errors.Is(err, ncw.ContainerNotFound) {
			return nil // an empty store
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", b, Classify(err))
		}
		if len(page) == 0 {
			return nil
		}
		for _, o := range page {
			marker = o.Name
			if o.Name == "" {
				continue // a pseudo-directory entry
			}
			o.Name = strings.TrimPrefix(o.Name, b.Prefix)
			if o.Name == "" || strings.Contains(o.Name, "/") {
				continue // deeper names are not this store's files
			}
			if err := fn(o); err != nil {
				return err
			}
		}
	}
}

// List returns the files under the prefix.
func (b *Backend) List(ctx context.Context) ([]backends.FileInfo, error) {
	var out []backends.FileInfo
	err := b.Walk(ctx, nil, func(o Object) error {
		out = append(out, backends.FileInfo{Name: o.Name, Size: o.Bytes})
		return nil
	})
	return out, err
}

func (b *Backend) object(name string) (string, error) {
	if name == "" || strings.ContainsRune(name, '/') || name == "." || name == ".." {
		return "", fmt.Errorf("%s: invalid file name %q", b, name)
	}
	return b.Prefix + name, nil
}

// Open streams an object.
func (b *Backend) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	obj, err := b.object(name)
	if err != nil {
		return nil, err
	}
	f, hdr, err := b.Conn.ObjectOpen(ctx, b.Container, obj, false, nil)
	if err != nil {
		return nil, b.OpenError(name, hdr, err)
	}
	return f, nil
}

// OpenError describes a failed GET of name, keeping the answer's
// Retry-After for the retry layer.
func (b *Backend) OpenError(name string, hdr ncw.Headers, err error) error {
	if errors.Is(err, ncw.ObjectNotFound) {
		return fmt.Errorf("%s: %s: %w", b, name, backends.ErrNotExist)
	}
	err = Classify(err)
	if after, ok := RetryAfter(hdr); ok && isStatus(err, http.StatusTooManyRequests) {
		err = &backends.RetryAfterError{After: after, Err: err}
	}
	return fmt.Errorf("%s: get %s: %w", b, name, err)
}

// Save uploads size bytes from r, with its length declared so Swift checks
// it; r is rewound first, so a retry starts over.
func (b *Backend) Save(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	obj, err := b.object(name)
	if err != nil {
		return err
	}
	if size > maxObject {
		return backends.Permanent(fmt.Errorf("save %s to %s: %d bytes is over Swift's 5 GiB object limit (use a smaller --volsize)", name, b, size))
	}
	if _, err := r.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("save %s: rewind: %w", name, err)
	}
	h := ncw.Headers{"Content-Length": strconv.FormatInt(size, 10)}
	_, err = b.Conn.ObjectPut(ctx, b.Container, obj, io.LimitReader(backends.ContextReader(ctx, r), size), false, "", "application/octet-stream", h)
	if err != nil {
		return fmt.Errorf("save %s to %s: %w", name, b, Classify(err))
	}
	return nil
}

// Delete removes an object.
func (b *Backend) Delete(ctx context.Context, name string) error {
	obj, err := b.object(name)
	if err != nil {
		return err
	}
	err = b.Conn.ObjectDelete(ctx, b.Container, obj)
	if errors.Is(err, ncw.ObjectNotFound) {
		return fmt.Errorf("%s: %s: %w", b, name, backends.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("delete %s from %s: %w", name, b, Classify(err))
	}
	return nil
}

// Classify marks the failures no retry can fix as permanent: client errors
// other than timeouts, conflicts and rate limits. Server errors, resets
// and timeouts stay transient.
func Classify(err error) error {
	var se *ncw.Error
	if errors.As(err, &se) {
		switch s := se.StatusCode; {
		case s == http.StatusRequestTimeout, s == http.StatusConflict, s == http.StatusTooManyRequests, s == 498:
			return err
		case s >= 400 && s < 500:
			return backends.Permanent(err)
		}
		return err
	}
	if errors.Is(err, ncw.AuthorizationFailed) {
		return backends.Permanent(err)
	}
	return err
}

// maxPage bounds one listing page's JSON (Swift's own cap is 10,000
// entries, a few MB).
const maxPage = 64 << 20

func decodeJSON(resp *http.Response, v any) error {
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxPage)).Decode(v); err != nil {
		return fmt.Errorf("listing: %w", err)
	}
	return nil
}

func isStatus(err error, code int) bool {
	var se *ncw.Error
	return errors.As(err, &se) && se.StatusCode == code
}

// RetryAfter reads an integer Retry-After header.
func RetryAfter(h ncw.Headers) (time.Duration, bool) {
	for k, v := range h {
		if strings.EqualFold(k, "Retry-After") {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				return 0, false
			}
			return time.Duration(n) * time.Second, true
		}
	}
	return 0, false
}
