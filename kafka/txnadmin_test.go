// These tests prove the transaction admin APIs over the harness, with
// franz-go's kadm where it parses the answers and raw requests for the
// error paths: DescribeProducers reports each partition's producer state
// (open transactions' start offsets included) and refuses partitions it
// does not lead or know; DescribeTransactions and ListTransactions report
// a real txn.Manager's transactions with their partitions, states,
// filters (unknown state names echoed back, producer ids, durations) and
// Kafka's codes for ids not found or not coordinated here.
package kafka

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/model"
	"github.com/ringtail/ringtail/storage"
	"github.com/ringtail/ringtail/txn"
)

// producersLog is a fakeLog with a fixed producer state, as TxnLog.
type producersLog struct {
	*fakeLog
	producers []storage.ProducerInfo
}

func (l producersLog) ReadCommitted(offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error) {
	return l.Read(offset, maxBytes, minOneBatch)
}

func (l producersLog) AppendMarker(storage.Marker, model.Epoch, func(AppendResult)) {
	panic("no markers in these tests")
}

func (l producersLog) Producers() ([]storage.ProducerInfo, error) { return l.producers, nil }

func describeProducersReq(topic string, partitions ...int32) *kmsg.DescribeProducersRequest {
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, partitions
	req.Topics = append(req.Topics, rt)
	return req
}

func TestDescribeProducers(t *testing.T) {
	h := newHarness(t)
	open := storage.ProducerInfo{ProducerID: 7, Epoch: 3, LastSequence: 41, LastTimestamp: 1700000000000, CoordinatorEpoch: 2, TxnStartOffset: 120}
	idle := storage.ProducerInfo{ProducerID: 9, Epoch: 0, LastSequence: -1, LastTimestamp: -1, CoordinatorEpoch: -1, TxnStartOffset: -1}
	h.logs.wrap = func(tp model.TopicPartition, l *fakeLog) Log {
		switch {
		case tp.Topic == "plain":
			return l
		case tp.Partition == 0:
			return producersLog{l, []storage.ProducerInfo{open, idle}}
		}
		return producersLog{fakeLog: l}
	}
	h.createTopic("dp", 2, nil)
	h.createTopic("plain", 1, nil)

	got, err := h.admin().DescribeProducers(testCtx(t), kadm.TopicsSet{"dp": {0: {}, 1: {}}})
	if err != nil {
		t.Fatal(err)
	}
	ps := got["dp"].Partitions
	if len(ps) != 2 || ps[0].Err != nil || ps[1].Err != nil {
		t.Fatalf("partitions %+v", ps)
	}
	if n := len(ps[1].ActiveProducers); n != 0 {
		t.Fatalf("partition 1: %d producers, want none", n)
	}
	want := map[int64]storage.ProducerInfo{7: open, 9: idle}
	if len(ps[0].ActiveProducers) != len(want) {
		t.Fatalf("partition 0: %+v", ps[0].ActiveProducers)
	}
	for id, w := range want {
		p := ps[0].ActiveProducers[id]
		if p.ProducerEpoch != w.Epoch || p.LastSequence != w.LastSequence || p.LastTimestamp != w.LastTimestamp ||
			p.CoordinatorEpoch != w.CoordinatorEpoch || p.CurrentTxnStartOffset != int64(w.TxnStartOffset) || p.Leader != 1 {
			t.Errorf("producer %d: %+v, want %+v", id, p, w)
		}
	}

	c := h.dial()
	for i, tc := range []struct {
		req  *kmsg.DescribeProducersRequest
		want *kerr.Error
	}{
		{describeProducersReq("dp", 5), kerr.UnknownTopicOrPartition},
		{describeProducersReq("nope", 0), kerr.UnknownTopicOrPartition},
		{describeProducersReq("plain", 0), kerr.UnknownServerError},
	} {
		resp := c.roundTrip(tc.req, int32(i)).(*kmsg.DescribeProducersResponse)
		p := resp.Topics[0].Partitions[0]
		if p.ErrorCode != tc.want.Code || p.ErrorMessage == nil || len(p.ActiveProducers) != 0 {
			t.Errorf("%s-%d: %v (%v), %d producers; want %s with a message", tc.req.Topics[0].Topic, tc.req.Topics[0].Partitions[0],
				kerr.ErrorForCode(p.ErrorCode), p.ErrorMessage, len(p.ActiveProducers), tc.want.Message)
		}
	}
}

// A node that does not lead the partition answers NOT_LEADER_OR_FOLLOWER
// (the harness' only broker is node 1; this server calls itself node 2).
func TestDescribeProducersNotLeader(t *testing.T) {
	h := newHarness(t, func(c *Config) { c.NodeID = 2 })
	h.createTopic("dp", 1, nil)
	resp := h.dial().roundTrip(describeProducersReq("dp", 0), 1).(*kmsg.DescribeProducersResponse)
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("%v, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(p.ErrorCode))
	}
}

// okMarkers writes every marker at once.
type okMarkers struct{}

