// Command bench measures dupfs against duplicity, restic and borg on a
// corpus of real files, and prints one table.
//
// Setup (not measured) builds the corpus, then backs up six states of it
// with every tool's store: state 0, then after each of 5 rounds of ~1%
// changes. duplicity writes a full + 5 incrementals chain (symmetric gpg),
// which both duplicity and dupfs then read; restic and borg back the same
// states up into their own encrypted repositories. Each step is then run
// once per tool, after a warm-up read of the tool's repository, and its
// result is checked against the source.
//
// The backup steps time each tool's own full backup of a copy of the
// final state into an empty repository, then an incremental on top of it
// after one more round of changes (see backup.go).
//
// The mount step serves the latest point with dupfs, restic and borg mount
// and times listing, reading and copying through each (see mount.go).
//
//	go run ./integration/bench -size 150MB -files 5000
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// rounds is the number of change rounds, hence incrementals.
const rounds = 5

type config struct {
	corpus   string
	size     byteSize
	files    int
	work     string
	keep     bool
	dupfs    string
	steps    []string
	tools    []string
	markdown bool
	timeout  time.Duration
	runs     int
}

// bench is one run of the harness.
type bench struct {
	cfg      config
	work     string // everything the run writes lives here
	src      string // the corpus, at its final state once setup is done
	dupfs    string // the dupfs binary
	setupLog string
	want     summary  // the final state, what a full restore must give
	probe    []string // files whose content a full restore is checked on
	small    entry    // the single-file restore target
	bk       backupRun
	mnt      *mountRun // the mount step's results, when it ran
	notes    []string
}

func main() {
	if report, ok := os.LookupEnv(wrapperEnv); ok {
		os.Exit(runWrapper(report, os.Args[1:]))
	}
	cfg, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runBench(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (config, error) {
	cfg := config{size: 3 << 29} // 1.5 GiB
	fl := flag.NewFlagSet("bench", flag.ContinueOnError)
	fl.StringVar(&cfg.corpus, "corpus", "", "copy the corpus from this directory instead of /usr/share and /usr/lib (whole, unless -size/-files are given)")
	fl.Var(&cfg.size, "size", "corpus size budget, e.g. 150MB, 1.5GB (0: no limit)")
	fl.IntVar(&cfg.files, "files", 60000, "corpus file-count budget (0: no limit)")
	fl.StringVar(&cfg.work, "work", "", "work directory, kept and reused by later runs with the same corpus flags (default: a temporary directory under /var/tmp, removed at the end)")
	fl.BoolVar(&cfg.keep, "keep", false, "keep the temporary work directory")
	fl.StringVar(&cfg.dupfs, "dupfs", "", "dupfs binary (default: build ./cmd/dupfs into the work directory)")
	stepList := fl.String("steps", strings.Join(stepNames(), ","), "comma-separated steps to run")
	toolList := fl.String("tools", "dupfs,duplicity,restic,borg", "comma-separated tools to measure; missing ones are skipped with a note")
	fl.BoolVar(&cfg.markdown, "markdown", false, "print the table as Markdown")
	fl.DurationVar(&cfg.timeout, "timeout", 2*time.Hour, "limit for each measured command")
	fl.IntVar(&cfg.runs, "runs", 1, "measure each command this many times and report the fastest run (on a busy machine)")
	if err := fl.Parse(args); err != nil {
		return cfg, err
	}
	if cfg.runs < 1 {
		return cfg, fmt.Errorf("-runs %d: want at least 1", cfg.runs)
	}
	if fl.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fl.Arg(0))
	}
	if cfg.corpus != "" {
		set := map[string]bool{}
		fl.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["size"] {
			cfg.size = 0
		}
		if !set["files"] {
			cfg.files = 0
		}
	}
	cfg.steps = splitList(*stepList)
	for _, s := range cfg.steps {
		if !slices.Contains(stepNames(), s) {
			return cfg, fmt.Errorf("unknown step %q (have %s)", s, strings.Join(stepNames(), ", "))
		}
	}
	cfg.tools = splitList(*toolList)
	for _, t := range cfg.tools {
		if !slices.Contains([]string{"dupfs", "duplicity", "restic", "borg"}, t) {
			return cfg, fmt.Errorf("unknown tool %q", t)
		}
	}
	return cfg, nil
}

