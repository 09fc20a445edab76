package saio

import (
	"context"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/all"
	"dupfs/backends/retry"
)

// EnvOf turns KEY=VALUE lines (Env, PCAEnv) into a store's settings.
func EnvOf(lines []string) backends.Env {
	m := map[string]string{}
	for _, l := range lines {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// OpenBackend opens a dupfs target URL on this machine's test Swift with
// the settings in env and quick retries; it is closed at the end of the test.
func OpenBackend(t testing.TB, raw string, env []string, retries int) backends.Backend {
	t.Helper()
	b, err := all.OpenWith(context.Background(), raw, all.Options{Env: EnvOf(env), Retry: retry.Options{Retries: retries, Delay: 10 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}
