// This file fuzzes the connection's decode-and-dispatch path with arbitrary
// request frames, proving that no input panics and that every input is
// either answered with a well-formed response or closes the connection.
package kafka

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

// FuzzRequest feeds arbitrary bytes as one request frame (what follows the
// 4-byte size) to conn.handleFrame on a real server (real controller,
// in-memory logs). Invariants:
//
//   - it never panics, and the server never logs a BUG;
//   - the request's slot is filled (long polls cannot stall: the server
//     is put into shutdown first, so fetches answer after one read);
//   - the slot either closes the connection, or carries nothing (acks=0
//     produce), or one response frame whose size prefix matches its
//     length, whose correlation id is the request's, and that decodes as
//     the response to the request's key and version (v0 for the
//     ApiVersions fallback).
func FuzzRequest(f *testing.F) { fuzzRequest(f, newHarness(f)) }

// FuzzRequestAuthorized is FuzzRequest with the authorizer on and a few
// ACLs for the fuzzer's principal (User:ANONYMOUS), so that the
// authorization paths of every handler (refusals included) see arbitrary
// requests; the invariants are FuzzRequest's.
func FuzzRequestAuthorized(f *testing.F) {
	h := newHarness(f, withAuthorizer(""))
	bs := []acl.Binding{
		anonAllow(acl.ResourceCluster, acl.ClusterName, acl.PatternLiteral, acl.OpCreate),
		anonAllow(acl.ResourceTopic, "fu", acl.PatternPrefixed, acl.OpAll),
		anonAllow(acl.ResourceGroup, "*", acl.PatternLiteral, acl.OpRead),
	}
	for _, err := range h.ctrl.CreateACLs(context.Background(), bs) {
		if err != nil {
			f.Fatal(err)
		}
	}
	fuzzRequest(f, h)
}

func fuzzRequest(f *testing.F, h *harness) {
	h.createTopic("fuzz", 2, nil)
	// What Shutdown does first: long polls return at once. handleFrame
	// keeps working, which is all this fuzzer drives; Cleanup's Shutdown
	// sees shutting set and does not close stopping again.
	h.srv.shutting.Store(true)
	close(h.srv.stopping)
	c := newConn(h.srv, nil)

	seed := func(req kmsg.Request) {
		f.Add(frame(req, 77)[4:])
	}
	for key, a := range apis {
		for v := a.min; v <= a.max; v++ {
			req := kmsg.RequestForKey(key)
			req.SetVersion(v)
			seed(req)
		}
	}
	p := kmsg.NewPtrProduceRequest()
	p.Version, p.Acks = 9, -1
	p.Topics = []kmsg.ProduceRequestTopic{{Topic: "fuzz", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: validBatch(f)}}}}
	seed(p)
	seed(fetchReq(12, "fuzz", 0, 1))
	seed(metadataReq(12, true, "fuzz", "new-topic"))
	dtpReq := kmsg.NewPtrDescribeTopicPartitionsRequest()
	dtpReq.Topics = []kmsg.DescribeTopicPartitionsRequestTopic{{Topic: "fuzz"}, {Topic: "missing"}}
	dtpReq.ResponsePartitionLimit, dtpReq.Cursor = 1, &kmsg.DescribeTopicPartitionsRequestCursor{Topic: "fuzz", Partition: 1}
	seed(dtpReq)
	arld := kmsg.NewPtrAlterReplicaLogDirsRequest()
	arld.Version = 2
	arld.Dirs = []kmsg.AlterReplicaLogDirsRequestDir{{Dir: "/tmp", Topics: []kmsg.AlterReplicaLogDirsRequestDirTopic{{Topic: "fuzz", Partitions: []int32{0, 1}}}}}
	seed(arld)
	f.Add([]byte{0, 18, 0, 9, 0, 0, 0, 1, 0xff, 0xff})
	f.Add([]byte{0, 3, 0, 12, 0, 0, 0, 1, 0, 0, 0x80})

	f.Fuzz(func(t *testing.T, data []byte) {
		sl := c.handleFrame(data)
		select {
		case <-sl.done:
		case <-time.After(30 * time.Second):
			t.Fatal("request never answered")
		}
		if sl.closeConn {
			if sl.out != nil || sl.resp != nil {
				t.Fatal("both a response and a close")
			}
			return
		}
		out := c.render(sl)
		if out == nil {
			return
		}
		if len(out) < 8 || int(binary.BigEndian.Uint32(out)) != len(out)-4 {
			t.Fatalf("response frame of %d bytes has size prefix %d", len(out), binary.BigEndian.Uint32(out))
		}
		if len(data) < 8 || binary.BigEndian.Uint32(out[4:]) != binary.BigEndian.Uint32(data[4:]) {
			t.Fatal("response correlation id differs from the request's")
		}
		key := int16(binary.BigEndian.Uint16(data))
		version := int16(binary.BigEndian.Uint16(data[2:]))
		resp := kmsg.ResponseForKey(key)
		if a := apis[key]; key == apiVersionsKey && version > a.max {
			version = 0
		}
		resp.SetVersion(version)
		body := out[8:]
		if resp.IsFlexible() && key != apiVersionsKey {
			if len(body) == 0 || body[0] != 0 {
				t.Fatal("flexible response header without its empty tag section")
			}
			body = body[1:]
		}
		if err := resp.ReadFrom(body); err != nil {
			t.Fatalf("response to key %d v%d does not decode: %v", key, version, err)
		}
	})
}
