package main

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/urfave/cli/v2"

	"dupfs/archive/collection"
	"dupfs/backends"
	"dupfs/backends/all"
	"dupfs/cache"
	"dupfs/fusefs"
	"dupfs/points"
	"dupfs/repo"
	"dupfs/unseal"
)

// unsealChain brings every volume of a chain out of cold storage, for the
// one-time size index of sets duplicity wrote.
func unsealChain(c *cli.Context, r *repo.Repo, cold backends.Cold, ch *collection.Chain) error {
	files := unseal.Files(r, chainVolumes(ch))
	fmt.Fprintf(os.Stderr, "dupfs: the first mount of a chain duplicity wrote reads each of its %d volumes once, to learn file sizes; unsealing them\n", len(files))
	return waitUnsealed(c, cold, files)
}

// chainVolumes lists the volumes of every set of a chain.
func chainVolumes(ch *collection.Chain) []string {
	var out []string
	for _, set := range ch.Sets() {
		for _, name := range set.Volumes {
			out = append(out, name)
		}
	}
	return out
}

// allVolumes lists every volume of every chain.
func allVolumes(r *repo.Repo) []string {
	var out []string
	for _, ch := range r.Collection.Chains {
		out = append(out, chainVolumes(ch)...)
	}
	return out
}

func mountCommand() *cli.Command {
	return &cli.Command{
		Name:      "mount",
		Usage:     "mount every point in time of a backup, read-only, with FUSE",
		ArgsUsage: "URL MOUNTPOINT",
		Description: "The mount point holds one directory per backup (its time in UTC) and a \"latest\" symlink.\n" +
			"Listing never downloads a volume; reading a file fetches the volumes that hold it into the\n" +
			"cache. Runs in the foreground; Ctrl-C, SIGTERM or `fusermount3 -u MOUNTPOINT` unmounts.\n\n" +
			"On cold storage (pca://, or a multi:// with a pca:// store), listing never waits either. A\n" +
			"read of a file whose volumes are sealed asks for all of them in one batch, waits up to\n" +
			"--unseal-wait, then fails with EAGAIN (\"Resource temporarily unavailable\"): run the same\n" +
			"cp again once they are ready, or `dupfs unseal` first. `getfattr -n user.dupfs.state FILE`\n" +
			"says cached, ready, sealed or unsealing (with the ETA); MOUNTPOINT/.dupfs-status lists\n" +
			"the volumes being unsealed.",
		Flags: append(targetFlags(),
			&cli.StringFlag{Name: "cache-dir", Usage: "where fetched file data is kept (default ~/.cache/dupfs/<md5 of URL>)"},
			&cli.StringFlag{Name: "cache-size", Usage: "upper bound of the cache, e.g. 500M, 20G", Value: "2G"},
			&cli.BoolFlag{Name: "allow-other", Usage: "let other users use the mount (the kernel still checks the stored permissions)"},
			&cli.DurationFlag{Name: "unseal-wait", Usage: "cold storage: how long a read of a file whose volumes are sealed waits for them (after asking for all of them) before failing with EAGAIN; 0 fails at once", Value: 10 * time.Second},
			unsealPollFlag(),
		),
		Action: runMount,
	}
}

