// Command suite is `make bench-suite` (issue 5): it builds Ringtail and
// kfake-server, measures the machine's own limits (fio, iperf3), runs the
// standard workloads (a)–(f) against fresh Ringtail nodes with their
// side-by-side variants, profiles (a), (b) and (c), records the brokers' CPU
// per GiB (pinned apart from the load generator, --pin), runs the Go
// micro-benchmarks, and writes results.json, README.md, the plots and the
// profiles to benchmarks/results/<date>-<host>/ through package report.
//
//	cd benchmarks && go run ./cmd/suite [--reps 3] [--duration 6s] [--only a,c] [--skip-limits] [--smoke] [--pin auto|off] [--out DIR]
//
// The load is the real `ringtail bench` binary; nodes are real `ringtail
// serve` processes with their data under /var/tmp (a real disk), removed
// at the end. Progress goes to stderr; the results path and the markdown
// table go to stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ringtail/ringtail/benchmarks/report"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	interrupted := ctx.Err() != nil
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "suite:", err)
		if interrupted {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	reps       int
	duration   time.Duration
	out        string
	only       map[string]bool
	skipLimits bool
	skipMicro  bool
	smoke      bool
	dataRoot   string
	repo       string
	pin        string // --pin: auto or off
}

// params are what a run does, from the flags (smoke or full).
type params struct {
	reps          int
	dur           time.Duration // each measured produce/e2e run
	consumeBytes  int64         // (c): bytes produced once, then consumed
	bigPartitions []int         // (e): the one-node many-partitions variants
	midPartitions int
	fioRuntime    time.Duration
	iperfSecs     int
	benchtime     string // go test -benchtime
	benchCount    int
	createLimit   time.Duration // (e): creating the big topic and seeing it writable
	fillLimit     time.Duration // (c): producing consumeBytes
	consumeLimit  time.Duration // (c): one consume run
}

func (o options) params() params {
	p := params{
		reps:          3,
		dur:           6 * time.Second,
		consumeBytes:  2 << 30,
		bigPartitions: []int{10000, 100000},
		midPartitions: 1000,
		fioRuntime:    4 * time.Second,
		iperfSecs:     4,
		benchtime:     "200ms",
		benchCount:    3,
		createLimit:   3 * time.Minute,
		fillLimit:     3 * time.Minute,
		consumeLimit:  3 * time.Minute,
	}
	if o.smoke {
		p = params{
			reps:          1,
			dur:           time.Second,
			consumeBytes:  20 << 20,
			bigPartitions: []int{100},
			midPartitions: 1000,
			fioRuntime:    time.Second,
			iperfSecs:     1,
			benchtime:     "1x",
			benchCount:    1,
			createLimit:   time.Minute,
			fillLimit:     time.Minute,
			consumeLimit:  time.Minute,
		}
	}
	if o.reps > 0 {
		p.reps = o.reps
	}
	if o.duration > 0 {
		p.dur = o.duration
	}
	return p
}

// suite is one run.
type suite struct {
	o      options
	p      params
	stderr io.Writer

	repo        string // the ringtail repository root
	benchDir    string // repo/benchmarks
	ringtailBin string // a private copy of bin/ringtail (others may rebuild bin/ while we run)
	kfakeBin    string
	dataRoot    string // every node's directory lives under it; removed at the end
	outDir      string

	reg     registry
	res     report.Results
	start   time.Time
	seq     int
	timings []timing

	aRecordsPerS float64 // median records/s of a/ringtail, for (d)
	machineSet   bool

	// pin is the CPU split between brokers and load generator; pinNow
	// says whether the workload running now uses it (a-d).
	pin    pinning
	pinNow bool
}

