package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The passphrase every repository is encrypted with.
const passphrase = "dupfs-bench-passphrase"

// store is a backup repository built during setup (not measured): each
// state of the corpus is backed up into it in turn.
type store struct {
	name   string
	bins   []string // programs the store needs
	dir    string   // the repository itself: "stored" bytes
	warm   []string // read before each measurement: dir plus local caches
	backup func(ctx context.Context, b *bench, state int) error
}

// tool is one program under test, reading one store.
type tool struct {
	name  string
	bins  []string
	store *store
	// restoreAll restores the latest point into out; it returns the
	// command and where the restored corpus root lands.
	restoreAll func(b *bench, out string) (command, string)
	// restoreOne restores corpus file rel into out; it returns the command
	// and the path the file lands at.
	restoreOne func(b *bench, rel, out string) (command, string)
	// init makes the empty repository a first backup needs (not measured);
	// nil when the backup itself creates it.
	init func() command
	// backup backs the place's source up: kind is "full" or "incremental".
	backup func(kind string) command
	// mount serves the latest point at mnt in the foreground, keeping its
	// own state under dir; it returns the command and where the corpus
	// root appears in the mount. nil: the tool has no mount.
	mount func(ctx context.Context, b *bench, dir, mnt string) (command, string, error)
}

// place is where one set of repositories lives and which tree they hold.
type place struct {
	dir string // repositories and local caches live here
	src string // the tree backed up
	// borgArchive is the borg archive restores read.
	borgArchive string
}

// makeTools are the tools reading the stores setup builds of the corpus.
func (b *bench) makeTools() []*tool {
	return b.toolsAt(place{dir: b.work, src: b.src, borgArchive: fmt.Sprintf("::s%d", rounds)})
}

