// Package testkit is imported only by tests. It builds the real ringtail
// binary once per test process, starts nodes on free loopback ports with
// their own data dirs, kills, stops and restarts them by PID, and hands out
// franz-go clients connected to them; certs.go makes throwaway CAs and
// certificates for TLS tests.
package testkit

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Limits for waiting on a node.
const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary returns the path of the ringtail binary under test: $RINGTAIL_BIN
// when set (make test builds it first), else one built now into a temporary
// directory, once per test process. RINGTAIL_RACE=1 builds it with -race.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RINGTAIL_BIN"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return abs
	}
	buildOnce.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "ringtail-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "ringtail")
		args := []string{"build", "-o", buildPath}
		if os.Getenv("RINGTAIL_RACE") == "1" {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/ringtail")...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("testkit: go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("testkit: go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("testkit: not inside the ringtail module")
	}
	return filepath.Dir(mod), nil
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and
// that no earlier call in this process returned. It draws from below the
// kernel's ephemeral range (ip_local_port_range, 32768-60999 by default),
// so a port handed to a node cannot be taken in the meantime as the source
// port of some outgoing connection, and it never hands the same port out
// twice: with ports from bind(:0), two nodes of one cluster were once given
// the same listener port and one of them failed with "address already in
// use".
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := portLow + portRand.IntN(portHigh-portLow)
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[port] = true
		return port
	}
	t.Fatalf("testkit: no free port in [%d, %d) after 1000 tries", portLow, portHigh)
	return 0
}

// FreePort's range: below the default ephemeral range, above the
// well-known and commonly used registered ports.
const portLow, portHigh = 20000, 32768

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
	portRand   = rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
)

// Options configure a node.
type Options struct {
	// Settings are extra server.toml top-level keys (Kafka property names),
	// written as `key = value` with value used verbatim (quote strings); an
	// empty value leaves the key out.
	Settings map[string]string
	// Ringtail are extra keys of the [ringtail] table, verbatim values.
	Ringtail map[string]string
	// DataDir defaults to a new t.TempDir().
	DataDir string
	// Env is extra environment ("KEY=value") for the ringtail process, on
	// top of the test process's own; it becomes Node.Env.
	Env []string
	// NodeSettings, in NewCluster, gives node id's own settings, applied
	// after Settings (e.g. each node's advertised.listeners).
	NodeSettings func(id int) map[string]string
	// NodeRingtail, in NewCluster, gives node id's own [ringtail] keys,
	// applied after Ringtail.
	NodeRingtail func(id int) map[string]string
	// ExtraLogDirs gives each node that many log dirs (new temp dirs)
	// after its data dir: log.dirs lists them all (Node.LogDirs). A
	// disk of one fails for a test with the EIO hook: Env
	// RINGTAIL_TEST_EIO_FILE=<file>, and the dir's path written in the
	// file (removed again to heal it; the broker sees it at restart).
	ExtraLogDirs int
	// SchemaRegistry turns on the built-in Schema Registry on a free
	// loopback port of each node (Node.SchemaRegistryURL).
	SchemaRegistry bool
	// HTTPProxy turns on the built-in HTTP Proxy on a free loopback port
	// of each node (Node.HTTPProxyURL).
	HTTPProxy bool
	// Console turns on the web console on a free loopback port of each
	// node (Node.ConsoleURL).
	Console bool
	// Connect turns on the built-in Kafka Connect worker (distributed
	// mode) on a free loopback port of each node (Node.ConnectURL).
	Connect bool
}

