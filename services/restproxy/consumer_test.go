// These tests prove a group member's pending seek drops fetched records
// that do not start at the seek target (and re-applies it, a bounded
// number of times), and that instance configs are read as Confluent takes
// them.
package restproxy

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

func offsetsOf(rs []*kgo.Record) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.Offset)
	}
	return out
}

func TestCheckSeeks(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	in := &instance{cl: cl, pending: map[instTP]pendingSeek{{"t", 0}: {offset: 5}}}
	rec := func(p int32, o int64) *kgo.Record { return &kgo.Record{Topic: "t", Partition: p, Offset: o} }

	in.buf = []*kgo.Record{rec(0, 3), rec(1, 7), rec(0, 4)}
	in.checkSeeksLocked()
	if got := offsetsOf(in.buf); len(got) != 1 || got[0] != 7 || in.pending[instTP{"t", 0}].reseeks != 1 {
		t.Fatalf("stale fetch: kept %v, pending %+v", got, in.pending)
	}
	in.buf = []*kgo.Record{rec(0, 5), rec(0, 6)}
	in.checkSeeksLocked()
	if got := offsetsOf(in.buf); len(got) != 2 || len(in.pending) != 0 {
		t.Fatalf("at the target: kept %v, pending %+v", got, in.pending)
	}
	// A target the log does not have: accepted after maxReseeks tries.
	in.pending[instTP{"t", 0}] = pendingSeek{offset: 1}
	for i := range maxReseeks + 1 {
		in.buf = []*kgo.Record{rec(0, 9)}
		in.checkSeeksLocked()
		if (i < maxReseeks) != (len(in.buf) == 0) {
			t.Fatalf("try %d: kept %v", i, offsetsOf(in.buf))
		}
	}
	if len(in.pending) != 0 {
		t.Fatalf("still pending: %+v", in.pending)
	}
}

func TestInstanceConfig(t *testing.T) {
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(`{"name":"n","format":"AVRO","auto.offset.reset":"smallest","auto.commit.enable":false}`))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	name, f, reset, ac, err := instanceConfig(m)
	if err != nil || name != "n" || f != fmtAvro || reset != "earliest" || ac {
		t.Fatalf("%q %q %q %v %v", name, f, reset, ac, err)
	}
	name, f, reset, ac, err = instanceConfig(map[string]any{})
	if err != nil || name != "" || f != fmtBinary || reset != "latest" || !ac {
		t.Fatalf("defaults: %q %q %q %v %v", name, f, reset, ac, err)
	}
	if _, _, _, _, err := instanceConfig(map[string]any{"name": "a/b"}); err == nil {
		t.Fatal("a name with / accepted")
	}
}
