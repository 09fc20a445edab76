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
}

// stores and tools are built per run because their paths live in the work dir.
func (b *bench) makeTools() []*tool {
	w := b.work
	dupCache := filepath.Join(w, "cache", "duplicity")
	dupURL := "file://" + filepath.Join(w, "repo-duplicity")
	dupOpts := []string{"--archive-dir", dupCache, "--name", "bench"}
	// Keep every tool's home-directory state inside the work dir.
	common := []string{"GNUPGHOME=" + filepath.Join(w, "gnupg"), "XDG_CACHE_HOME=" + filepath.Join(w, "cache", "xdg")}
	dupEnv := append(slices.Clone(common), "PASSPHRASE="+passphrase)
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
			argv := append([]string{"duplicity", kind, "--volsize", "200"}, dupOpts...)
			argv = append(argv, b.src, dupURL)
			return run(ctx, command{argv: argv, env: dupEnv}, b.setupLog)
		},
	}

	resticRepo := filepath.Join(w, "repo-restic")
	resticCache := filepath.Join(w, "cache", "restic")
	resticEnv := append(slices.Clone(common), "RESTIC_PASSWORD="+passphrase, "RESTIC_REPOSITORY="+resticRepo, "RESTIC_CACHE_DIR="+resticCache)
	restic := &store{
		name: "restic repository",
		bins: []string{"restic"},
		dir:  resticRepo,
		warm: []string{resticRepo, resticCache},
		backup: func(ctx context.Context, b *bench, state int) error {
			if state == 0 {
				if err := run(ctx, command{argv: []string{"restic", "init"}, env: resticEnv}, b.setupLog); err != nil {
					return err
				}
			}
			return run(ctx, command{argv: []string{"restic", "backup", "--host", "bench", b.src}, env: resticEnv}, b.setupLog)
		},
	}

	borgRepo := filepath.Join(w, "repo-borg")
	borgEnv := append(slices.Clone(common), "BORG_PASSPHRASE="+passphrase, "BORG_REPO="+borgRepo, "BORG_BASE_DIR="+filepath.Join(w, "cache", "borg"))
	borg := &store{
		name: "borg repository",
		bins: []string{"borg"},
		dir:  borgRepo,
		warm: []string{borgRepo},
		backup: func(ctx context.Context, b *bench, state int) error {
			if state == 0 {
				if err := run(ctx, command{argv: []string{"borg", "init", "-e", "repokey"}, env: borgEnv}, b.setupLog); err != nil {
					return err
				}
			}
			return run(ctx, command{argv: []string{"borg", "create", fmt.Sprintf("::s%d", state), b.src}, env: borgEnv}, b.setupLog)
		},
	}
	borgLatest := fmt.Sprintf("::s%d", rounds)
	// restic and borg keep absolute source paths (borg without the "/").
	srcInRestic := func(out string) string { return filepath.Join(out, b.src) }

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
		},
		{
			name:  "restic",
			bins:  restic.bins,
			store: restic,
			restoreAll: func(b *bench, out string) (command, string) {
				return command{argv: []string{"restic", "restore", "latest", "--host", "bench", "--target", out}, env: resticEnv}, srcInRestic(out)
			},
			restoreOne: func(b *bench, rel, out string) (command, string) {
				abs := filepath.Join(b.src, rel)
				return command{argv: []string{"restic", "restore", "latest", "--host", "bench", "--target", out, "--include", abs}, env: resticEnv}, filepath.Join(srcInRestic(out), rel)
			},
		},
		{
			name:  "borg",
			bins:  borg.bins,
			store: borg,
			restoreAll: func(b *bench, out string) (command, string) {
				return command{argv: []string{"borg", "extract", borgLatest}, dir: out, env: borgEnv}, srcInRestic(out)
			},
			restoreOne: func(b *bench, rel, out string) (command, string) {
				p := strings.TrimPrefix(filepath.Join(b.src, rel), "/")
				return command{argv: []string{"borg", "extract", borgLatest, p}, dir: out, env: borgEnv}, filepath.Join(out, p)
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
