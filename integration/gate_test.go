package integration

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openGate stops another process inside open(2) of a file in one
// directory, using fanotify permission events: the kernel keeps the opener
// waiting until the gate answers. A test can thus freeze a backup at an
// exact point of its work (a checkpoint of the partial manifest, the
// opening of the final manifest), look at what is stored, then kill or
// release it: deterministic where sleeping and polling would race.
//
// Only the first open the match function accepts is held; every other
// open, before and after, is allowed at once. A denying gate (newDenyGate)
// instead makes every open it matches fail with EPERM, even root's: a
// source file no backup can read.
type openGate struct {
	f     *os.File // the fanotify group, non-blocking so Close ends Read
	match func(path string) bool
	deny  bool
	self  int32
	held  chan heldOpen
	done  chan struct{}

	mu    sync.Mutex
	fired bool
	open  []int32 // event fds of held opens not answered yet
}

// heldOpen is a process waiting in open(2) for the gate.
type heldOpen struct {
	Path string
	Pid  int
	fd   int32
}

// newOpenGate watches the files directly in dir. Opens made by the test
// process itself are never held. The gate is closed, releasing whatever
// it holds, when t ends. Without fanotify (not root, no CAP_SYS_ADMIN, a
// kernel without permission events) t is skipped.
func newOpenGate(t testing.TB, dir string, match func(path string) bool) *openGate {
	t.Helper()
	return startGate(t, dir, match, false)
}

// newDenyGate makes every open of a file directly in dir that match
// accepts fail with EPERM, except the test process's own, until t ends.
func newDenyGate(t testing.TB, dir string, match func(path string) bool) *openGate {
	t.Helper()
	return startGate(t, dir, match, true)
}

func startGate(t testing.TB, dir string, match func(path string) bool, deny bool) *openGate {
	t.Helper()
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		t.Skipf("this test freezes dupfs with fanotify permission events, which need root with CAP_SYS_ADMIN: fanotify_init: %v", err)
	}
	if err := unix.FanotifyMark(fd, unix.FAN_MARK_ADD, unix.FAN_OPEN_PERM|unix.FAN_EVENT_ON_CHILD, unix.AT_FDCWD, dir); err != nil {
		unix.Close(fd)
		t.Skipf("this test freezes dupfs with fanotify permission events: fanotify_mark %s: %v", dir, err)
	}
	g := &openGate{
		f:     os.NewFile(uintptr(fd), "fanotify"),
		match: match,
		deny:  deny,
		self:  int32(os.Getpid()),
		held:  make(chan heldOpen, 1),
		done:  make(chan struct{}),
	}
	go g.serve()
	t.Cleanup(g.close)
	return g
}

// fanotify_event_metadata and fanotify_response, as the kernel lays them out.
const (
	eventMetaLen = 24
	responseLen  = 8
)

func (g *openGate) serve() {
	defer close(g.done)
	buf := make([]byte, 64<<10)
	for {
		n, err := g.f.Read(buf)
		if err != nil {
			return // closed
		}
		for off := 0; off+eventMetaLen <= n; {
			ev := buf[off:]
			length := int(binary.NativeEndian.Uint32(ev[0:]))
			fd := int32(binary.NativeEndian.Uint32(ev[16:]))
			pid := int32(binary.NativeEndian.Uint32(ev[20:]))
			if length < eventMetaLen || ev[4] != unix.FANOTIFY_METADATA_VERSION {
				return // an ABI this code does not know: closing the group allows what waits
			}
			off += length
			if fd < 0 {
				continue // queue overflow: no permission event is lost that way
			}
			path, _ := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(fd)))
			switch {
			case g.deny && pid != g.self && g.match(path):
				g.answer(fd, unix.FAN_DENY)
			case g.hold(pid, path, fd):
			default:
				g.answer(fd, unix.FAN_ALLOW)
			}
		}
	}
}