// Node is one ringtail process under test.
type Node struct {
	t          testing.TB
	Bin        string
	ConfigPath string
	DataDir    string
	// LogDirs is log.dirs: DataDir, then Options.ExtraLogDirs more.
	LogDirs  []string
	Port     int
	CtrlPort int
	// ControllerOnly: process.roles = "controller"; no Kafka listener, so
	// Port is unused and readiness is read from the log.
	ControllerOnly bool
	// Env is extra environment ("KEY=value") for the process, read at
	// each start: a test may change it between a Kill or Stop and the
	// next Start (Options.Env sets it first).
	Env []string

	// RegistryPort is the Schema Registry's port (Options.SchemaRegistry);
	// 0 when it is off.
	RegistryPort int
	// HTTPProxyPort is the HTTP Proxy's port (Options.HTTPProxy); 0 when
	// it is off.
	HTTPProxyPort int
	// ConsolePort is the web console's port (Options.Console); 0 when it
	// is off.
	ConsolePort int
	// ConnectPort is the Connect REST API's port (Options.Connect); 0
	// when it is off.
	ConnectPort int

	cmd *exec.Cmd
	// pid mirrors cmd's process id (0 when stopped) for PID, which other
	// goroutines call (a workload's Cluster.Addrs while a fault kills).
	pid     atomic.Int64
	logPath string
	logFile *os.File
	exited  chan struct{}
	starts  int
}

// StartNode writes a config for a single combined node and starts it,
// returning once its Kafka listener answers. The node is killed at test end.
func StartNode(t testing.TB, o Options) *Node {
	t.Helper()
	n := NewNode(t, o)
	n.Start()
	return n
}

// NewNode prepares a node without starting it.
func NewNode(t testing.TB, o Options) *Node {
	t.Helper()
	return newNodeOnPorts(t, o, FreePort(t), FreePort(t))
}

func newNodeOnPorts(t testing.TB, o Options, port, ctrlPort int) *Node {
	t.Helper()
	n := &Node{t: t, Bin: Binary(t), DataDir: o.DataDir, Port: port, CtrlPort: ctrlPort,
		Env: append([]string(nil), o.Env...)}
	if n.DataDir == "" {
		n.DataDir = t.TempDir()
	}
	cfgDir := t.TempDir()
	n.ConfigPath = filepath.Join(cfgDir, "server.toml")
	settings := map[string]string{
		"node.id":                   "1",
		"process.roles":             `"broker,controller"`,
		"listeners":                 fmt.Sprintf(`"PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"`, n.Port, n.CtrlPort),
		"advertised.listeners":      fmt.Sprintf(`"PLAINTEXT://127.0.0.1:%d"`, n.Port),
		"controller.listener.names": `"CONTROLLER"`,
		"controller.quorum.voters":  fmt.Sprintf(`"1@127.0.0.1:%d"`, n.CtrlPort),
		"log.dirs":                  fmt.Sprintf("%q", n.DataDir),
	}
	n.LogDirs = []string{n.DataDir}
	for range o.ExtraLogDirs {
		n.LogDirs = append(n.LogDirs, t.TempDir())
	}
	if len(n.LogDirs) > 1 {
		settings["log.dirs"] = fmt.Sprintf("%q", strings.Join(n.LogDirs, ","))
	}
	for k, v := range o.Settings {
		settings[k] = v
		if v == "" {
			delete(settings, k) // an empty value removes a default key
		}
	}
	rt := map[string]string{"admin_listen": `""`}
	if e := os.Getenv("RINGTAIL_IO_ENGINE"); e != "" {
		rt["io_engine"] = fmt.Sprintf("%q", e)
	}
	if o.SchemaRegistry {
		n.RegistryPort = FreePort(t)
		rt["schema_registry_enable"] = "true"
		rt["schema_registry_listen"] = fmt.Sprintf(`"127.0.0.1:%d"`, n.RegistryPort)
	}
	if o.HTTPProxy {
		n.HTTPProxyPort = FreePort(t)
		rt["http_proxy_enable"] = "true"
		rt["http_proxy_listen"] = fmt.Sprintf(`"127.0.0.1:%d"`, n.HTTPProxyPort)
	}
	if o.Console {
		n.ConsolePort = FreePort(t)
		rt["console_enable"] = "true"
		rt["console_listen"] = fmt.Sprintf(`"127.0.0.1:%d"`, n.ConsolePort)
	}
	if o.Connect {
		n.ConnectPort = FreePort(t)
		rt["connect_enable"] = "true"
		rt["connect_listen"] = fmt.Sprintf(`"127.0.0.1:%d"`, n.ConnectPort)
	}
	for k, v := range o.Ringtail {
		rt[k] = v
	}
	var b bytes.Buffer
	writeKV(&b, settings)
	b.WriteString("\n[ringtail]\n")
	writeKV(&b, rt)
	if err := os.WriteFile(n.ConfigPath, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	n.logPath = filepath.Join(cfgDir, "ringtail.log")
	t.Cleanup(n.cleanup)
	return n
}

// ringtailOf is node id's [ringtail] keys: Ringtail, then NodeRingtail's.
func (o Options) ringtailOf(id int) map[string]string {
	if o.NodeRingtail == nil {
		return o.Ringtail
	}
	out := map[string]string{}
	for k, v := range o.Ringtail {
		out[k] = v
	}
	for k, v := range o.NodeRingtail(id) {
		out[k] = v
	}
	return out
}

func writeKV(b *bytes.Buffer, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s = %s\n", k, m[k])
	}
}

