package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// The mount step serves the latest point of the chain setup built with
// `dupfs mount`, `restic mount` and `borg mount` in turn, and times what a
// user does in a mount: wait for it, list the corpus root, find over the
// whole point, read the first byte of one small file, copy the largest file,
// then cp -a the whole point. The FUSE process's CPU and resident memory
// are sampled over each of those, and its totals taken when it exits.
//
// Each tool mounts with an empty data cache of its own (restic and borg keep
// their metadata caches from setup, as every step does). The chain was
// written by duplicity, whose signatures carry no file sizes, so dupfs's
// first mount builds an index from the volumes into its archive dir; that
// mount is timed on its own, and the rest use a second mount, which reads
// the index.

// Row names of the mount table, in the order they are measured.
const (
	mountFirst   = "first mount (index build)"
	mountReady   = "mount ready"
	mountLs      = "ls corpus root"
	mountFind    = "find | wc -l"
	mountHead    = "head -c1 small file"
	mountCp      = "cp largest file"
	mountCpA     = "cp -a latest point"
	mountTotal   = "FUSE process total"
	mountRestore = "dupfs restore (reference)"
)

// mountMaxRSS is the memory target of a dupfs mount.
const mountMaxRSS = 150 << 20

// clockTick is the unit of the CPU times in /proc/PID/stat: USER_HZ, which
// Linux fixes at 100 for user space whatever the kernel's own tick.
const clockTick = 10 * time.Millisecond

// mountRow is one measurement of the mount step.
type mountRow struct {
	step, tool string
	wall       time.Duration // -1: not meaningful (the total row)
	cpu        time.Duration // of the FUSE process tree over the step
	rss        int64         // peak of the FUSE process tree over the step
	err        error
}

// mountRun is what the mount step measured in one bench run.
type mountRun struct {
	rows []mountRow
	// fetched counts the volumes dupfs fetched, per set, to read the first
	// byte of the small file; sets is the number of sets of its point.
	fetched  map[string]int
	fetchErr error
	sets     int
	notes    []string
}

