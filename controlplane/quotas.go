package controlplane

// Client quotas (KIP-55, KIP-546) as metadata records: one ClientQuotaRecord
// sets or removes one quota key of one entity, the image keeps every entity
// that has at least one key, and AlterClientQuotas validates as Kafka's
// ClientQuotaControlManager does before committing through the quorum.

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"slices"

	"github.com/ringtail/ringtail/model"
)

// RecClientQuota is the record type of a ClientQuotaRecord.
const RecClientQuota = "client_quota"

// Quota entity types, as Kafka names them.
const (
	QuotaEntityUser     = "user"
	QuotaEntityClientID = "client-id"
	QuotaEntityIP       = "ip"
)

// QuotaEntityPart is one (type, name) of a client quota entity; a nil Name
// is the type's default entity (<default>).
type QuotaEntityPart struct {
	Type string  `json:"type"`
	Name *string `json:"name"`
}

// ClientQuotaRecord sets (Value != nil) or removes (Value == nil) one
// quota key of an entity.
type ClientQuotaRecord struct {
	Entity []QuotaEntityPart `json:"entity"`
	Key    string            `json:"key"`
	Value  *float64          `json:"value"`
}

// ClientQuota is one entity's quotas in the image.
type ClientQuota struct {
	Entity []QuotaEntityPart
	Values map[string]float64
}

// QuotaEntityKey is the image's map key of an entity: its sorted parts as
// JSON, so that any names, even ones with separators in them, stay apart.
func QuotaEntityKey(entity []QuotaEntityPart) string {
	e := slices.Clone(entity)
	slices.SortFunc(e, func(a, b QuotaEntityPart) int {
		switch {
		case a.Type < b.Type:
			return -1
		case a.Type > b.Type:
			return 1
		}
		return 0
	})
	b, _ := json.Marshal(e)
	return string(b)
}

// quotaKeyTypes are the valid quota keys of user/client-id entities and of
// ip entities, with whether the value must be integral (Kafka's LONG/INT
// config types) or may be fractional (DOUBLE).
var (
	clientQuotaKeys = map[string]bool{
		"producer_byte_rate": true, "consumer_byte_rate": true,
		"request_percentage": false, "controller_mutation_rate": false,
	}
	ipQuotaKeys = map[string]bool{"connection_creation_rate": true}
)

// QuotaOp is one change of AlterClientQuotas: set Key to Value, or remove
// it.
type QuotaOp struct {
	Key    string
	Value  float64
	Remove bool
}

// QuotaAlteration is one entity's changes.
type QuotaAlteration struct {
	Entity []QuotaEntityPart
	Ops    []QuotaOp
}

// ValidateQuotaEntity checks an entity as Kafka does: known types, each at
// most once, ip alone, and an ip name that is an address.
func ValidateQuotaEntity(entity []QuotaEntityPart) error {
	if len(entity) == 0 {
		return fmt.Errorf("%w: Invalid empty client quota entity", model.ErrInvalidRequest)
	}
	seen := map[string]bool{}
	for _, p := range entity {
		switch p.Type {
		case QuotaEntityUser, QuotaEntityClientID, QuotaEntityIP:
		default:
			return fmt.Errorf("%w: Unhandled client quota entity type: %s (valid: user, client-id, ip)", model.ErrInvalidRequest, p.Type)
		}
		if seen[p.Type] {
			return fmt.Errorf("%w: Duplicate %s entity type in client quota entity", model.ErrInvalidRequest, p.Type)
		}
		seen[p.Type] = true
		if p.Type == QuotaEntityIP && p.Name != nil && net.ParseIP(*p.Name) == nil {
			return fmt.Errorf("%w: %s is not a valid IP address", model.ErrInvalidRequest, *p.Name)
		}
	}
	if seen[QuotaEntityIP] && len(entity) > 1 {
		return fmt.Errorf("%w: Invalid quota entity combination, IP entity should not be combined with User or ClientId", model.ErrInvalidRequest)
	}
	return nil
}

