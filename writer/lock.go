package writer

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrLocked reports that another backup holds the target's lock.
var ErrLocked = fmt.Errorf("another backup of this target is running")

// Lock takes the archive dir's lock file, the one duplicity locks (a POSIX
// record lock), so dupfs and duplicity runs on one target exclude each
// other. The holder's pid and host are written into it for the message
// the next run prints. The returned function releases the lock.
func Lock(archiveDir string) (func(), error) {
	path := filepath.Join(archiveDir, "lockfile")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	lk := unix.Flock_t{Type: unix.F_WRLCK, Whence: 0}
	if err := unix.FcntlFlock(f.Fd(), unix.F_SETLK, &lk); err != nil {
		holder := ""
		probe := unix.Flock_t{Type: unix.F_WRLCK}
		if unix.FcntlFlock(f.Fd(), unix.F_GETLK, &probe) == nil && probe.Type != unix.F_UNLCK {
			holder = fmt.Sprintf("pid %d", probe.Pid)
		}
		// The file's text names the holder only if it names the pid the
		// kernel reports: a killed dupfs leaves its line behind, and
		// duplicity, which may hold the lock now, writes none.
		if b, rerr := os.ReadFile(path); rerr == nil && len(b) > 0 {
			text := strings.TrimSpace(string(b))
			if holder == "" || probe.Pid <= 0 || strings.Contains(text+" ", holder+" ") {
				holder = text
			}
		}
		f.Close()
		if holder == "" {
			holder = "another process"
		}
		return nil, fmt.Errorf("%w: %s holds %s", ErrLocked, holder, path)
	}
	host, _ := os.Hostname()
	f.Truncate(0)
	fmt.Fprintf(f, "dupfs pid %d on %s\n", os.Getpid(), host)
	return func() {
		f.Truncate(0)
		f.Close()
	}, nil
}
