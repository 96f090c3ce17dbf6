package connect

// Offsets keys are Kafka's ["<connector>",{partition}] JSON, compared after
// normalising, and a read of the topic never puts back an older value.

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestOffsetKeys(t *testing.T) {
	k := offsetKey("local-file-source", map[string]any{"filename": "test.txt"})
	if string(k) != `["local-file-source",{"filename":"test.txt"}]` {
		t.Fatalf("key %s", k)
	}
	n, ok := normalizeKey([]byte(`[ "local-file-source" , { "filename" : "test.txt" } ]`))
	if !ok || n != string(k) {
		t.Fatalf("normalized %q %v", n, ok)
	}
	for _, bad := range []string{`{}`, `["a"]`, `[1,{}]`, `not json`} {
		if _, ok := normalizeKey([]byte(bad)); ok {
			t.Errorf("%s: want not a key", bad)
		}
	}
}

func TestOffsetStoreKeepsNewest(t *testing.T) {
	o := newOffsetStore(nil, "connect-offsets", "", time.Hour, discardLogger())
	p := map[string]any{"filename": "f"}
	key := offsetKey("c", p)
	o.committed([]*kgo.Record{{Key: key, Value: []byte(`{"position":20}`), Partition: 3, Offset: 10}})
	// A read that started before that commit brings an older record.
	o.apply([]*kgo.Record{{Key: key, Value: []byte(`{"position":5}`), Partition: 3, Offset: 7}})
	if got := o.get("c", p); got["position"].(interface{ String() string }).String() != "20" {
		t.Fatalf("position %v, want 20", got)
	}
	o.apply([]*kgo.Record{{Key: key, Value: nil, Partition: 3, Offset: 11}})
	if got := o.get("c", p); got != nil {
		t.Fatalf("after a tombstone: %v", got)
	}
}
