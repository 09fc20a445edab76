// Command dupfs reads, writes and mounts duplicity-format backups.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"dupfs/restore"
	"dupfs/verify"
	"dupfs/writer"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// Exit codes: one switch decides them (see exitCode).
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitPartial: the command finished, but some files were skipped; each
	// was named on stderr.
	exitPartial = 3
)

// usageError marks bad command-line input.
type usageError struct{ error }

func newApp() *cli.App {
	// -v is verbosity in every command, as in duplicity; keep it off --version.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Usage: "print the version"}
	return &cli.App{
		Name:    "dupfs",
		Usage:   "read, write and mount duplicity backups",
		Version: version,
		Description: "dupfs works on targets written by duplicity 0.8 (and by itself), in duplicity's format.\n" +
			"Passphrases come from the environment (PASSPHRASE), --passphrase-file or --passphrase-fd, never from the command line.",
		HideHelpCommand: true,
		Commands: append(backupCommands(),
			restoreCommand(),
			unsealCommand(),
			listCommand(),
			statusCommand(),
			mountCommand(),
			removeOlderThanCommand(), removeAllButNFullCommand(), removeAllIncOfButNFullCommand(), cleanupCommand(),
			verifyCommand(),
		),
		// Errors are printed once, by main, with the exit code chosen there.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

func main() {
	// Before anything can start a child process.
	takeEnvSecrets()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	app := newApp()
	err := app.RunContext(ctx, reorderArgs(app, os.Args))
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dupfs: %v\n", err)
	}
	os.Exit(exitCode(err))
}

func exitCode(err error) int {
	var usage usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &usage):
		return exitUsage
	case errors.Is(err, restore.ErrPartial), errors.Is(err, writer.ErrSourceErrors):
		return exitPartial
	case errors.Is(err, verify.ErrFailed):
		// Differences or damaged files, each reported on stdout.
		return exitFailure
	}
	return exitFailure
}