func (okMarkers) WriteMarkers(context.Context, *txn.Markers, int32) map[model.TopicPartition]error {
	return nil
}

// stepClock is a clock the test moves.
type stepClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// newTxnAdminHarness is a harness whose server has a transaction
// coordinator owning the one partition of __transaction_state, kept in
// memory (offsetsLog takes any batches).
func newTxnAdminHarness(t *testing.T) (*harness, *txn.Manager, *stepClock) {
	clock := &stepClock{now: time.UnixMilli(1700000000000)}
	var pids atomic.Int64
	m := txn.NewManager(txn.ManagerConfig{
		NumPartitions:      1,
		AllocateProducerID: func(context.Context) (int64, error) { return pids.Add(1) + 1000, nil },
		Markers:            okMarkers{},
		Logger:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:                clock.Now,
	})
	t.Cleanup(m.Close)
	h := newHarness(t, func(c *Config) { c.Txns = m })
	h.createTopic(txn.StateTopic, 1, nil)
	if err := m.Load(0, 0, &offsetsLog{}); err != nil {
		t.Fatal(err)
	}
	return h, m, clock
}

// beginTxn makes id's producer and, with partitions, opens its transaction.
func beginTxn(t *testing.T, m *txn.Manager, id string, tps ...model.TopicPartition) int64 {
	t.Helper()
	ctx := testCtx(t)
	pid, epoch, err := m.InitProducerID(ctx, id, 60000, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if len(tps) > 0 {
		if err := m.AddPartitions(ctx, id, pid, epoch, tps); err != nil {
			t.Fatal(err)
		}
	}
	return pid
}

func TestDescribeTransactions(t *testing.T) {
	h, m, clock := newTxnAdminHarness(t)
	open := beginTxn(t, m, "t-open", model.TopicPartition{Topic: "b", Partition: 2}, model.TopicPartition{Topic: "a", Partition: 1},
		model.TopicPartition{Topic: "b", Partition: 0})
	started := clock.Now().UnixMilli()
	clock.add(time.Second)
	idle := beginTxn(t, m, "t-idle")

	got, err := h.admin().DescribeTransactions(testCtx(t), "t-open", "t-idle", "t-none")
	var se *kadm.ShardErrors
	if err != nil && !errors.As(err, &se) {
		t.Fatal(err)
	}
	o := got["t-open"]
	if o.Err != nil || o.State != "Ongoing" || o.ProducerID != open || o.ProducerEpoch != 0 || o.TimeoutMillis != 60000 ||
		o.StartTimestamp != started || o.Coordinator != 1 {
		t.Fatalf("t-open: %+v", o)
	}
	if want := (kadm.TopicsSet{"a": {1: {}}, "b": {0: {}, 2: {}}}); !equalSets(o.Topics, want) {
		t.Fatalf("t-open partitions %v, want %v", o.Topics, want)
	}
	if i := got["t-idle"]; i.Err != nil || i.State != "Empty" || i.ProducerID != idle || len(i.Topics) != 0 || i.StartTimestamp != -1 {
		t.Fatalf("t-idle: %+v", i)
	}
	if n := got["t-none"]; !errors.Is(n.Err, kerr.TransactionalIDNotFound) {
		t.Fatalf("t-none: %+v, want TRANSACTIONAL_ID_NOT_FOUND", n)
	}

	// Once the partition moved away, its ids are not coordinated here.
	m.Unload(0)
	req := kmsg.NewPtrDescribeTransactionsRequest()
	req.TransactionalIDs = []string{"t-open", ""}
	resp := h.dial().roundTrip(req, 1).(*kmsg.DescribeTransactionsResponse)
	if len(resp.TransactionStates) != 2 {
		t.Fatalf("%d states for 2 ids", len(resp.TransactionStates))
	}
	for i, want := range []*kerr.Error{kerr.NotCoordinator, kerr.TransactionalIDNotFound} {
		if st := resp.TransactionStates[i]; st.ErrorCode != want.Code || st.TransactionalID != req.TransactionalIDs[i] {
			t.Errorf("%q: %v, want %s", st.TransactionalID, kerr.ErrorForCode(st.ErrorCode), want.Message)
		}
	}
}

func equalSets(a, b kadm.TopicsSet) bool {
	if len(a) != len(b) {
		return false
	}
	for topic, ps := range b {
		got := a[topic]
		if len(got) != len(ps) {
			return false
		}
		for p := range ps {
			if _, ok := got[p]; !ok {
				return false
			}
		}
	}
	return true
}

func TestListTransactions(t *testing.T) {
	h, m, clock := newTxnAdminHarness(t)
	a := beginTxn(t, m, "t-a", model.TopicPartition{Topic: "x", Partition: 0})
	clock.add(10 * time.Second)
	b := beginTxn(t, m, "t-b", model.TopicPartition{Topic: "x", Partition: 1})
	c := beginTxn(t, m, "t-c")
	clock.add(time.Second)

	adm := h.admin()
	all, err := adm.ListTransactions(testCtx(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]kadm.ListedTransaction{
		"t-a": {Coordinator: 1, TxnID: "t-a", ProducerID: a, State: "Ongoing"},
		"t-b": {Coordinator: 1, TxnID: "t-b", ProducerID: b, State: "Ongoing"},
		"t-c": {Coordinator: 1, TxnID: "t-c", ProducerID: c, State: "Empty"},
	}
	if len(all) != len(want) {
		t.Fatalf("listed %v, want %v", all, want)
	}
	for id, w := range want {
		if all[id] != w {
			t.Errorf("%s: %+v, want %+v", id, all[id], w)
		}
	}

	conn := h.dial()
	for i, tc := range []struct {
		name        string
		states      []string
		pids        []int64
		durationMs  int64
		wantIDs     []string
		wantUnknown []string
	}{
		{"no filters", nil, nil, -1, []string{"t-a", "t-b", "t-c"}, nil},
		{"state", []string{"Empty"}, nil, -1, []string{"t-c"}, nil},
		{"states with unknown names", []string{"Bogus", "Ongoing", "ongoing", "Bogus"}, nil, -1, []string{"t-a", "t-b"}, []string{"Bogus", "ongoing"}},
		{"only unknown names", []string{"Running"}, nil, -1, nil, []string{"Running"}},
		{"producer ids", nil, []int64{b, c, 99999}, -1, []string{"t-b", "t-c"}, nil},
		{"state and producer id", []string{"Ongoing"}, []int64{c, a}, -1, []string{"t-a"}, nil},
		{"ongoing longer than 5s", nil, nil, 5000, []string{"t-a"}, nil},
		{"ongoing longer than 20s", nil, nil, 20000, nil, nil},
	} {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version = 1
		req.StateFilters, req.ProducerIDFilters, req.DurationFilterMillis = tc.states, tc.pids, tc.durationMs
		resp := conn.roundTrip(req, int32(i)).(*kmsg.ListTransactionsResponse)
		var ids []string
		for _, s := range resp.TransactionStates {
			ids = append(ids, s.TransactionalID)
		}
		if resp.ErrorCode != 0 || !slices.Equal(ids, tc.wantIDs) || !slices.Equal(resp.UnknownStateFilters, tc.wantUnknown) {
			t.Errorf("%s: %v ids %v unknown %v; want ids %v unknown %v", tc.name, kerr.ErrorForCode(resp.ErrorCode),
				ids, resp.UnknownStateFilters, tc.wantIDs, tc.wantUnknown)
		}
	}
}

// ListTransactions v2's transactional_id_pattern (KIP-1152): a regular
// expression the whole id must match; an invalid one is
// INVALID_REGULAR_EXPRESSION.
func TestListTransactionsPattern(t *testing.T) {
	h, m, _ := newTxnAdminHarness(t)
	beginTxn(t, m, "orders-1", model.TopicPartition{Topic: "x", Partition: 0})
	beginTxn(t, m, "orders-2")
	beginTxn(t, m, "payments-orders")
	conn := h.dial()
	ptr := func(s string) *string { return &s }
	for i, tc := range []struct {
		pattern *string
		want    []string
		code    int16
	}{
		{nil, []string{"orders-1", "orders-2", "payments-orders"}, 0},
		{ptr(""), []string{"orders-1", "orders-2", "payments-orders"}, 0},
		{ptr("orders-.*"), []string{"orders-1", "orders-2"}, 0},
		{ptr("orders"), nil, 0}, // a whole-id match, not a substring
		{ptr(".*orders"), []string{"payments-orders"}, 0},
		{ptr("orders-("), nil, kerr.InvalidRegularExpression.Code},
	} {
		req := kmsg.NewPtrListTransactionsRequest()
		req.Version, req.TransactionalIDPattern = 2, tc.pattern
		resp := conn.roundTrip(req, int32(i)).(*kmsg.ListTransactionsResponse)
		var ids []string
		for _, s := range resp.TransactionStates {
			ids = append(ids, s.TransactionalID)
		}
		if resp.ErrorCode != tc.code || !slices.Equal(ids, tc.want) {
			t.Errorf("pattern %v: %v %v, want %v %v", tc.pattern, kerr.ErrorForCode(resp.ErrorCode), ids, kerr.ErrorForCode(tc.code), tc.want)
		}
	}
}

// A node without a transaction coordinator answers
// COORDINATOR_NOT_AVAILABLE.
func TestTxnAdminWithoutCoordinator(t *testing.T) {
	h := newHarness(t)
	c := h.dial()
	lr := c.roundTrip(kmsg.NewPtrListTransactionsRequest(), 1).(*kmsg.ListTransactionsResponse)
	if lr.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("list: %v", kerr.ErrorForCode(lr.ErrorCode))
	}
	dr := kmsg.NewPtrDescribeTransactionsRequest()
	dr.TransactionalIDs = []string{"t"}
	resp := c.roundTrip(dr, 2).(*kmsg.DescribeTransactionsResponse)
	if st := resp.TransactionStates[0]; st.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Errorf("describe: %v", kerr.ErrorForCode(st.ErrorCode))
	}
}
