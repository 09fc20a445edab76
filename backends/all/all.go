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
)

// Factory opens a backend for a parsed URL, reading its settings from env.
type Factory func(ctx context.Context, u *url.URL, env backends.Env) (backends.Backend, error)

var registry = map[string]Factory{
	"file": file.Open,
}

// multi:// opens its stores through OpenEnv, so it is registered here
// rather than in the literal above (that would be an initialization cycle).
func init() {
	registry["multi"] = func(ctx context.Context, u *url.URL, env backends.Env) (backends.Backend, error) {
		return multi.Open(ctx, u, env, OpenEnv, nil)
	}
}

// Open parses rawURL and opens its backend, configured from the process
// environment. A URL without a scheme is a local path, as duplicity users
// sometimes type.
func Open(ctx context.Context, rawURL string) (backends.Backend, error) {
	return OpenEnv(ctx, rawURL, os.LookupEnv)
}

// OpenEnv is Open with the store's settings read from env.
func OpenEnv(ctx context.Context, rawURL string, env backends.Env) (backends.Backend, error) {
	if !strings.Contains(rawURL, "://") {
		rawURL = "file://" + rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("target URL %q: %w", rawURL, err)
	}
	f, ok := registry[u.Scheme]
	if !ok {
		return nil, fmt.Errorf("target URL %q: unsupported scheme %q (supported: %s)", Redact(rawURL), u.Scheme, strings.Join(Schemes(), ", "))
	}
	return f(ctx, u, env)
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