func runMount(c *cli.Context) error {
	if err := needArgs(c, 2, "URL MOUNTPOINT"); err != nil {
		return err
	}
	level, err := verbosity(c)
	if err != nil {
		return err
	}
	url, mnt := c.Args().Get(0), c.Args().Get(1)
	size, err := parseSize(c.String("cache-size"))
	if err != nil {
		return usageError{fmt.Errorf("--cache-size: %w", err)}
	}
	if fi, err := os.Stat(mnt); err != nil {
		return fmt.Errorf("mount point: %w", err)
	} else if !fi.IsDir() {
		return usageError{fmt.Errorf("mount point %s is not a directory", mnt)}
	}
	cacheDir := c.String("cache-dir")
	if cacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("cache dir: %w (give --cache-dir)", err)
		}
		sum := md5.Sum([]byte(url))
		cacheDir = filepath.Join(base, "dupfs", hex.EncodeToString(sum[:]))
	}
	archive, err := archiveDir(c, url)
	if err != nil {
		return err
	}
	if err := checkOverlap(mnt, url, cacheDir, archive); err != nil {
		return usageError{err}
	}
	r, err := openTarget(c.Context, c, url)
	if err != nil {
		return err
	}
	cold, isCold := backends.AsCold(r.Backend())
	if isCold {
		// Listing needs the manifests and signatures: unseal those the
		// archive dir lacks (a first mount on pure pca://), and wait.
		if err := waitUnsealed(c, cold, unseal.Metadata(r)); err != nil {
			return err
		}
	}
	pts := points.List(r.Collection)
	if len(pts) == 0 {
		return fmt.Errorf("%s holds no complete backup", all.Redact(url))
	}
	warnLooseDir(c, "cache dir", cacheDir, "dupfs makes it 0700 (it holds decrypted data)")
	vc, err := cache.Open(cacheDir, size)
	if err != nil {
		return err
	}
	defer vc.Close()

	src := points.NewSource(r, archive)
	prog := newProgress("indexing")
	src.Progress = func(set string, done, total int) { prog.update(done, 0) }
	// Load the newest point of each chain now: that reads every set's
	// metadata once, and builds the size index of sets duplicity wrote.
	for _, ch := range r.Collection.Chains {
		for _, p := range pts {
			if p.Chain == ch && p.Time.Equal(ch.End()) {
				_, err := src.Tree(c.Context, p)
				var se *backends.SealedError
				if isCold && errors.As(err, &se) {
					// A chain duplicity wrote: its size index is built
					// once from every volume, which must be unsealed.
					prog.done()
					err = unsealChain(c, r, cold, ch)
					if err == nil {
						_, err = src.Tree(c.Context, p)
					}
				}
				if err != nil {
					prog.done()
					return err
				}
			}
		}
	}
	prog.done()

	data := points.NewData(src, vc)
	data.OnFetch = func(volume string, err error) {
		switch {
		case err != nil:
			log.Printf("dupfs: fetch %s: %v", volume, err)
		case level >= levelInfo:
			log.Printf("dupfs: fetched %s (cache %s of %s)", volume, humanBytes(vc.Size()), humanBytes(size))
		}
	}
	fsys := fusefs.New(src, data, pts)
	if isCold {
		t := unseal.NewTracker(cold, c.Duration("unseal-poll"), log.Printf)
		defer t.Close()
		go func() {
			// What is sealed, learnt once in the background: the state
			// xattr answers from this, never from the network.
			if err := t.Learn(c.Context, allVolumes(r)); err != nil && c.Context.Err() == nil {
				log.Printf("dupfs: seal states: %v", err)
			}
		}()
		fsys.SetCold(&fusefs.Cold{Tracker: t, Wait: c.Duration("unseal-wait")})
	}
	long := time.Hour
	server, err := fs.Mount(mnt, fsys.Root(), &fs.Options{
		EntryTimeout:    &long,
		AttrTimeout:     &long,
		NegativeTimeout: &long,
		MountOptions: fuse.MountOptions{
			FsName:               all.Redact(url),
			Name:                 "dupfs",
			AllowOther:           c.Bool("allow-other"),
			Options:              []string{"ro", "default_permissions"},
			MaxReadAhead:         128 << 10,
			EnableSymlinkCaching: true,
		},
	})
	if err != nil {
		return fmt.Errorf("mount %s: %w", mnt, err)
	}
	fmt.Fprintf(os.Stderr, "dupfs: %s mounted on %s (%d points in time, latest %s)\n", all.Redact(url), mnt, len(pts), pts[len(pts)-1].Name())
	if isCold {
		fmt.Fprintf(os.Stderr, "dupfs: cold storage: reads of sealed files ask for their volumes, wait %s, then fail with EAGAIN; see %s\n", c.Duration("unseal-wait"), filepath.Join(mnt, fusefs.StatusFile))
	}
	fmt.Fprintf(os.Stderr, "dupfs: unmount with Ctrl-C or: fusermount3 -u %s\n", mnt)
	go func() {
		<-c.Context.Done()
		// A busy mount (a shell inside it, an open file) cannot be
		// unmounted: say so and keep trying rather than exit under it.
		for server.Unmount() != nil {
			fmt.Fprintf(os.Stderr, "dupfs: %s is busy; close what uses it (or: fusermount3 -uz %s)\n", mnt, mnt)
			time.Sleep(2 * time.Second)
		}
	}()
	server.Wait()
	return nil
}

// checkOverlap refuses a mount point inside the target or the caches, or
// above them: the mount would then read itself and deadlock.
func checkOverlap(mnt, url string, dirs ...string) error {
	abs, err := filepath.Abs(mnt)
	if err != nil {
		return err
	}
	if p, ok := strings.CutPrefix(url, "file://"); ok {
		dirs = append(dirs, p)
	}
	for _, d := range dirs {
		d, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		if within(abs, d) || within(d, abs) {
			return fmt.Errorf("mount point %s overlaps %s", mnt, d)
		}
	}
	return nil
}

func within(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+string(filepath.Separator))
}

// parseSize reads sizes such as 500M, 20G, 1T or plain bytes (binary units).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"T", 1 << 40}} {
		if t, ok := strings.CutSuffix(strings.TrimSuffix(s, "B"), u.suffix); ok {
			s, mult = t, u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n <= 0 {
		return 0, errors.New("want a size such as 500M or 20G")
	}
	return n * mult, nil
}
