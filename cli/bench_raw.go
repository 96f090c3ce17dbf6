package cli

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/ringtail/ringtail/rawfetch"
)

// `ringtail bench consume --raw`: the consume figure of the broker rather
// than of a client (issue 16). Package rawfetch sends Fetch requests over
// plain TCP connections (--raw-connections per partition leader, one Fetch
// in flight on each) and counts record batches
// by their headers; no record is decoded, checksummed or copied out, so
// the figure compares with iperf3 over loopback. Its bytes are
// record-batch bytes (batch headers included), not key plus value bytes
// as the decoding consumer counts them.

// rawResultJSON is the raw run's own part of the result line.
type rawResultJSON struct {
	FetchVersion int16 `json:"fetch_version"`
	Connections  int   `json:"connections"`
	Responses    int64 `json:"responses"`
	WireBytes    int64 `json:"wire_bytes"` // response bytes read, size prefixes included
}

func (a *app) benchConsumeRaw(ctx context.Context, r *benchRun, adm *kadm.Client, starts, ends kadm.ListedOffsets) error {
	c := r.c
	what := fmt.Sprintf("bench consume --raw on %q", c.topic)
	md, err := adm.Metadata(ctx, c.topic)
	if err != nil {
		return failed(what+": metadata", err, "")
	}
	addrs := map[int32]string{}
	for _, b := range md.Brokers {
		addrs[b.NodeID] = net.JoinHostPort(b.Host, strconv.Itoa(int(b.Port)))
	}
	td, ok := md.Topics[c.topic]
	if !ok || td.Err != nil {
		return failed(what+": metadata", td.Err, "")
	}
	// Each leader's partitions go round-robin to its connections.
	byLeader := map[int32][]*rawfetch.Target{}
	next := map[int32]int{}
	var targets []*rawfetch.Target
	for _, p := range td.Partitions.Sorted() {
		s, sok := starts.Lookup(c.topic, p.Partition)
		e, eok := ends.Lookup(c.topic, p.Partition)
		if !sok || !eok || e.Offset <= s.Offset {
			continue
		}
		addr, ok := addrs[p.Leader]
		if !ok {
			return fmt.Errorf("%s: partition %d's leader %d is not among the brokers", what, p.Partition, p.Leader)
		}
		i := next[p.Leader] % c.rawConnections
		next[p.Leader]++
		if i == len(byLeader[p.Leader]) {
			t := &rawfetch.Target{Addr: addr}
			byLeader[p.Leader] = append(byLeader[p.Leader], t)
			targets = append(targets, t)
		}
		t := byLeader[p.Leader][i]
		t.Partitions = append(t.Partitions, rawfetch.Partition{ID: p.Partition, Start: s.Offset, End: e.Offset})
	}
	cfg := rawfetch.Config{Topic: c.topic, ClientID: "ringtail-bench-raw"}
	for _, t := range targets {
		cfg.Targets = append(cfg.Targets, *t)
	}

	var cnt rawfetch.Counters
	r.start = time.Now()
	cfg.Deadline = r.start.Add(c.timeout)
	stopReport := a.startReporter(r, &r.consumed, c.count)
	// Feed the reporter's meter from the counters while the run goes.
	stopFeed, fed := make(chan struct{}), make(chan struct{})
	var lastRec, lastBytes int64
	feed := func() {
		rec, b := cnt.Records.Load(), cnt.Bytes.Load()
		r.consumed.add(rec-lastRec, b-lastBytes)
		lastRec, lastBytes = rec, b
	}
	go func() {
		defer close(fed)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopFeed:
				return
			case <-t.C:
				feed()
			}
		}
	}()
	runErr := rawfetch.Run(ctx, cfg, &cnt)
	elapsed := time.Since(r.start)
	close(stopFeed)
	<-fed
	feed()
	stopped := "count"
	switch {
	case ctx.Err() != nil:
		stopped = "interrupted"
	case runErr != nil && time.Now().After(cfg.Deadline):
		stopped = "timeout"
	case runErr != nil:
		stopped = "error"
		r.fail(runErr)
	}
	rep := stopReport()
	res := r.result(&r.consumed, elapsed, stopped)
	res.Raw = &rawResultJSON{FetchVersion: rawfetch.FetchVersion, Connections: len(targets), Responses: cnt.Responses.Load(), WireBytes: cnt.WireBytes.Load()}
	rep.result(res)
	return r.outcome(ctx, res, 0)
}
