// This file holds the produce path's per-batch allocation guarantee: parsing
// and checking a Produce request (parseProduce: the decode of handleFrame,
// then the checks storage.Partition.Append makes before queueing) allocates
// per request and per batch, never per record, so a batch of 1000 records
// costs no more allocations than a batch of one.
package kafka

import (
	"testing"

	"github.com/ringtail/ringtail/storage"
)

// perRecordAllocSlack is how many more allocations a 1000-record batch may
// cost than a 1-record one. Any per-record allocation adds at least 999.
const perRecordAllocSlack = 2

func TestProduceParseAllocsPerBatch(t *testing.T) {
	maxBytes := storage.DefaultConfig().MaxMessageBytes
	allocs := func(t *testing.T, version int16, n int) float64 {
		t.Helper()
		fr := produceFrame(version, n)
		if got, err := parseProduce(fr, maxBytes); err != nil || got != n {
			t.Fatalf("v%d, %d records: parsed %d records, err %v", version, n, got, err)
		}
		var err error
		a := testing.AllocsPerRun(50, func() {
			if _, e := parseProduce(fr, maxBytes); e != nil && err == nil {
				err = e
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	for _, v := range produceParseVersions {
		one, many := allocs(t, v, 1), allocs(t, v, 1000)
		t.Logf("v%d: %.0f allocations for 1 record per batch, %.0f for 1000", v, one, many)
		if many > one+perRecordAllocSlack {
			t.Errorf("v%d: a batch of 1000 records costs %.0f allocations, one record %.0f: more than %d apart, so something allocates per record",
				v, many, one, perRecordAllocSlack)
		}
	}
}