type timing struct {
	step string
	d    time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("suite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.reps, "reps", 0, "runs of each workload variant, for medians (default 3; smoke 1)")
	fs.DurationVar(&o.duration, "duration", 0, "length of each measured produce/e2e run (default 6s; smoke 1s)")
	fs.StringVar(&o.out, "out", "", "results folder (default benchmarks/results/<date>-<host>; smoke: a new temporary folder)")
	only := fs.String("only", "", "comma-separated workloads to run, e.g. a,c (default all of a-f)")
	fs.BoolVar(&o.skipLimits, "skip-limits", false, "skip fio and iperf3")
	fs.BoolVar(&o.skipMicro, "skip-micro", false, "skip the Go micro-benchmarks")
	fs.BoolVar(&o.smoke, "smoke", false, "seconds-long runs and small volumes: checks the tool end to end, not figures")
	fs.StringVar(&o.dataRoot, "data-dir", "/var/tmp", "where the nodes' data directories go (a real disk, not tmpfs)")
	fs.StringVar(&o.repo, "repo", "", "the ringtail repository root (default: found from the working directory)")
	fs.StringVar(&o.pin, "pin", "auto", "auto: brokers and load generator on disjoint CPUs (taskset) in workloads a-d when there are 2 or more; off: not pinned")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.pin != "auto" && o.pin != "off" {
		return o, fmt.Errorf("--pin %q: want auto or off", o.pin)
	}
	if o.reps < 0 || o.duration < 0 {
		return o, errors.New("--reps and --duration must not be negative")
	}
	o.only = map[string]bool{}
	for _, w := range strings.Split(*only, ",") {
		w = strings.TrimSpace(w)
		if w == "" {
			continue
		}
		if len(w) != 1 || w[0] < 'a' || w[0] > 'f' {
			return o, fmt.Errorf("--only %q: want workloads among a,b,c,d,e,f", *only)
		}
		o.only[w] = true
	}
	return o, nil
}

// run is the whole suite; main and the smoke test call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	s := &suite{o: o, p: o.params(), stderr: stderr, start: time.Now()}
	defer s.cleanup()

	if s.repo, err = findRepo(o.repo); err != nil {
		return err
	}
	s.benchDir = filepath.Join(s.repo, "benchmarks")
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	s.res = report.Results{Date: s.start.Format("2006-01-02"), Host: host, Started: s.start.UTC(), Smoke: o.smoke}
	switch {
	case o.out != "":
		s.outDir, err = filepath.Abs(o.out)
	case o.smoke:
		s.outDir, err = os.MkdirTemp("", "ringtail-suite-smoke-")
	default:
		s.outDir = filepath.Join(s.benchDir, "results", s.res.Date+"-"+host)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.outDir, 0o755); err != nil {
		return err
	}
	if s.dataRoot, err = os.MkdirTemp(o.dataRoot, "rtbench-"); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	s.progress("suite: results to %s, node data under %s, %d rep(s), %v runs%s", s.outDir, s.dataRoot, s.p.reps, s.p.dur, map[bool]string{true: " (smoke)"}[o.smoke])

	if err := s.step(ctx, "build", s.build); err != nil {
		return err
	}
	s.step(ctx, "machine", s.machine)
	if !o.skipLimits {
		s.step(ctx, "limits", s.limits)
	} else {
		s.res.Limits.Notes = append(s.res.Limits.Notes, "fio and iperf3 skipped (--skip-limits)")
	}
	workloads := []struct {
		id string
		fn func(context.Context) error
	}{
		{"a", s.workloadA}, {"b", s.workloadB}, {"c", s.workloadC},
		{"d", s.workloadD}, {"e", s.workloadE}, {"f", s.workloadF},
	}
	for _, w := range workloads {
		if len(o.only) > 0 && !o.only[w.id] {
			continue
		}
		s.pinNow = w.id <= "d" && s.pin.broker != ""
		s.step(ctx, "workload "+w.id, w.fn)
		s.pinNow = false
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	s.fsyncLatency()
	s.comparisons()
	if !o.skipMicro {
		s.step(ctx, "micro-benchmarks", s.micro)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}

	total := time.Since(s.start)
	s.res.DurationS = round1(total.Seconds())
	var tl []string
	for _, t := range s.timings {
		tl = append(tl, fmt.Sprintf("%s %.0fs", t.step, t.d.Seconds()))
	}
	s.res.Notes = append(s.res.Notes, fmt.Sprintf("Suite wall time %.0f s (%s).", total.Seconds(), strings.Join(tl, ", ")))
	notes, nerr := loadTargetNotes(s.benchDir)
	if nerr != nil {
		s.note("target notes: %v", nerr)
	}
	report.Evaluate(&s.res, notes)
	if err := report.Write(s.outDir, &s.res); err != nil {
		return fmt.Errorf("writing results: %w", err)
	}

	fmt.Fprintf(stderr, "\n== timings ==\n")
	for _, t := range s.timings {
		fmt.Fprintf(stderr, "  %-18s %6.1f s\n", t.step, t.d.Seconds())
	}
	fmt.Fprintf(stderr, "  %-18s %6.1f s\n", "total", time.Since(s.start).Seconds())
	fmt.Fprintf(stdout, "results: %s\n\n", s.outDir)
	if md, err := os.ReadFile(filepath.Join(s.outDir, "README.md")); err == nil {
		stdout.Write(md)
	} else {
		fmt.Fprintf(stdout, "(no README.md: %v)\n", err)
	}
	return nil
}

// step runs one part of the suite, timing it; a failed step is noted and
// the suite goes on.
func (s *suite) step(ctx context.Context, name string, fn func(context.Context) error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	t0 := time.Now()
	s.progress("== %s", name)
	err := fn(ctx)
	s.timings = append(s.timings, timing{name, time.Since(t0)})
	if err != nil && ctx.Err() == nil {
		s.note("%s: %v", name, err)
	}
	return err
}

// cleanup kills whatever is still running and removes the node data.
func (s *suite) cleanup() {
	s.reg.killAll()
	if s.dataRoot != "" {
		if err := os.RemoveAll(s.dataRoot); err != nil {
			fmt.Fprintf(s.stderr, "suite: removing %s: %v\n", s.dataRoot, err)
		}
	}
}

// progress prints one line to stderr, stamped with the time since start.
func (s *suite) progress(format string, args ...any) {
	fmt.Fprintf(s.stderr, "[%6.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

// note records a note in the results (first line only, bounded) and
// prints it in full.
func (s *suite) note(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.progress("NOTE: %s", msg)
	// One line in the table: the command's stderr (the reason) joined on.
	one := strings.Join(strings.Fields(strings.ReplaceAll(msg, s.dataRoot, "$DATA")), " ")
	if len(one) > 700 {
		one = one[:700] + "..."
	}
	s.res.Notes = append(s.res.Notes, one)
}

// findRepo returns the ringtail repository root: dir if given, else the
// first parent of the working directory holding cmd/ringtail and go.mod.
func findRepo(dir string) (string, error) {
	if dir != "" {
		return filepath.Abs(dir)
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := wd; ; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, "cmd", "ringtail")); err == nil && st.IsDir() {
			if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
				return d, nil
			}
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no ringtail repository above %s: give --repo", wd)
		}
	}
}

