package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// broker is one running Ringtail node (or kfake-server, with adminPort 0).
type broker struct {
	p         *proc
	dir       string // config, log and data of this node
	dataDir   string
	cfgPath   string
	port      int
	ctrlPort  int
	adminPort int
	// From the "ringtail ready" log line.
	ioEngine string
	shards   int
}

func (b *broker) addr() string { return fmt.Sprintf("127.0.0.1:%d", b.port) }

// nodeConf is what one node's server.toml says.
type nodeConf struct {
	id        int
	voters    string // controller.quorum.voters; "" for a lone node
	clusterID string
	// rt holds extra [ringtail] keys with verbatim TOML values.
	rt map[string]string
}

const startTimeout = 90 * time.Second

// newBrokerDir makes a fresh directory for a node under the data root.
func (s *suite) newBrokerDir(name string) (string, error) {
	s.seq++
	dir := filepath.Join(s.dataRoot, fmt.Sprintf("%03d-%s", s.seq, name))
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// prepareBroker picks ports and writes the config of a node in dir.
func prepareBroker(dir string) (*broker, error) {
	b := &broker{dir: dir, dataDir: filepath.Join(dir, "data"), cfgPath: filepath.Join(dir, "server.toml")}
	for _, p := range []*int{&b.port, &b.ctrlPort, &b.adminPort} {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		*p = port
	}
	return b, nil
}

func (b *broker) writeConfig(c nodeConf) error {
	voters := c.voters
	if voters == "" {
		voters = fmt.Sprintf("%d@127.0.0.1:%d", c.id, b.ctrlPort)
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "node.id = %d\n", c.id)
	sb.WriteString("process.roles = \"broker,controller\"\n")
	fmt.Fprintf(&sb, "log.dirs = [%q]\n", b.dataDir)
	fmt.Fprintf(&sb, "listeners = \"PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d\"\n", b.port, b.ctrlPort)
	fmt.Fprintf(&sb, "advertised.listeners = \"PLAINTEXT://127.0.0.1:%d\"\n", b.port)
	sb.WriteString("controller.listener.names = \"CONTROLLER\"\n")
	fmt.Fprintf(&sb, "controller.quorum.voters = %q\n", voters)
	if c.clusterID != "" {
		fmt.Fprintf(&sb, "cluster.id = %q\n", c.clusterID)
	}
	sb.WriteString("\n[ringtail]\n")
	fmt.Fprintf(&sb, "admin_listen = \"127.0.0.1:%d\"\n", b.adminPort)
	keys := make([]string, 0, len(c.rt))
	for k := range c.rt {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s = %s\n", k, c.rt[k])
	}
	return os.WriteFile(b.cfgPath, []byte(sb.String()), 0o644)
}

// brokerCmd is bin args, on the brokers' CPUs while the workload pins.
func (s *suite) brokerCmd(bin string, args ...string) (string, []string) {
	if !s.pinNow {
		return bin, args
	}
	return s.pin.wrap(s.pin.broker, bin, args)
}

// launch starts the node's process (not waiting for it).
func (s *suite) launch(b *broker, name string) error {
	bin, args := s.brokerCmd(s.ringtailBin, "serve", "--config", b.cfgPath)
	p, err := s.reg.start(name, filepath.Join(b.dir, "ringtail.log"), nil, bin, args...)
	if err != nil {
		return err
	}
	b.p = p
	return nil
}

var readyRE = regexp.MustCompile(`msg="ringtail ready".*io_engine=(\S+) shards=(\d+)`)

// waitReady polls /v1/status/ready until it answers 200, then reads the
// io engine and shard count from the "ringtail ready" log line.
func (s *suite) waitReady(ctx context.Context, b *broker) error {
	deadline := time.Now().Add(startTimeout)
	url := fmt.Sprintf("http://127.0.0.1:%d/v1/status/ready", b.adminPort)
	cl := &http.Client{Timeout: 2 * time.Second}
	for {
		if !b.p.running() {
			return fmt.Errorf("%s exited during start:\n%s", b.p.name, tail(b.p.readLog(), 3000))
		}
		resp, err := cl.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v:\n%s", b.p.name, startTimeout, tail(b.p.readLog(), 3000))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	// The ready line is logged around the moment readiness flips; give it
	// a moment to reach the file.
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if m := readyRE.FindStringSubmatch(b.p.readLog()); m != nil {
			b.ioEngine = strings.Trim(m[1], `"`)
			b.shards, _ = strconv.Atoi(m[2])
			break
		}
	}
	return nil
}

// startNode starts a fresh single node (new data dir) with the given
// [ringtail] keys and waits until it is ready.
func (s *suite) startNode(ctx context.Context, name string, rt map[string]string) (*broker, error) {
	dir, err := s.newBrokerDir(name)
	if err != nil {
		return nil, err
	}
	b, err := prepareBroker(dir)
	if err != nil {
		return nil, err
	}
	if err := b.writeConfig(nodeConf{id: 1, rt: rt}); err != nil {
		return nil, err
	}
	return b, s.restartNode(ctx, b, name)
}

// restartNode (re)starts b from its config and data and waits for it.
func (s *suite) restartNode(ctx context.Context, b *broker, name string) error {
	if err := s.launch(b, name); err != nil {
		return err
	}
	if err := s.waitReady(ctx, b); err != nil {
		s.stopBroker(b, false)
		return err
	}
	return nil
}

// stopBroker stops the node by SIGTERM (SIGKILL after a grace period) and,
// with remove, deletes its directory.
func (s *suite) stopBroker(b *broker, remove bool) {
	if b == nil {
		return
	}
	if b.p != nil {
		if err := s.reg.stop(b.p, 30*time.Second); err != nil {
			s.note("stopping %s: %v", b.p.name, err)
		}
		b.p = nil
	}
	if remove && b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// startCluster starts n combined controller+broker nodes with one voter
// list and cluster id, and waits until each is ready.
func (s *suite) startCluster(ctx context.Context, name string, n int, rt map[string]string) ([]*broker, error) {
	var nodes []*broker
	var voters []string
	for i := 1; i <= n; i++ {
		dir, err := s.newBrokerDir(fmt.Sprintf("%s-n%d", name, i))
		if err != nil {
			return nil, err
		}
		b, err := prepareBroker(dir)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, b)
		voters = append(voters, fmt.Sprintf("%d@127.0.0.1:%d", i, b.ctrlPort))
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	clusterID := base64.RawURLEncoding.EncodeToString(id)
	for i, b := range nodes {
		if err := b.writeConfig(nodeConf{id: i + 1, voters: strings.Join(voters, ","), clusterID: clusterID, rt: rt}); err != nil {
			return nil, err
		}
	}
	// A lone voter cannot elect a leader: start them all, then wait.
	for i, b := range nodes {
		if err := s.launch(b, fmt.Sprintf("%s node %d", name, i+1)); err != nil {
			s.stopCluster(nodes)
			return nil, err
		}
	}
	for _, b := range nodes {
		if err := s.waitReady(ctx, b); err != nil {
			s.stopCluster(nodes)
			return nil, err
		}
	}
	return nodes, nil
}

func (s *suite) stopCluster(nodes []*broker) {
	for _, b := range nodes {
		s.stopBroker(b, true)
	}
}

// startKfake starts kfake-server on a free port and waits for its line.
func (s *suite) startKfake(ctx context.Context, name string) (*broker, error) {
	if s.kfakeBin == "" {
		return nil, fmt.Errorf("kfake-server was not built (see the notes)")
	}
	dir, err := s.newBrokerDir(name)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b := &broker{dir: dir, port: port}
	bin, args := s.brokerCmd(s.kfakeBin, "--listen", b.addr())
	p, err := s.reg.start(name, filepath.Join(dir, "kfake.log"), nil, bin, args...)
	if err != nil {
		return nil, err
	}
	b.p = p
	if err := waitLog(ctx, p, "kfake listening on", startTimeout); err != nil {
		s.stopBroker(b, true)
		return nil, err
	}
	return b, nil
}

// scrape returns the node's /metrics text.
func scrape(b *broker) (string, error) {
	if b.adminPort == 0 {
		return "", fmt.Errorf("no admin listener")
	}
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", b.adminPort))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("/metrics: %s", resp.Status)
	}
	return string(body), nil
}

// metricSum adds up every sample of metric name (exactly that name, any
// labels) whose label set contains each of the label="value" pairs given.
func metricSum(text, name string, labels ...string) float64 {
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		series, val := line[:sp], line[sp+1:]
		metric, lbls, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		ok := true
		for _, l := range labels {
			if !strings.Contains(lbls, l) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		if v, err := strconv.ParseFloat(val, 64); err == nil {
			sum += v
		}
	}
	return sum
}

var buildInfoRE = regexp.MustCompile(`ringtail_build_info\{version="([^"]*)"\}`)
