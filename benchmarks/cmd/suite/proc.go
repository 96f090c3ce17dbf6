package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every process the suite starts runs in its own process group with
// Pdeathsig SIGKILL, so it can be killed with everything it started, and
// dies with the suite even if the suite is killed itself.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup sends sig to the process group of pid (the process and its
// children); pid is the group's leader since procAttr sets Setpgid.
func killGroup(pid int, sig syscall.Signal) {
	if pid > 0 {
		_ = syscall.Kill(-pid, sig)
	}
}

// proc is a long-running child (a broker, kfake-server, iperf3 -s), kept in
// the suite's registry until it has been stopped.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	exited  chan struct{}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// readLog returns what the process has written so far.
func (p *proc) readLog() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// registry tracks the children that are running, so every exit path
// (errors, Ctrl-C, the end) can stop them by PID.
type registry struct {
	mu    sync.Mutex
	procs map[*proc]struct{}
}

// start starts bin with args, output to logPath, and registers it.
func (r *registry) start(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = procAttr()
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, log: f, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.exited)
	}()
	r.mu.Lock()
	if r.procs == nil {
		r.procs = map[*proc]struct{}{}
	}
	r.procs[p] = struct{}{}
	r.mu.Unlock()
	return p, nil
}

// stop sends SIGTERM to p, waits up to grace for it to exit, then kills
// its process group. It returns an error if p did not exit cleanly.
func (r *registry) stop(p *proc, grace time.Duration) error {
	if p == nil {
		return nil
	}
	var err error
	if p.running() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(grace):
			err = fmt.Errorf("%s (pid %d) did not exit within %v of SIGTERM; killed", p.name, p.pid(), grace)
		}
	}
	killGroup(p.pid(), syscall.SIGKILL) // anything it left behind
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		err = errors.Join(err, fmt.Errorf("%s (pid %d) still there 10s after SIGKILL", p.name, p.pid()))
	}
	p.log.Close()
	r.mu.Lock()
	delete(r.procs, p)
	r.mu.Unlock()
	return err
}

// killAll kills every registered process (the error and interrupt path).
func (r *registry) killAll() {
	r.mu.Lock()
	ps := make([]*proc, 0, len(r.procs))
	for p := range r.procs {
		ps = append(ps, p)
	}
	r.mu.Unlock()
	for _, p := range ps {
		killGroup(p.pid(), syscall.SIGKILL)
		_ = p.cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
		}
		p.log.Close()
		r.mu.Lock()
		delete(r.procs, p)
		r.mu.Unlock()
	}
}

// waitLog polls p's log until it contains want, p exits, ctx ends or the
// timeout passes.
func waitLog(ctx context.Context, p *proc, want string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(p.readLog(), want) {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("%s exited before %q:\n%s", p.name, want, tail(p.readLog(), 3000))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %q after %v:\n%s", p.name, want, timeout, tail(p.readLog(), 3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runCmd runs a short-lived command in dir, bounded by timeout and ctx,
// killing its whole process group when either ends, and returns its
// stdout and stderr.
func runCmd(ctx context.Context, timeout time.Duration, dir string, env []string, name string, args ...string) ([]byte, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.SysProcAttr = procAttr()
	cmd.Cancel = func() error {
		killGroup(cmd.Process.Pid, syscall.SIGKILL)
		return nil
	}
	cmd.WaitDelay = 5 * time.Second
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	err := cmd.Run()
	if err != nil && ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("%s: still running after %v: killed", name, timeout)
	}
	if err != nil {
		err = fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, tail(strings.TrimSpace(errb.String()), 2000))
	}
	return out.Bytes(), errb.Bytes(), err
}

// freePort returns a loopback TCP port that was free a moment ago and that
// no earlier call returned, drawn from below the kernel's default
// ephemeral range (32768-60999) so that no outgoing connection takes it
// before the node binds it. With bind(:0) two nodes of one cluster could be
// handed the same port (as testkit's FreePort once was, in CI).
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(32768-20000)
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[port] = true
		return port, nil
	}
	return 0, errors.New("no free loopback port in [20000, 32768) after 1000 tries")
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// rssMiB is VmRSS of pid in MiB (0 if unknown).
func rssMiB(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest) // "123456 kB"
			if len(f) >= 1 {
				kb, _ := strconv.ParseFloat(f[0], 64)
				return kb / 1024
			}
		}
	}
	return 0
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// copyFile copies src to dst.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// nofileLimit is the soft "Max open files" of pid, 0 if unknown.
func nofileLimit(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) >= 1 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
	}
	return 0
}
