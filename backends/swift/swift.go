// Package swift is the swift:// backend: an OpenStack Swift container, with
// an optional path prefix, configured by duplicity's SWIFT_* variables.
// Package pca builds OVH's cold archive on the same code.
//
// The backend classifies its errors and leaves retrying to package retry:
// a missing object wraps backends.ErrNotExist; refusals no retry can fix
// (401 after a re-login, 403, other 4xx, a bad name, an oversized file)
// are backends.Permanent; a rate limit with Retry-After (429, 498) is a
// *backends.RetryAfterError; server errors, resets and timeouts are left
// plain, so transient.
package swift

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	ncw "github.com/ncw/swift/v2"

	"dupfs/backends"
)

// MaxObject is Swift's default limit for one object. Larger ones would
// need segments (DLO/SLO), which duplicity volumes, a few hundred MB at
// most, never need; Save refuses them.
const MaxObject = 5 << 30

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
	if _, err := b.EnsureContainer(ctx, nil); err != nil {
		return nil, err
	}
	return b, nil
}

// New makes a backend for the container and prefix of u. Nothing is sent.
func New(u *url.URL, scheme string, conn *ncw.Connection) (*Backend, error) {
	if u.Host == "" {
		return nil, backends.Permanent(fmt.Errorf("%s URL %q: no container (want %s://container[/prefix])", scheme, u.Redacted(), scheme))
	}
	b := &Backend{Conn: conn, Scheme: scheme, Container: u.Host}
	// Empty parts fold away, as in duplicity: //c//a/b/ is c, prefix a/b/.
	var parts []string
	for _, p := range strings.Split(u.Path, "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	if len(parts) > 0 {
		b.Prefix = strings.Join(parts, "/") + "/"
	}
	return b, nil
}

// String is scheme://container[/prefix]: no credentials are in it.
func (b *Backend) String() string {
	return b.Scheme + "://" + b.Container + strings.TrimSuffix("/"+b.Prefix, "/")
}

// Close releases idle connections.
func (b *Backend) Close() error {
	if t, ok := b.Conn.Transport.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
	}
	return nil
}

