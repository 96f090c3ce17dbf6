// These tests prove that the TCP transport carries raft between real
// sockets: three controllers on 127.0.0.1 form a quorum and replicate a
// topic, and a handshake with the wrong cluster id or an unknown node id is
// refused.
package controlplane

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/raft/v3/raftpb"
)

func TestTCPQuorumReplicatesTopic(t *testing.T) {
	lns := map[int32]net.Listener{}
	voters := map[int32]string{}
	for id := int32(1); id <= 3; id++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[id] = ln
		voters[id] = ln.Addr().String()
	}
	nodes := map[int32]*Controller{}
	for id := int32(1); id <= 3; id++ {
		c, err := Open(Config{
			Dir: t.TempDir(), NodeID: id, ClusterID: "tcp-cluster",
			Endpoints:         []Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092 + id}},
			DefaultPartitions: 1, DefaultReplicationFactor: 3,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Voters: voters, Listener: lns[id], Tick: 10 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = c
		t.Cleanup(func() { c.Close() })
	}
	deadline := time.Now().Add(20 * time.Second)
	waitAll := func(what string, cond func(*Controller) bool) {
		t.Helper()
		for {
			ok := true
			for _, c := range nodes {
				ok = ok && cond(c)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			select {
			case <-nodes[1].changedCh():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	waitAll("all three brokers registered", func(c *Controller) bool { return len(c.Image().Brokers) == 3 })
	lead := nodes[1].Status().LeaderID
	if lead < 1 {
		t.Fatalf("no leader: %d", lead)
	}
	res := nodes[lead].CreateTopics(context.Background(), []CreateTopic{{Name: "replicated", NumPartitions: 3, ReplicationFactor: 3}}, false)
	if res[0].Err != nil {
		t.Fatal(res[0].Err)
	}
	waitAll("the topic on every node", func(c *Controller) bool {
		tp := c.Image().Topics["replicated"]
		return tp != nil && tp.ID == res[0].ID && len(tp.Partitions) == 3
	})
}

func TestTCPHandshakeRefusals(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	voters := map[int32]string{1: ln.Addr().String(), 2: "127.0.0.1:1"}
	tr, err := NewTCPTransport(TCPConfig{ClusterID: "right", NodeID: 1, Voters: voters, Listener: ln,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})(func(*pb.Message) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, tc := range []struct {
		hs   handshake
		want string
	}{
		{handshake{ClusterID: "wrong", From: 2, To: 1, Voters: votersString(voters)}, "cluster id"},
		{handshake{ClusterID: "right", From: 7, To: 1, Voters: votersString(voters)}, "not a voter"},
		{handshake{ClusterID: "right", From: 2, To: 1, Voters: "1@x,2@y"}, "voters differ"},
		{handshake{ClusterID: "right", From: 2, To: 1, Voters: votersString(voters)}, ""},
	} {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(tc.hs)
		c.Write(appendFrame(nil, b))
		reply, err := readFrame(bufio.NewReader(c))
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		var r handshakeReply
		json.Unmarshal(reply, &r)
		if (tc.want == "") != (r.Error == "") || !strings.Contains(r.Error, tc.want) {
			t.Fatalf("%+v: reply %q, want %q", tc.hs, r.Error, tc.want)
		}
	}
}
