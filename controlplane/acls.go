package controlplane

// ACLs in the metadata log: one record per binding created (with an id, as
// Kafka's AccessControlEntryRecord) and one per binding removed, the
// image's map of them, and the Controller commands behind CreateAcls and
// DeleteAcls. Any node plans a command against its image and commits it
// through the quorum, so the bindings replicate to every node.

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/model"
)

// Record types of the ACL records.
const (
	RecACL       = "acl"
	RecRemoveACL = "remove_acl"
)

// ACLRecord creates one binding.
type ACLRecord struct {
	ID      UUID        `json:"id"`
	Binding acl.Binding `json:"binding"`
}

// RemoveACLRecord removes the binding with ID.
type RemoveACLRecord struct {
	ID UUID `json:"id"`
}

// aclSnapshot builds the image's indexed ACL snapshot once, when asked;
// an image that did not change the ACLs shares its predecessor's.
type aclSnapshot struct {
	once    sync.Once
	version int64
	acls    map[UUID]acl.Binding
	snap    *acl.Snapshot
	// set holds acls' bindings while the entry that made them applies
	// (applyACL); nil in a holder restored from a snapshot.
	set map[acl.Binding]bool
}

// noACLs is the snapshot of an image that never had an ACL.
var noACLs = acl.NewSnapshot(-1, nil)

// ACLSnapshot is the image's ACLs indexed for authorization; its Version
// is the offset of the entry that last changed them.
func (im *Image) ACLSnapshot() *acl.Snapshot {
	h := im.aclSnap
	if h == nil {
		return noACLs // the same pointer every time, so caches hold
	}
	h.once.Do(func() {
		bs := make([]acl.Binding, 0, len(h.acls))
		for _, b := range h.acls {
			bs = append(bs, b)
		}
		h.snap = acl.NewSnapshot(h.version, bs)
	})
	return h.snap
}

// ACLBindings lists the image's bindings that f matches, in a stable order.
func (im *Image) ACLBindings(f acl.Filter) []acl.Binding {
	var out []acl.Binding
	for _, id := range im.aclIDs() {
		if b := im.ACLs[id]; f.Matches(b) {
			out = append(out, b)
		}
	}
	return out
}

func (im *Image) aclIDs() []UUID {
	ids := slices.Collect(maps.Keys(im.ACLs))
	slices.SortFunc(ids, func(a, b UUID) int { return slices.Compare(a[:], b[:]) })
	return ids
}

// applyACL applies a RecACL or RecRemoveACL record. The entry copies the
// map once (aclsEntry marks the copy as its own; clone resets it). A binding that exists
// already, or a removal of one that is gone, is a no-op: two nodes may
// plan the same change from the same image.
func (n *Image) applyACL(offset int64, r *Record) error {
	switch {
	case r.Type == RecACL && r.ACL == nil, r.Type == RecRemoveACL && r.RemoveACL == nil:
		return fmt.Errorf("%w: %s record without its body (entry %d)", model.ErrInvalidRequest, r.Type, offset)
	}
	if n.aclsEntry != offset || n.ACLs == nil {
		// This entry's own copy of the map, and of the set of bindings
		// (kept with it in the snapshot holder), so that each record of a
		// large entry costs O(1).
		n.ACLs = maps.Clone(n.ACLs)
		if n.ACLs == nil {
			n.ACLs = map[UUID]acl.Binding{}
		}
		set := make(map[acl.Binding]bool, len(n.ACLs))
		for _, b := range n.ACLs {
			set[b] = true
		}
		n.aclsEntry = offset
		n.aclSnap = &aclSnapshot{version: offset, acls: n.ACLs, set: set}
	}
	set := n.aclSnap.set
	switch r.Type {
	case RecACL:
		if err := r.ACL.Binding.Validate(); err != nil {
			return fmt.Errorf("%w: %v (entry %d)", model.ErrInvalidRequest, err, offset)
		}
		if set[r.ACL.Binding] {
			return nil
		}
		if _, ok := n.ACLs[r.ACL.ID]; ok {
			return fmt.Errorf("%w: acl id %s is taken (entry %d)", model.ErrInvalidRequest, r.ACL.ID, offset)
		}
		n.ACLs[r.ACL.ID] = r.ACL.Binding
		set[r.ACL.Binding] = true
	case RecRemoveACL:
		b, ok := n.ACLs[r.RemoveACL.ID]
		if !ok {
			return nil
		}
		delete(n.ACLs, r.RemoveACL.ID)
		delete(set, b)
	}
	// A new holder: the snapshot built from the map is this record's.
	n.aclSnap = &aclSnapshot{version: offset, acls: n.ACLs, set: set}
	return nil
}

