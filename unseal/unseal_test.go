package unseal_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"dupfs/backends"
	"dupfs/backends/backendtest"
	"dupfs/backends/file"
	"dupfs/repo"
	"dupfs/restore"
	"dupfs/unseal"
	"dupfs/writer"
	"dupfs/writer/selection"
)

// backup writes a gzip full backup of a few incompressible files into a
// new target, in 1 MiB volumes, and returns the target dir.
func backup(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	base := t.TempDir()
	src, target, archive := filepath.Join(base, "src"), filepath.Join(base, "target"), filepath.Join(base, "archive")
	for _, d := range []string{src, target, archive} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []string{"a", "b", "c"} {
		data := make([]byte, 1<<20)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(src, n), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "small"), []byte("small"), 0o600); err != nil {
		t.Fatal(err)
	}
	sel, err := selection.New(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = writer.Backup(ctx, file.New(target), repo.Options{ArchiveDir: archive}, writer.Options{
		Source: sel.Walk(ctx), SourceDir: src, Hostname: "test", NoEncryption: true, VolSize: 1 << 20,
		Notice: func(string) {}, Warn: func(err error) { t.Log(err) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return target
}

// sealedRepo opens target through a fake cold store where everything is
// sealed, with an empty archive dir (so the manifests are needed too).
func sealedRepo(t *testing.T, target string, delay time.Duration) (*repo.Repo, *backendtest.Sealed) {
	t.Helper()
	s := backendtest.NewSealed(file.New(target), delay)
	if err := s.Seal(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(context.Background(), s, repo.Options{ArchiveDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return r, s
}

// A restore of everything from a sealed store: the manifest in one batch,
// then every volume in one batch, each waited for once; then it restores.
func TestPrepareBatches(t *testing.T) {
	ctx := context.Background()
	target := backup(t)
	r, s := sealedRepo(t, target, 300*time.Millisecond)
	cold, _ := backends.AsCold(r.Backend())
	var polls int
	start := time.Now()
	rep, err := unseal.Prepare(ctx, r, cold, time.Now(), "", 50*time.Millisecond, true, func(unseal.Report) { polls++ })
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Done() || len(rep.Files) < 4 {
		t.Fatalf("report %+v: want at least the manifest and 3 volumes, all readable", rep)
	}
	batches, asked, _ := s.Counts()
	// The manifest's own Open asked for it, then the volumes came in one batch.
	if batches > 2 {
		t.Errorf("%d unseal batches, want at most 2 (metadata, volumes)", batches)
	}
	for n, k := range asked {
		if k != 1 {
			t.Errorf("%s asked for %d times", n, k)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s for two rounds of 300ms", d)
	}
	if _, err := restore.Run(ctx, r, restore.Options{Time: time.Now(), Dest: filepath.Join(t.TempDir(), "out")}); err != nil {
		t.Fatalf("restore after the unseal: %v", err)
	}
}

// Without waiting, Prepare asks and returns the ETA; a dry check asks for
// nothing; a single path needs fewer volumes than the whole.
func TestRequestAndCheck(t *testing.T) {
	ctx := context.Background()
	target := backup(t)
	r, s := sealedRepo(t, target, time.Hour)
	cold, _ := backends.AsCold(r.Backend())
	files := unseal.Metadata(r)
	if len(files) == 0 {
		t.Fatal("an empty archive dir needs no metadata?")
	}
	rep, err := unseal.Check(ctx, cold, files)
	if err != nil || rep.Sealed != len(files) {
		t.Fatalf("Check = %+v, %v; want all sealed", rep, err)
	}
	if b, _, _ := s.Counts(); b != 0 {
		t.Fatal("Check asked for an unseal")
	}
	rep, err = unseal.Prepare(ctx, r, cold, time.Now(), "", time.Millisecond, false, nil)
	var se *backends.SealedError
	if !errors.As(err, &se) {
		t.Fatalf("no-wait with sealed manifests = %v, want a SealedError saying to come back", err)
	}
	if rep.Unsealing == 0 || rep.ETA.Before(time.Now().Add(50*time.Minute)) {
		t.Errorf("report %+v: want files unsealing, ready in about an hour", rep)
	}
	// Once the metadata is readable, one file needs one volume.
	s.Delay = 0
	r2, s2 := sealedRepo(t, target, 0)
	if _, err := unseal.Prepare(ctx, r2, s2, time.Now(), "", time.Millisecond, true, nil); err != nil {
		t.Fatal(err)
	}
	s2.Seal(ctx)
	all, err := unseal.Needed(ctx, r2, time.Now(), "")
	if err != nil {
		t.Fatal(err)
	}
	one, err := unseal.Needed(ctx, r2, time.Now(), "small")
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || len(all) < 3 {
		t.Errorf("small needs %v, everything %v; want one volume of several", one, all)
	}
}

// A cancelled wait ends at once and says how many files it waited for.
func TestWaitCancel(t *testing.T) {
	target := backup(t)
	r, s := sealedRepo(t, target, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := unseal.Wait(ctx, s, unseal.Metadata(r), 10*time.Millisecond, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait = %v, want the deadline", err)
	}
	_ = r
}

// Mixed states: only the sealed files are asked for, in one batch; files
// unsealing are not asked again; files the cold store does not hold count
// as readable. Wait polls until all are readable, with the counts, bytes
// and latest ETA in each report. Time is the fake's clock, moved by the
// progress callback: an hour's unseal in three polls.
func TestWaitMixedStates(t *testing.T) {
	ctx := context.Background()
	store := file.New(t.TempDir())
	sizes := map[string]int64{"hot": 10, "sealed1": 100, "sealed2": 1000, "unsealing": 10000}
	for n, size := range sizes {
		if err := store.Save(ctx, n, strings.NewReader(strings.Repeat("x", int(size))), size); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	s := backendtest.NewSealed(store, time.Hour)
	s.Now = func() time.Time { return now } // moved only by the callback, on this goroutine
	s.Seal(ctx, "sealed1", "sealed2", "unsealing")
	if _, err := s.Unseal(ctx, []string{"unsealing"}); err != nil { // asked earlier, by someone else
		t.Fatal(err)
	}
	now = now.Add(30 * time.Minute)
	var files []unseal.File
	for _, n := range []string{"hot", "sealed1", "sealed2", "unsealing", "elsewhere"} {
		files = append(files, unseal.File{Name: n, Size: sizes[n]})
	}

	rep, err := unseal.Check(ctx, s, files)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Ready != 2 || rep.Sealed != 2 || rep.Unsealing != 1 || rep.Bytes != 11110 || rep.ReadyBytes != 10 || rep.Done() {
		t.Fatalf("Check = %+v", rep)
	}
	if st := s.Stats(); st.Batches != 1 {
		t.Fatalf("Check asked for an unseal: %+v", st)
	}

	var reports []unseal.Report
	err = unseal.Wait(ctx, s, files, time.Millisecond, func(r unseal.Report) {
		reports = append(reports, r)
		now = now.Add(20 * time.Minute)
	})
	if err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Batches != 2 || st.Asked["sealed1"] != 1 || st.Asked["sealed2"] != 1 || st.Asked["unsealing"] != 1 {
		t.Errorf("stats %+v: want one more batch, for sealed1 and sealed2 only", st)
	}
	first := reports[0]
	wantETA := time.Date(2026, 11, 23, 1, 30, 0, 0, time.UTC) // asked at 00:30, an hour's delay
	if first.Requested != 2 || first.Sealed != 0 || first.Unsealing != 3 || !first.ETA.Equal(wantETA) {
		t.Errorf("first report %+v: want 2 asked for, 3 unsealing, ETA %v", first, wantETA)
	}
	// Asked at 00:30; polls at 00:50 (nothing new), 01:10 (the file asked
	// for at 00:00 is ready) and 01:30 (all ready).
	if n := len(reports); n != 4 {
		t.Errorf("%d reports, want 4 (the request, then 3 polls): %+v", n, reports)
	}
	last := reports[len(reports)-1]
	if !last.Done() || last.Ready != 5 || last.ReadyBytes != 11110 || !last.ETA.IsZero() {
		t.Errorf("last report %+v: want all 5 readable", last)
	}
	if mid := reports[2]; mid.Ready != 3 || mid.Unsealing != 2 {
		t.Errorf("report at 01:10 %+v: want the file asked for at 00:00 ready, two still unsealing", mid)
	}
	for i, f := range last.Files {
		if i > 0 && last.Files[i-1].Name >= f.Name {
			t.Errorf("files not sorted by name: %v", last.Files)
		}
	}
}

// A file sealed again while waiting is asked for again, in its own batch.
func TestWaitResealed(t *testing.T) {
	ctx := context.Background()
	store := file.New(t.TempDir())
	if err := store.Save(ctx, "v", strings.NewReader("v"), 1); err != nil {
		t.Fatal(err)
	}
	s := backendtest.NewSealed(store, 100*time.Millisecond)
	s.Seal(ctx)
	resealed := false
	err := unseal.Wait(ctx, s, []unseal.File{{Name: "v", Size: 1}}, 20*time.Millisecond, func(r unseal.Report) {
		if !resealed && r.Unsealing == 1 {
			resealed = true
			s.Reseal()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Batches != 2 || st.Asked["v"] != 2 {
		t.Errorf("stats %+v: want v asked for twice, in two batches", st)
	}
}

// A restore that skips the unseal fails on the first sealed volume, and
// says which and when it will be ready (what restore -> unseal first
// avoids).
func TestRestoreWithoutUnsealNamesTheVolume(t *testing.T) {
	ctx := context.Background()
	target := backup(t)
	r, s := sealedRepo(t, target, 0)
	// Unseal all (the manifests are then read into the archive dir) and
	// seal it all again: the volumes are cold, the metadata local.
	if _, err := unseal.Prepare(ctx, r, s, time.Now(), "", time.Millisecond, true, nil); err != nil {
		t.Fatal(err)
	}
	s.Reseal()
	s.Delay = time.Hour
	_, err := restore.Run(ctx, r, restore.Options{Time: time.Now(), Dest: filepath.Join(t.TempDir(), "out")})
	var se *backends.SealedError
	if !errors.As(err, &se) || !strings.Contains(se.Name, "difftar") {
		t.Fatalf("restore of sealed volumes: %v, want a SealedError naming a volume", err)
	}
	t.Log(err)
}
