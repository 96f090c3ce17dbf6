package storage

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTxnIndexRoundTrip(t *testing.T) {
	in := []AbortedTxn{{ProducerID: 7, FirstOffset: 10, LastOffset: 20, LastStableOffset: 10}, {ProducerID: 9, FirstOffset: 15, LastOffset: 30, LastStableOffset: 21}}
	var data []byte
	for _, a := range in {
		data = append(data, encodeAbortedTxn(a)...)
	}
	if len(data) != 2*txnIndexEntryBytes {
		t.Fatalf("%d bytes", len(data))
	}
	out, torn, err := decodeTxnIndex(data)
	if err != nil || torn || !slices.Equal(out, in) {
		t.Fatalf("decoded %v torn %v err %v", out, torn, err)
	}
	out, torn, err = decodeTxnIndex(data[:len(data)-5])
	if err != nil || !torn || len(out) != 1 {
		t.Fatalf("torn tail: %v %v %v", out, torn, err)
	}
	bad := encodeAbortedTxn(AbortedTxn{ProducerID: 1, FirstOffset: 5, LastOffset: 4})
	if _, _, err := decodeTxnIndex(bad); err == nil {
		t.Fatal("an entry ending before it starts was accepted")
	}
}

// FuzzTxnIndex: the decoder never panics, and what it accepts re-encodes
// to the same bytes.
func FuzzTxnIndex(f *testing.F) {
	f.Add(encodeAbortedTxn(AbortedTxn{ProducerID: 7, FirstOffset: 10, LastOffset: 20, LastStableOffset: 10}))
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, err := decodeTxnIndex(data)
		if err != nil {
			return
		}
		var back []byte
		for _, a := range out {
			back = append(back, encodeAbortedTxn(a)...)
		}
		if string(back) != string(data[:len(out)*txnIndexEntryBytes]) {
			t.Fatalf("re-encoding %v differs", out)
		}
	})
}

// A marker batch is a valid control batch that kmsg reads as Kafka's
// EndTransactionMarker, and ParseMarker reads it back.
func TestMarkerBatch(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b := MarkerBatch(42, 3, commit, 5, 1_700_000_000_000)
		h, err := checkBatch(b)
		if err != nil || !h.Control() || !h.Transactional() || h.RecordCount != 1 || h.ProducerID != 42 || h.ProducerEpoch != 3 {
			t.Fatalf("header %+v %v", h, err)
		}
		var kb kmsg.RecordBatch
		if err := kb.ReadFrom(b); err != nil {
			t.Fatal(err)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(kb.Records); err != nil {
			t.Fatal(err)
		}
		var key kmsg.ControlRecordKey
		if err := key.ReadFrom(rec.Key); err != nil {
			t.Fatal(err)
		}
		var val kmsg.EndTxnMarker
		if err := val.ReadFrom(rec.Value); err != nil {
			t.Fatal(err)
		}
		wantType := kmsg.ControlRecordKeyTypeAbort
		if commit {
			wantType = kmsg.ControlRecordKeyTypeCommit
		}
		if key.Type != wantType || val.CoordinatorEpoch != 5 {
			t.Fatalf("kmsg reads type %v epoch %d", key.Type, val.CoordinatorEpoch)
		}
		m, ok, err := ParseMarker(b)
		if err != nil || !ok || m.Commit != commit || m.ProducerID != 42 || m.Epoch != 3 || m.CoordinatorEpoch != 5 {
			t.Fatalf("ParseMarker: %+v %v %v", m, ok, err)
		}
	}
	if _, ok, err := ParseMarker(simpleBatch(1, 10, 1)); ok || err != nil {
		t.Fatalf("a data batch parsed as a marker: %v %v", ok, err)
	}
}

// A .txnindex whose tail a power loss filled with zeros or garbage loses
// only that tail at open (the replay rebuilds it), never the recovery.
func TestTxnIndexTornTailIsLeftOut(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.txnindex")
	good := AbortedTxn{ProducerID: 7, FirstOffset: 10, LastOffset: 20, LastStableOffset: 10}
	for _, tail := range [][]byte{make([]byte, txnIndexEntryBytes), {0x37, 0x26, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32}} {
		if err := os.WriteFile(path, append(encodeAbortedTxn(good), tail...), 0o644); err != nil {
			t.Fatal(err)
		}
		out, bad, err := readTxnIndex(path, 5)
		if err != nil || bad == nil || !slices.Equal(out, []AbortedTxn{good}) {
			t.Fatalf("tail %x: %v, bad %v, err %v", tail[:4], out, bad, err)
		}
	}
}