// validateQuotaOp checks a key and value for the entity (Kafka's
// validateQuotaKeyValue).
func validateQuotaOp(entity []QuotaEntityPart, op QuotaOp) error {
	keys := clientQuotaKeys
	if entity[0].Type == QuotaEntityIP {
		keys = ipQuotaKeys
	}
	integral, ok := keys[op.Key]
	if !ok {
		return fmt.Errorf("%w: Invalid configuration key %s", model.ErrInvalidRequest, op.Key)
	}
	if op.Remove {
		return nil
	}
	if math.IsNaN(op.Value) || math.IsInf(op.Value, 0) || op.Value <= 0 {
		return fmt.Errorf("%w: Quota %s must be greater than 0", model.ErrInvalidRequest, op.Key)
	}
	if integral {
		if op.Value > math.MaxInt64 {
			return fmt.Errorf("%w: Proposed value for %s is too large for a LONG.", model.ErrInvalidRequest, op.Key)
		}
		if op.Value-math.Floor(op.Value) > 1e-12 {
			return fmt.Errorf("%w: %s cannot be a fractional value.", model.ErrInvalidRequest, op.Key)
		}
	}
	return nil
}

// AlterClientQuotas validates and applies quota changes; one error (or
// nil) per alteration. Valid alterations are committed together; with
// validateOnly nothing is written.
func (c *Controller) AlterClientQuotas(ctx context.Context, alts []QuotaAlteration, validateOnly bool) []error {
	errs := make([]error, len(alts))
	if err := c.catchUpToPlan(ctx); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	im := c.image.Load()
	var recs []Record
	var committed []int
	for i, a := range alts {
		r, err := planQuota(im, a)
		if err != nil {
			errs[i] = err
			continue
		}
		recs = append(recs, r...)
		committed = append(committed, i)
	}
	if validateOnly || len(recs) == 0 {
		return errs
	}
	if err := c.commitAnywhere(ctx, recs); err != nil {
		for _, i := range committed {
			errs[i] = err
		}
	}
	return errs
}

func planQuota(im *Image, a QuotaAlteration) ([]Record, error) {
	if err := ValidateQuotaEntity(a.Entity); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, op := range a.Ops {
		if err := validateQuotaOp(a.Entity, op); err != nil {
			return nil, err
		}
		if seen[op.Key] {
			return nil, fmt.Errorf("%w: Duplicate quota key %s in one entity's alterations", model.ErrInvalidRequest, op.Key)
		}
		seen[op.Key] = true
	}
	cur := im.ClientQuotas[QuotaEntityKey(a.Entity)]
	var recs []Record
	for _, op := range a.Ops {
		r := &ClientQuotaRecord{Entity: slices.Clone(a.Entity), Key: op.Key}
		if op.Remove {
			if cur == nil {
				continue
			}
			if _, ok := cur.Values[op.Key]; !ok {
				continue
			}
		} else {
			v := op.Value
			r.Value = &v
		}
		recs = append(recs, Record{Type: RecClientQuota, ClientQuota: r})
	}
	return recs, nil
}

// applyClientQuota applies a ClientQuotaRecord to n (applyEntry's copy).
func (n *Image) applyClientQuota(offset int64, r *ClientQuotaRecord) error {
	if r == nil {
		return fmt.Errorf("%w: client quota record without its body (entry %d)", model.ErrInvalidRequest, offset)
	}
	if err := ValidateQuotaEntity(r.Entity); err != nil {
		return fmt.Errorf("%w (entry %d)", err, offset)
	}
	k := QuotaEntityKey(r.Entity)
	old := n.ClientQuotas[k]
	q := &ClientQuota{Entity: slices.Clone(r.Entity), Values: map[string]float64{}}
	if old != nil {
		q.Values = cloneMap(old.Values)
	}
	if r.Value == nil {
		delete(q.Values, r.Key)
	} else {
		q.Values[r.Key] = *r.Value
	}
	if n.ClientQuotas == nil {
		n.ClientQuotas = map[string]*ClientQuota{}
	} else {
		n.ClientQuotas = cloneMap(n.ClientQuotas)
	}
	if len(q.Values) == 0 {
		delete(n.ClientQuotas, k)
	} else {
		n.ClientQuotas[k] = q
	}
	return nil
}

// SortedClientQuotas lists the image's quota entities by key.
func (im *Image) SortedClientQuotas() []*ClientQuota {
	keys := make([]string, 0, len(im.ClientQuotas))
	for k := range im.ClientQuotas {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*ClientQuota, 0, len(keys))
	for _, k := range keys {
		out = append(out, im.ClientQuotas[k])
	}
	return out
}
