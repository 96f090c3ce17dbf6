package torture

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"

	"github.com/ringtail/ringtail/dialsrc"
	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/testkit"
)

// clusterNodes is the size of the cluster run; diskNode's log dir is a
// small tmpfs the disk-full nemesis fills.
const (
	clusterNodes = 3
	diskNode     = 3
	diskBytes    = 96 << 20
)

// nodeIP is the source address node i dials from; its proxies tell it by
// this.
func nodeIP(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i) }

// faultCluster is a 3-node cluster whose node-to-node links all pass
// through a Net, with a slow-fsync control file per node and, where a
// tmpfs can be mounted, a log dir on node diskNode that can be filled.
type faultCluster struct {
	t        *testing.T
	c        *testkit.Cluster
	net      *Net
	fsync    []string // per node (index id-1): the slow-fsync control file
	diskRoot string   // the tmpfs; "" without one
}

func startFaultCluster(t *testing.T) *faultCluster {
	fc := &faultCluster{t: t}
	ips := map[string]int{}
	kp, cp := make([]int, clusterNodes), make([]int, clusterNodes)
	voters := make([]string, clusterNodes)
	for i := range clusterNodes {
		ips[nodeIP(i+1)] = i + 1
		kp[i], cp[i] = testkit.FreePort(t), testkit.FreePort(t)
		voters[i] = fmt.Sprintf("%d@127.0.0.1:%d", i+1, cp[i])
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", diskBytes)); err != nil {
		t.Logf("no disk-full nemesis: cannot mount a tmpfs (needs root): %v", err)
	} else {
		fc.diskRoot = dir
		t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	}
	o := testkit.Options{
		Settings: map[string]string{
			"controller.quorum.voters":             fmt.Sprintf("%q", strings.Join(voters, ",")),
			"transaction.state.log.num.partitions": "3",
			"min.insync.replicas":                  "2",
			// Faults of a few seconds must move leadership and shrink
			// ISRs, not only stall: fence a silent broker after 2 s, drop
			// a lagging follower after 3 s.
			"broker.session.timeout.ms": "2000",
			"replica.lag.time.max.ms":   "3000",
		},
		NodeSettings: func(id int) map[string]string {
			s := map[string]string{"advertised.listeners": fmt.Sprintf(`"PLAINTEXT://127.0.0.1:%d"`, kp[id-1])}
			if id == diskNode && fc.diskRoot != "" {
				s["log.dirs"] = fmt.Sprintf("%q", filepath.Join(fc.diskRoot, "data"))
			}
			return s
		},
	}
	fc.c = testkit.NewCluster(t, clusterNodes, o)
	fc.net = NewNet(ips)
	t.Cleanup(fc.net.Close)
	for i, n := range fc.c.Nodes {
		f := filepath.Join(t.TempDir(), "fsync-delay")
		fc.fsync = append(fc.fsync, f)
		n.Env = append(n.Env, dialsrc.EnvVar+"="+nodeIP(i+1), iocore.SlowSyncEnv+"="+f)
		if err := fc.net.Listen(fmt.Sprintf("127.0.0.1:%d", kp[i]), i+1, n.Addr()); err != nil {
			t.Fatal(err)
		}
		if err := fc.net.Listen(fmt.Sprintf("127.0.0.1:%d", cp[i]), i+1, fmt.Sprintf("127.0.0.1:%d", n.CtrlPort)); err != nil {
			t.Fatal(err)
		}
	}
	fc.c.Start()
	// Every node reaches every other through the proxies, known by its
	// source address: else the partitions below would cut nothing.
	testkit.WaitFor(t, time.Minute, "node-to-node connections through the proxies", func() bool {
		seen := fc.net.Seen()
		for i := 1; i <= clusterNodes; i++ {
			for j := 1; j <= clusterNodes; j++ {
				if i != j && seen[Link{i, j}] == 0 {
					return false
				}
			}
		}
		return true
	})
	return fc
}

// kinds are the nemeses this cluster can run.
func (fc *faultCluster) kinds() []Nemesis {
	k := []Nemesis{NemKill, NemPause, NemIsolate, NemOneWay, NemCut, NemSlowLinks, NemSlowFsync}
	if fc.diskRoot != "" {
		k = append(k, NemDiskFull)
	}
	return k
}