func stepNames() []string {
	var names []string
	for _, s := range steps {
		names = append(names, s.name)
	}
	return names
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func runBench(ctx context.Context, cfg config, out io.Writer) (err error) {
	b := &bench{cfg: cfg}
	if cfg.work == "" {
		b.work, err = os.MkdirTemp("/var/tmp", "dupfs-bench-")
		if err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
		if !cfg.keep {
			defer os.RemoveAll(b.work)
		} else {
			defer fmt.Fprintln(os.Stderr, "bench: work directory kept:", b.work)
		}
	} else {
		if b.work, err = filepath.Abs(cfg.work); err != nil {
			return err
		}
	}
	b.src = filepath.Join(b.work, "src")
	b.setupLog = filepath.Join(b.work, "logs", "setup.log")
	for _, d := range []string{"logs", "gnupg", "cache"} {
		if err := os.MkdirAll(filepath.Join(b.work, d), 0o700); err != nil {
			return fmt.Errorf("work dir: %w", err)
		}
	}
	// duplicity's gpg starts an agent under our GNUPGHOME; stop that one.
	defer exec.Command("gpgconf", "--homedir", filepath.Join(b.work, "gnupg"), "--kill", "gpg-agent").Run()

	tools := b.selectTools(ctx)
	if len(tools) == 0 {
		return errors.New("no tool to measure")
	}
	if err := b.setup(ctx, tools); err != nil {
		return err
	}
	var results []result
	var selected []step
	failed := 0
	for _, s := range steps {
		if !slices.Contains(cfg.steps, s.name) {
			continue
		}
		selected = append(selected, s)
		if s.session != nil {
			failed += s.session(ctx, b, tools, results)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		if s.prepare != nil {
			if err := s.prepare(ctx, b, tools); err != nil {
				return fmt.Errorf("%s: set-up: %w", s.name, err)
			}
		}
		for _, t := range tools {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r := b.runStep(ctx, s, t)
			if r.err != nil {
				b.notes = append(b.notes, fmt.Sprintf("%s %s FAILED: %v", s.name, t.name, r.err))
				failed++
			}
			results = append(results, r)
		}
	}
	b.report(out, results, selected, tools)
	if failed > 0 {
		return fmt.Errorf("%d measurement(s) failed", failed)
	}
	return nil
}

// selectTools keeps the requested tools that can run here, noting the rest.
func (b *bench) selectTools(ctx context.Context) []*tool {
	var keep []*tool
	for _, t := range b.makeTools() {
		if !slices.Contains(b.cfg.tools, t.name) {
			continue
		}
		if bin := missing(append(slices.Clone(t.bins), t.store.bins...)); bin != "" {
			b.notes = append(b.notes, fmt.Sprintf("%s skipped: %s is not installed", t.name, bin))
			continue
		}
		if t.name == "dupfs" {
			if err := b.findDupfs(ctx); err != nil {
				b.notes = append(b.notes, fmt.Sprintf("dupfs skipped: %v", err))
				fmt.Fprintln(os.Stderr, "bench: dupfs skipped:", err)
				continue
			}
		}
		keep = append(keep, t)
	}
	return keep
}

func (b *bench) findDupfs(ctx context.Context) error {
	if b.cfg.dupfs != "" {
		p, err := exec.LookPath(b.cfg.dupfs)
		if err != nil {
			return err
		}
		b.dupfs, err = filepath.Abs(p)
		return err
	}
	b.dupfs = filepath.Join(b.work, "bin", "dupfs")
	fmt.Fprintln(os.Stderr, "bench: building ./cmd/dupfs")
	return buildDupfs(ctx, b.dupfs)
}

// setupRecord describes a finished setup, so a kept work dir can be reused.
type setupRecord struct {
	Roots   []string
	Size    int64
	Files   int
	Stores  []string
	Touched []string
}

func (b *bench) roots() []string {
	if b.cfg.corpus != "" {
		return []string{b.cfg.corpus}
	}
	return []string{"/usr/share", "/usr/lib"}
}

// setup builds the corpus and backs each state up with every store the
// tools read, unless the work dir already holds the same setup.
func (b *bench) setup(ctx context.Context, tools []*tool) error {
	var stores []*store
	var names []string
	for _, t := range tools {
		if !slices.Contains(stores, t.store) {
			stores = append(stores, t.store)
			names = append(names, t.store.name)
		}
	}
	recPath := filepath.Join(b.work, "setup.json")
	rec := setupRecord{Roots: b.roots(), Size: int64(b.cfg.size), Files: b.cfg.files, Stores: names}
	var old setupRecord
	if data, err := os.ReadFile(recPath); err == nil && json.Unmarshal(data, &old) == nil &&
		slices.Equal(old.Roots, rec.Roots) && old.Size == rec.Size && old.Files == rec.Files &&
		!slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(old.Stores, n) }) {
		fmt.Fprintln(os.Stderr, "bench: reusing the corpus and repositories in", b.work)
		rec = old
	} else {
		os.Remove(recPath)
		for _, d := range []string{"src", "repo-duplicity", "repo-restic", "repo-borg", "cache"} {
			if err := os.RemoveAll(filepath.Join(b.work, d)); err != nil {
				return fmt.Errorf("clean work dir: %w", err)
			}
		}
		touched, err := b.buildStates(ctx, stores)
		if err != nil {
			return err
		}
		rec.Touched = touched
		data, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if err := os.WriteFile(recPath, data, 0o644); err != nil {
			return fmt.Errorf("setup record: %w", err)
		}
	}

	files, err := regularFiles(b.src)
	if err != nil {
		return err
	}
	if b.want, err = summarize(b.src); err != nil {
		return err
	}
	b.probe = probeSample(files, rec.Touched, 2000)
	if b.small, err = smallFile(files); err != nil {
		return err
	}
	return nil
}