// mountSession is the mount step: every tool that can mount, one after the
// other, then the dupfs restore its cp -a is compared with. It returns the
// number of measurements that failed.
func mountSession(ctx context.Context, b *bench, tools []*tool, done []result) int {
	m := &mountRun{sets: rounds + 1}
	b.mnt = m
	files, err := regularFiles(b.src)
	if err != nil || len(files) == 0 {
		m.notes = append(m.notes, fmt.Sprintf("no corpus files to read: %v", err))
		return 1
	}
	largest := files[0]
	for _, f := range files {
		if f.size > largest.size {
			largest = f
		}
	}
	m.notes = append(m.notes, fmt.Sprintf("small file %s (%d bytes); largest file %s (%.1f MiB)",
		b.small.rel, b.small.size, largest.rel, float64(largest.size)/mib))
	for _, t := range tools {
		if t.mount == nil {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if err := m.measureTool(ctx, b, t, largest); err != nil {
			m.notes = append(m.notes, fmt.Sprintf("%s mount FAILED: %v", t.name, err))
			fmt.Fprintf(os.Stderr, "bench: %s mount: %v\n", t.name, err)
		}
	}
	if i := slices.IndexFunc(tools, func(t *tool) bool { return t.name == "dupfs" }); i >= 0 && ctx.Err() == nil {
		m.restoreReference(ctx, b, tools[i], done)
	}
	failed := 0
	for _, r := range m.rows {
		if r.err != nil {
			failed++
		}
	}
	return failed
}

// restoreReference adds the dupfs restore of the latest point: the one the
// restore-full step measured in this run, else measured now the same way.
func (m *mountRun) restoreReference(ctx context.Context, b *bench, t *tool, done []result) {
	r, ok := find(done, "restore-full", "dupfs")
	if !ok {
		r = b.runStep(ctx, restoreFullStep(), t)
	}
	m.rows = append(m.rows, mountRow{step: mountRestore, tool: "dupfs", wall: r.use.wall, cpu: r.use.cpu, rss: r.use.rss, err: r.err})
}

// restoreFullStep is set in init: the steps list holds mountSession, which
// refers back to the list, and a package-level initializer cannot.
var restoreFullStep func() step

func init() {
	restoreFullStep = func() step {
		return steps[slices.IndexFunc(steps, func(s step) bool { return s.name == "restore-full" })]
	}
}

// measureTool runs one tool's mounts. A failed measurement is kept as a
// failed row and the next one still runs when the mount itself is fine.
func (m *mountRun) measureTool(ctx context.Context, b *bench, t *tool, largest entry) error {
	dir := filepath.Join(b.work, "mount", t.name)
	mnt := filepath.Join(b.work, "mnt")
	out := filepath.Join(b.work, "out")
	for _, d := range []string{dir, out} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("clean %s: %w", d, err)
		}
	}
	defer os.RemoveAll(out)
	for _, d := range []string{dir, mnt, out} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	for _, d := range t.store.warm {
		if err := readAll(d); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	syscall.Sync()

	if t.name == "dupfs" {
		// The first mount of duplicity's sets builds the index; the
		// second one, measured below, reads it.
		p, err := startMount(ctx, b, t, dir, mnt, "first")
		if err != nil {
			return err
		}
		ready, err := p.waitReady(ctx, b.cfg.timeout)
		cpu, rss := p.window()
		if err == nil {
			err = p.stop()
		} else {
			p.stop()
		}
		m.rows = append(m.rows, mountRow{step: mountFirst, tool: t.name, wall: ready, cpu: cpu, rss: max(rss, p.total.rss), err: err})
		if err != nil {
			return err
		}
		syscall.Sync()
	}

	p, err := startMount(ctx, b, t, dir, mnt, "second")
	if err != nil {
		return err
	}
	defer p.stop()
	ready, err := p.waitReady(ctx, b.cfg.timeout)
	cpu, rss := p.window()
	m.rows = append(m.rows, mountRow{step: mountReady, tool: t.name, wall: ready, cpu: cpu, rss: rss, err: err})
	if err != nil {
		return err
	}
	root, err := filepath.EvalSymlinks(p.root)
	if err != nil {
		return fmt.Errorf("the latest point in the mount: %w", err)
	}

	run := func(step string, check func([]byte) error, argv ...string) {
		if ctx.Err() != nil {
			return
		}
		fmt.Fprintf(os.Stderr, "bench: mount %s: %s\n", t.name, step)
		p.window() // start the step's window
		wall, stdout, err := timeCommand(ctx, b.cfg.timeout, argv...)
		cpu, rss := p.window()
		if err == nil && check != nil {
			if cerr := check(stdout); cerr != nil {
				err = fmt.Errorf("wrong result: %w", cerr)
			}
		}
		m.rows = append(m.rows, mountRow{step: step, tool: t.name, wall: wall, cpu: cpu, rss: rss, err: err})
	}

	want := b.want.Files + b.want.Dirs + b.want.Links + 1 // find lists the root too
	run(mountLs, nil, "ls", root)
	run(mountFind, func(stdout []byte) error {
		n, err := strconv.Atoi(strings.TrimSpace(string(stdout)))
		if err != nil || n != want {
			return fmt.Errorf("find listed %q entries, want %d", strings.TrimSpace(string(stdout)), want)
		}
		return nil
	}, "sh", "-c", `find "$1" | wc -l`, "sh", root)

	logStart := p.logSize()
	run(mountHead, func(stdout []byte) error {
		first := make([]byte, 1)
		f, err := os.Open(filepath.Join(b.src, b.small.rel))
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.ReadFull(f, first); err != nil {
			return err
		}
		if !bytes.Equal(stdout, first) {
			return fmt.Errorf("head -c1 gave %q, want %q", stdout, first)
		}
		return nil
	}, "head", "-c1", filepath.Join(root, b.small.rel))
	if t.name == "dupfs" {
		log, err := p.logSince(logStart)
		if err != nil {
			m.fetchErr = err
		} else {
			m.fetched = fetchedPerSet(log)
		}
	}

	copied := filepath.Join(out, "largest")
	run(mountCp, func([]byte) error { return b.checkFile(largest.rel, copied) },
		"cp", filepath.Join(root, largest.rel), copied)
	tree := filepath.Join(out, "tree")
	run(mountCpA, func([]byte) error { return b.checkTree(tree) },
		"cp", "-a", root+"/.", tree)

	if err := p.stop(); err != nil {
		return err
	}
	m.rows = append(m.rows, mountRow{step: mountTotal, tool: t.name, wall: -1, cpu: p.total.cpu, rss: p.total.rss})
	return nil
}