// Addr is the node's Kafka address.
func (n *Node) Addr() string { return fmt.Sprintf("127.0.0.1:%d", n.Port) }

// SchemaRegistryURL is the node's Schema Registry URL (Options.SchemaRegistry).
func (n *Node) SchemaRegistryURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.RegistryPort) }

// HTTPProxyURL is the node's HTTP Proxy URL (Options.HTTPProxy).
func (n *Node) HTTPProxyURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.HTTPProxyPort) }

// ConsoleURL is the node's web console URL (Options.Console).
func (n *Node) ConsoleURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.ConsolePort) }

// ConnectURL is the node's Connect REST URL (Options.Connect).
func (n *Node) ConnectURL() string { return fmt.Sprintf("http://127.0.0.1:%d", n.ConnectPort) }

// Start starts the process (again) and waits until it serves.
func (n *Node) Start() {
	n.t.Helper()
	n.startProcess()
	n.waitServing()
}

// startProcess starts the process without waiting for it to serve.
func (n *Node) startProcess() {
	n.t.Helper()
	if n.cmd != nil {
		n.t.Fatal("testkit: node already running")
	}
	f, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		n.t.Fatal(err)
	}
	n.starts++
	fmt.Fprintf(f, "=== testkit: start %d\n", n.starts)
	n.logFile = f
	cmd := exec.Command(n.Bin, "serve", "--config", n.ConfigPath)
	cmd.Stdout = f
	cmd.Stderr = f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// A race-enabled build stops at the first data race, so the test that
	// caused it fails instead of the report hiding in the node's log.
	cmd.Env = append(os.Environ(), "GORACE=halt_on_error=1")
	cmd.Env = append(cmd.Env, n.Env...) // later entries win
	if err := cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	n.cmd = cmd
	n.pid.Store(int64(cmd.Process.Pid))
	n.exited = make(chan struct{})
	go func(c *exec.Cmd, done chan struct{}) {
		c.Wait()
		close(done)
	}(cmd, n.exited)
}

