package controlplane

// Tests that ACL bindings created and deleted through the Controller land
// in the image, survive a restart (log replay) and a snapshot, replicate
// from a follower's command to every node, and that earlier images keep
// their ACLs.

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

func binding(name string, pt acl.PatternType, principal string, op acl.Operation) acl.Binding {
	return acl.Binding{ResourceType: acl.ResourceTopic, ResourceName: name, PatternType: pt, Principal: principal,
		Host: "*", Operation: op, Permission: acl.PermAllow}
}

func TestACLsCreateDeleteReplay(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := openTest(t, dir)
	empty := c.Image()
	b1 := binding("orders", acl.PatternLiteral, "User:p", acl.OpWrite)
	b2 := binding("logs-", acl.PatternPrefixed, "User:c", acl.OpRead)
	bad := b1
	bad.PatternType = acl.PatternMatch
	errs := c.CreateACLs(ctx, []acl.Binding{b1, b2, bad, b1})
	if errs[0] != nil || errs[1] != nil || errs[3] != nil || !errors.Is(errs[2], model.ErrInvalidRequest) {
		t.Fatalf("CreateACLs: %v", errs)
	}
	im := c.Image()
	if len(im.ACLs) != 2 {
		t.Fatalf("image has %d acls, want 2: %v", len(im.ACLs), im.ACLs)
	}
	if empty.ACLSnapshot().Len() != 0 || len(empty.ACLs) != 0 {
		t.Fatal("an earlier image changed")
	}
	az := &acl.Authorizer{}
	if !az.Authorize(im.ACLSnapshot(), acl.Action{Principal: "User:c", Host: "h", Resource: acl.ResourceTopic, Name: "logs-1", Op: acl.OpRead}) {
		t.Fatal("prefixed acl not in the snapshot")
	}
	if errs := c.CreateACLs(ctx, []acl.Binding{b1}); errs[0] != nil || len(c.Image().ACLs) != 2 {
		t.Fatalf("re-creating an acl: %v, %d acls", errs, len(c.Image().ACLs))
	}
	f := acl.Filter{ResourceType: acl.ResourceTopic, PatternType: acl.PatternMatch, ResourceName: ptr("logs-9"), Operation: acl.OpAny, Permission: acl.PermAny}
	if got := c.Image().ACLBindings(f); len(got) != 1 || got[0] != b2 {
		t.Fatalf("MATCH filter found %v", got)
	}
	v1 := c.Image().ACLSnapshot().Version
	out, err := c.DeleteACLs(ctx, []acl.Filter{f, f})
	if err != nil || len(out[0]) != 1 || len(out[1]) != 1 {
		t.Fatalf("DeleteACLs: %v, %v", out, err)
	}
	if v2 := c.Image().ACLSnapshot().Version; v2 <= v1 {
		t.Fatalf("snapshot version %d after delete, was %d", v2, v1)
	}
	c.CreateACLs(ctx, []acl.Binding{b2})
	before := c.Image()
	c.Close()

	c2 := openTest(t, dir)
	if got := c2.Image().ACLs; len(got) != 2 || got[keyOf(t, before, b1)] != b1 {
		t.Fatalf("replayed acls: %v, want %v", got, before.ACLs)
	}
	// Snapshot round trip.
	raw, err := before.marshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	im2, err := unmarshalSnapshot(raw, "x", 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(im2.ACLs) != 2 || im2.ACLSnapshot().Len() != 2 {
		t.Fatalf("snapshot acls: %v", im2.ACLs)
	}
}

func keyOf(t *testing.T, im *Image, b acl.Binding) UUID {
	for id, x := range im.ACLs {
		if x == b {
			return id
		}
	}
	t.Fatalf("%v not in image", b)
	return UUID{}
}

func ptr(s string) *string { return &s }

// An ACL created through a follower is committed by the leader and
// applied by every node.
func TestFollowerCreatesACLs(t *testing.T) {
	tc := newTestCluster(t, 3, nil)
	lead := tc.leader()
	tc.stabilize()
	var follower int32
	for _, id := range tc.ids {
		if id != lead {
			follower = id
		}
	}
	var errs []error
	tc.do(func() {
		errs = tc.nodes[follower].CreateACLs(context.Background(), []acl.Binding{binding("t", acl.PatternLiteral, "User:x", acl.OpRead)})
	})
	if errs[0] != nil {
		t.Fatal(errs[0])
	}
	tc.until("every node has the acl", func() bool {
		for _, id := range tc.ids {
			if len(tc.nodes[id].Image().ACLs) != 1 {
				return false
			}
		}
		return true
	})
}

// An image without ACLs hands out one snapshot, so that the connections'
// caches are not emptied on every check.
func TestNoACLsSnapshotIsStable(t *testing.T) {
	im := emptyImage("c", 1)
	if im.ACLSnapshot() != im.ACLSnapshot() || im.ACLSnapshot().Len() != 0 {
		t.Fatal("the empty ACL snapshot changes between calls")
	}
}

// FuzzApplyACLRecords decodes arbitrary bytes as a metadata entry's ACL
// records (what a log entry holds) and applies them to an image holding
// one ACL. Invariants: no panic; a rejected entry leaves the image as it
// was; an accepted one holds only valid bindings, leaves the earlier
// image's ACLs alone, and its snapshot answers an authorization.
func FuzzApplyACLRecords(f *testing.F) {
	b := binding("t", acl.PatternLiteral, "User:a", acl.OpRead)
	base, err := emptyImage("c", 1).applyEntry(1, []Record{{Type: RecACL, ACL: &ACLRecord{ID: UUID{1}, Binding: b}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`[{"type":"acl","acl":{"id":"02000000000000000000000000000000","binding":{"resource_type":2,"resource_name":"p-","pattern_type":4,"principal":"User:b","host":"*","operation":4,"permission":3}}}]`))
	f.Add([]byte(`[{"type":"remove_acl","remove_acl":{"id":"01000000000000000000000000000000"}}]`))
	f.Add([]byte(`[{"type":"acl"}]`))
	f.Add([]byte(`[{"type":"acl","acl":{"id":"01000000000000000000000000000000","binding":{"resource_type":9}}}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var recs []Record
		if json.Unmarshal(data, &recs) != nil {
			return
		}
		for _, r := range recs {
			if r.Type != RecACL && r.Type != RecRemoveACL {
				return // the other record types are not this target's
			}
		}
		n, err := base.applyEntry(2, recs)
		if len(base.ACLs) != 1 || base.ACLs[UUID{1}] != b {
			t.Fatalf("applying changed the earlier image's ACLs: %v", base.ACLs)
		}
		if err != nil {
			return
		}
		for id, x := range n.ACLs {
			if x.Validate() != nil {
				t.Fatalf("invalid binding %v stored as %s", x, id)
			}
		}
		(&acl.Authorizer{}).Authorize(n.ACLSnapshot(), acl.Action{Principal: "User:a", Host: "h", Resource: acl.ResourceTopic, Name: "t", Op: acl.OpRead})
	})
}
