package connect

// Source offsets: kept in the offsets topic (Kafka's connect-offsets
// layout), written by the source tasks inside their transactions, and read
// back with read_committed. The store's map is the worker's view; the
// informational offset.storage.file.filename is a JSON copy of it.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	offsetFetchMaxWait  = 200 * time.Millisecond
	offsetFetchMaxBytes = 16 << 20
	// offsetReadTimeout bounds reading the offsets topic to its end; an
	// open transaction of a dead worker that nobody fences blocks it until
	// the broker times that transaction out.
	offsetReadTimeout = 90 * time.Second
	maxFetchRounds    = 100000 // bound on fetches while reading to the end
)

// offsetStore is the committed source offsets of every connector.
type offsetStore struct {
	topic      string
	cl         *kgo.Client
	adm        *kadm.Client
	file       string
	flushEvery time.Duration
	log        *slog.Logger

	readMu sync.Mutex // one read of the topic at a time
	pos    map[int32]int64
	fileMu sync.Mutex // one writer of the offsets file (its temp file) at a time

	mu struct {
		sync.Mutex
		data      map[string]storedOffset // offsetKey -> value
		fileDirty bool
		fileAt    time.Time
	}
}

// storedOffset is a value and where it sits in the topic: a read of the
// topic racing a task's own commit must not put back an older value (a
// key always hashes to the same partition).
type storedOffset struct {
	value     json.RawMessage
	partition int32
	offset    int64
}

func newOffsetStore(cl *kgo.Client, topic, file string, flushEvery time.Duration, log *slog.Logger) *offsetStore {
	o := &offsetStore{topic: topic, cl: cl, adm: kadm.NewClient(cl), file: file, flushEvery: flushEvery, log: log, pos: map[int32]int64{}}
	o.mu.data = map[string]storedOffset{}
	return o
}

// offsetKey is Kafka's key: ["<connector>",{partition}] in compact JSON
// (Go sorts the partition's keys).
func offsetKey(connector string, partition map[string]any) []byte {
	b, _ := marshalJSON([]any{connector, partition})
	return b
}

// normalizeKey re-encodes a key read from the topic, so keys written by
// another worker (Java's key order, spaces) compare equal.
func normalizeKey(b []byte) (string, bool) {
	var v []any
	if err := json.Unmarshal(b, &v); err != nil || len(v) != 2 {
		return "", false
	}
	if _, ok := v[0].(string); !ok {
		return "", false
	}
	out, err := marshalJSON(v)
	if err != nil {
		return "", false
	}
	return string(out), true
}

// ensureTopic creates the offsets topic, compacted, when it is missing.
func (o *offsetStore) ensureTopic(ctx context.Context, partitions int32, replication int16) error {
	if replication <= 0 {
		md, err := o.adm.BrokerMetadata(ctx)
		if err != nil {
			return fmt.Errorf("offsets topic %s: %w", o.topic, err)
		}
		replication = int16(min(3, len(md.Brokers)))
	}
	resp, err := o.adm.CreateTopic(ctx, partitions, replication, map[string]*string{"cleanup.policy": strp("compact")}, o.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("create offsets topic %s (offset.storage.topic): %w", o.topic, err)
	}
	if err == nil {
		o.log.Info("connect: created the offsets topic", "topic", o.topic, "partitions", partitions, "replication", replication)
	}
	return nil
}

// readToEnd reads the topic with read_committed up to the high watermark
// it sees now, so every transaction committed before the call is applied.
// Transactions still open hold it at the last stable offset until they
// end: the caller fences its own previous incarnation first.
func (o *offsetStore) readToEnd(ctx context.Context) error {
	o.readMu.Lock()
	defer o.readMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, offsetReadTimeout)
	defer cancel()
	md, err := o.adm.Metadata(ctx, o.topic)
	if err != nil {
		return fmt.Errorf("offsets topic %s: metadata: %w", o.topic, err)
	}
	td, ok := md.Topics[o.topic]
	if !ok || td.Err != nil {
		return fmt.Errorf("offsets topic %s: %v", o.topic, td.Err)
	}
	ends, err := o.adm.ListEndOffsets(ctx, o.topic)
	if err != nil {
		return fmt.Errorf("offsets topic %s: end offsets: %w", o.topic, err)
	}
	for p, pd := range td.Partitions {
		end, ok := ends.Lookup(o.topic, p)
		if !ok || end.Err != nil {
			return fmt.Errorf("offsets topic %s partition %d: end offset: %v", o.topic, p, end.Err)
		}
		if err := o.readPartition(ctx, td.ID, p, pd.Leader, end.Offset); err != nil {
			return err
		}
	}
	return nil
}

