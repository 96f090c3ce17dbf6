// This file holds the test doubles: an in-memory Log that really stores
// batches (offsets assigned by rewriting baseOffset, CRC-32C checked,
// idempotent sequences enforced) and a Logs that opens one for every
// partition the controller's image says this node leads.
package kafka

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/model"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type storedBatch struct {
	base, last int64
	maxTS      int64
	data       []byte // as appended, baseOffset rewritten
}

type producerState struct {
	epoch   int16
	nextSeq int32
}

type fakeLog struct {
	maxBatchBytes int
	mu            struct {
		sync.Mutex
		batches       []storedBatch
		logStart, end int64
		changed       chan struct{}
		producers     map[int64]producerState
		// onChanged, when set, is told each time someone takes Changed().
		onChanged chan struct{}
		appends   int
	}
}

func newFakeLog(maxBatchBytes int) *fakeLog {
	l := &fakeLog{maxBatchBytes: maxBatchBytes}
	l.mu.changed = make(chan struct{})
	l.mu.producers = map[int64]producerState{}
	return l
}

// parseBatches checks framing and CRCs and returns each batch's header.
func parseBatches(records []byte, maxBatchBytes int) ([]kmsg.RecordBatch, [][]byte, error) {
	var out []kmsg.RecordBatch
	var raws [][]byte
	for pos := 0; pos < len(records); {
		if len(records)-pos < 61 {
			return nil, nil, fmt.Errorf("%w: %d trailing bytes", model.ErrCorruptRecord, len(records)-pos)
		}
		n := int(int32(binary.BigEndian.Uint32(records[pos+8:])))
		if n < 49 || pos+12+n > len(records) {
			return nil, nil, fmt.Errorf("%w: batch length %d", model.ErrCorruptRecord, n)
		}
		raw := records[pos : pos+12+n]
		if maxBatchBytes > 0 && len(raw) > maxBatchBytes {
			return nil, nil, fmt.Errorf("%w: %d bytes", model.ErrRecordTooLarge, len(raw))
		}
		var b kmsg.RecordBatch
		if err := b.ReadFrom(raw); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", model.ErrCorruptRecord, err)
		}
		if b.Magic != 2 {
			return nil, nil, fmt.Errorf("%w: magic %d", model.ErrInvalidRecord, b.Magic)
		}
		if uint32(b.CRC) != crc32.Checksum(raw[21:], castagnoli) {
			return nil, nil, fmt.Errorf("%w: crc mismatch", model.ErrCorruptRecord)
		}
		out = append(out, b)
		raws = append(raws, raw)
		pos += len(raw)
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("%w: no batches", model.ErrInvalidRecord)
	}
	return out, raws, nil
}

func (l *fakeLog) Append(records []byte, _ model.Epoch, done func(AppendResult)) {
	res := l.append(records)
	go done(res) // like a shard: done runs on another goroutine
}

func (l *fakeLog) append(records []byte) AppendResult {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.mu.appends++
	batches, raws, err := parseBatches(records, l.maxBatchBytes)
	if err != nil {
		return AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: model.Offset(l.mu.logStart), Err: err}
	}
	for _, b := range batches {
		if b.ProducerID < 0 {
			continue
		}
		st, ok := l.mu.producers[b.ProducerID]
		switch {
		case ok && b.ProducerEpoch < st.epoch:
			return AppendResult{Err: fmt.Errorf("%w: epoch %d < %d", model.ErrInvalidProducerEpoch, b.ProducerEpoch, st.epoch)}
		case (!ok || b.ProducerEpoch > st.epoch) && b.FirstSequence != 0:
			return AppendResult{Err: fmt.Errorf("%w: new epoch starts at sequence %d", model.ErrOutOfOrderSequence, b.FirstSequence)}
		case ok && b.ProducerEpoch == st.epoch && b.FirstSequence != st.nextSeq:
			return AppendResult{Err: fmt.Errorf("%w: got %d, want %d", model.ErrOutOfOrderSequence, b.FirstSequence, st.nextSeq)}
		}
	}
	first := l.mu.end
	for i, b := range batches {
		if b.ProducerID >= 0 {
			l.mu.producers[b.ProducerID] = producerState{epoch: b.ProducerEpoch, nextSeq: b.FirstSequence + b.LastOffsetDelta + 1}
		}
		data := append([]byte(nil), raws[i]...)
		binary.BigEndian.PutUint64(data, uint64(l.mu.end))
		last := l.mu.end + int64(b.LastOffsetDelta)
		l.mu.batches = append(l.mu.batches, storedBatch{base: l.mu.end, last: last, maxTS: b.MaxTimestamp, data: data})
		l.mu.end = last + 1
	}
	close(l.mu.changed)
	l.mu.changed = make(chan struct{})
	return AppendResult{BaseOffset: model.Offset(first), LastOffset: model.Offset(l.mu.end - 1), LogAppendTime: -1, LogStartOffset: model.Offset(l.mu.logStart)}
}

