// Package rawfetch is the consume benchmark that measures the broker, not
// the client (issue 16): it sends Fetch requests over plain TCP
// connections and reads the size-prefixed responses, decoding only the
// Fetch response's framing (topics, partitions, error codes, the record
// bytes as one slice) and the headers of the record batches in it, never
// the records themselves. What it moves per second is what the broker can
// serve, comparable with iperf3 over loopback; the decoding consumer
// (`ringtail bench consume`) is the figure a client application sees.
//
// WalkBatches and ParseResponse are pure functions of bytes (fuzzed);
// Consumer is the loop over connections.
package rawfetch

import (
	"encoding/binary"
	"errors"
	"fmt"
)

const (
	// batchHeaderBytes is a v2 record batch's header up to and including
	// its record count: baseOffset(8) batchLength(4) leaderEpoch(4)
	// magic(1) crc(4) attributes(2) lastOffsetDelta(4) firstTimestamp(8)
	// maxTimestamp(8) producerId(8) producerEpoch(2) baseSequence(4)
	// records(4).
	batchHeaderBytes = 61
	// logOverhead is the offset and length in front of every batch (and
	// of every legacy message).
	logOverhead = 12
	// minV2Length is the smallest batchLength of a v2 batch: the header
	// after the length field, with no records.
	minV2Length = batchHeaderBytes - logOverhead
	// minLegacyLength is the smallest legacy (magic 0/1) message after
	// its offset and size: crc(4) magic(1) attributes(1) key(4) value(4).
	minLegacyLength = 14
)

// Walk is what the complete batches at the front of a partition's record
// bytes hold.
type Walk struct {
	Batches int
	Records int64 // the batches' record counts (a legacy message counts 1)
	Bytes   int64 // the complete batches' bytes, offset and length included
	// Next is the offset after the last complete batch (its base offset +
	// lastOffsetDelta + 1); -1 when there was none.
	Next int64
}

// WalkBatches reads the headers of the record batches in b (the record
// bytes of one partition of a Fetch response) without decoding a record.
// A broker may end the bytes with a partial batch (Kafka cuts the last one
// at the size limit); WalkBatches stops before it. Batches wholly below
// from (a broker returns the whole batch holding the fetch offset) and
// batches at or past until (when until >= 0) are skipped in the counts,
// though Next still moves past them. An impossible header is an error.
func WalkBatches(b []byte, from, until int64) (Walk, error) {
	w := Walk{Next: -1}
	for len(b) >= logOverhead {
		base := int64(binary.BigEndian.Uint64(b[0:8]))
		length := int32(binary.BigEndian.Uint32(b[8:12]))
		if length < 0 || int64(length) > int64(len(b)-logOverhead) {
			if length < 0 {
				return w, fmt.Errorf("batch at offset %d: negative length %d", base, length)
			}
			break // partial trailing batch
		}
		if len(b) < logOverhead+5 {
			break
		}
		magic := b[16]
		var records int64
		next := base + 1
		switch {
		case magic == 2:
			if length < minV2Length {
				return w, fmt.Errorf("batch at offset %d: length %d is below a v2 batch header's %d", base, length, minV2Length)
			}
			delta := int32(binary.BigEndian.Uint32(b[23:27]))
			n := int32(binary.BigEndian.Uint32(b[57:61]))
			if delta < 0 || n < 0 {
				return w, fmt.Errorf("batch at offset %d: lastOffsetDelta %d, records %d", base, delta, n)
			}
			records, next = int64(n), base+int64(delta)+1
		case magic < 2:
			if length < minLegacyLength {
				return w, fmt.Errorf("message at offset %d: length %d is below a legacy message's %d", base, length, minLegacyLength)
			}
			// A legacy (compressed) wrapper carries its last inner offset.
			records = 1
		default:
			return w, fmt.Errorf("batch at offset %d: magic %d, want 0, 1 or 2", base, magic)
		}
		if base < 0 || next <= base {
			return w, fmt.Errorf("batch at offset %d: offsets overflow", base)
		}
		size := int64(logOverhead) + int64(length)
		if next > from && (until < 0 || base < until) {
			w.Batches++
			w.Records += records
			w.Bytes += size
		}
		w.Next = next
		b = b[size:]
	}
	return w, nil
}

// ErrCorrelation is a response whose correlation id is not the request's.
var ErrCorrelation = errors.New("rawfetch: response correlation id does not match the request")
