package kafka

// The hand-written Fetch response encoder of the sendfile path. It writes
// the whole response frame (size, correlation id, the flexible header's
// tagged fields, the body) into one header buffer, except the record bytes
// of partitions read as file ranges: for those it writes the records'
// length prefix and leaves a hole that the connection's writer fills with
// sendfile(2) straight from the segment file. Field order and encodings
// follow kmsg's FetchResponse.AppendTo for versions 4-17 (TestFetchEncode
// compares the two byte for byte):
//
//	throttle_time_ms int32
//	error_code int16, session_id int32                  v7+
//	topics [array; compact v12+]
//	  topic string (compact v12) | topic_id uuid (v13+)
//	  partitions [array]
//	    partition int32, error_code int16, high_watermark int64
//	    last_stable_offset int64
//	    log_start_offset int64                           v5+
//	    aborted_transactions [nullable array]
//	      producer_id int64, first_offset int64 (+ tags v12+)
//	    preferred_read_replica int32                     v11+
//	    records nullable bytes (compact v12+)            <- the hole
//	    tags v12+: 0 diverging_epoch, 1 current_leader, 2 snapshot_id
//	  tags v12+
//	tags v12+: 0 node_endpoints (v16+, KIP-951)
//	  [compact array] node_id int32, host compact string, port int32,
//	  rack compact nullable string, tags
//
// Unknown tagged fields are not written: the handler never sets any.

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/storage"
)

// fetchRanges holds the file ranges of a fetch response's partitions,
// indexed like resp.Topics[t].Partitions[p]; a zero Ranges means the
// partition's records (if any) are in its RecordBatches.
type fetchRanges struct {
	parts [][]storage.Ranges
}

// release drops every range (safe to call again).
func (f *fetchRanges) release() {
	if f == nil {
		return
	}
	for _, t := range f.parts {
		for i := range t {
			t[i].Release()
		}
	}
	f.parts = f.parts[:0]
}

// at returns the ranges of topic t, partition p, or nil.
func (f *fetchRanges) at(t, p int) *storage.Ranges {
	if f == nil || t >= len(f.parts) || p >= len(f.parts[t]) {
		return nil
	}
	return &f.parts[t][p]
}

// recordBytes is the size of the ranged records of topic t, partition p.
func (f *fetchRanges) recordBytes(t, p int) int {
	if r := f.at(t, p); r != nil {
		return int(r.Bytes)
	}
	return 0
}

// fetchPiece is a file range that goes on the wire after buf[:at] (and
// after the pieces before it).
type fetchPiece struct {
	at int
	fr storage.FileRange
	rg *storage.Ranges // its owner, for Intact
}

// fetchOut is an encoded Fetch response: buf with holes at the pieces.
type fetchOut struct {
	buf    []byte
	pieces []fetchPiece
	ranges *fetchRanges // released once the response is written or dropped
	// ranged is the record bytes in pieces, inline those in buf.
	ranged, inline int64
}

// release releases the response's ranges; safe to call more than once.
func (o *fetchOut) release() {
	if o != nil {
		o.ranges.release()
		o.pieces = nil
	}
}

// size is the frame's length on the wire, size prefix included.
func (o *fetchOut) size() int64 { return int64(len(o.buf)) + o.ranged }

// encodeFetch frames resp (resp.Version set) for correlationID, taking the
// records of each partition from fr where it has ranges. fr's ranges stay
// owned by the result.
func encodeFetch(correlationID int32, resp *kmsg.FetchResponse, fr *fetchRanges) *fetchOut {
	o := &fetchOut{ranges: fr}
	v := resp.Version
	flex := v >= 12
	b := make([]byte, 8, 256)
	binary.BigEndian.PutUint32(b[4:], uint32(correlationID))
	if flex {
		b = append(b, 0) // response header tagged fields
	}
	b = binary.BigEndian.AppendUint32(b, uint32(resp.ThrottleMillis))
	if v >= 7 {
		b = binary.BigEndian.AppendUint16(b, uint16(resp.ErrorCode))
		b = binary.BigEndian.AppendUint32(b, uint32(resp.SessionID))
	}
	b = appendArrayLen(b, flex, len(resp.Topics), false)
	for ti := range resp.Topics {
		t := &resp.Topics[ti]
		if v >= 13 {
			b = append(b, t.TopicID[:]...)
		} else if flex {
			b = binary.AppendUvarint(b, uint64(len(t.Topic))+1)
			b = append(b, t.Topic...)
		} else {
			b = binary.BigEndian.AppendUint16(b, uint16(len(t.Topic)))
			b = append(b, t.Topic...)
		}
		b = appendArrayLen(b, flex, len(t.Partitions), false)
		for pi := range t.Partitions {
			p := &t.Partitions[pi]
			b = binary.BigEndian.AppendUint32(b, uint32(p.Partition))
			b = binary.BigEndian.AppendUint16(b, uint16(p.ErrorCode))
			b = binary.BigEndian.AppendUint64(b, uint64(p.HighWatermark))
			if v >= 4 {
				b = binary.BigEndian.AppendUint64(b, uint64(p.LastStableOffset))
			}
			if v >= 5 {
				b = binary.BigEndian.AppendUint64(b, uint64(p.LogStartOffset))
			}
			if v >= 4 {
				b = appendArrayLen(b, flex, len(p.AbortedTransactions), p.AbortedTransactions == nil)
				for _, a := range p.AbortedTransactions {
					b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
					b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
					if flex {
						b = append(b, 0)
					}
				}
			}
			if v >= 11 {
				b = binary.BigEndian.AppendUint32(b, uint32(p.PreferredReadReplica))
			}
			// Records: inline bytes, or the length of the ranges and a hole.
			rg := fr.at(ti, pi)
			switch {
			case rg != nil && len(rg.Pieces) > 0:
				b = appendBytesLen(b, flex, int(rg.Bytes), false)
				for _, piece := range rg.Pieces {
					o.pieces = append(o.pieces, fetchPiece{at: len(b), fr: piece, rg: rg})
				}
				o.ranged += rg.Bytes
			default:
				b = appendBytesLen(b, flex, len(p.RecordBatches), p.RecordBatches == nil)
				b = append(b, p.RecordBatches...)
				o.inline += int64(len(p.RecordBatches))
			}
			if flex {
				b = appendPartitionTags(b, p)
			}
		}
		if flex {
			b = append(b, 0)
		}
	}
	if flex {
		b = appendNodeEndpoints(b, resp.Brokers)
	}
	binary.BigEndian.PutUint32(b, uint32(int64(len(b))-4+o.ranged))
	o.buf = b
	return o
}

