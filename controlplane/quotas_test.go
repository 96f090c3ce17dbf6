// These tests prove that client quotas validate as Kafka's controller
// does, replay from the metadata log and survive a snapshot round trip.
package controlplane

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ringtail/ringtail/model"
)

func str(s string) *string { return &s }

func TestAlterClientQuotas(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := openTest(t, dir)
	user := []QuotaEntityPart{{Type: QuotaEntityUser, Name: str("alice")}}
	both := []QuotaEntityPart{{Type: QuotaEntityClientID, Name: nil}, {Type: QuotaEntityUser, Name: str("alice")}}
	errs := c.AlterClientQuotas(ctx, []QuotaAlteration{
		{Entity: user, Ops: []QuotaOp{{Key: "producer_byte_rate", Value: 1048576}, {Key: "request_percentage", Value: 12.5}}},
		{Entity: both, Ops: []QuotaOp{{Key: "consumer_byte_rate", Value: 2048}}},
		{Entity: user, Ops: []QuotaOp{{Key: "bogus", Value: 1}}},
		{Entity: []QuotaEntityPart{{Type: "group", Name: str("g")}}, Ops: []QuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: []QuotaEntityPart{{Type: QuotaEntityIP, Name: str("1.2.3.4")}, {Type: QuotaEntityUser}}, Ops: []QuotaOp{{Key: "connection_creation_rate", Value: 1}}},
		{Entity: user, Ops: []QuotaOp{{Key: "producer_byte_rate", Value: 1.5}}},
		{Entity: user, Ops: []QuotaOp{{Key: "consumer_byte_rate", Value: -1}}},
		{Entity: nil, Ops: []QuotaOp{{Key: "consumer_byte_rate", Value: 1}}},
		{Entity: []QuotaEntityPart{{Type: QuotaEntityIP, Name: str("not-an-ip")}}, Ops: []QuotaOp{{Key: "connection_creation_rate", Value: 1}}},
	}, false)
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("valid alterations failed: %v", errs)
	}
	wants := []string{"Invalid configuration key bogus", "Unhandled client quota entity type: group", "should not be combined",
		"cannot be a fractional value", "must be greater than 0", "Invalid empty client quota entity", "not a valid IP"}
	for i, w := range wants {
		err := errs[i+2]
		if !errors.Is(err, model.ErrInvalidRequest) || !strings.Contains(err.Error(), w) {
			t.Errorf("alteration %d: %v, want INVALID_REQUEST with %q", i+2, err, w)
		}
	}
	// validate_only writes nothing.
	if errs := c.AlterClientQuotas(ctx, []QuotaAlteration{{Entity: []QuotaEntityPart{{Type: QuotaEntityClientID, Name: str("x")}},
		Ops: []QuotaOp{{Key: "producer_byte_rate", Value: 5}}}}, true); errs[0] != nil {
		t.Fatal(errs[0])
	}
	im := c.Image()
	if len(im.ClientQuotas) != 2 {
		t.Fatalf("image has %d entities, want 2: %v", len(im.ClientQuotas), im.ClientQuotas)
	}
	if q := im.ClientQuotas[QuotaEntityKey(user)]; q == nil || q.Values["producer_byte_rate"] != 1048576 || q.Values["request_percentage"] != 12.5 {
		t.Fatalf("alice: %+v", q)
	}
	// The key does not depend on the order of the parts.
	rev := []QuotaEntityPart{both[1], both[0]}
	if q := im.ClientQuotas[QuotaEntityKey(rev)]; q == nil || q.Values["consumer_byte_rate"] != 2048 {
		t.Fatalf("alice/<default>: %+v", q)
	}
	// Removing the last key removes the entity.
	if errs := c.AlterClientQuotas(ctx, []QuotaAlteration{{Entity: both, Ops: []QuotaOp{{Key: "consumer_byte_rate", Remove: true}}}}, false); errs[0] != nil {
		t.Fatal(errs[0])
	}
	before := c.Image()
	if len(before.ClientQuotas) != 1 {
		t.Fatalf("after removal: %v", before.ClientQuotas)
	}
	c.Close()
	c2 := openTest(t, dir)
	if !reflect.DeepEqual(c2.Image().ClientQuotas, before.ClientQuotas) {
		t.Fatalf("replayed quotas %v, want %v", c2.Image().ClientQuotas, before.ClientQuotas)
	}
	// Snapshot round trip.
	b, err := before.marshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	im2, err := unmarshalSnapshot(b, "c", 1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(im2.ClientQuotas, before.ClientQuotas) {
		t.Fatalf("snapshot quotas %v, want %v", im2.ClientQuotas, before.ClientQuotas)
	}
}
