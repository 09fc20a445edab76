package swift_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/all"
	"dupfs/backends/backendtest"
	"dupfs/backends/retry"
	"dupfs/backends/swift"
	"dupfs/integration/saio"
)

func TestMain(m *testing.M) { saio.Main(m) }

func names(t *testing.T, b backends.Backend) []string {
	t.Helper()
	l, err := b.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range l {
		out = append(out, f.Name)
	}
	sort.Strings(out)
	return out
}

// Save, list (paged two by two, under a prefix), read back, replace and
// delete, on a real Swift; files outside the prefix are not ours.
func TestSwiftStore(t *testing.T) {
	ctx := context.Background()
	srv := saio.Start(t, saio.Options{ListingLimit: 2})
	c := saio.ContainerName(t)
	other := saio.OpenBackend(t, "swift://"+c, srv.Env(), 0)
	if err := other.Save(ctx, "outside", bytes.NewReader([]byte("x")), 1); err != nil {
		t.Fatal(err)
	}
	b := saio.OpenBackend(t, "swift://"+c+"/some/dir", srv.Env(), 0)
	if got := names(t, b); len(got) != 0 {
		t.Fatalf("new prefix lists %v", got)
	}
	want := []string{"a b", "duplicity-full.20261122T100000Z.vol1.difftar.gpg", "x1", "x2", "é"}
	for i, n := range want {
		data := bytes.Repeat([]byte{byte(i)}, 1000*i+1)
		if err := b.Save(ctx, n, bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, b); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("List = %q, want %q", got, want)
	}
	big := bytes.Repeat([]byte("0123456789"), 300_000)
	if err := b.Save(ctx, "x1", bytes.NewReader(big), int64(len(big))); err != nil {
		t.Fatal(err)
	}
	rc, err := b.Open(ctx, "x1")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("read back %d bytes, %v; want %d", len(got), err, len(big))
	}
	if _, err := b.Open(ctx, "missing"); !errors.Is(err, backends.ErrNotExist) {
		t.Errorf("Open(missing) = %v, want ErrNotExist", err)
	}
	if err := b.Delete(ctx, "x2"); err != nil {
		t.Fatal(err)
	}
	if err := b.Delete(ctx, "x2"); !errors.Is(err, backends.ErrNotExist) {
		t.Errorf("second Delete = %v, want ErrNotExist", err)
	}
	if got := names(t, other); strings.Join(got, "|") != "outside" {
		t.Errorf("container root lists %q, want only outside", got)
	}
	if _, ok := backends.AsCold(b); ok {
		t.Error("swift:// claims a cold tier")
	}
}

// A missing variable is named; a wrong password is refused, not retried.
func TestSwiftConfigErrors(t *testing.T) {
	srv := saio.Start(t, saio.Options{})
	_, err := all.OpenWith(context.Background(), "swift://c", all.Options{Env: saio.EnvOf(nil)})
	if err == nil || !strings.Contains(err.Error(), "SWIFT_USERNAME") {
		t.Errorf("no variables: %v", err)
	}
	env := append(srv.Env(), "SWIFT_PASSWORD=wrong")
	start := time.Now()
	_, err = all.OpenWith(context.Background(), "swift://c", all.Options{Env: saio.EnvOf(env), Retry: retry.Options{Retries: 3, Delay: time.Second}})
	if err == nil {
		t.Fatal("wrong password accepted")
	}
	if time.Since(start) > 3*time.Second {
		t.Errorf("a refused login took %s: retried?", time.Since(start))
	}
}

// 503s and connection resets are retried until the bound; past it the
// error names the file.
func TestSwiftRetries(t *testing.T) {
	ctx := context.Background()
	srv := saio.Start(t, saio.Options{})
	p := srv.SealProxy(t, time.Second)
	c := saio.ContainerName(t)
	b := saio.OpenBackend(t, "swift://"+c, p.Env(), 3)
	if err := b.Save(ctx, "f", bytes.NewReader([]byte("data")), 4); err != nil {
		t.Fatal(err)
	}
	path := "/v1/" + saio.Account + "/" + c + "/f"
	p.InjectFault(saio.Fault{Method: "PUT", PathPrefix: path, Count: 1, Status: 503})
	p.InjectFault(saio.Fault{Method: "PUT", PathPrefix: path, Count: 1, Reset: true})
	if err := b.Save(ctx, "f", bytes.NewReader([]byte("data2")), 5); err != nil {
		t.Fatalf("Save through a 503 and a reset: %v", err)
	}
	p.InjectFault(saio.Fault{Method: "GET", PathPrefix: path, Count: 2, Status: 500})
	rc, err := b.Open(ctx, "f")
	if err != nil {
		t.Fatalf("Open through two 500s: %v", err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "data2" {
		t.Fatalf("read %q", got)
	}
	p.InjectFault(saio.Fault{Method: "GET", PathPrefix: "/v1/" + saio.Account + "/" + c, Count: 3, Status: 500})
	if _, err := b.List(ctx); err != nil {
		t.Fatalf("List through three 500s: %v", err)
	}
	p.InjectFault(saio.Fault{Method: "GET", PathPrefix: path, Count: 10, Status: 503})
	_, err = b.Open(ctx, "f")
	if err == nil || !strings.Contains(err.Error(), "f") || !strings.Contains(err.Error(), "4 attempts") {
		t.Errorf("Open past the bound = %v, want the file named and 4 attempts", err)
	}
	p.ClearFaults()
	if st := p.Stats(); st.Faults < 8 {
		t.Errorf("%d faults answered, want at least 8", st.Faults)
	}
}

// The conformance suite on a real Swift with listings paged two by two,
// through the registry (so behind the retry layer), each store under its
// own prefix.
func TestSuiteRealSwift(t *testing.T) {
	srv := saio.Start(t, saio.Options{ListingLimit: 2})
	c := saio.ContainerName(t)
	n := 0
	backendtest.RunSuite(t, func() backends.Backend {
		n++
		b, err := all.OpenWith(context.Background(), fmt.Sprintf("swift://%s/run%d", c, n), all.Options{Env: saio.EnvOf(srv.Env())})
		if err != nil {
			t.Fatal(err)
		}
		return b
	})
}

// A read resumed after the object was replaced is refused, not spliced;
// one resumed on the same object goes on from its offset.
func TestResumeChecksVersion(t *testing.T) {
	ctx := context.Background()
	srv := saio.Start(t, saio.Options{})
	c := saio.ContainerName(t)
	b := saio.OpenBackend(t, "swift://"+c, srv.Env(), 0)
	if err := b.Save(ctx, "f", strings.NewReader("first version"), 13); err != nil {
		t.Fatal(err)
	}
	raw := b.(backends.Unwrapper).Unwrap().(*swift.Backend)
	rc, err := raw.Open(ctx, "f")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	v := rc.(interface{ Version() string }).Version()
	if v == "" {
		t.Fatal("no version (ETag)")
	}
	rc, err = raw.OpenFrom(ctx, "f", 6, v)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "version" {
		t.Errorf("read from 6: %q", got)
	}
	if err := b.Save(ctx, "f", strings.NewReader("second version"), 14); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.OpenFrom(ctx, "f", 6, v); err == nil || !backends.IsPermanent(err) {
		t.Errorf("resume on a replaced object = %v, want a permanent refusal", err)
	}
}