func (o *offsetStore) readPartition(ctx context.Context, id [16]byte, p, leader int32, end int64) error {
	for range maxFetchRounds {
		pos := o.pos[p]
		if pos >= end {
			return nil
		}
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, int32(offsetFetchMaxWait.Milliseconds()), 1, offsetFetchMaxBytes
		req.IsolationLevel, req.SessionEpoch = 1, -1
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = o.topic, id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch, rp.LogStartOffset = p, pos, offsetFetchMaxBytes, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		raw, err := o.cl.Broker(int(leader)).Request(ctx, req)
		if err != nil {
			return fmt.Errorf("offsets topic %s partition %d: fetch: %w", o.topic, p, err)
		}
		resp := raw.(*kmsg.FetchResponse)
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			return fmt.Errorf("offsets topic %s partition %d: fetch answered %d topics", o.topic, p, len(resp.Topics))
		}
		fr := &resp.Topics[0].Partitions[0]
		switch err := kerr.ErrorForCode(fr.ErrorCode); {
		case err == nil:
		case errors.Is(err, kerr.OffsetOutOfRange):
			// Compaction or retention moved the start past pos.
			if fr.LogStartOffset > pos {
				o.pos[p] = fr.LogStartOffset
				continue
			}
			return fmt.Errorf("offsets topic %s partition %d: offset %d out of range", o.topic, p, pos)
		default:
			if kerr.IsRetriable(err) {
				if err := sleepCtx(ctx, offsetFetchMaxWait); err != nil {
					return fmt.Errorf("offsets topic %s partition %d: %w (last: %v)", o.topic, p, err, kerr.ErrorForCode(fr.ErrorCode))
				}
				continue
			}
			return fmt.Errorf("offsets topic %s partition %d: fetch: %w", o.topic, p, err)
		}
		fp, next := kgo.ProcessFetchPartition(kgo.ProcessFetchPartitionOpts{Offset: pos, IsolationLevel: kgo.ReadCommitted(),
			Topic: o.topic, Partition: p}, fr, kgo.DefaultDecompressor(), nil)
		if fp.Err != nil {
			return fmt.Errorf("offsets topic %s partition %d: %w", o.topic, p, fp.Err)
		}
		o.apply(fp.Records)
		if next > pos {
			o.pos[p] = next
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("offsets topic %s partition %d: read to %d stopped at %d: %w", o.topic, p, end, o.pos[p], err)
		}
	}
	return fmt.Errorf("offsets topic %s partition %d: not at %d after %d fetches", o.topic, p, end, maxFetchRounds)
}

func (o *offsetStore) apply(recs []*kgo.Record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, r := range recs {
		k, ok := normalizeKey(r.Key)
		if !ok {
			o.log.Warn("connect: skipping an offsets record with a key that is not [connector, partition]", "offset", r.Offset)
			continue
		}
		if old, ok := o.mu.data[k]; ok && old.partition == r.Partition && old.offset >= r.Offset {
			continue
		}
		if r.Value == nil {
			delete(o.mu.data, k)
			continue
		}
		o.mu.data[k] = storedOffset{value: append(json.RawMessage(nil), r.Value...), partition: r.Partition, offset: r.Offset}
	}
}

// get is the committed offset of a connector's source partition.
func (o *offsetStore) get(connector string, partition map[string]any) map[string]any {
	k, _ := normalizeKey(offsetKey(connector, partition))
	o.mu.Lock()
	v, ok := o.mu.data[k]
	o.mu.Unlock()
	if !ok {
		return nil
	}
	var out map[string]any
	d := json.NewDecoder(bytes.NewReader(v.value))
	d.UseNumber()
	if d.Decode(&out) != nil {
		return nil
	}
	return out
}

// committed records the offsets records a transaction committed and
// rewrites the informational file when offset.flush.interval.ms passed.
func (o *offsetStore) committed(recs []*kgo.Record) {
	o.mu.Lock()
	for _, r := range recs {
		k, _ := normalizeKey(r.Key)
		if old, ok := o.mu.data[k]; !ok || old.partition != r.Partition || old.offset < r.Offset {
			o.mu.data[k] = storedOffset{value: r.Value, partition: r.Partition, offset: r.Offset}
		}
	}
	o.mu.fileDirty = true
	due := time.Since(o.mu.fileAt) >= o.flushEvery
	o.mu.Unlock()
	if due {
		o.writeFile()
	}
}

// writeFile writes offset.storage.file.filename: a JSON object of key to
// value. Kafka's file is a Java-serialized map no other program reads;
// this one is for people, the offsets topic is the truth.
func (o *offsetStore) writeFile() {
	if o.file == "" {
		return
	}
	o.fileMu.Lock()
	defer o.fileMu.Unlock()
	o.mu.Lock()
	if !o.mu.fileDirty {
		o.mu.Unlock()
		return
	}
	keys := make([]string, 0, len(o.mu.data))
	for k := range o.mu.data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := make(map[string]json.RawMessage, len(keys))
	for _, k := range keys {
		m[k] = o.mu.data[k].value
	}
	o.mu.fileDirty, o.mu.fileAt = false, time.Now()
	o.mu.Unlock()
	b, err := json.MarshalIndent(m, "", "  ")
	if err == nil {
		err = writeFileAtomic(o.file, append(b, '\n'), false)
	}
	if err != nil {
		o.log.Warn("connect: cannot write offset.storage.file.filename (informational; offsets are in the offsets topic)", "file", o.file, "err", err)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
