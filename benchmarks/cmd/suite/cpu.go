package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"

	"github.com/ringtail/ringtail/benchmarks/report"
)

// CPU per byte (issue 16): the broker's own CPU seconds, read from
// /proc/<pid>/stat (utime + stime of every thread of the broker's process,
// not of the load generator) before and after a measured run, divided by
// the GiB the run produced or consumed. Broker and load generator run on
// disjoint CPUs (taskset) where the machine has at least two, so the load
// generator neither steals the broker's CPU nor lends it its own.

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat:
// 100 on every Linux architecture Go supports (the kernel fixes it for
// user space whatever CONFIG_HZ is).
const clockTicks = 100

// cpuSeconds is the user plus system CPU time pid has used so far.
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b))
}

// parseStatCPU reads utime and stime (fields 14 and 15) from a
// /proc/<pid>/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself, so fields are counted from the
// last ')'.
func parseStatCPU(stat string) (float64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("/proc stat: no ')' after the command name")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state): utime is field 14 = f[11], stime f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc stat: %d fields after the command name, want at least 13", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("/proc stat: utime/stime: %w", err)
	}
	return float64(ut+st) / clockTicks, nil
}

// cpuMeter measures one broker process's CPU over a window.
type cpuMeter struct {
	pid   int
	start float64
	err   error
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	m.start, m.err = cpuSeconds(pid)
	return m
}

// record adds the window's CPU seconds and CPU seconds per GiB moved to r
// (Extra "broker_cpu_s" and key, e.g. "cpu_s_per_gib_produced"); bytes
// is what the run moved.
func (m *cpuMeter) record(r *report.Run, key string, bytes int64) {
	if m == nil || m.err != nil || r == nil {
		return
	}
	end, err := cpuSeconds(m.pid)
	if err != nil {
		return
	}
	if r.Extra == nil {
		r.Extra = map[string]float64{}
	}
	cpu := end - m.start
	r.Extra[report.ExtraBrokerCPU] = round3(cpu)
	if bytes > 0 {
		r.Extra[key] = round3(cpu / (float64(bytes) / (1 << 30)))
	}
}

// pinning is where the suite puts brokers and load generators.
type pinning struct {
	broker, load string // taskset CPU lists; "" for no pinning
	brokerCPUs   int
	taskset      string // path of taskset
}

// choosePinning splits the CPUs this process may use between broker (the
// first half, at least one) and load generator (the rest), when there are
// at least two and taskset exists. mode is the --pin flag.
func choosePinning(mode string, cpus []int) (pinning, string) {
	if mode == "off" {
		return pinning{}, "not pinned (--pin off)"
	}
	if len(cpus) < 2 {
		return pinning{}, fmt.Sprintf("not pinned: %d CPU available", len(cpus))
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return pinning{}, "not pinned: taskset not found (util-linux)"
	}
	n := len(cpus) / 2
	p := pinning{broker: cpuList(cpus[:n]), load: cpuList(cpus[n:]), brokerCPUs: n, taskset: ts}
	return p, fmt.Sprintf("workloads a-d: brokers (Ringtail and kfake) on CPU %s, load generator on CPU %s (taskset); iperf3 likewise (server, client); e, f and fio unpinned", p.broker, p.load)
}

func cpuList(cpus []int) string {
	s := make([]string, len(cpus))
	for i, c := range cpus {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// allowedCPUs lists the CPUs this process may run on, from
// /proc/self/status Cpus_allowed_list (0..NumCPU-1 when unreadable).
func allowedCPUs() []int {
	var cpus []int
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			rest, ok := strings.CutPrefix(line, "Cpus_allowed_list:")
			if !ok {
				continue
			}
			cpus = parseCPUList(strings.TrimSpace(rest))
		}
	}
	if len(cpus) == 0 {
		for i := range runtime.NumCPU() {
			cpus = append(cpus, i)
		}
	}
	return cpus
}

// parseCPUList reads a kernel CPU list such as "0-3,8,10-11".
func parseCPUList(s string) []int {
	var cpus []int
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil
			}
		}
		for c := a; c <= b; c++ {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

// wrap returns the command line that runs bin args on cpus ("" for as is).
func (p pinning) wrap(cpus, bin string, args []string) (string, []string) {
	if cpus == "" || p.taskset == "" {
		return bin, args
	}
	return p.taskset, append([]string{"-c", cpus, bin}, args...)
}