// build builds bin/ringtail and kfake-server, and copies both under the
// data root so a rebuild of bin/ by someone else does not change them
// mid-run.
func (s *suite) build(ctx context.Context) error {
	if _, _, err := runCmd(ctx, 10*time.Minute, s.repo, nil, "go", "build", "-o", "bin/ringtail", "./cmd/ringtail"); err != nil {
		return err
	}
	binDir := filepath.Join(s.dataRoot, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	s.ringtailBin = filepath.Join(binDir, "ringtail")
	if err := copyFile(s.ringtailBin, filepath.Join(s.repo, "bin", "ringtail")); err != nil {
		return err
	}
	if err := os.Chmod(s.ringtailBin, 0o755); err != nil {
		return err
	}
	kf := filepath.Join(binDir, "kfake-server")
	if _, _, err := runCmd(ctx, 10*time.Minute, s.benchDir, nil, "go", "build", "-o", kf, "./cmd/kfake-server"); err != nil {
		s.note("kfake-server did not build, kfake variants skipped: %v", err)
	} else {
		s.kfakeBin = kf
	}
	return nil
}

// machine records the host's facts.
func (s *suite) machine(ctx context.Context) error {
	m := &s.res.Machine
	m.CPUs = runtime.NumCPU()
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					m.MemGiB = round1(kb / (1 << 20))
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.FileSystem, m.Device = mountOf(s.dataRoot)
	s.pin, m.Pinning = choosePinning(s.o.pin, allowedCPUs())
	s.progress("pinning: %s", m.Pinning)
	if out, _, err := runCmd(ctx, time.Minute, s.repo, nil, "go", "env", "GOVERSION"); err == nil {
		m.GoVersion = strings.TrimSpace(string(out))
	}
	if out, _, err := runCmd(ctx, time.Minute, s.repo, nil, "git", "describe", "--always", "--dirty"); err == nil {
		m.RingtailVersion = "git " + strings.TrimSpace(string(out))
	}
	s.progress("machine: %d CPUs (%s), %.1f GiB, kernel %s, %s on %s, %s", m.CPUs, m.CPUModel, m.MemGiB, m.Kernel, m.FileSystem, m.Device, m.GoVersion)
	if m.FileSystem == "tmpfs" || m.FileSystem == "ramfs" {
		s.note("the data dir %s is on %s, not a disk: fsync figures mean nothing; give --data-dir", s.dataRoot, m.FileSystem)
	}
	return nil
}

// setMachineNode fills the machine facts the default node reports: its io
// engine, shard count and build version.
func (s *suite) setMachineNode(b *broker) {
	if s.machineSet {
		return
	}
	s.machineSet = true
	m := &s.res.Machine
	m.IOEngine, m.Shards = b.ioEngine, b.shards
	if text, err := scrape(b); err == nil {
		if mm := buildInfoRE.FindStringSubmatch(text); mm != nil {
			v := mm[1]
			if m.RingtailVersion != "" {
				v += " (" + m.RingtailVersion + ")"
			}
			m.RingtailVersion = v
		}
	}
}

// mountOf returns the file system type and source device of the mount
// holding path, from /proc/self/mountinfo (the longest mount point that
// is a prefix of path).
func mountOf(path string) (fstype, device string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", ""
	}
	best := -1
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options... - fstype source superopts
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f := strings.Fields(pre)
		g := strings.Fields(post)
		if len(f) < 5 || len(g) < 2 {
			continue
		}
		mp := f[4]
		if (path == mp || strings.HasPrefix(path, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > best {
			best = len(mp)
			fstype, device = g[0], g[1]
		}
	}
	if strings.HasPrefix(device, "/dev/") {
		name := filepath.Base(device)
		if r, err := os.ReadFile("/sys/class/block/" + name + "/queue/rotational"); err == nil {
			device += " (queue/rotational=" + strings.TrimSpace(string(r)) + ")"
		}
	}
	return fstype, device
}

// loadTargetNotes reads benchmarks/target-notes.json, or a flat
// target-notes.toml (id = "sentence" lines); nil when neither exists.
func loadTargetNotes(benchDir string) (map[string]string, error) {
	if b, err := os.ReadFile(filepath.Join(benchDir, "target-notes.json")); err == nil {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("target-notes.json: %w", err)
		}
		return m, nil
	}
	b, err := os.ReadFile(filepath.Join(benchDir, "target-notes.toml"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return parseFlatTOML(string(b))
}

// parseFlatTOML reads `key = "value"` lines (keys bare or quoted, basic
// strings, # comments, no tables); enough for a notes file.
func parseFlatTOML(text string) (map[string]string, error) {
	m := map[string]string{}
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("target-notes.toml line %d: no '='", i+1)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if uk, err := strconv.Unquote(k); err == nil {
			k = uk
		}
		if strings.HasPrefix(v, `"`) {
			// Cut a trailing comment after the closing quote.
			end := strings.LastIndex(v, `"`)
			uv, err := strconv.Unquote(v[:end+1])
			if err != nil {
				return nil, fmt.Errorf("target-notes.toml line %d: %v", i+1, err)
			}
			v = uv
		} else if strings.HasPrefix(v, "'") && strings.Count(v, "'") >= 2 {
			v = v[1:strings.LastIndex(v, "'")]
		}
		m[k] = v
	}
	return m, nil
}

func round1(x float64) float64 { return float64(int64(x*10+0.5)) / 10 }