func (l *fakeLog) Read(offset model.Offset, maxBytes int32, minOneBatch bool) (ReadResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	rr := ReadResult{HighWatermark: model.Offset(l.mu.end), LastStableOffset: model.Offset(l.mu.end), LogStartOffset: model.Offset(l.mu.logStart)}
	if int64(offset) < l.mu.logStart || int64(offset) > l.mu.end {
		return rr, fmt.Errorf("%w: %d not in [%d, %d]", model.ErrOffsetOutOfRange, offset, l.mu.logStart, l.mu.end)
	}
	for _, b := range l.mu.batches {
		if b.last < int64(offset) {
			continue
		}
		if len(rr.Records)+len(b.data) > int(maxBytes) && !(minOneBatch && len(rr.Records) == 0) {
			break
		}
		rr.Records = append(rr.Records, b.data...)
	}
	return rr, nil
}

func (l *fakeLog) Offsets() (logStart, highWatermark, logEnd model.Offset) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return model.Offset(l.mu.logStart), model.Offset(l.mu.end), model.Offset(l.mu.end)
}

// OffsetForTime works per batch; tests that use it write one record per
// batch, where that is exact.
func (l *fakeLog) OffsetForTime(ts int64) (model.Offset, int64, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.mu.batches {
		if b.maxTS >= ts {
			return model.Offset(b.base), b.maxTS, true
		}
	}
	return -1, -1, false
}

func (l *fakeLog) MaxTimestamp() (int64, model.Offset) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts, off := int64(-1), model.Offset(-1)
	for _, b := range l.mu.batches {
		if b.maxTS > ts {
			ts, off = b.maxTS, model.Offset(b.last)
		}
	}
	return ts, off
}

func (l *fakeLog) DeleteRecords(before model.Offset) (model.Offset, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if before == -1 {
		before = model.Offset(l.mu.end)
	}
	if before < 0 || int64(before) > l.mu.end {
		return -1, fmt.Errorf("%w: %d is past the high watermark %d", model.ErrOffsetOutOfRange, before, l.mu.end)
	}
	if int64(before) > l.mu.logStart {
		l.mu.logStart = int64(before)
	}
	for len(l.mu.batches) > 0 && l.mu.batches[0].last < l.mu.logStart {
		l.mu.batches = l.mu.batches[1:]
	}
	return model.Offset(l.mu.logStart), nil
}

func (l *fakeLog) Changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.mu.onChanged != nil {
		select {
		case l.mu.onChanged <- struct{}{}:
		default:
		}
	}
	return l.mu.changed
}

// stored returns a copy of the stored batches' bytes.
func (l *fakeLog) stored() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out [][]byte
	for _, b := range l.mu.batches {
		out = append(out, append([]byte(nil), b.data...))
	}
	return out
}

type fakeLogs struct {
	ctrl          Controller
	nodeID        int32
	maxBatchBytes int
	// wrap, when set before the first request, turns a log into what the
	// server sees (a replicated log in replication_test.go).
	wrap func(tp model.TopicPartition, l *fakeLog) Log
	mu   struct {
		sync.Mutex
		logs map[model.TopicPartition]*fakeLog
		// held partitions are not ready (LeaderLog says false) until
		// release; changed is closed by release.
		held    map[model.TopicPartition]bool
		changed chan struct{}
	}
	// heldAsked receives a partition each time LeaderLog finds it held.
	heldAsked chan model.TopicPartition
}

// LeaderLog is Log, except for held partitions.
func (f *fakeLogs) LeaderLog(t *controlplane.Topic, p controlplane.Partition) (Log, bool) {
	tp := model.TopicPartition{Topic: t.Name, Partition: p.Partition}
	f.mu.Lock()
	held := f.mu.held[tp]
	f.mu.Unlock()
	if held {
		select {
		case f.heldAsked <- tp:
		default:
		}
		return nil, false
	}
	return f.Log(tp)
}

func (f *fakeLogs) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mu.changed
}

// hold makes tp not ready, as a log being created is.
func (f *fakeLogs) hold(tp model.TopicPartition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mu.held[tp] = true
}

// release makes tp ready and wakes whoever waits.
func (f *fakeLogs) release(tp model.TopicPartition) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.mu.held, tp)
	close(f.mu.changed)
	f.mu.changed = make(chan struct{})
}

func newFakeLogs(ctrl Controller, nodeID int32, maxBatchBytes int) *fakeLogs {
	f := &fakeLogs{ctrl: ctrl, nodeID: nodeID, maxBatchBytes: maxBatchBytes}
	f.mu.logs = map[model.TopicPartition]*fakeLog{}
	f.mu.held = map[model.TopicPartition]bool{}
	f.mu.changed = make(chan struct{})
	f.heldAsked = make(chan model.TopicPartition, 64)
	return f
}

func (f *fakeLogs) Log(tp model.TopicPartition) (Log, bool) {
	l, ok := f.get(tp)
	if !ok {
		return nil, false
	}
	if f.wrap != nil {
		return f.wrap(tp, l), true
	}
	return l, true
}

// get opens the log of tp if the image has it led by this node.
func (f *fakeLogs) get(tp model.TopicPartition) (*fakeLog, bool) {
	var t *controlplane.Topic
	if f.ctrl != nil {
		t = f.ctrl.Image().Topics[tp.Topic]
		if t == nil || int(tp.Partition) >= len(t.Partitions) || t.Partitions[tp.Partition].Leader != f.nodeID {
			return nil, false
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.mu.logs[tp]
	if !ok {
		l = newFakeLog(f.maxBatchBytes)
		f.mu.logs[tp] = l
	}
	return l, true
}

func modelOffset(i int) model.Offset { return model.Offset(i) }