// toolsAt builds the stores and tools of one place; their paths live in
// the work dir, so they are built per run.
func (b *bench) toolsAt(pl place) []*tool {
	w := pl.dir
	dupCache := filepath.Join(w, "cache", "duplicity")
	dupURL := "file://" + filepath.Join(w, "repo-duplicity")
	dupOpts := []string{"--archive-dir", dupCache, "--name", "bench"}
	// Keep every tool's home-directory state inside the work dir; one gpg
	// home for all places, so one agent to stop at the end.
	common := []string{"GNUPGHOME=" + filepath.Join(b.work, "gnupg"), "XDG_CACHE_HOME=" + filepath.Join(w, "cache", "xdg")}
	dupEnv := append(slices.Clone(common), "PASSPHRASE="+passphrase)
	dupBackup := func(prog string) func(kind string) command {
		return func(kind string) command {
			argv := append([]string{prog, kind, "--volsize", "200"}, dupOpts...)
			return command{argv: append(argv, pl.src, dupURL), env: dupEnv}
		}
	}
	duplicityChain := &store{
		name: "duplicity chain",
		bins: []string{"duplicity", "gpg"},
		dir:  filepath.Join(w, "repo-duplicity"),
		warm: []string{filepath.Join(w, "repo-duplicity"), dupCache},
		backup: func(ctx context.Context, b *bench, state int) error {
			kind := "incremental"
			if state == 0 {
				kind = "full"
			}
			// Set names carry whole seconds: never start two in one second.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			return run(ctx, dupBackup("duplicity")(kind), b.setupLog)
		},
	}

	resticRepo := filepath.Join(w, "repo-restic")
	resticCache := filepath.Join(w, "cache", "restic")
	resticEnv := append(slices.Clone(common), "RESTIC_PASSWORD="+passphrase, "RESTIC_REPOSITORY="+resticRepo, "RESTIC_CACHE_DIR="+resticCache)
	resticInit := func() command { return command{argv: []string{"restic", "init"}, env: resticEnv} }
	// restic finds the parent snapshot by host and paths, so the same
	// command makes the first and every later backup.
	resticBackup := func(string) command {
		return command{argv: []string{"restic", "backup", "--host", "bench", pl.src}, env: resticEnv}
	}
	restic := &store{
		name: "restic repository",
		bins: []string{"restic"},
		dir:  resticRepo,
		warm: []string{resticRepo, resticCache},
		backup: func(ctx context.Context, b *bench, state int) error {
			if state == 0 {
				if err := run(ctx, resticInit(), b.setupLog); err != nil {
					return err
				}
			}
			return run(ctx, resticBackup(""), b.setupLog)
		},
	}

	borgRepo := filepath.Join(w, "repo-borg")
	borgBase := filepath.Join(w, "cache", "borg")
	borgEnv := append(slices.Clone(common), "BORG_PASSPHRASE="+passphrase, "BORG_REPO="+borgRepo, "BORG_BASE_DIR="+borgBase)
	borgInit := func() command { return command{argv: []string{"borg", "init", "-e", "repokey"}, env: borgEnv} }
	borgCreate := func(archive string) command {
		return command{argv: []string{"borg", "create", archive, pl.src}, env: borgEnv}
	}
	borg := &store{
		name: "borg repository",
		bins: []string{"borg"},
		dir:  borgRepo,
		// The files cache decides what an incremental reads again.
		warm: []string{borgRepo, borgBase},
		backup: func(ctx context.Context, b *bench, state int) error {
			if state == 0 {
				if err := run(ctx, borgInit(), b.setupLog); err != nil {
					return err
				}
			}
			return run(ctx, borgCreate(fmt.Sprintf("::s%d", state)), b.setupLog)
		},
	}
	// restic and borg keep absolute source paths (borg without the "/").
	srcInRestic := func(out string) string { return filepath.Join(out, pl.src) }

	return []*tool{
		{
			name:  "dupfs",
			bins:  nil, // b.dupfs, checked when built
			store: duplicityChain,
			restoreAll: func(b *bench, out string) (command, string) {
				argv := append([]string{b.dupfs, "restore"}, dupOpts...)
				return command{argv: append(argv, dupURL, out), env: dupEnv}, out
			},
			restoreOne: func(b *bench, rel, out string) (command, string) {
				argv := append([]string{b.dupfs, "restore", "--path", rel}, dupOpts...)
				return command{argv: append(argv, dupURL, out), env: dupEnv}, out
			},
			// b.dupfs is known only once the tools are chosen.
			backup: func(kind string) command { return dupBackup(b.dupfs)(kind) },
			mount: func(ctx context.Context, b *bench, dir, mnt string) (command, string, error) {
				// A copy of the archive dir, so the index the first mount
				// builds lands in neither duplicity's nor the restores' way.
				archive := filepath.Join(dir, "archive")
				if _, err := os.Stat(archive); err != nil {
					if err := run(ctx, command{argv: []string{"cp", "-a", dupCache, archive}}, b.setupLog); err != nil {
						return command{}, "", err
					}
				}
				argv := []string{b.dupfs, "mount", "-v", "info", "--archive-dir", archive, "--name", "bench",
					"--cache-dir", filepath.Join(dir, "cache"), dupURL, mnt}
				return command{argv: argv, env: dupEnv}, filepath.Join(mnt, "latest"), nil
			},
		},
		{
			name:  "duplicity",
			bins:  duplicityChain.bins,
			store: duplicityChain,
			restoreAll: func(b *bench, out string) (command, string) {
				argv := append([]string{"duplicity", "restore"}, dupOpts...)
				return command{argv: append(argv, dupURL, out), env: dupEnv}, out
			},
			restoreOne: func(b *bench, rel, out string) (command, string) {
				argv := append([]string{"duplicity", "restore", "--file-to-restore", rel}, dupOpts...)
				return command{argv: append(argv, dupURL, out), env: dupEnv}, out
			},
			backup: dupBackup("duplicity"),
		},
		{
			name:  "restic",
			bins:  restic.bins,
			store: restic,
			restoreAll: func(b *bench, out string) (command, string) {
				return command{argv: []string{"restic", "restore", "latest", "--host", "bench", "--target", out}, env: resticEnv}, srcInRestic(out)
			},
			restoreOne: func(b *bench, rel, out string) (command, string) {
				abs := filepath.Join(pl.src, rel)
				return command{argv: []string{"restic", "restore", "latest", "--host", "bench", "--target", out, "--include", abs}, env: resticEnv}, filepath.Join(srcInRestic(out), rel)
			},
			init:   resticInit,
			backup: resticBackup,
			mount: func(_ context.Context, _ *bench, _, mnt string) (command, string, error) {
				return command{argv: []string{"restic", "mount", "--host", "bench", mnt}, env: resticEnv}, filepath.Join(mnt, "snapshots", "latest", pl.src), nil
			},
		},
		{
			name:  "borg",
			bins:  borg.bins,
			store: borg,
			restoreAll: func(b *bench, out string) (command, string) {
				return command{argv: []string{"borg", "extract", pl.borgArchive}, dir: out, env: borgEnv}, srcInRestic(out)
			},
			restoreOne: func(b *bench, rel, out string) (command, string) {
				p := strings.TrimPrefix(filepath.Join(pl.src, rel), "/")
				return command{argv: []string{"borg", "extract", pl.borgArchive, p}, dir: out, env: borgEnv}, filepath.Join(out, p)
			},
			init: borgInit,
			backup: func(kind string) command {
				return borgCreate("::" + kind)
			},
			// -f: in the foreground, so the harness owns the server.
			mount: func(_ context.Context, _ *bench, _, mnt string) (command, string, error) {
				return command{argv: []string{"borg", "mount", "-f", pl.borgArchive, mnt}, env: borgEnv}, filepath.Join(mnt, pl.src), nil
			},
		},
	}
}

// missing names the first of bins not on PATH ("" if all are there).
func missing(bins []string) string {
	for _, bin := range bins {
		if _, err := exec.LookPath(bin); err != nil {
			return bin
		}
	}
	return ""
}

// buildDupfs builds ./cmd/dupfs of the module the harness runs in.
func buildDupfs(ctx context.Context, out string) error {
	gomod, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(gomod))
	if mod == "" || mod == os.DevNull {
		return fmt.Errorf("not inside the dupfs module; run from the repository or pass -dupfs")
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/dupfs")
	cmd.Dir = filepath.Dir(mod)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/dupfs: %w\n%s", err, strings.TrimSpace(string(msg)))
	}
	return nil
}