// buildStates copies the corpus and backs up state 0 and the state after
// each round with every store. It returns the files the rounds wrote.
func (b *bench) buildStates(ctx context.Context, stores []*store) ([]string, error) {
	start := time.Now()
	progress := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "bench: [%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	cands, err := listCandidates(b.roots())
	if err != nil {
		return nil, err
	}
	chosen := pick(cands, int64(b.cfg.size), b.cfg.files)
	progress("copying %d entries from %s", len(chosen), strings.Join(b.roots(), ", "))
	if err := copyCorpus(chosen, b.src); err != nil {
		return nil, err
	}
	var touched []string
	for state := 0; state <= rounds; state++ {
		if state > 0 {
			t, err := mutate(b.src, state)
			if err != nil {
				return nil, err
			}
			touched = append(touched, t...)
		}
		s, err := summarize(b.src)
		if err != nil {
			return nil, err
		}
		for _, st := range stores {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			progress("state %d (%s): %s backup", state, s, st.name)
			if err := st.backup(ctx, b, state); err != nil {
				return nil, fmt.Errorf("setup, %s, state %d: %w", st.name, state, err)
			}
		}
	}
	progress("setup done")
	return touched, nil
}

// runStep measures step s for tool t and checks its result; with -runs
// above 1 it keeps the fastest run.
func (b *bench) runStep(ctx context.Context, s step, t *tool) result {
	r := result{step: s.name, tool: t.name}
	for i := range b.cfg.runs {
		tr, err := b.trial(ctx, s, t, i)
		if err != nil {
			r.err = err
			return r
		}
		if i == 0 || tr.use.wall < r.use.wall {
			r.use = tr.use
		}
		// Sizes as the last run left the repository (they hardly vary).
		r.stored, r.writes, r.added = tr.stored, tr.writes, tr.added
	}
	return r
}

// trialResult is what one run of a step measured.
type trialResult struct {
	use    usage
	stored int64 // repository size after the run
	writes bool  // the step writes the repository: added is meaningful
	added  int64 // bytes the run added to the repository
}

// trial runs step s for tool t once: set-up, warm-up, measured command,
// repository size, check.
func (b *bench) trial(ctx context.Context, s step, t *tool, i int) (trialResult, error) {
	var tr trialResult
	out := filepath.Join(b.work, "out")
	if err := os.RemoveAll(out); err != nil {
		return tr, fmt.Errorf("clean %s: %w", out, err)
	}
	defer os.RemoveAll(out)
	spec, err := s.trial(ctx, b, t, out)
	if err != nil {
		return tr, fmt.Errorf("set-up: %w", err)
	}
	if spec.cmd.dir != "" {
		if err := os.MkdirAll(spec.cmd.dir, 0o755); err != nil {
			return tr, err
		}
	}
	for _, d := range spec.warm {
		if err := readAll(d); err != nil {
			return tr, fmt.Errorf("warm-up: %w", err)
		}
	}
	// Write back what set-up and earlier runs left dirty (a copied source,
	// a restored repository), so no command pays for another's writes.
	syscall.Sync()
	fmt.Fprintf(os.Stderr, "bench: %s %s (run %d)\n", s.name, t.name, i+1)
	log := filepath.Join(b.work, "logs", fmt.Sprintf("%s-%s-%d.log", s.name, t.name, i+1))
	if tr.use, err = measure(ctx, spec.cmd, log, b.cfg.timeout); err != nil {
		return tr, err
	}
	if tr.stored, err = treeBytes(spec.repo); err != nil {
		return tr, err
	}
	if spec.writes {
		tr.writes, tr.added = true, tr.stored-spec.before
	}
	if err := spec.check(); err != nil {
		return tr, fmt.Errorf("wrong result: %w", err)
	}
	return tr, nil
}

