package e2e

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ringtail/ringtail/testkit"
)

// A deleted group leaves tombstones in __consumer_offsets, and the cleaner
// removes its records and then, after delete.retention.ms, the tombstones
// too, while another group's offsets stay (issue 12: expired and deleted
// groups leave tombstones that are then cleaned).
func TestDeletedGroupIsCleanedFromConsumerOffsets(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	n := startNode(t, testkit.Options{Settings: map[string]string{
		"offsets.topic.num.partitions":    "1",
		"offsets.topic.segment.bytes":     "16384",
		"log.cleaner.backoff.ms":          "100",
		"log.cleaner.delete.retention.ms": "1000",
		"log.cleaner.min.cleanable.ratio": "0.1",
	}})
	n.CreateTopic("g-data", 4, nil)
	adm := n.Admin()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	commit := func(group string, at int64) {
		t.Helper()
		offs := kadm.Offsets{}
		for p := int32(0); p < 4; p++ {
			offs.Add(kadm.Offset{Topic: "g-data", Partition: p, At: at + int64(p), LeaderEpoch: -1})
		}
		resps, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			t.Fatalf("commit %s at %d: %v", group, at, err)
		}
	}
	for i := int64(0); i < 200; i++ {
		commit("gone-group", i*10)
		commit("kept-group", i*10)
	}
	del, err := adm.DeleteGroups(ctx, "gone-group")
	if err == nil {
		err = del.Error()
	}
	if err != nil {
		t.Fatalf("delete group: %v", err)
	}

	// What __consumer_offsets holds for the deleted group, read from its
	// start: values and tombstones.
	scan := func() (values, tombstones int) {
		t.Helper()
		cl := n.Client(kgo.ConsumeTopics("__consumer_offsets"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		defer cl.Close()
		hw := endOffsets(t, n, "__consumer_offsets", 1)[0]
		for last := int64(-1); last < hw-1; {
			fs := cl.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("reading __consumer_offsets: %v", err)
			}
			fs.EachRecord(func(r *kgo.Record) {
				last = r.Offset
				if !bytes.Contains(r.Key, []byte("gone-group")) {
					return
				}
				if r.Value == nil {
					tombstones++
				} else {
					values++
				}
			})
		}
		return values, tombstones
	}
	if v, _ := scan(); v == 0 {
		t.Fatal("no record of the deleted group found right after its deletion: the scan sees nothing")
	}
	round := int64(1000)
	sawTombstonesAlone := false
	testkit.WaitFor(t, 2*time.Minute, "the deleted group's records and then its tombstones cleaned away", func() bool {
		// More commits of the other group keep the log dirty, so passes go on.
		for i := 0; i < 100; i++ {
			commit("kept-group", round*10)
			round++
		}
		v, ts := scan()
		if v == 0 && ts > 0 {
			sawTombstonesAlone = true
		}
		return v == 0 && ts == 0
	})
	if !sawTombstonesAlone {
		t.Log("the tombstones were already gone at the first look after the values went (passes faster than the polls)")
	}
	got, err := adm.FetchOffsets(ctx, "kept-group")
	if err != nil {
		t.Fatal(err)
	}
	for p := int32(0); p < 4; p++ {
		o, ok := got.Lookup("g-data", p)
		if !ok || o.At != (round-1)*10+int64(p) {
			t.Fatalf("kept-group partition %d: %+v, want %d", p, o, (round-1)*10+int64(p))
		}
	}
	gone, err := adm.FetchOffsets(ctx, "gone-group")
	if err == nil && len(gone) > 0 {
		for _, ps := range gone {
			for _, o := range ps {
				if o.At >= 0 {
					t.Fatalf("the deleted group still has offset %+v", o)
				}
			}
		}
	}
}
