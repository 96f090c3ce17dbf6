// These tests run real franz-go group consumers (range and
// cooperative-sticky) against the server with a group coordinator, and
// check that every record is consumed once across the group, that
// offsets are committed and readable with kadm, and the group APIs' basic
// errors.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
)

// groupLog adapts a fake log to the coordinator.
type groupLog struct{ l Log }

func (g groupLog) Append(records []byte, done func(error)) {
	g.l.Append(records, 0, func(r AppendResult) { done(r.Err) })
}
func (g groupLog) Offsets() (model.Offset, model.Offset) {
	s, hw, _ := g.l.Offsets()
	return s, hw
}
func (g groupLog) Read(o model.Offset, max int32) ([]byte, error) {
	r, err := g.l.Read(o, max, true)
	return r.Records, err
}

// newGroupHarness is a harness whose server has a coordinator over a
// one-partition __consumer_offsets, ticked every 20 ms.
func newGroupHarness(t *testing.T) *harness {
	gc := group.New(group.Config{NumPartitions: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := newHarness(t, func(c *Config) { c.Groups = gc })
	h.createTopic(group.OffsetsTopic, 1, nil)
	l, ok := h.logs.Log(model.TopicPartition{Topic: group.OffsetsTopic, Partition: 0})
	if !ok {
		t.Fatal("no log for __consumer_offsets-0")
	}
	if err := gc.Load(0, groupLog{l}, time.Now()); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tk.C:
				gc.Tick(now)
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return h
}

func TestGroupConsumers(t *testing.T) {
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{{"range", kgo.RangeBalancer()}, {"cooperative-sticky", kgo.CooperativeStickyBalancer()}} {
		t.Run(bal.name, func(t *testing.T) {
			h := newGroupHarness(t)
			const topic, n = "events", 400
			h.createTopic(topic, 4, nil)
			prod := h.client(kgo.DefaultProduceTopic(topic))
			ctx := testCtx(t)
			for i := 0; i < n; i++ {
				prod.Produce(ctx, kgo.StringRecord(fmt.Sprint(i)), nil)
			}
			if err := prod.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			cctx, cancel := context.WithCancel(ctx)
			for m := 0; m < 3; m++ {
				cl := h.client(kgo.ConsumerGroup("g-"+bal.name), kgo.ConsumeTopics(topic), kgo.Balancers(bal.b),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
				wg.Add(1)
				go func() {
					defer wg.Done()
					for cctx.Err() == nil {
						fs := cl.PollFetches(cctx)
						fs.EachRecord(func(r *kgo.Record) {
							mu.Lock()
							seen[string(r.Value)]++
							mu.Unlock()
						})
						if err := cl.CommitUncommittedOffsets(cctx); err != nil && cctx.Err() == nil {
							t.Errorf("commit: %v", err)
						}
					}
				}()
			}
			deadline := time.Now().Add(20 * time.Second)
			for {
				mu.Lock()
				got := len(seen)
				mu.Unlock()
				if got == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("consumed %d of %d distinct records", got, n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Committed offsets reach the end of every partition.
			adm := h.admin()
			for {
				offs, err := adm.FetchOffsets(ctx, "g-"+bal.name)
				if err != nil {
					t.Fatal(err)
				}
				total := int64(0)
				offs.Each(func(o kadm.OffsetResponse) { total += o.At })
				if total == n {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("committed offsets sum to %d; want %d", total, n)
				}
				time.Sleep(10 * time.Millisecond)
			}
			// Cooperative rebalances take two rounds; wait for Stable.
			for {
				described, err := adm.DescribeGroups(ctx, "g-"+bal.name)
				if err != nil {
					t.Fatal(err)
				}
				d := described["g-"+bal.name]
				if d.State == "Stable" && len(d.Members) == 3 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("describe: state %s, %d members", d.State, len(d.Members))
				}
				time.Sleep(10 * time.Millisecond)
			}
			cancel()
			wg.Wait()
			mu.Lock()
			for v, c := range seen {
				if c != 1 {
					t.Errorf("record %s consumed %d times", v, c)
				}
			}
			mu.Unlock()
		})
	}
}

func TestGroupRequestErrors(t *testing.T) {
	h := newGroupHarness(t)
	cl := h.client()
	ctx := testCtx(t)
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = "", 10000, 10000, "consumer"
	join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorKey = "g"
	fr, err := fc.RequestWith(ctx, cl)
	if err != nil || fr.ErrorCode != 0 || fr.NodeID != 1 {
		t.Fatalf("find coordinator: %v %+v", err, fr)
	}
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Group, hb.MemberID, hb.Generation = "g", "nobody", 1
	resp, err := cl.Request(ctx, hb)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.(*kmsg.HeartbeatResponse).ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of an unknown member: %v", kerr.ErrorForCode(code))
	}
	// An empty group id is refused by the coordinator lookup already.
	if _, err := join.RequestWith(ctx, cl); !errors.Is(err, kerr.InvalidGroupID) {
		t.Fatalf("empty group id: %v", err)
	}
	md := kmsg.NewPtrMetadataRequest()
	t1 := kmsg.NewMetadataRequestTopic()
	name := group.OffsetsTopic
	t1.Topic = &name
	md.Topics = append(md.Topics, t1)
	mr, err := md.RequestWith(ctx, cl)
	if err != nil || len(mr.Topics) != 1 || !mr.Topics[0].IsInternal {
		t.Fatalf("__consumer_offsets must be internal: %v %+v", err, mr)
	}
}