// readAll reads every file under dir once, so the measured command finds
// its repository in the page cache, like the others.
func readAll(dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.Discard, f)
		return err
	})
}

// treeBytes is the total size of the regular files under dir.
func treeBytes(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		n += info.Size()
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", dir, err)
	}
	return n, nil
}

func (b *bench) report(out io.Writer, results []result, selected []step, tools []*tool) {
	// Session steps print their own tables, after this one.
	var tabled []step
	for _, s := range selected {
		if s.session == nil {
			tabled = append(tabled, s)
		}
	}
	if len(tabled) > 0 {
		header, rows := resultTable(results)
		fmt.Fprint(out, formatTable(header, rows, b.cfg.markdown))
		fmt.Fprintln(out)
	}
	bullet := ""
	if b.cfg.markdown {
		bullet = "- "
	}
	for _, s := range selected {
		fmt.Fprintf(out, "%s%s: %s\n", bullet, s.name, s.about)
	}
	for _, v := range verdicts(results, tabled) {
		fmt.Fprintf(out, "%starget %s\n", bullet, v)
	}
	fmt.Fprintf(out, "%scorpus: %s (from %s), then %d rounds of ~1%% changes; small file %s (%d bytes)\n",
		bullet, b.want, strings.Join(b.roots(), ", "), rounds, b.small.rel, b.small.size)
	fmt.Fprintf(out, "%sduplicity: full + %d incrementals, --volsize 200, symmetric gpg; restic and borg (repokey): the same %d states in their own encrypted repositories\n",
		bullet, rounds, rounds+1)
	if slices.ContainsFunc(selected, func(s step) bool { return s.prepare != nil }) {
		fmt.Fprintf(out, "%sbackup steps: dupfs and duplicity with --volsize 200 and a symmetric PASSPHRASE, restic and borg (repokey) with their default encryption and compression; creating restic and borg repositories is not measured; what dupfs wrote is checked by a duplicity restore, the others by their own restore; added MiB = what the run added to the repository\n", bullet)
	}
	runs := "once"
	if b.cfg.runs > 1 {
		runs = fmt.Sprintf("%d times (fastest shown)", b.cfg.runs)
	}
	fmt.Fprintf(out, "%seach command ran %s, after a warm-up read of its repository and local cache before every run (page cache not dropped); CPU = user+sys of the command and its children; peak RSS = the larger of the largest process and the sampled sum over its process tree\n", bullet, runs)
	fmt.Fprintf(out, "%sversions: %s\n", bullet, b.versions(tools))
	for _, n := range b.notes {
		fmt.Fprintf(out, "%snote: %s\n", bullet, n)
	}
	if b.mnt != nil {
		fmt.Fprintln(out)
		b.mnt.report(out, b.cfg.markdown)
	}
}

// versions names each measured tool's version.
func (b *bench) versions(tools []*tool) string {
	var out []string
	for _, t := range tools {
		argv := map[string][]string{
			"dupfs":     {b.dupfs, "--version"},
			"duplicity": {"duplicity", "--version"},
			"restic":    {"restic", "version"},
			"borg":      {"borg", "--version"},
		}[t.name]
		v, err := exec.Command(argv[0], argv[1:]...).Output()
		line := strings.TrimSpace(strings.SplitN(string(v), "\n", 2)[0])
		if err != nil || line == "" {
			line = t.name + " (version unknown)"
		}
		if !strings.HasPrefix(strings.ToLower(line), t.name) {
			line = t.name + " " + line
		}
		out = append(out, line)
	}
	return strings.Join(out, "; ")
}

// byteSize is a flag value like 150MB, 1.5GB or 2GiB (decimal units are
// read as binary ones: the budget is approximate anyway).
type byteSize int64

func (s *byteSize) String() string {
	return fmt.Sprintf("%dMiB", int64(*s)>>20)
}

func (s *byteSize) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*s = byteSize(n)
	return nil
}

func parseSize(v string) (int64, error) {
	t := strings.ToUpper(strings.TrimSpace(v))
	t = strings.TrimSuffix(strings.TrimSuffix(t, "B"), "I")
	mult := int64(1)
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			t = t[:len(t)-1]
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("bad size %q (want e.g. 150MB, 1.5GB)", v)
	}
	return int64(f * float64(mult)), nil
}
