package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"dupfs/backends"
)

// flaky fails List with the errors it is given, in order, then succeeds.
type flaky struct {
	backends.Backend
	errs  []error
	calls int
}

func (f *flaky) List(context.Context) ([]backends.FileInfo, error) {
	f.calls++
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return nil, err
	}
	return nil, nil
}

func (f *flaky) Open(context.Context, string) (io.ReadCloser, error) { return nil, nil }

func TestRetry(t *testing.T) {
	transient := errors.New("503 Service Unavailable")
	for _, tc := range []struct {
		name    string
		errs    []error
		retries int
		calls   int
		fail    bool
	}{
		{"transient then fine", []error{transient, transient}, 3, 3, false},
		{"past the bound", []error{transient, transient, transient}, 1, 2, true},
		{"no retries", []error{transient}, 0, 1, true},
		{"missing file is final", []error{fmt.Errorf("x: %w", backends.ErrNotExist)}, 3, 1, true},
		{"sealed is final", []error{&backends.SealedError{Name: "v"}}, 3, 1, true},
		{"permanent is final", []error{backends.Permanent(errors.New("403"))}, 3, 1, true},
		{"rate limit waits its time", []error{&backends.RetryAfterError{After: 20 * time.Millisecond, Err: transient}}, 1, 2, false},
		{"rate limit of an hour is an outage", []error{&backends.RetryAfterError{After: time.Hour, Err: transient}}, 3, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &flaky{errs: tc.errs}
			var reports int
			b := New(f, Options{Retries: tc.retries, Delay: time.Millisecond, Report: func(string, int, time.Duration, error) { reports++ }})
			_, err := b.List(context.Background())
			if (err != nil) != tc.fail || f.calls != tc.calls {
				t.Fatalf("err %v after %d calls; want failure %v after %d", err, f.calls, tc.fail, tc.calls)
			}
			if reports != tc.calls-1 {
				t.Errorf("%d retries reported, want %d", reports, tc.calls-1)
			}
		})
	}
}

// A cancelled context ends the wait between attempts at once.
func TestRetryCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &flaky{errs: []error{errors.New("reset"), errors.New("reset")}}
	b := New(f, Options{Retries: 5, Delay: time.Hour, Report: func(string, int, time.Duration, error) { cancel() }})
	start := time.Now()
	if _, err := b.List(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("List = %v, want cancelled", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Error("the wait ignored the cancel")
	}
	if _, ok := backends.AsCold(b); ok {
		t.Error("AsCold found a tier in a plain store")
	}
}
