package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ringtail/ringtail/benchmarks/report"
)

// cpuProfile starts fetching a secs-long CPU profile of b into
// <name>-cpu.pprof; the channel reports when it is written.
func (s *suite) cpuProfile(b *broker, name string, secs int) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- fetchTo(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", b.adminPort, secs),
			filepath.Join(s.outDir, name+"-cpu.pprof"), time.Duration(secs)*time.Second+time.Minute)
	}()
	return done
}

// finishProfile waits for the CPU profile, fetches the allocation
// profile, writes the `go tool pprof -top` text of both and lists them in
// the results.
func (s *suite) finishProfile(ctx context.Context, b *broker, name string, cpu <-chan error) {
	if err := <-cpu; err != nil {
		s.note("profile %s-cpu: %v", name, err)
	}
	if err := fetchTo(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/allocs", b.adminPort),
		filepath.Join(s.outDir, name+"-allocs.pprof"), time.Minute); err != nil {
		s.note("profile %s-allocs: %v", name, err)
	}
	for _, kind := range []string{"cpu", "allocs"} {
		if ctx.Err() != nil {
			return
		}
		base := name + "-" + kind
		if _, err := os.Stat(filepath.Join(s.outDir, base+".pprof")); err != nil {
			continue
		}
		s.res.Profiles = append(s.res.Profiles, base+".pprof")
		out, _, err := runCmd(ctx, 2*time.Minute, s.outDir, nil, "go", "tool", "pprof", "-top", "-nodecount=25",
			s.ringtailBin, base+".pprof")
		if err != nil {
			s.note("go tool pprof -top %s.pprof: %v", base, err)
			continue
		}
		if err := os.WriteFile(filepath.Join(s.outDir, base+".txt"), out, 0o644); err != nil {
			s.note("writing %s.txt: %v", base, err)
			continue
		}
		s.res.Profiles = append(s.res.Profiles, base+".txt")
	}
	s.progress("profiles of %s written to %s", name, s.outDir)
}

// fetchTo GETs url into path.
func fetchTo(url, path string, timeout time.Duration) error {
	cl := &http.Client{Timeout: timeout}
	resp, err := cl.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 500))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// micro runs the storage, kafka and iocore Go benchmarks and keeps the
// median of each over -count runs.
func (s *suite) micro(ctx context.Context) error {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", s.p.benchtime,
		"-count", strconv.Itoa(s.p.benchCount)}
	if s.o.smoke {
		// One op of the 10,000-partition heap benchmark opens 10,000
		// partitions: seconds the smoke does not need to prove the step.
		args = append(args, "-skip", "BenchmarkIdlePartitionHeap/10000")
	}
	args = append(args, "./storage", "./kafka", "./iocore")
	out, _, err := runCmd(ctx, 5*time.Minute, s.repo, nil, "go", args...)
	s.res.Micro = parseBench(string(out))
	for _, m := range s.res.Micro {
		s.progress("micro %s %s: %.0f ns/op, %.1f MB/s, %.0f B/op, %.0f allocs/op", m.Package, m.Name, m.NsPerOp, m.MBPerS, m.BytesPerOp, m.AllocsPerOp)
	}
	if err != nil {
		return err
	}
	if len(s.res.Micro) == 0 {
		return fmt.Errorf("go test -bench printed no benchmark lines")
	}
	return nil
}

// parseBench reads `go test -bench -benchmem` output into one Micro per
// package and benchmark, the median of each figure over its runs.
func parseBench(out string) []report.Micro {
	type key struct{ pkg, name string }
	runs := map[key][]report.Micro{}
	var order []key
	pkg := ""
	for _, line := range strings.Split(out, "\n") {
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), "github.com/ringtail/ringtail/")
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue // a --- BENCH line or a log line
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the -GOMAXPROCS suffix
			}
		}
		m := report.Micro{Package: pkg, Name: name}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				m.NsPerOp = v
			case "MB/s":
				m.MBPerS = v
			case "B/op":
				m.BytesPerOp = v
			case "allocs/op":
				m.AllocsPerOp = v
			}
		}
		k := key{pkg, name}
		if _, seen := runs[k]; !seen {
			order = append(order, k)
		}
		runs[k] = append(runs[k], m)
	}
	var res []report.Micro
	for _, k := range order {
		ms := runs[k]
		col := func(get func(report.Micro) float64) float64 {
			xs := make([]float64, len(ms))
			for i, m := range ms {
				xs[i] = get(m)
			}
			return median(xs)
		}
		res = append(res, report.Micro{
			Package:     k.pkg,
			Name:        k.name,
			NsPerOp:     col(func(m report.Micro) float64 { return m.NsPerOp }),
			MBPerS:      col(func(m report.Micro) float64 { return m.MBPerS }),
			BytesPerOp:  col(func(m report.Micro) float64 { return m.BytesPerOp }),
			AllocsPerOp: col(func(m report.Micro) float64 { return m.AllocsPerOp }),
		})
	}
	sort.SliceStable(res, func(i, j int) bool { return res[i].Package < res[j].Package })
	return res
}