// hold decides whether to keep this open waiting, and announces it if so.
func (g *openGate) hold(pid int32, path string, fd int32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.fired || pid == g.self || !g.match(path) {
		return false
	}
	g.fired = true
	g.open = append(g.open, fd)
	g.held <- heldOpen{Path: path, Pid: int(pid), fd: fd}
	return true
}

// answer lets the open proceed (FAN_ALLOW) or fail (FAN_DENY) and drops
// the event's fd.
func (g *openGate) answer(fd int32, response uint32) {
	var resp [responseLen]byte
	binary.NativeEndian.PutUint32(resp[0:], uint32(fd))
	binary.NativeEndian.PutUint32(resp[4:], response)
	g.f.Write(resp[:]) // fails only once the group is closed, which allows it anyway
	unix.Close(int(fd))
}

// release lets the held open proceed.
func (g *openGate) release(h heldOpen) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, fd := range g.open {
		if fd == h.fd {
			g.open = append(g.open[:i], g.open[i+1:]...)
			g.answer(fd, unix.FAN_ALLOW)
			return
		}
	}
}

// close stops the gate; the kernel allows whatever is still waiting.
func (g *openGate) close() {
	g.f.Close() // a second close fails harmlessly
	<-g.done
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, fd := range g.open {
		unix.Close(int(fd))
	}
	g.open = nil
}

// process is a command started in the background: a dupfs or duplicity
// run that a gate freezes while the test looks at the target.
type process struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	exited         chan struct{}
	err            error // from Wait, once exited is closed
}

// startProcess starts name with exactly env. It is killed, if still
// running, when t ends.
func startProcess(t testing.TB, env []string, name string, args ...string) *process {
	t.Helper()
	p := &process{exited: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = env
	p.cmd.Stdout = &p.stdout
	p.cmd.Stderr = &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			// Blocked in a held open on a kernel where that wait is not
			// killable: the gate's cleanup, which runs next, frees it.
			t.Logf("%q not gone 10s after SIGKILL", p.cmd.Args)
		}
	})
	return p
}

// waitHeld waits until the gate holds an open, failing t if the process
// ends first or nothing happens within CommandTimeout.
func (p *process) waitHeld(t testing.TB, g *openGate, what string) heldOpen {
	t.Helper()
	select {
	case h := <-g.held:
		if h.Pid != p.cmd.Process.Pid {
			t.Fatalf("waiting for %s: the gate held %s opened by pid %d, not by %q (pid %d)", what, h.Path, h.Pid, p.cmd.Args, p.cmd.Process.Pid)
		}
		return h
	case <-p.exited:
		t.Fatalf("waiting for %s: the process ended first: %v", what, p.result())
	case <-time.After(CommandTimeout):
		t.Fatalf("waiting for %s: nothing after %v", what, CommandTimeout)
	}
	return heldOpen{}
}

// kill sends SIGKILL to a process the gate g holds, closes g and waits
// for the process to be gone. Closing the gate lets the held open return,
// but the pending SIGKILL ends the process before it runs another
// instruction; on kernels where the wait is killable it is gone already.
func (p *process) kill(t testing.TB, g *openGate) Result {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatalf("kill %d: %v", p.cmd.Process.Pid, err)
	}
	g.close()
	return p.wait(t)
}

// wait waits for the process to end.
func (p *process) wait(t testing.TB) Result {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(CommandTimeout):
		t.Fatalf("%q still running after %v", p.cmd.Args, CommandTimeout)
	}
	return p.result()
}

// result is the ended process as Run reports commands. Call after exited.
func (p *process) result() Result {
	r := Result{Args: p.cmd.Args, Code: -1, Stdout: p.stdout.Bytes(), Stderr: p.stderr.Bytes()}
	var exit *exec.ExitError
	switch {
	case p.err == nil:
		r.Code = 0
	case errors.As(p.err, &exit) && exit.Exited():
		r.Code = exit.ExitCode()
	default:
		r.Err = p.err
	}
	return r
}

func (h heldOpen) String() string { return fmt.Sprintf("pid %d opening %s", h.Pid, h.Path) }
