package storage

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/klauspost/compress/snappy"

	"github.com/ringtail/ringtail/model"
)

// codecBatch is buildBatch with its records section compressed by codec.
func codecBatch(t testing.TB, codec int, o batchOpts, recs []testRec) []byte {
	t.Helper()
	plain := buildBatch(o, recs)
	payload, err := compress(codec, plain[BatchHeaderSize:])
	if err != nil {
		t.Fatal(err)
	}
	b := append(append([]byte(nil), plain[:BatchHeaderSize]...), payload...)
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(codec))
	binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-batchLogOverhead))
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
	return b
}

func keyedRecs() []testRec {
	return []testRec{
		{key: []byte("a"), value: []byte("1")},
		{key: []byte("b"), value: bytes.Repeat([]byte("x"), 300), tsDelta: 1},
		{key: []byte("a"), tombstone: true, tsDelta: 2},
		{key: nil, value: []byte("no key"), tsDelta: 3},
		{key: []byte{}, value: []byte("empty key"), tsDelta: 4},
	}
}

// Every codec: the records come back with their keys, offsets and
// tombstones, a subset rebuilds into a valid batch that keeps the offsets,
// timestamps and producer fields, and an empty rebuild is a bare header.
func TestBatchRecordsEveryCodec(t *testing.T) {
	for codec := codecNone; codec <= codecZstd; codec++ {
		t.Run(fmt.Sprint("codec", codec), func(t *testing.T) {
			o := batchOpts{firstTs: 1000, producerID: 7, epoch: 2, baseSeq: 40}
			b := codecBatch(t, codec, o, keyedRecs())
			setBatchOffsetAndEpoch(b, 100, 3)
			h, err := checkBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			recs, _, err := batchRecords(b, &h)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 5 || string(recs[0].key) != "a" || recs[1].offsetDelta != 1 || !recs[2].nullValue ||
				recs[3].key != nil || recs[4].key == nil || len(recs[4].key) != 0 || recs[0].nullValue {
				t.Fatalf("records: %+v", recs)
			}
			out, err := rebuildBatch(b, &h, []record{recs[1], recs[4]})
			if err != nil {
				t.Fatal(err)
			}
			oh, err := checkBatch(out)
			if err != nil {
				t.Fatalf("rebuilt batch: %v", err)
			}
			if oh.BaseOffset != 100 || oh.LastOffsetDelta != 4 || oh.RecordCount != 2 || oh.FirstTimestamp != 1000 ||
				oh.ProducerID != 7 || oh.ProducerEpoch != 2 || oh.BaseSequence != 40 || oh.Compression() != codec || oh.PartitionLeaderEpoch != 3 {
				t.Fatalf("rebuilt header: %+v", oh)
			}
			kept, _, err := batchRecords(out, &oh)
			if err != nil || len(kept) != 2 || kept[0].offsetDelta != 1 || kept[1].offsetDelta != 4 || !bytes.Equal(kept[0].raw, recs[1].raw) {
				t.Fatalf("rebuilt records: %+v %v", kept, err)
			}
			empty, err := rebuildBatch(b, &h, nil)
			if err != nil {
				t.Fatal(err)
			}
			eh, err := checkBatch(empty)
			if err != nil || eh.RecordCount != 0 || eh.Compression() != codecNone || eh.Size() != BatchHeaderSize || eh.LastOffset() != 104 {
				t.Fatalf("empty batch: %+v %v", eh, err)
			}
		})
	}
}

// Snappy data from a client that does not frame it (raw blocks) reads too.
func TestRawSnappyReads(t *testing.T) {
	plain := buildBatch(noProducer(1), keyedRecs())
	raw := snappy.Encode(nil, plain[BatchHeaderSize:])
	got, err := decompress(codecSnappy, raw)
	if err != nil || !bytes.Equal(got, plain[BatchHeaderSize:]) {
		t.Fatalf("raw snappy: %v", err)
	}
}

// A compacted topic refuses a record without a key, compressed or not.
func TestCheckRecordKeys(t *testing.T) {
	keyed := []testRec{{key: []byte("k"), value: []byte("v")}, {key: []byte("k2"), tombstone: true}}
	for _, codec := range []int{codecNone, codecLZ4} {
		if err := checkRecordKeys(codecBatch(t, codec, noProducer(1), keyed)); err != nil {
			t.Fatalf("codec %d, keyed: %v", codec, err)
		}
		err := checkRecordKeys(append(codecBatch(t, codec, noProducer(1), keyed), codecBatch(t, codec, noProducer(1), keyedRecs())...))
		if !errors.Is(err, model.ErrInvalidRecord) {
			t.Fatalf("codec %d, a record without a key: %v", codec, err)
		}
	}
}

// FuzzBatchRecords: the record decoder never panics or over-reads on any
// records section under any codec, and what it accepts rebuilds into a
// batch that decodes to the same records.
func FuzzBatchRecords(f *testing.F) {
	plain := buildBatch(noProducer(1), keyedRecs())
	f.Add(int8(0), int32(5), plain[BatchHeaderSize:])
	f.Add(int8(2), int32(1), []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9})
	f.Add(int8(4), int32(2), []byte{0x28, 0xb5, 0x2f, 0xfd})
	f.Fuzz(func(t *testing.T, codec int8, count int32, payload []byte) {
		b := buildBatch(noProducer(1), nil)[:BatchHeaderSize]
		b = append(b, payload...)
		binary.BigEndian.PutUint16(b[offAttributes:], uint16(codec)&attrCompressionMask)
		binary.BigEndian.PutUint32(b[offRecordCount:], uint32(count))
		binary.BigEndian.PutUint32(b[offBatchLength:], uint32(len(b)-batchLogOverhead))
		h, err := ParseBatchHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		recs, _, err := batchRecords(b, &h)
		if err != nil {
			return
		}
		out, err := rebuildBatch(b, &h, recs)
		if err != nil {
			t.Fatal(err)
		}
		oh, _ := ParseBatchHeader(out)
		back, _, err := batchRecords(out, &oh)
		if err != nil || len(back) != len(recs) {
			t.Fatalf("rebuilt %d records, read back %d: %v", len(recs), len(back), err)
		}
	})
}