// apply carries out a's fault and returns how to heal it.
func (fc *faultCluster) apply(a Action) (heal func()) {
	n := fc.c.Node(int32(a.Node))
	switch a.Kind {
	case NemKill:
		n.Kill()
		return n.Start
	case NemPause:
		n.Pause()
		return n.Resume
	case NemIsolate, NemSlowLinks:
		for j := 1; j <= clusterNodes; j++ {
			if j != a.Node {
				fc.net.Set(a.Node, j, a.Fault, a.Delay)
				fc.net.Set(j, a.Node, a.Fault, a.Delay)
			}
		}
		return fc.net.Heal
	case NemOneWay:
		fc.net.Set(a.Node, a.Peer, Blackhole, 0)
		return fc.net.Heal
	case NemCut:
		fc.net.Set(a.Node, a.Peer, a.Fault, 0)
		fc.net.Set(a.Peer, a.Node, a.Fault, 0)
		return fc.net.Heal
	case NemSlowFsync:
		f := fc.fsync[a.Node-1]
		if err := os.WriteFile(f, []byte(a.Delay.String()), 0o644); err != nil {
			fc.t.Fatal(err)
		}
		return func() { os.WriteFile(f, nil, 0o644) }
	case NemDiskFull:
		return fc.fillDisk()
	}
	fc.t.Fatalf("unknown nemesis %v", a.Kind)
	return nil
}

// fillDisk takes every free byte of the tmpfs with one file and returns
// the function that removes it.
func (fc *faultCluster) fillDisk() func() {
	path := filepath.Join(fc.diskRoot, "filler")
	var st unix.Statfs_t
	if err := unix.Statfs(fc.diskRoot, &st); err != nil {
		fc.t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fc.t.Fatal(err)
	}
	defer f.Close()
	if free := int64(st.Bavail) * st.Bsize; free > 0 {
		if err := unix.Fallocate(int(f.Fd()), 0, 0, free); err != nil {
			fc.t.Logf("disk full: fallocate %d bytes: %v", free, err)
		}
	}
	return func() { os.Remove(path) }
}

// round applies rd's actions, holds them, heals (restarts last) and waits
// until every broker is back and unfenced.
func (fc *faultCluster) round(rd Round) {
	var heals, restarts []func()
	for _, a := range rd.Actions {
		h := fc.apply(a)
		if a.Kind == NemKill {
			restarts = append(restarts, h)
		} else {
			heals = append(heals, h)
		}
	}
	time.Sleep(rd.Hold) // the fault's duration: a pace, not a wait for a state
	for _, h := range append(heals, restarts...) {
		h()
	}
	fc.c.WaitBrokers(clusterNodes, 2*time.Minute)
}

// leaderEpochs sums the leader epochs of the workload's partitions: how
// often leadership moved (-1 when the cluster does not answer).
func (fc *faultCluster) leaderEpochs() int {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(fc.c.Addrs()...))
	if err != nil {
		return -1
	}
	defer cl.Close()
	td, err := kadm.NewClient(cl).ListTopics(ctx, "idem", "txn")
	if err != nil {
		return -1
	}
	sum := 0
	for _, t := range td {
		for _, p := range t.Partitions {
			sum += int(p.LeaderEpoch)
		}
	}
	return sum
}

// TestTortureCluster: three nodes, every node-to-node link behind a
// fault-injecting proxy, rounds of mixed nemeses (kill, pause, partitions
// isolating a node or cutting one pair, one-way blackholes, slow links,
// disk full, slow fsync, two at once).
func TestTortureCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	s := seed(t)
	fc := startFaultCluster(t)
	cfg := PlanConfig{Rounds: 3, Nodes: clusterNodes, Kinds: fc.kinds(), DiskNode: diskNode, Combine: 0.3,
		LoadMin: 200 * time.Millisecond, LoadMax: 500 * time.Millisecond,
		HoldMin: 300 * time.Millisecond, HoldMax: time.Second}
	if long() {
		cfg.Rounds, cfg.LoadMax, cfg.HoldMin, cfg.HoldMax = 50, 1500*time.Millisecond, time.Second, 5*time.Second
	}
	cfg.Rounds = envInt(t, "RINGTAIL_TORTURE_CLUSTER_ROUNDS", cfg.Rounds)
	r := newRun(t, "cluster", s, Plan(s, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	one := "2"
	for _, topic := range []string{"idem", "txn"} {
		resp, err := fc.c.Admin().CreateTopic(ctx, 3, 3, map[string]*string{"min.insync.replicas": &one}, topic)
		if err == nil {
			err = resp.Err
		}
		if err != nil {
			t.Fatalf("create %s: %v", topic, err)
		}
	}
	r.w = &Workload{H: r.h, Seeds: fc.c.Addrs, Topic: "idem", TxnTopic: "txn",
		Partitions: 3, Producers: 3, TxnWriters: 1, Seed: s, Interval: 5 * time.Millisecond,
		RunID: fmt.Sprint(s), Logf: t.Logf}
	r.extra = func() string {
		st := fc.net.Stats()
		return fmt.Sprintf("net_dropped=%d net_held=%d net_delayed=%d leader_epochs=%d", st.Dropped, st.Held, st.Delayed, fc.leaderEpochs())
	}
	r.execute(func(i int, rd Round) {
		t.Logf("round %d: %v", i+1, rd)
		fc.round(rd)
	})
}