// appendArrayLen writes an array length: int32 (-1 for null), or, when
// flexible, uvarint length+1 (0 for null).
func appendArrayLen(b []byte, flex bool, n int, null bool) []byte {
	switch {
	case flex && null:
		return append(b, 0)
	case flex:
		return binary.AppendUvarint(b, uint64(n)+1)
	case null:
		return binary.BigEndian.AppendUint32(b, 0xffffffff)
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}

// appendBytesLen writes a nullable bytes length; the same rules.
func appendBytesLen(b []byte, flex bool, n int, null bool) []byte {
	return appendArrayLen(b, flex, n, null)
}

// appendPartitionTags writes a partition's tagged fields: each one that
// differs from its default, in tag order, as kmsg does.
func appendPartitionTags(b []byte, p *kmsg.FetchResponseTopicPartition) []byte {
	de := p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1
	cl := p.CurrentLeader.LeaderID != -1 || p.CurrentLeader.LeaderEpoch != -1
	sn := p.SnapshotID.EndOffset != -1 || p.SnapshotID.Epoch != -1
	n := 0
	for _, set := range []bool{de, cl, sn} {
		if set {
			n++
		}
	}
	b = binary.AppendUvarint(b, uint64(n))
	if de {
		b = append(b, 0, 13) // tag, size: int32 + int64 + empty tags
		b = binary.BigEndian.AppendUint32(b, uint32(p.DivergingEpoch.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(p.DivergingEpoch.EndOffset))
		b = append(b, 0)
	}
	if cl {
		b = append(b, 1, 9) // tag, size: int32 + int32 + empty tags
		b = binary.BigEndian.AppendUint32(b, uint32(p.CurrentLeader.LeaderID))
		b = binary.BigEndian.AppendUint32(b, uint32(p.CurrentLeader.LeaderEpoch))
		b = append(b, 0)
	}
	if sn {
		b = append(b, 2, 13) // tag, size: int64 + int32 + empty tags
		b = binary.BigEndian.AppendUint64(b, uint64(p.SnapshotID.EndOffset))
		b = binary.BigEndian.AppendUint32(b, uint32(p.SnapshotID.Epoch))
		b = append(b, 0)
	}
	return b
}

// appendNodeEndpoints writes the response's tagged fields: node_endpoints
// (tag 0) when there are any, as kmsg does.
func appendNodeEndpoints(b []byte, brokers []kmsg.FetchResponseBroker) []byte {
	if len(brokers) == 0 {
		return append(b, 0)
	}
	var f []byte
	f = binary.AppendUvarint(f, uint64(len(brokers))+1)
	for _, nb := range brokers {
		f = binary.BigEndian.AppendUint32(f, uint32(nb.NodeID))
		f = binary.AppendUvarint(f, uint64(len(nb.Host))+1)
		f = append(f, nb.Host...)
		f = binary.BigEndian.AppendUint32(f, uint32(nb.Port))
		if nb.Rack == nil {
			f = append(f, 0)
		} else {
			f = binary.AppendUvarint(f, uint64(len(*nb.Rack))+1)
			f = append(f, *nb.Rack...)
		}
		f = append(f, 0)
	}
	b = append(b, 1, 0) // one tagged field, tag 0
	b = binary.AppendUvarint(b, uint64(len(f)))
	return append(b, f...)
}
