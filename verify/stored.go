package verify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"dupfs/archive/collection"
	"dupfs/archive/crypt"
	"dupfs/archive/manifest"
	"dupfs/archive/names"
	"dupfs/archive/tarstream"
	"dupfs/backends"
	"dupfs/repo"
)

// StoredOptions say how Stored reads the target's files.
type StoredOptions struct {
	Prefixes names.Prefixes
	Short    bool
	Keys     crypt.Keys
	// Jobs is how many files are checked at once (default 2): each volume
	// is a download plus a decryption, and a couple keep 2 cores busy.
	Jobs int
	// Report receives each file's result: manifests first, then volumes
	// set by set, then signatures.
	Report func(Result)
}

// Result is one stored file checked: Err is nil when it is sound.
type Result struct {
	Name string
	Err  error
}

func (r Result) String() string {
	if r.Err == nil {
		return "ok " + r.Name
	}
	return "FAILED " + r.Name + ": " + r.Err.Error()
}

// StoredStats summarises a Stored check.
type StoredStats struct {
	Files, Failed int
}

// Stored checks every stored file of every set (all chains, and sets that
// fit none): each manifest and remote signature file must decrypt
// completely and parse, each volume the manifest lists must be present,
// match its hash, decrypt completely (OpenPGP integrity check, gzip CRC)
// and hold a tar that parses to its end. Everything is streamed. It returns
// an error wrapping ErrFailed when any file failed.
func Stored(ctx context.Context, r *repo.Repo, opts StoredOptions) (StoredStats, error) {
	var st StoredStats
	report := func(res Result) {
		st.Files++
		if res.Err != nil {
			st.Failed++
		}
		if opts.Report != nil {
			opts.Report(res)
		}
	}
	sets := storedSets(r)
	if len(sets) == 0 {
		return st, fmt.Errorf("no backup sets found at %s", r.Backend())
	}
	// Manifests first, one at a time: they are small, and the volume
	// checks need them.
	var jobs []job
	for _, set := range sets {
		var m *manifest.Manifest
		err := checkMeta(ctx, r.Backend(), set.Manifest, opts, func(rd io.Reader) (err error) {
			m, err = manifest.ParseWith(rd, nil)
			return err
		})
		if ctx.Err() != nil {
			return st, ctx.Err()
		}
		report(Result{set.Manifest, err})
		if err != nil {
			// The archive dir's copy can still vouch for the volumes.
			m, _ = r.Manifest(ctx, set)
		}
		jobs = append(jobs, volumeJobs(r, set, m)...)
	}
	for _, sc := range r.Collection.SigChains {
		if sc.Local {
			continue
		}
		for _, name := range sc.Files() {
			jobs = append(jobs, job{name, func(ctx context.Context) error {
				return checkMeta(ctx, r.Backend(), name, opts, parseTar)
			}})
		}
	}
	if err := runOrdered(ctx, jobs, opts.Jobs, report); err != nil {
		return st, err
	}
	if st.Failed > 0 {
		return st, fmt.Errorf("%d of %d stored files failed: %w", st.Failed, st.Files, ErrFailed)
	}
	return st, nil
}

// StoredFiles lists what Stored reads, for unsealing it first on cold
// storage.
func StoredFiles(r *repo.Repo) []string {
	var out []string
	for _, set := range storedSets(r) {
		out = append(out, set.Files()...)
	}
	for _, sc := range r.Collection.SigChains {
		if !sc.Local {
			out = append(out, sc.Files()...)
		}
	}
	return out
}

// storedSets are the sets with a manifest: every chain's, then those that
// fit no chain.
func storedSets(r *repo.Repo) []*collection.Set {
	var out []*collection.Set
	for _, ch := range r.Collection.Chains {
		out = append(out, ch.Sets()...)
	}
	for _, s := range r.Collection.OrphanSets {
		if s.Manifest != "" {
			out = append(out, s)
		}
	}
	return out
}

type job struct {
	name string
	run  func(context.Context) error
}

var (
	errNotListed = errors.New("not listed in its manifest")
	errMissing   = errors.New("missing from target")
)