// timeCommand runs argv and returns its wall time and standard output.
func timeCommand(ctx context.Context, timeout time.Duration, argv ...string) (time.Duration, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if len(msg) > 500 {
			msg = msg[:500] + "..."
		}
		return wall, nil, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, msg)
	}
	return wall, stdout.Bytes(), nil
}

// mountProc is one running FUSE server: the tool's mount command, run
// under the harness's wrapper (see measure) so its rusage comes back when
// it exits.
type mountProc struct {
	cmd     *exec.Cmd
	mnt     string
	root    string // the corpus root at the latest point, through symlinks
	logPath string
	rusage  string
	start   time.Time
	exited  chan struct{} // closed once the wrapper has exited
	waitErr error

	mu       sync.Mutex
	winPeak  int64         // tree RSS peak since the last window call
	winCPU   time.Duration // tree CPU at the last window call
	stopOnce sync.Once
	stopErr  error
	total    usage // once stopped: CPU from rusage, peak of samples and maxrss
	sampling chan struct{}
	sampled  sync.WaitGroup
	allPeak  int64
}

// startMount starts t's mount of the latest point at mnt; tag names its log.
func startMount(ctx context.Context, b *bench, t *tool, dir, mnt, tag string) (*mountProc, error) {
	c, root, err := t.mount(ctx, b, dir, mnt)
	if err != nil {
		return nil, fmt.Errorf("set-up: %w", err)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find the harness binary: %w", err)
	}
	p := &mountProc{
		mnt:      mnt,
		root:     root,
		logPath:  filepath.Join(b.work, "logs", fmt.Sprintf("mount-%s-%s.log", t.name, tag)),
		exited:   make(chan struct{}),
		sampling: make(chan struct{}),
	}
	p.rusage = p.logPath + ".rusage"
	os.Remove(p.rusage)
	log, err := os.Create(p.logPath)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	defer log.Close() // the child has its own descriptor
	fmt.Fprintf(log, "$ %s\n", c)
	p.cmd = exec.Command(self, c.argv...)
	p.cmd.Dir = c.dir
	p.cmd.Env = append(append(os.Environ(), c.env...), wrapperEnv+"="+p.rusage)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	// Its own process group: the terminal's Ctrl-C reaches the harness,
	// which unmounts first; stop signals the whole group only if needed.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	fmt.Fprintf(os.Stderr, "bench: mount %s (%s mount)\n", t.name, tag)
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", c.argv[0], err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	p.sampled.Add(1)
	go p.sample()
	return p, nil
}

// sample keeps the peaks of the server's resident memory.
func (p *mountProc) sample() {
	defer p.sampled.Done()
	tick := time.NewTicker(sampleEvery)
	defer tick.Stop()
	for {
		rss := p.treeRSS()
		p.mu.Lock()
		p.winPeak = max(p.winPeak, rss)
		p.allPeak = max(p.allPeak, rss)
		p.mu.Unlock()
		select {
		case <-p.sampling:
			return
		case <-tick.C:
		}
	}
}

// treeRSS and treeCPU cover the wrapper's children, not the wrapper.
func (p *mountProc) treeRSS() int64 {
	var n int64
	for _, kid := range childPIDs(p.cmd.Process.Pid) {
		n += treeRSS(kid)
	}
	return n
}