// EnsureContainer creates the container with the given headers when it is
// missing, and returns the headers of the existing one otherwise (nil when
// it was just created).
func (b *Backend) EnsureContainer(ctx context.Context, create ncw.Headers) (ncw.Headers, error) {
	_, h, err := b.Conn.Container(ctx, b.Container)
	if errors.Is(err, ncw.ContainerNotFound) {
		if err := b.Conn.ContainerCreate(ctx, b.Container, create); err != nil {
			return nil, fmt.Errorf("%s: create container %q: %w", b, b.Container, Classify(err))
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: container %q: %w", b, b.Container, Classify(err))
	}
	return h, nil
}

// Object is one listed object, with the extra fields a storage policy
// may add to the listing (OVH's policy_extra).
type Object struct {
	Name           string `json:"name"`
	Subdir         string `json:"subdir"`
	Bytes          int64  `json:"bytes"`
	Hash           string `json:"hash"`
	RetrievalState string `json:"policy_retrieval_state"`
	RetrievalDelay any    `json:"policy_retrieval_delay"`
}

// Walk lists the objects whose names start with the prefix followed by
// sub ("" for all of them), a page at a time (Swift caps a page; the
// marker pages on until a page is empty), calling fn with names without
// the prefix. Names with a further "/" are not this store's files and
// are skipped. extra adds query parameters, such as policy_extra for PCA.
// A missing container lists as empty.
func (b *Backend) Walk(ctx context.Context, sub string, extra url.Values, fn func(Object) error) error {
	marker := ""
	for {
		q := url.Values{"format": {"json"}}
		for k, v := range extra {
			q[k] = v
		}
		if p := b.Prefix + sub; p != "" {
			q.Set("prefix", p)
		}
		if marker != "" {
			q.Set("marker", marker)
		}
		var page []Object
		resp, hdr, err := b.Conn.Call(ctx, b.Conn.StorageUrl, ncw.RequestOpts{
			Container: b.Container, Operation: "GET", Parameters: q, ErrorMap: ncw.ContainerErrorMap,
		})
		if err == nil {
			err = decodeJSON(resp, &page)
		}
		if errors.Is(err, ncw.ContainerNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("list %s: %w", b, classify(hdr, err))
		}
		if len(page) == 0 {
			return nil
		}
		next := marker
		for _, o := range page {
			if o.Name == "" {
				next = max(next, o.Subdir) // a pseudo-directory entry
				continue
			}
			next = o.Name
			name, ok := strings.CutPrefix(o.Name, b.Prefix)
			if !ok || name == "" || strings.Contains(name, "/") {
				continue
			}
			o.Name = name
			if err := fn(o); err != nil {
				return err
			}
		}
		if next == marker {
			return fmt.Errorf("list %s: the listing does not advance past %q", b, marker)
		}
		marker = next
	}
}

// List returns the files under the prefix.
func (b *Backend) List(ctx context.Context) ([]backends.FileInfo, error) {
	var out []backends.FileInfo
	err := b.Walk(ctx, "", nil, func(o Object) error {
		out = append(out, backends.FileInfo{Name: o.Name, Size: o.Bytes})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ObjectName is the object holding file name: the prefix and the name. A
// name that is not a plain file name is refused, permanently.
func (b *Backend) ObjectName(name string) (string, error) {
	if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
		return "", backends.Permanent(fmt.Errorf("%s: invalid file name %q", b, name))
	}
	return b.Prefix + name, nil
}

// Open streams an object.
func (b *Backend) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return b.OpenFrom(ctx, name, 0, "")
}

// OpenFrom streams an object from byte offset on. With version (the
// Version of an earlier reader of it), an object replaced since is refused
// rather than spliced: the retry layer resumes a broken read with it.
func (b *Backend) OpenFrom(ctx context.Context, name string, offset int64, version string) (io.ReadCloser, error) {
	obj, err := b.ObjectName(name)
	if err != nil {
		return nil, err
	}
	h := ncw.Headers{}
	if offset > 0 {
		h["Range"] = "bytes=" + strconv.FormatInt(offset, 10) + "-"
	}
	if version != "" {
		h["If-Match"] = version
	}
	f, hdr, err := b.Conn.ObjectOpen(ctx, b.Container, obj, false, h)
	if err != nil {
		return nil, b.OpenError(name, hdr, err)
	}
	return &Reader{ReadCloser: f, etag: Header(hdr, "Etag")}, nil
}

// Reader is an object's body as Open returns it.
type Reader struct {
	io.ReadCloser
	etag string
}

// Version identifies the object's content (its ETag), for OpenFrom.
func (r *Reader) Version() string { return r.etag }

// OpenError describes a failed GET of name from its answer's headers:
// 404 wraps backends.ErrNotExist, a 429 with Retry-After is a
// *backends.RetryAfterError, 412 (replaced since) is permanent.
func (b *Backend) OpenError(name string, hdr ncw.Headers, err error) error {
	if errors.Is(err, ncw.ObjectNotFound) {
		return fmt.Errorf("%s: %s: %w", b, name, backends.ErrNotExist)
	}
	if IsStatus(err, http.StatusPreconditionFailed) {
		return backends.Permanent(fmt.Errorf("%s: get %s: the object was replaced while it was read", b, name))
	}
	return fmt.Errorf("%s: get %s: %w", b, name, classify(hdr, err))
}

// Save uploads size bytes from r, from its start, with the length
// declared so Swift checks it and the MD5 compared with the ETag Swift
// answers; nothing is held in memory. The body can be rewound, so a login
// expired mid-way (401) is renewed and the upload sent again.
func (b *Backend) Save(ctx context.Context, name string, r io.ReadSeeker, size int64) error {
	obj, err := b.ObjectName(name)
	if err != nil {
		return err
	}
	if size > MaxObject {
		return backends.Permanent(fmt.Errorf("save %s to %s: %d bytes is over Swift's 5 GiB object limit (use a smaller --volsize)", name, b, size))
	}
	if size < 0 {
		return backends.Permanent(fmt.Errorf("save %s to %s: size %d", name, b, size))
	}
	body := &uploadBody{ctx: ctx, r: r, size: size, md5: md5.New()}
	if _, err := body.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("save %s: rewind: %w", name, err)
	}
	h := ncw.Headers{"Content-Length": strconv.FormatInt(size, 10)}
	hdr, err := b.Conn.ObjectPut(ctx, b.Container, obj, body, false, "", "application/octet-stream", h)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("save %s to %s: %w", name, b, ctx.Err())
		}
		if body.srcErr != nil {
			// The source failed or fell short: sending it again would not help.
			return backends.Permanent(fmt.Errorf("save %s to %s: reading the source: %w", name, b, body.srcErr))
		}
		return fmt.Errorf("save %s to %s: %w", name, b, classify(hdr, err))
	}
	if body.n != size {
		return fmt.Errorf("save %s to %s: sent %d bytes, want %d", name, b, body.n, size)
	}
	if etag := strings.Trim(Header(hdr, "Etag"), `"`); etag != "" && !strings.EqualFold(etag, hex.EncodeToString(body.md5.Sum(nil))) {
		return fmt.Errorf("save %s to %s: Swift stored MD5 %s, not the MD5 of what was sent", name, b, etag)
	}
	return nil
}

