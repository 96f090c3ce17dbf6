package controlplane

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
)

func TestApplyScram(t *testing.T) {
	im := emptyImage("c", 1)
	cred := ScramRecord{User: "alice", Mechanism: "SCRAM-SHA-256", Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte("sk"), ServerKey: []byte("vk")}
	a, err := im.applyEntry(1, []Record{{Type: RecScram, Scram: &cred}})
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := a.ScramCredentialFor("alice", "SCRAM-SHA-256"); !ok || got.Iterations != 4096 || string(got.StoredKey) != "sk" {
		t.Fatalf("after upsert: %+v %v", got, ok)
	}
	if _, ok := im.ScramCredentialFor("alice", "SCRAM-SHA-256"); ok {
		t.Fatal("the earlier image changed")
	}
	// A snapshot round-trips the credentials.
	b, err := a.marshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	back, err := unmarshalSnapshot(b, "c", 1)
	if err != nil || !reflect.DeepEqual(back.Scram, a.Scram) {
		t.Fatalf("snapshot: %v %+v", err, back.Scram)
	}
	del := ScramRecord{User: "alice", Mechanism: "SCRAM-SHA-256", Delete: true}
	d, err := a.applyEntry(2, []Record{{Type: RecScram, Scram: &del}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Scram["alice"]; ok {
		t.Fatal("user without credentials left in the image")
	}
	if _, ok := a.ScramCredentialFor("alice", "SCRAM-SHA-256"); !ok {
		t.Fatal("delete changed the earlier image")
	}
	for _, bad := range []ScramRecord{{Mechanism: "SCRAM-SHA-256"}, {User: "x", Mechanism: "PLAIN"}} {
		if _, err := d.applyEntry(3, []Record{{Type: RecScram, Scram: &bad}}); err == nil {
			t.Fatalf("%+v applied", bad)
		}
	}
}

// FuzzScramRecord decodes metadata log records carrying SCRAM credentials
// and applies them: never a panic.
func FuzzScramRecord(f *testing.F) {
	f.Add([]byte(`{"type":"scram_credential","scram_credential":{"user":"a","mechanism":"SCRAM-SHA-512","salt":"c2FsdA==","iterations":4096}}`))
	f.Add([]byte(`{"type":"scram_credential","scram_credential":{"user":"a","mechanism":"SCRAM-SHA-256","delete":true}}`))
	f.Add([]byte(`{"type":"scram_credential"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Record
		if json.Unmarshal(b, &r) != nil {
			return
		}
		emptyImage("c", 1).applyEntry(1, []Record{r})
	})
}

// A credential created through a follower reaches every node.
func TestScramReplicates(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.stabilize()
	var from int32
	for _, id := range tc.ids {
		if id != lead {
			from = id
		}
	}
	var err error
	tc.do(func() {
		err = tc.nodes[from].AlterUserScramCredentials(context.Background(), []ScramRecord{
			{User: "alice", Mechanism: "SCRAM-SHA-512", Salt: []byte("s"), Iterations: 8192, StoredKey: []byte("k"), ServerKey: []byte("v")}})
	})
	if err != nil {
		t.Fatal(err)
	}
	tc.until("every node has alice's credential", func() bool {
		for _, c := range tc.nodes {
			if cr, ok := c.Image().ScramCredentialFor("alice", "SCRAM-SHA-512"); !ok || cr.Iterations != 8192 {
				return false
			}
		}
		return true
	})
	tc.sameImages()
}
