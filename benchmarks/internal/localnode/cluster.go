package localnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
)

// StartCluster starts n combined (broker and controller) nodes, ids 1..n,
// each in dir/node<i>, as one cluster on loopback ports; settings(i) are
// extra top-level server.toml lines for node i. It returns once every node
// answers /v1/status/ready; on error the nodes started are stopped.
func StartCluster(ctx context.Context, bin, dir string, n int, settings func(id int) string) ([]*Node, error) {
	ports, err := freePorts(3 * n)
	if err != nil {
		return nil, err
	}
	voters := make([]string, n)
	for i := range n {
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, ports[3*i+1])
	}
	var nodes []*Node
	stopAll := func() {
		for _, nd := range nodes {
			nd.Stop()
		}
	}
	for i := range n {
		ndir := filepath.Join(dir, fmt.Sprintf("node%d", i+1))
		if err := os.MkdirAll(ndir, 0o755); err != nil {
			stopAll()
			return nil, err
		}
		kafka, ctrl, adm := ports[3*i], ports[3*i+1], ports[3*i+2]
		extra := ""
		if settings != nil {
			extra = settings(i + 1)
		}
		cfg := fmt.Sprintf("node.id = %d\nlisteners = \"PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d\"\n"+
			"advertised.listeners = \"PLAINTEXT://127.0.0.1:%d\"\ncontroller.quorum.voters = %q\ncluster.id = \"MkU3OEVBNTcwNTJENDM2Qg\"\n"+
			"log.dirs = %q\n%s\n[ringtail]\nadmin_listen = \"127.0.0.1:%d\"\n",
			i+1, kafka, ctrl, kafka, strings.Join(voters, ","), filepath.Join(ndir, "data"), extra, adm)
		cfgPath := filepath.Join(ndir, "server.toml")
		if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
			stopAll()
			return nil, err
		}
		nd := &Node{Addr: fmt.Sprintf("127.0.0.1:%d", kafka), AdminAddr: fmt.Sprintf("127.0.0.1:%d", adm),
			LogPath: filepath.Join(ndir, "ringtail.log"), exited: make(chan struct{})}
		logf, err := os.Create(nd.LogPath)
		if err != nil {
			stopAll()
			return nil, err
		}
		nd.cmd = exec.Command(bin, "serve", "--config", cfgPath)
		nd.cmd.Stdout, nd.cmd.Stderr = logf, logf
		nd.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := nd.cmd.Start(); err != nil {
			logf.Close()
			stopAll()
			return nil, err
		}
		go func() { nd.cmd.Wait(); logf.Close(); close(nd.exited) }()
		nodes = append(nodes, nd)
	}
	for _, nd := range nodes {
		if err := nd.waitReady(ctx); err != nil {
			stopAll()
			b, _ := os.ReadFile(nd.LogPath)
			return nil, fmt.Errorf("%w\n%s", err, tail(string(b), 2000))
		}
	}
	return nodes, nil
}
