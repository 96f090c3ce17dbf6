// Package localnode starts a real ringtail binary as a fresh single node on
// loopback ports for the benchmark commands (createbench, compactbench),
// and builds the binary from the repository when none is given.
package localnode

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Node is one running ringtail process.
type Node struct {
	Addr      string // Kafka listener, 127.0.0.1:port
	SSLAddr   string // the SSL listener (StartWith with a keystore); "" without
	AdminAddr string // admin HTTP (metrics, readiness)
	LogPath   string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// FindRepo is the first folder up from the working folder with
// cmd/ringtail in it.
func FindRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "cmd", "ringtail")); err == nil && st.IsDir() {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", errors.New("cannot find the repository (a folder with cmd/ringtail) above the working folder")
		}
		dir = up
	}
}

// Build builds ringtail from the repository into dst.
func Build(ctx context.Context, dst string) error {
	repo, err := FindRepo()
	if err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-o", dst, "./cmd/ringtail")
	build.Dir = repo
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building ringtail: %v\n%s", err, b)
	}
	return nil
}

// Start starts bin as a fresh node with its data in dir/data; settings are
// extra top-level server.toml lines (Kafka keys). It returns once the node
// answers /v1/status/ready.
func Start(ctx context.Context, bin, dir, settings string) (*Node, error) {
	return StartWith(ctx, bin, dir, Options{Settings: settings})
}

// Options are what StartWith adds to a node's server.toml.
type Options struct {
	Settings string // top-level lines (Kafka keys)
	Ringtail string // lines of the [ringtail] table
	// Keystore and Truststore, when set, add an SSL listener (Node.SSLAddr)
	// with these PEM files.
	Keystore, Truststore string
}

// StartWith is Start with more of the config: an existing dir/data is
// kept, so a node can be restarted on the same data with other settings.
func StartWith(ctx context.Context, bin, dir string, o Options) (*Node, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ports, err := freePorts(4)
	if err != nil {
		return nil, err
	}
	listeners := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", ports[0])
	var sslAddr, ssl string
	if o.Keystore != "" {
		sslAddr = fmt.Sprintf("127.0.0.1:%d", ports[3])
		listeners += ",SSL://" + sslAddr
		ssl = fmt.Sprintf("ssl.keystore.location = %q\nssl.truststore.location = %q\n", o.Keystore, o.Truststore)
	}
	cfg := fmt.Sprintf("node.id = 1\nlisteners = \"%s,CONTROLLER://127.0.0.1:%d\"\nadvertised.listeners = \"%s\"\nlog.dirs = %q\n%s%s\n[ringtail]\nadmin_listen = \"127.0.0.1:%d\"\n%s\n",
		listeners, ports[1], listeners, filepath.Join(dir, "data"), ssl, o.Settings, ports[2], o.Ringtail)
	cfgPath := filepath.Join(dir, "server.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	n := &Node{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), SSLAddr: sslAddr, AdminAddr: fmt.Sprintf("127.0.0.1:%d", ports[2]),
		LogPath: filepath.Join(dir, "ringtail.log"), exited: make(chan struct{})}
	logf, err := os.Create(n.LogPath)
	if err != nil {
		return nil, err
	}
	n.cmd = exec.Command(bin, "serve", "--config", cfgPath)
	n.cmd.Stdout, n.cmd.Stderr = logf, logf
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := n.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() { n.cmd.Wait(); logf.Close(); close(n.exited) }()
	if err := n.waitReady(ctx); err != nil {
		n.Stop()
		b, _ := os.ReadFile(n.LogPath)
		return nil, fmt.Errorf("%w\n%s", err, tail(string(b), 2000))
	}
	return n, nil
}

// Stop sends SIGTERM and waits (SIGKILL after 30 s).
func (n *Node) Stop() {
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(30 * time.Second):
		n.cmd.Process.Kill()
		<-n.exited
	}
}

// Metrics returns the node's /metrics text.
func (n *Node) Metrics() (string, error) {
	resp, err := http.Get("http://" + n.AdminAddr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (n *Node) waitReady(ctx context.Context) error {
	url := "http://" + n.AdminAddr + "/v1/status/ready"
	cl := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := cl.Get(url); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-n.exited:
			return errors.New("ringtail exited during start")
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("ringtail not ready after 60 s")
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// freePorts binds n loopback ports at once and releases them.
func freePorts(n int) ([]int, error) {
	var out []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

// Prepare makes a work folder (the caller removes it) and, when *bin is
// empty, builds ringtail into it and points *bin there.
func Prepare(ctx context.Context, prefix string, bin *string) (string, error) {
	work, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	if *bin == "" {
		*bin = filepath.Join(work, "ringtail")
		if err := Build(ctx, *bin); err != nil {
			os.RemoveAll(work)
			return "", err
		}
	}
	return work, nil
}

// Median of xs; 0 for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ProduceResult is the summary line of `ringtail bench produce --output
// json`.
type ProduceResult struct {
	RecordsPerS float64 `json:"records_per_s"`
	MBPerS      float64 `json:"mb_per_s"`
	Errors      int64   `json:"errors"`
	Latency     struct {
		P99 float64 `json:"p99"`
	} `json:"latency_ms"`
}

// BenchProduce runs `ringtail bench produce -b <node> --output json` with
// args and returns its summary.
func (n *Node) BenchProduce(ctx context.Context, bin string, args ...string) (ProduceResult, error) {
	var res ProduceResult
	cmd := exec.CommandContext(ctx, bin, append([]string{"bench", "produce", "-b", n.Addr, "--output", "json"}, args...)...)
	b, err := cmd.Output()
	if err != nil {
		return res, fmt.Errorf("bench produce: %v\n%s", err, b)
	}
	var last string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) != "" {
			last = line
		}
	}
	if err := json.Unmarshal([]byte(last), &res); err != nil {
		return res, fmt.Errorf("bench produce summary %q: %v", last, err)
	}
	return res, nil
}

// PID is the node's process id (for /proc/<pid>/stat).
func (n *Node) PID() int { return n.cmd.Process.Pid }

// CPUSeconds is utime+stime of pid from /proc/<pid>/stat, at Linux's
// USER_HZ of 100 ticks per second.
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(s[i+1:])
	// Fields after the command: state is f[0], utime f[11], stime f[12]
	// (fields 14 and 15 of proc(5)).
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return float64(ut+st) / 100, nil
}