// uploadBody is size bytes of r that stop on ctx, hash what they send, and
// rewind (ncw sends a body again after renewing a login).
type uploadBody struct {
	ctx     context.Context
	r       io.ReadSeeker
	size, n int64
	md5     hash.Hash
	srcErr  error // r failed, or ended before size
}

func (u *uploadBody) Read(p []byte) (int, error) {
	if err := u.ctx.Err(); err != nil {
		return 0, err
	}
	if u.n >= u.size {
		return 0, io.EOF
	}
	if int64(len(p)) > u.size-u.n {
		p = p[:u.size-u.n]
	}
	n, err := u.r.Read(p)
	u.n += int64(n)
	u.md5.Write(p[:n])
	if err == io.EOF && u.n < u.size {
		err = fmt.Errorf("%w: %d bytes of %d", io.ErrUnexpectedEOF, u.n, u.size)
	}
	if err != nil && err != io.EOF {
		u.srcErr = err
	}
	return n, err
}

// Seek rewinds; it only goes back to the start.
func (u *uploadBody) Seek(off int64, whence int) (int64, error) {
	if off != 0 || whence != io.SeekStart {
		return 0, errors.New("upload body: only a rewind is possible")
	}
	if _, err := u.r.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	u.n, u.srcErr = 0, nil
	u.md5.Reset()
	return 0, nil
}

// Delete removes an object.
func (b *Backend) Delete(ctx context.Context, name string) error {
	obj, err := b.ObjectName(name)
	if err != nil {
		return err
	}
	_, hdr, err := b.Conn.Call(ctx, b.Conn.StorageUrl, ncw.RequestOpts{
		Container: b.Container, ObjectName: obj, Operation: "DELETE", NoResponse: true,
	})
	if IsStatus(err, http.StatusNotFound) {
		return fmt.Errorf("%s: %s: %w", b, name, backends.ErrNotExist)
	}
	if err != nil {
		return fmt.Errorf("delete %s from %s: %w", name, b, classify(hdr, err))
	}
	return nil
}

// Classify marks the failures no retry can fix as permanent: client errors
// other than timeouts, conflicts and rate limits, and a refused login
// (ncw has already logged in again once). Server errors, resets and
// timeouts stay transient.
func Classify(err error) error { return classify(nil, err) }

// classify is Classify that also turns a rate limit whose answer carries
// Retry-After into a *backends.RetryAfterError.
func classify(hdr ncw.Headers, err error) error {
	var se *ncw.Error
	if errors.As(err, &se) {
		switch s := se.StatusCode; {
		case s == http.StatusTooManyRequests || s == 498:
			if after, ok := RetryAfter(hdr); ok {
				return &backends.RetryAfterError{After: after, Err: err}
			}
			return err
		case s == http.StatusRequestTimeout, s == http.StatusConflict:
			return err
		case s >= 400 && s < 500:
			return backends.Permanent(err)
		}
		return err
	}
	if errors.Is(err, ncw.AuthorizationFailed) || errors.Is(err, ncw.Forbidden) {
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

// IsStatus reports whether err is Swift's answer with the given status.
func IsStatus(err error, code int) bool {
	var se *ncw.Error
	return errors.As(err, &se) && se.StatusCode == code
}

// RetryAfter reads a Retry-After header: seconds, as Swift and OVH send
// it, or an HTTP date.
func RetryAfter(h ncw.Headers) (time.Duration, bool) {
	v := strings.TrimSpace(Header(h, "Retry-After"))
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 || n > 1<<31 {
			return 0, false
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0), true
	}
	return 0, false
}

// Header is h[name] whatever the case of the name.
func Header(h ncw.Headers, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}