// waitServing waits until the node answers a Kafka request, or fails the
// test if it exits or the deadline passes.
func (n *Node) waitServing() {
	n.t.Helper()
	deadline := time.Now().Add(startTimeout)
	if n.ControllerOnly {
		for !strings.Contains(n.LogSinceLastStart(), "ringtail controller ready") {
			select {
			case <-n.exited:
				n.t.Fatalf("testkit: ringtail exited during start:\n%s", n.Log())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				n.t.Fatalf("testkit: controller not ready after %v:\n%s", startTimeout, n.Log())
			}
		}
		return
	}
	for {
		select {
		case <-n.exited:
			n.t.Fatalf("testkit: ringtail exited during start:\n%s", n.Log())
		default:
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(n.Addr()), kgo.DialTimeout(time.Second))
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			err = cl.Ping(ctx)
			cancel()
			cl.Close()
			if err == nil {
				return
			}
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("testkit: ringtail not serving after %v: %v\n%s", startTimeout, err, n.Log())
		}
		select {
		case <-n.exited:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// PID is the running process id (0 when stopped); safe to call while
// another goroutine starts or stops the node.
func (n *Node) PID() int { return int(n.pid.Load()) }

// Kill sends SIGKILL and waits for the process to be gone.
func (n *Node) Kill() { n.signalAndWait(syscall.SIGKILL) }

// Pause stops the process with SIGSTOP: it keeps its sockets and files,
// and its peers hear nothing from it until Resume.
func (n *Node) Pause() {
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(syscall.SIGSTOP)
	}
}

// Resume continues a paused process with SIGCONT.
func (n *Node) Resume() {
	if n.cmd != nil {
		_ = n.cmd.Process.Signal(syscall.SIGCONT)
	}
}

// Stop sends SIGTERM and waits for a clean exit; it fails the test if the
// process does not exit 0.
func (n *Node) Stop() {
	n.t.Helper()
	n.signalAndWait(syscall.SIGTERM)
}

// Restart stops (SIGTERM) and starts the node.
func (n *Node) Restart() {
	n.t.Helper()
	n.Stop()
	n.Start()
}

func (n *Node) signalAndWait(sig syscall.Signal) {
	n.t.Helper()
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(sig)
	select {
	case <-n.exited:
	case <-time.After(stopTimeout):
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.t.Fatalf("testkit: ringtail did not exit within %v of %v:\n%s", stopTimeout, sig, n.Log())
	}
	state := n.cmd.ProcessState
	n.cmd = nil
	n.pid.Store(0)
	n.logFile.Close()
	if sig == syscall.SIGTERM && !state.Success() {
		n.t.Fatalf("testkit: ringtail exited with %v after SIGTERM:\n%s", state, n.Log())
	}
}

// Log returns everything the node has written to stdout and stderr.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

// LogSinceLastStart returns what the current (or last) run wrote.
func (n *Node) LogSinceLastStart() string {
	l := n.Log()
	marker := fmt.Sprintf("=== testkit: start %d\n", n.starts)
	if i := strings.LastIndex(l, marker); i >= 0 {
		return l[i+len(marker):]
	}
	return l
}

func (n *Node) cleanup() {
	if n.cmd != nil {
		_ = n.cmd.Process.Kill()
		<-n.exited
		n.cmd = nil
		n.pid.Store(0)
		n.logFile.Close()
	}
	if n.t.Failed() {
		n.t.Logf("ringtail log (%s):\n%s", n.logPath, tail(n.Log(), 8000))
	}
}

func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return "...\n" + s[len(s)-max:]
}

// Client returns a franz-go client for the node, closed at test end.
func (n *Node) Client(opts ...kgo.Opt) *kgo.Client {
	n.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.Addr())}, opts...)...)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client for the node.
func (n *Node) Admin() *kadm.Client { return kadm.NewClient(n.Client()) }

// CreateTopic creates a topic and fails the test on error.
func (n *Node) CreateTopic(name string, partitions int32, configs map[string]*string) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := n.Admin().CreateTopic(ctx, partitions, 1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		n.t.Fatalf("create topic %s: %v", name, err)
	}
}

// WaitFor polls cond until it returns true or the timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Cluster is n combined nodes (broker and controller) with node ids
// 1..n, one controller quorum and one cluster.id.
type Cluster struct {
	t         testing.TB
	Nodes     []*Node // Nodes[i] has node.id i+1
	ClusterID string
	// voters is controller.quorum.voters, for brokers added later.
	voters string
	opts   Options
}

// Voters is the cluster's controller.quorum.voters.
func (c *Cluster) Voters() string { return c.voters }

