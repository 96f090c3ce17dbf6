// This file proves, on real storage, what consumers rely on to find their
// place: topic auto-creation on first use, ListOffsets earliest/latest/by
// timestamp/max timestamp, and a fetch that starts inside a batch.
package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/testkit"
)

func TestListOffsetsAndFetchInsideBatch(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Auto-creation: the topic does not exist until the producer asks.
	cl := n.Client(kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("auto-offsets"))
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := 0; i < 100; i += 10 {
		// Ten records per ProduceSync call: one batch of ten.
		recs := make([]*kgo.Record, 10)
		for j := range recs {
			recs[j] = &kgo.Record{Value: []byte(itoa(i + j)), Timestamp: base.Add(time.Duration(i+j) * time.Second)}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce to an auto-created topic: %v", err)
		}
	}
	adm := n.Admin()
	start, err := adm.ListStartOffsets(ctx, "auto-offsets")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "auto-offsets")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := start.Lookup("auto-offsets", 0); s.Offset != 0 {
		t.Fatalf("earliest: %d", s.Offset)
	}
	if e, _ := end.Lookup("auto-offsets", 0); e.Offset != 100 {
		t.Fatalf("latest: %d", e.Offset)
	}
	// By timestamp: the first record at or after base+50.5s is record 51.
	byTime, err := adm.ListOffsetsAfterMilli(ctx, base.Add(50500*time.Millisecond).UnixMilli(), "auto-offsets")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := byTime.Lookup("auto-offsets", 0); o.Offset != 51 {
		t.Fatalf("offset for timestamp base+50.5s: %d, want 51", o.Offset)
	}
	// After the last timestamp: no match; Kafka answers -1, which kadm
	// turns into the end offset.
	late, err := adm.ListOffsetsAfterMilli(ctx, base.Add(time.Hour).UnixMilli(), "auto-offsets")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := late.Lookup("auto-offsets", 0); o.Offset != 100 {
		t.Fatalf("offset for a timestamp after every record: %d", o.Offset)
	}
	// Max timestamp (-3, KIP-734): record 99.
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "auto-offsets"
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -3
	rp.CurrentLeaderEpoch = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil || p.Offset != 99 || p.Timestamp != base.Add(99*time.Second).UnixMilli() {
		t.Fatalf("max timestamp: offset %d timestamp %d err %v", p.Offset, p.Timestamp, err)
	}

	// A consumer starting at offset 55, inside the batch 50..59, gets 55 first.
	cons := n.Client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"auto-offsets": {0: kgo.NewOffset().At(55)}}))
	var got []*kgo.Record
	for len(got) < 45 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of 45", len(got))
		}
		got = append(got, fs.Records()...)
	}
	if got[0].Offset != 55 || string(got[0].Value) != "55" || got[len(got)-1].Offset != 99 {
		t.Fatalf("fetch from inside a batch: first %d (%q), last %d", got[0].Offset, got[0].Value, got[len(got)-1].Offset)
	}
}
