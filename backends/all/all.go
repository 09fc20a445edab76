// Package all opens a backend from a target URL, choosing the
// implementation by scheme. Every supported scheme is listed here, once.
package all

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sort"
	"strings"

	"dupfs/backends"
	"dupfs/backends/file"
	"dupfs/backends/multi"
	"dupfs/backends/pca"
	"dupfs/backends/retry"
	"dupfs/backends/swift"
)

// Factory opens a backend for a parsed URL, reading its settings from env.
type Factory func(ctx context.Context, u *url.URL, env backends.Env) (backends.Backend, error)

// entry is one scheme: how to open it, and whether it goes over a network
// (and so behind the retry layer).
type entry struct {
	open   Factory
	remote bool
}

var registry = map[string]entry{
	"file":  {open: file.Open},
	"swift": {open: swift.Open, remote: true},
	"pca":   {open: pca.Open, remote: true},
	// multi opens its stores through OpenWith: see there.
	"multi": {},
}

// Options are how a backend is opened.
type Options struct {
	// Env gives the stores' settings; nil means the process environment.
	Env backends.Env
	// Retry bounds the retries of network stores.
	Retry retry.Options
	// Warn hears of problems that do not stop the work (a mirror store
	// that failed with onfail=continue).
	Warn func(error)
}

// DefaultRetries is duplicity's --num-retries default, less the first try.
const DefaultRetries = 4

// Open parses rawURL and opens its backend with the default options and
// the process environment. A URL without a scheme is a local path, as
// duplicity users sometimes type.
func Open(ctx context.Context, rawURL string) (backends.Backend, error) {
	return OpenWith(ctx, rawURL, Options{Retry: retry.Options{Retries: DefaultRetries}})
}

// OpenWith is Open with options.
func OpenWith(ctx context.Context, rawURL string, o Options) (backends.Backend, error) {
	if o.Env == nil {
		o.Env = os.LookupEnv
	}
	if !strings.Contains(rawURL, "://") {
		rawURL = "file://" + rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("target URL %q: %w", Redact(rawURL), err)
	}
	e, ok := registry[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("target URL %q: unsupported scheme %q (supported: %s)", Redact(rawURL), u.Scheme, strings.Join(Schemes(), ", "))
	}
	if u.Scheme == "multi" {
		// Each store is opened as a target of its own, with its env.
		return multi.Open(ctx, u, o.Env, func(ctx context.Context, raw string, env backends.Env) (backends.Backend, error) {
			so := o
			so.Env = env
			return OpenWith(ctx, raw, so)
		}, o.Warn)
	}
	var b backends.Backend
	open := func() (err error) {
		b, err = e.open(ctx, u, o.Env)
		return err
	}
	if !e.remote {
		err = open()
	} else if err = retry.Do(ctx, o.Retry, "open "+Redact(rawURL), open); err == nil {
		// Network stores retry their opening (a login answered 503) and
		// every call after it.
		b = retry.New(b, o.Retry)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Schemes lists the supported URL schemes.
func Schemes() []string {
	s := make([]string, 0, len(registry))
	for k := range registry {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

// Redact removes a password from a URL for display.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return rawURL
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