func (p *mountProc) treeCPU() time.Duration {
	var n time.Duration
	for _, kid := range childPIDs(p.cmd.Process.Pid) {
		n += treeCPU(kid)
	}
	return n
}

// window returns the CPU the server used and its peak memory since the
// previous call (since the start, the first time), and starts a new window.
func (p *mountProc) window() (time.Duration, int64) {
	cpu := p.treeCPU()
	rss := p.treeRSS()
	p.mu.Lock()
	defer p.mu.Unlock()
	peak := max(p.winPeak, rss)
	used := cpu - p.winCPU
	p.winCPU, p.winPeak = cpu, rss
	return used, peak
}

// waitReady waits until the mount answers ls, and returns how long that
// took from the start.
func (p *mountProc) waitReady(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		if mounted(p.mnt) {
			if err := exec.CommandContext(ctx, "ls", p.mnt).Run(); err == nil {
				return time.Since(p.start), nil
			}
		}
		select {
		case <-p.exited:
			return 0, fmt.Errorf("the mount exited before it was ready: %v (log %s)%s", p.waitErr, p.logPath, logTail(p.logPath))
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("not mounted after %s (log %s)%s", timeout, p.logPath, logTail(p.logPath))
		}
	}
}

// stop unmounts and waits for the server to exit, by fusermount3 -u as a
// user would, then by signals if it hangs on; the mount point is always
// left unmounted. It returns the first problem, and is safe to call again.
func (p *mountProc) stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.doStop() })
	return p.stopErr
}

func (p *mountProc) doStop() error {
	var problems []string
	if mounted(p.mnt) {
		if msg, err := exec.Command("fusermount3", "-u", p.mnt).CombinedOutput(); err != nil {
			problems = append(problems, fmt.Sprintf("fusermount3 -u: %v: %s", err, strings.TrimSpace(string(msg))))
		}
	}
	pgid := p.cmd.Process.Pid
	for _, sig := range []syscall.Signal{0, syscall.SIGTERM, syscall.SIGKILL} {
		if sig != 0 {
			problems = append(problems, fmt.Sprintf("still running; sent %v", sig))
			syscall.Kill(-pgid, sig)
		}
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			continue
		}
		break
	}
	<-p.exited
	// The FUSE server's group may have left helpers behind.
	syscall.Kill(-pgid, syscall.SIGKILL)
	if mounted(p.mnt) {
		// Lazily, so a stuck reader cannot keep the mount alive.
		exec.Command("fusermount3", "-uz", p.mnt).Run()
		problems = append(problems, "still mounted after the server exited")
	}
	close(p.sampling)
	p.sampled.Wait()
	p.total.wall = time.Since(p.start)
	p.total.rss = p.allPeak
	var ru wrapperReport
	data, err := os.ReadFile(p.rusage)
	if err == nil {
		err = json.Unmarshal(data, &ru)
	}
	os.Remove(p.rusage)
	if err != nil {
		problems = append(problems, fmt.Sprintf("no rusage from the wrapper: %v", err))
	} else {
		p.total.cpu = time.Duration(ru.UserNS + ru.SysNS)
		p.total.rss = max(p.total.rss, ru.MaxRSSKiB*1024)
	}
	if len(problems) > 0 {
		return fmt.Errorf("unmount: %s (log %s)", strings.Join(problems, "; "), p.logPath)
	}
	return nil
}

// logSize and logSince let a step read what the server logged meanwhile.
func (p *mountProc) logSize() int64 {
	fi, err := os.Stat(p.logPath)
	if err != nil {
		return 0
	}
	return fi.Size()
}

func (p *mountProc) logSince(off int64) (string, error) {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return "", err
	}
	if off > int64(len(data)) {
		return "", fmt.Errorf("log %s shrank", p.logPath)
	}
	return string(data[off:]), nil
}

// mounted reports whether dir is a mount point now.
func mounted(dir string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	return slices.Contains(mountPoints(string(data)), dir)
}