// restoreACLs sets the ACLs of an image read from a snapshot.
func (im *Image) restoreACLs(acls map[UUID]acl.Binding) {
	if len(acls) == 0 {
		return
	}
	im.ACLs = acls
	im.aclSnap = &aclSnapshot{version: im.Offset, acls: acls}
}

// maxACLRecordsPerCommand bounds the records of one CreateACLs or
// DeleteACLs (Kafka's MAX_RECORDS_PER_USER_OP).
const maxACLRecordsPerCommand = 10000

// CreateACLs stores bindings; the result has one error per binding (nil:
// stored, or stored already). Invalid bindings wrap
// model.ErrInvalidRequest.
func (c *Controller) CreateACLs(ctx context.Context, bindings []acl.Binding) []error {
	errs := make([]error, len(bindings))
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
	var idx []int
	have := make(map[acl.Binding]bool, len(im.ACLs)+len(bindings))
	for _, b := range im.ACLs {
		have[b] = true
	}
	for i, b := range bindings {
		if err := b.Validate(); err != nil {
			errs[i] = fmt.Errorf("%w: %v", model.ErrInvalidRequest, err)
			continue
		}
		if have[b] {
			continue // stored already, or earlier in this request
		}
		have[b] = true
		recs = append(recs, Record{Type: RecACL, ACL: &ACLRecord{ID: NewUUID(), Binding: b}})
		idx = append(idx, i)
	}
	if len(recs) == 0 {
		return errs
	}
	var err error
	if len(recs) > maxACLRecordsPerCommand {
		err = fmt.Errorf("%w: %d ACLs in one request; the limit is %d", model.ErrInvalidRequest, len(recs), maxACLRecordsPerCommand)
	} else {
		err = c.commitAnywhere(ctx, recs)
	}
	if err != nil {
		for _, i := range idx {
			errs[i] = err
		}
	}
	return errs
}

// DeleteACLs removes every binding that each filter matches and returns
// them per filter; err is for the whole command (the filters must have
// been validated).
func (c *Controller) DeleteACLs(ctx context.Context, filters []acl.Filter) ([][]acl.Binding, error) {
	if err := c.catchUpToPlan(ctx); err != nil {
		return nil, err
	}
	c.cmdMu.Lock()
	defer c.cmdMu.Unlock()
	im := c.image.Load()
	out := make([][]acl.Binding, len(filters))
	var recs []Record
	removing := map[UUID]bool{}
	ids := im.aclIDs()
	for i, f := range filters {
		for _, id := range ids {
			b := im.ACLs[id]
			if !f.Matches(b) {
				continue
			}
			out[i] = append(out[i], b)
			if !removing[id] {
				removing[id] = true
				recs = append(recs, Record{Type: RecRemoveACL, RemoveACL: &RemoveACLRecord{ID: id}})
			}
		}
	}
	if len(recs) == 0 {
		return out, nil
	}
	if len(recs) > maxACLRecordsPerCommand {
		return nil, fmt.Errorf("%w: the filters match %d ACLs; one request deletes at most %d", model.ErrInvalidRequest, len(recs), maxACLRecordsPerCommand)
	}
	if err := c.commitAnywhere(ctx, recs); err != nil {
		return nil, err
	}
	return out, nil
}