// NewMixedCluster prepares controllers controller-only voters (node ids 1
// to controllers) and brokers broker-only nodes (the ids after them) that
// follow the metadata log as raft learners, without starting them.
func NewMixedCluster(t testing.TB, controllers, brokers int, o Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, ClusterID: "MkU3OEVBNTcwNTJENDM2Qg", opts: o}
	ports := make([]int, controllers)
	voters := make([]string, controllers)
	for i := range ports {
		ports[i] = FreePort(t)
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[i])
	}
	c.voters = strings.Join(voters, ",")
	for i := 0; i < controllers; i++ {
		settings := map[string]string{
			"node.id":                  strconv.Itoa(i + 1),
			"process.roles":            `"controller"`,
			"listeners":                fmt.Sprintf(`"CONTROLLER://127.0.0.1:%d"`, ports[i]),
			"advertised.listeners":     "",
			"controller.quorum.voters": fmt.Sprintf("%q", c.voters),
			"cluster.id":               fmt.Sprintf("%q", c.ClusterID),
		}
		for k, v := range o.Settings {
			settings[k] = v
		}
		no := o
		no.Settings = settings
		no.Ringtail = o.ringtailOf(i + 1)
		no.DataDir = ""
		node := newNodeOnPorts(t, no, 0, ports[i])
		node.ControllerOnly = true
		c.Nodes = append(c.Nodes, node)
	}
	for range brokers {
		c.newBroker()
	}
	return c
}

// newBroker prepares a broker-only node with the next node id.
func (c *Cluster) newBroker() *Node {
	c.t.Helper()
	n := c.NewBrokerNode(nil)
	c.Nodes = append(c.Nodes, n)
	return n
}

// NewBrokerNode prepares, without starting or adding to the cluster, a
// broker-only node with the next node id and the cluster's voters;
// settings override its config (tests of misconfigured nodes).
func (c *Cluster) NewBrokerNode(overrides map[string]string) *Node {
	c.t.Helper()
	port := FreePort(c.t)
	settings := map[string]string{
		"node.id":                  strconv.Itoa(len(c.Nodes) + 1),
		"process.roles":            `"broker"`,
		"listeners":                fmt.Sprintf(`"PLAINTEXT://127.0.0.1:%d"`, port),
		"advertised.listeners":     fmt.Sprintf(`"PLAINTEXT://127.0.0.1:%d"`, port),
		"controller.quorum.voters": fmt.Sprintf("%q", c.voters),
		"cluster.id":               fmt.Sprintf("%q", c.ClusterID),
	}
	for k, v := range c.opts.Settings {
		settings[k] = v
	}
	for k, v := range overrides {
		settings[k] = v
	}
	no := c.opts
	no.Settings = settings
	no.DataDir = ""
	return newNodeOnPorts(c.t, no, port, 0)
}

// AddBroker starts one more broker-only node in a running mixed cluster
// and waits until it is registered and unfenced.
func (c *Cluster) AddBroker() *Node {
	c.t.Helper()
	n := c.newBroker()
	n.Start()
	c.WaitBrokers(c.brokerCount(), startTimeout)
	return n
}

func (c *Cluster) brokerCount() int {
	k := 0
	for _, n := range c.Nodes {
		if !n.ControllerOnly {
			k++
		}
	}
	return k
}

// StartCluster starts n combined nodes on free loopback ports, each with
// the whole voter list and the same cluster.id, and returns once every
// node serves and the cluster's Metadata lists n brokers. Each node's
// Kill, Stop, Start and Restart work as for a single node.
func StartCluster(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	c := NewCluster(t, n, o)
	c.Start()
	return c
}

// NewCluster prepares a cluster without starting it.
func NewCluster(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, ClusterID: "MkU3OEVBNTcwNTJENDM2Qg", opts: o}
	ports := make([][2]int, n)
	voters := make([]string, n)
	for i := range ports {
		ports[i] = [2]int{FreePort(t), FreePort(t)}
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[i][1])
	}
	c.voters = strings.Join(voters, ",")
	for i := 0; i < n; i++ {
		settings := map[string]string{
			"node.id":                  strconv.Itoa(i + 1),
			"listeners":                fmt.Sprintf(`"PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d"`, ports[i][0], ports[i][1]),
			"advertised.listeners":     fmt.Sprintf(`"PLAINTEXT://127.0.0.1:%d"`, ports[i][0]),
			"controller.quorum.voters": fmt.Sprintf("%q", strings.Join(voters, ",")),
			"cluster.id":               fmt.Sprintf("%q", c.ClusterID),
		}
		for k, v := range o.Settings {
			settings[k] = v
		}
		if o.NodeSettings != nil {
			for k, v := range o.NodeSettings(i + 1) {
				settings[k] = v
			}
		}
		no := o
		no.Settings = settings
		no.Ringtail = o.ringtailOf(i + 1)
		no.DataDir = ""
		node := newNodeOnPorts(t, no, ports[i][0], ports[i][1])
		c.Nodes = append(c.Nodes, node)
	}
	return c
}