// mountPoints lists the mount points of a /proc/PID/mountinfo text, whose
// fifth field is the mount point with space, tab, newline and backslash
// written as octal escapes.
func mountPoints(info string) []string {
	var out []string
	for _, line := range strings.Split(info, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		out = append(out, unescapeOctal(f[4]))
	}
	return out
}

func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return '0' <= c && c <= '7' }

// treeCPU sums the CPU time of pid and its descendants, including the
// children they have waited for; 0 for processes already gone.
func treeCPU(pid int) time.Duration {
	var total time.Duration
	seen := map[int]bool{}
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if seen[p] {
			continue
		}
		seen[p] = true
		if data, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat"); err == nil {
			if ticks, err := statCPUTicks(string(data)); err == nil {
				total += time.Duration(ticks) * clockTick
			}
		}
		queue = append(queue, childPIDs(p)...)
	}
	return total
}

// statCPUTicks reads utime+stime+cutime+cstime from a /proc/PID/stat line.
// The command name, field 2, may hold spaces and parentheses, so fields are
// counted from the last ')'.
func statCPUTicks(stat string) (int64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime..cstime are fields 14-17.
	if len(f) < 15 {
		return 0, errors.New("stat: too few fields")
	}
	var sum int64
	for _, s := range f[11:15] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		sum += n
	}
	return sum, nil
}

// volumeSet finds the set a volume name belongs to: the name up to .volN.
var volumeSet = regexp.MustCompile(`^(.*)\.vol[0-9]+\.difftar`)

