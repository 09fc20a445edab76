package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// command is one external program run: what to run, where, with which
// extra environment (added to the harness's own).
type command struct {
	argv []string
	dir  string
	env  []string
}

func (c command) String() string {
	var b strings.Builder
	for _, e := range c.env {
		if strings.Contains(e, "PASS") {
			continue // keep secrets out of logs
		}
		b.WriteString(e + " ")
	}
	if c.dir != "" {
		b.WriteString("(cd " + c.dir + ") ")
	}
	b.WriteString(strings.Join(c.argv, " "))
	return b.String()
}

// usage is what one measured command cost.
type usage struct {
	wall time.Duration
	cpu  time.Duration // user + system, the command and all its descendants
	rss  int64         // peak resident set, bytes
}

// sampleEvery is how often the process tree's resident memory is summed.
const sampleEvery = 50 * time.Millisecond

// wrapperEnv, when set, makes the harness binary act as the wrapper: run
// its arguments as a command and write that command's rusage to the file
// the variable names.
const wrapperEnv = "DUPFS_BENCH_RUSAGE"

// measure runs c to completion, its output going to logPath.
//
// CPU time and the per-process peak come from the rusage the kernel hands
// back with wait4. On Linux that covers the child plus every descendant it
// waited for (getrusage RUSAGE_BOTH of the zombie): utime/stime are sums,
// maxrss is the largest single process. So duplicity's gpg children are
// counted. A daemon that detaches (gpg-agent) is not, being no descendant.
//
// The command is not started from the harness directly: at exec, Linux
// folds the high-water RSS of the image being replaced into the new
// program's maxrss, and Go starts children with vfork semantics, so a
// child's maxrss would be at least the harness's own peak (golang/go#32054).
// Instead the harness re-executes itself as a small wrapper (wrapperEnv)
// that starts the command and reports its rusage; the floor that leaves is
// the fresh wrapper's few MiB, and its start adds a few ms to the wall time.
//
// maxrss misses processes resident at the same time (duplicity's python next
// to its gpg), so the summed RSS of the command's process tree is also
// sampled from /proc every sampleEvery; the peak is the larger of the two.
func measure(ctx context.Context, c command, logPath string, timeout time.Duration) (usage, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return usage{}, fmt.Errorf("log %s: %w", logPath, err)
	}
	defer log.Close()
	fmt.Fprintf(log, "$ %s\n", c)
	self, err := os.Executable()
	if err != nil {
		return usage{}, fmt.Errorf("find the harness binary: %w", err)
	}
	rusageFile := logPath + ".rusage"
	defer os.Remove(rusageFile)

	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, self, c.argv...)
	cmd.Dir = c.dir
	cmd.Env = append(append(os.Environ(), c.env...), wrapperEnv+"="+rusageFile)
	cmd.Stdout = log
	cmd.Stderr = log
	// Own process group, so a timeout ends the command's children too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return usage{}, fmt.Errorf("start %s: %w", c.argv[0], err)
	}
	stop := make(chan struct{})
	var treePeak int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(sampleEvery)
		defer tick.Stop()
		for {
			var r int64
			for _, kid := range childPIDs(cmd.Process.Pid) { // the wrapper itself is not counted
				r += treeRSS(kid)
			}
			treePeak = max(treePeak, r)
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	waitErr := cmd.Wait()
	wall := time.Since(start)
	close(stop)
	wg.Wait()

	u := usage{wall: wall, rss: treePeak}
	if waitErr != nil {
		if ctx.Err() != nil {
			return u, fmt.Errorf("%s: timed out after %s (log %s)", c.argv[0], timeout, logPath)
		}
		return u, fmt.Errorf("%s: %w (log %s)%s", c.argv[0], waitErr, logPath, logTail(logPath))
	}
	var ru wrapperReport
	data, err := os.ReadFile(rusageFile)
	if err == nil {
		err = json.Unmarshal(data, &ru)
	}
	if err != nil {
		return u, fmt.Errorf("%s: no rusage from the wrapper: %w", c.argv[0], err)
	}
	u.cpu = time.Duration(ru.UserNS + ru.SysNS)
	u.rss = max(u.rss, ru.MaxRSSKiB*1024)
	return u, nil
}

// wrapperReport is what the wrapper tells the harness.
type wrapperReport struct {
	UserNS, SysNS int64
	MaxRSSKiB     int64
}

// runWrapper is the wrapper's whole job (see measure). It returns the
// exit status for the wrapper process: the command's own.
func runWrapper(report string, argv []string) int {
	os.Unsetenv(wrapperEnv)
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "bench wrapper: no command")
		return 1
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "bench wrapper:", err)
		return 1
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		fmt.Fprintln(os.Stderr, "bench wrapper: no rusage on this system")
		return 1
	}
	data, err := json.Marshal(wrapperReport{
		UserNS:    ru.Utime.Nano(),
		SysNS:     ru.Stime.Nano(),
		MaxRSSKiB: ru.Maxrss, // Linux reports KiB
	})
	if err == nil {
		err = os.WriteFile(report, data, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench wrapper:", err)
		return 1
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		return max(code, 1) // killed by a signal: -1
	}
	return 0
}

// run runs an unmeasured setup command, output to logPath (appended).
func run(ctx context.Context, c command, logPath string) error {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("log %s: %w", logPath, err)
	}
	defer log.Close()
	fmt.Fprintf(log, "$ %s\n", c)
	cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), c.env...)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w (log %s)%s", strings.Join(c.argv[:min(2, len(c.argv))], " "), err, logPath, logTail(logPath))
	}
	return nil
}

// logTail returns the last lines of a log, for error messages.
func logTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 8 {
		lines = lines[len(lines)-8:]
	}
	return "\n    " + strings.Join(lines, "\n    ")
}

// treeRSS sums the resident memory of pid and its descendants, 0 if the
// process is gone. Errors are ignored: processes come and go while we look.
func treeRSS(pid int) int64 {
	var total int64
	seen := map[int]bool{}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		total += processRSS(p)
		queue = append(queue, childPIDs(p)...)
	}
	return total
}

var pageSize = int64(os.Getpagesize())

func processRSS(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * pageSize
}

// childPIDs lists pid's children; each thread lists the children it forked.
func childPIDs(pid int) []int {
	tasks, err := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/children")
	if err != nil {
		return nil
	}
	var kids []int
	for _, t := range tasks {
		data, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(data)) {
			if k, err := strconv.Atoi(f); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}