// Start starts every node at once (a lone voter cannot elect a leader, so
// they must come up together) and waits until the cluster's Metadata
// lists every broker.
func (c *Cluster) Start() {
	c.t.Helper()
	for _, n := range c.Nodes {
		n.startProcess()
	}
	for _, n := range c.Nodes {
		n.waitServing()
	}
	c.WaitBrokers(c.brokerCount(), startTimeout)
}

// Node returns the node with node.id id.
func (c *Cluster) Node(id int32) *Node { return c.Nodes[id-1] }

// Addrs are the Kafka addresses of the running nodes.
func (c *Cluster) Addrs() []string {
	var out []string
	for _, n := range c.Nodes {
		if n.PID() != 0 && !n.ControllerOnly {
			out = append(out, n.Addr())
		}
	}
	return out
}

// Client returns a franz-go client seeded with every running node, closed
// at test end.
func (c *Cluster) Client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Addrs()...)}, opts...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client seeded with every running node.
func (c *Cluster) Admin() *kadm.Client { return kadm.NewClient(c.Client()) }

// ClusterState is one answer of DescribeCluster (with fenced brokers)
// and DescribeQuorum.
type ClusterState struct {
	// ControllerID is the active controller: the metadata quorum's leader
	// (DescribeCluster names the answering broker, which forwards).
	ControllerID int32
	Brokers      map[int32]bool // broker id -> fenced
}

// Describe asks the running nodes for the cluster's state.
func (c *Cluster) Describe(ctx context.Context) (ClusterState, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DialTimeout(time.Second), kgo.RetryTimeout(2*time.Second))
	if err != nil {
		return ClusterState{}, err
	}
	defer cl.Close()
	req := kmsg.NewPtrDescribeClusterRequest()
	req.IncludeFencedBrokers = true
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return ClusterState{}, err
	}
	st := ClusterState{ControllerID: -1, Brokers: map[int32]bool{}}
	for _, b := range resp.Brokers {
		st.Brokers[b.NodeID] = b.IsFenced
	}
	dq := kmsg.NewPtrDescribeQuorumRequest()
	qt := kmsg.NewDescribeQuorumRequestTopic()
	qt.Topic = "__cluster_metadata"
	qt.Partitions = []kmsg.DescribeQuorumRequestTopicPartition{kmsg.NewDescribeQuorumRequestTopicPartition()}
	dq.Topics = append(dq.Topics, qt)
	dqr, err := dq.RequestWith(ctx, cl)
	if err != nil {
		return ClusterState{}, err
	}
	if len(dqr.Topics) == 1 && len(dqr.Topics[0].Partitions) == 1 && dqr.Topics[0].Partitions[0].ErrorCode == 0 {
		st.ControllerID = dqr.Topics[0].Partitions[0].LeaderID
	}
	return st, nil
}

// WaitBrokers waits until want brokers are registered and unfenced and a
// controller is active.
func (c *Cluster) WaitBrokers(want int, timeout time.Duration) {
	c.t.Helper()
	WaitFor(c.t, timeout, fmt.Sprintf("%d unfenced brokers and an active controller", want), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		last, err := c.Describe(ctx)
		if err != nil || last.ControllerID < 0 {
			return false
		}
		unfenced := 0
		for _, fenced := range last.Brokers {
			if !fenced {
				unfenced++
			}
		}
		return unfenced == want
	})
}

// Controller returns the node that is the active controller.
func (c *Cluster) Controller() *Node {
	c.t.Helper()
	var id int32 = -1
	WaitFor(c.t, 30*time.Second, "an active controller", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		st, err := c.Describe(ctx)
		id = st.ControllerID
		return err == nil && id >= 0
	})
	return c.Node(id)
}