// fetchedPerSet counts the "fetched VOLUME" lines of dupfs mount -v info
// output by the set each volume belongs to.
func fetchedPerSet(log string) map[string]int {
	out := map[string]int{}
	for _, line := range strings.Split(log, "\n") {
		_, rest, ok := strings.Cut(line, "dupfs: fetched ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(rest, " ")
		set := name
		if m := volumeSet.FindStringSubmatch(name); m != nil {
			set = m[1]
		}
		out[set]++
	}
	return out
}

// report prints the mount table, what its rows mean and the targets.
func (m *mountRun) report(out io.Writer, markdown bool) {
	header, rows := mountTable(m.rows)
	fmt.Fprint(out, formatTable(header, rows, markdown))
	bullet := ""
	if markdown {
		bullet = "- "
	}
	fmt.Fprintln(out)
	for _, s := range []struct{ name, about string }{
		{mountFirst, "dupfs's first mount of duplicity's chain: start to `ls` answering, including building the size index of the 6 sets from their volumes (kept in the archive dir)"},
		{mountReady, "start of the mount command to `ls MOUNTPOINT` answering (dupfs: a second mount, reading that index)"},
		{mountLs, "`ls` of the corpus root at the latest point"},
		{mountFind, "`find | wc -l` over the latest point, the count checked"},
		{mountHead, "`head -c1` of one small file, the byte checked"},
		{mountCp, "`cp` of the largest file, the copy checked"},
		{mountCpA, "`cp -a` of the whole latest point, checked as the restores are"},
		{mountTotal, "the FUSE server over its whole life: CPU from its rusage, peak RSS"},
		{mountRestore, "`dupfs restore` of the same point into an empty directory"},
	} {
		fmt.Fprintf(out, "%s%s: %s\n", bullet, s.name, s.about)
	}
	for _, v := range m.verdicts() {
		fmt.Fprintf(out, "%starget %s\n", bullet, v)
	}
	fmt.Fprintf(out, "%seach mount runs in the foreground with an empty data cache (restic and borg keep their metadata caches from setup), after a warm-up read of the repository; the steps run once, in this order, in one mount; CPU s and peak RSS are the FUSE server's (its process tree, sampled every %s) during the step, except for the restore row; restic mount serves snapshots/latest, borg mount -f the last archive; unmounted with fusermount3 -u\n", bullet, sampleEvery)
	for _, n := range m.notes {
		fmt.Fprintf(out, "%snote: %s\n", bullet, n)
	}
}

// mountTable lays the mount rows out: step, tool, wall, CPU, peak RSS,
// dupfs/tool wall, status.
func mountTable(rows []mountRow) (header []string, cells [][]string) {
	header = []string{"mount step", "tool", "wall s", "CPU s", "peak RSS MiB", "dupfs/tool wall", "status"}
	for _, r := range rows {
		row := []string{r.step, r.tool, "-", "-", "-", "-", "ok"}
		if r.err != nil {
			row[6] = "FAILED"
		} else {
			if r.wall >= 0 {
				row[2] = fmt.Sprintf("%.2f", r.wall.Seconds())
			}
			row[3] = fmt.Sprintf("%.2f", r.cpu.Seconds())
			row[4] = fmt.Sprintf("%.0f", float64(r.rss)/mib)
			if d, ok := findMount(rows, r.step, "dupfs"); ok && r.tool != "dupfs" && r.wall > 0 && d.wall >= 0 {
				row[5] = fmt.Sprintf("%.2fx", d.wall.Seconds()/r.wall.Seconds())
			}
		}
		cells = append(cells, row)
	}
	return header, cells
}

// findMount returns the successful row of tool in step.
func findMount(rows []mountRow, step, tool string) (mountRow, bool) {
	for _, r := range rows {
		if r.step == step && r.tool == tool && r.err == nil {
			return r, true
		}
	}
	return mountRow{}, false
}

// verdicts says whether dupfs's mount met each of its targets.
func (m *mountRun) verdicts() []string {
	var out []string
	wall := func(step, tool string) (float64, bool) {
		r, ok := findMount(m.rows, step, tool)
		return max(r.wall.Seconds(), 1e-9), ok
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}

	goal := "find: dupfs faster than restic mount"
	d, dok := wall(mountFind, "dupfs")
	r, rok := wall(mountFind, "restic")
	if dok && rok {
		out = append(out, fmt.Sprintf("%s: %s (%.2f s vs %.2f s, %.1fx)", goal, met(d < r), d, r, r/d))
	} else {
		out = append(out, goal+": not measured")
	}

	goal = "cp -a: dupfs mount within 1.5x of dupfs restore of the same point"
	d, dok = wall(mountCpA, "dupfs")
	ref, refok := wall(mountRestore, "dupfs")
	if dok && refok {
		out = append(out, fmt.Sprintf("%s: %s (%.2f s vs %.2f s, %.2fx)", goal, met(d <= 1.5*ref), d, ref, d/ref))
	} else {
		out = append(out, goal+": not measured")
	}

	goal = "cp -a: dupfs mount at least 3x faster than restic mount"
	r, rok = wall(mountCpA, "restic")
	if dok && rok {
		out = append(out, fmt.Sprintf("%s: %s (%.2f s vs %.2f s, %.1fx)", goal, met(r >= 3*d), d, r, r/d))
	} else {
		out = append(out, goal+": not measured")
	}

	goal = "head -c1: at most one volume fetched per set of the point's chain"
	switch {
	case m.fetchErr != nil:
		out = append(out, fmt.Sprintf("%s: not measured (%v)", goal, m.fetchErr))
	case m.fetched == nil:
		out = append(out, goal+": not measured")
	default:
		total, most := 0, 0
		for _, n := range m.fetched {
			total += n
			most = max(most, n)
		}
		out = append(out, fmt.Sprintf("%s: %s (fetched %d volume(s) from %d of the %d sets, at most %d from one)",
			goal, met(most <= 1), total, len(m.fetched), m.sets, most))
	}

	goal = fmt.Sprintf("dupfs mount peak RSS under %d MiB", mountMaxRSS/mib)
	var peak int64
	seen := false
	for _, step := range []string{mountFirst, mountTotal} {
		if r, ok := findMount(m.rows, step, "dupfs"); ok {
			peak, seen = max(peak, r.rss), true
		}
	}
	if seen {
		out = append(out, fmt.Sprintf("%s: %s (%.0f MiB)", goal, met(peak < mountMaxRSS), float64(peak)/mib))
	} else {
		out = append(out, goal+": not measured")
	}
	return out
}
