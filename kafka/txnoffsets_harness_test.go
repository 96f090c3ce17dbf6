// This file holds the fake pieces the TxnOffsetCommit tests need: a
// __consumer_offsets log in memory that, unlike fakeLog, takes the group
// coordinator's transactional batches (which carry no sequence), and a
// harness whose coordinator uses it. It proves nothing itself.
package kafka

import (
	"encoding/binary"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/ringtail/ringtail/group"
	"github.com/ringtail/ringtail/model"
)

func init() {
	// Until apiversions.go serves key 28 itself.
	if _, ok := apis[28]; !ok {
		apis[28] = api{0, 3, handleTxnOffsetCommit}
	}
}

// offsetsLog is a group.Log in memory: batches get consecutive offsets
// (baseOffset rewritten), reads return whole batches from the one
// holding the offset.
type offsetsLog struct {
	mu      sync.Mutex
	batches [][]byte
	bases   []int64
	next    int64
}

func (l *offsetsLog) Append(records []byte, done func(error)) {
	l.mu.Lock()
	b := append([]byte(nil), records...)
	binary.BigEndian.PutUint64(b, uint64(l.next))
	l.batches, l.bases = append(l.batches, b), append(l.bases, l.next)
	l.next += int64(int32(binary.BigEndian.Uint32(b[23:]))) + 1
	l.mu.Unlock()
	done(nil)
}

func (l *offsetsLog) Offsets() (model.Offset, model.Offset) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return 0, model.Offset(l.next)
}

func (l *offsetsLog) Read(o model.Offset, _ int32) ([]byte, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []byte
	for i, b := range l.batches {
		end := l.next
		if i+1 < len(l.bases) {
			end = l.bases[i+1]
		}
		if end > int64(o) {
			out = append(out, b...)
		}
	}
	return out, nil
}

// newTxnGroupHarness is a harness whose server has a coordinator over a
// one-partition __consumer_offsets kept in an offsetsLog.
func newTxnGroupHarness(t *testing.T) (*harness, *group.Coordinator) {
	gc := group.New(group.Config{NumPartitions: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	h := newHarness(t, func(c *Config) { c.Groups = gc })
	h.createTopic(group.OffsetsTopic, 1, nil)
	if err := gc.Load(0, &offsetsLog{}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return h, gc
}