// volumeJobs checks each volume m lists, and names those stored beyond
// it. Without a manifest no volume can be checked.
func volumeJobs(r *repo.Repo, set *collection.Set, m *manifest.Manifest) []job {
	var jobs []job
	listed := map[int]bool{}
	if m != nil {
		for _, v := range m.Volumes {
			listed[v.Number] = true
			name, _ := r.VolumeName(set, v.Number)
			jobs = append(jobs, job{name, func(ctx context.Context) error { return checkVolume(ctx, r, set, v) }})
		}
	}
	var extra []int
	for num := range set.Volumes {
		if !listed[num] {
			extra = append(extra, num)
		}
	}
	slices.Sort(extra)
	for _, num := range extra {
		err := errNotListed
		if m == nil {
			err = errors.New("cannot be checked: its manifest is unreadable")
		}
		jobs = append(jobs, job{set.Volumes[num], func(context.Context) error { return err }})
	}
	return jobs
}

// checkVolume reads a volume through: OpenVolume checks the hash, the tar
// is parsed to its end, and the rest of the stream drained so that the
// decryption's integrity check (or gzip's CRC) runs.
func checkVolume(ctx context.Context, r *repo.Repo, set *collection.Set, v manifest.Volume) error {
	rc, err := r.OpenVolume(ctx, set, v)
	if err != nil {
		return volumeCause(err)
	}
	defer rc.Close()
	if err := parseTar(rc); err != nil {
		return volumeCause(err)
	}
	if _, err := io.Copy(io.Discard, rc); err != nil {
		return volumeCause(err)
	}
	return nil
}

// volumeCause is the cause of a volume's failure without the volume's name,
// which the result line already gives.
func volumeCause(err error) error {
	var ve *repo.VolumeError
	if errors.As(err, &ve) {
		return ve.Err
	}
	return err
}

// checkMeta reads a manifest or signature file from the target (not the
// archive dir's copy), decrypting it and parsing it with parse, then
// drains it so the integrity check runs.
func checkMeta(ctx context.Context, b backends.Backend, name string, opts StoredOptions, parse func(io.Reader) error) error {
	n, ok := names.Parse(name, opts.Prefixes, opts.Short)
	if !ok {
		return errors.New("not a duplicity file name")
	}
	rc, err := b.Open(ctx, name)
	if errors.Is(err, backends.ErrNotExist) {
		return errMissing
	}
	if err != nil {
		return err
	}
	defer rc.Close()
	plain, err := crypt.Open(backends.ContextReader(ctx, rc), n.Encrypted, n.Compressed, opts.Keys)
	if err != nil {
		return describeCrypt(err, opts.Keys)
	}
	defer plain.Close()
	if err := parse(plain); err != nil {
		return describeCrypt(err, opts.Keys)
	}
	if _, err := io.Copy(io.Discard, plain); err != nil {
		return describeCrypt(err, opts.Keys)
	}
	return nil
}

// describeCrypt says what to do about a file that cannot be decrypted at
// all, as repo does for volumes.
func describeCrypt(err error, k crypt.Keys) error {
	switch {
	case errors.Is(err, crypt.ErrBadPassphrase) && len(k.Passphrase) == 0 && len(k.Secret) == 0:
		return fmt.Errorf("cannot decrypt: PASSPHRASE is not set: %w", err)
	case errors.Is(err, crypt.ErrNoSecretKey):
		return fmt.Errorf("cannot decrypt: no matching secret key (give --secret-key-file): %w", err)
	}
	return err
}

// parseTar reads a tar's members to its end.
func parseTar(rd io.Reader) error {
	tr := tarstream.NewReader(rd)
	for {
		_, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// runOrdered runs jobs, at most n at once, and reports their results in
// the jobs' order.
func runOrdered(ctx context.Context, jobs []job, n int, report func(Result)) error {
	if n <= 0 {
		n = 2
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]chan error, len(jobs))
	for i := range results {
		results[i] = make(chan error, 1)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	defer wg.Wait()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] <- jobs[i].run(ctx)
			}
		}()
	}
	go func() {
		defer close(next)
		for i := range jobs {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for i, j := range jobs {
		select {
		case err := <-results[i]:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			report(Result{j.name, err})
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
