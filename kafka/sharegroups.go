package kafka

// The group side of share groups as the share-partition side sees it
// (the ShareGroups seam of share_seams.go), and the group side's use of
// the share-partition side (ShareStates) when a share group is deleted.

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/group"
)

// shareStateDeleteTimeout bounds how long DeleteGroups waits for the
// share-partition side to drop a group's state.
const shareStateDeleteTimeout = 30 * time.Second

// ShareDefaults are the broker's defaults for a share group's share.*
// configs (group.share.record.lock.duration.ms,
// group.share.delivery.count.limit, ...).
type ShareDefaults struct {
	RecordLockDuration time.Duration
	DeliveryCountLimit int
}

// NewShareGroups returns the ShareGroups of the node: gc answers
// ShareGroupState; ShareConfig reads the group's GROUP configs from the
// metadata image (image), with d for the keys a group does not set.
func NewShareGroups(gc *group.Coordinator, image func() *controlplane.Image, d ShareDefaults) ShareGroups {
	return &shareGroups{gc: gc, image: image, d: d}
}

type shareGroups struct {
	gc    *group.Coordinator
	image func() *controlplane.Image
	d     ShareDefaults
}

func (sg *shareGroups) ShareConfig(name string) ShareGroupConfig {
	out := ShareGroupConfig{AutoOffsetReset: "latest", RecordLockDuration: sg.d.RecordLockDuration, DeliveryCountLimit: sg.d.DeliveryCountLimit}
	var set map[string]string
	if im := sg.image(); im != nil {
		set = im.GroupConfigs[name]
	}
	if v, ok := set[controlplane.GroupShareAutoOffsetReset]; ok {
		// The strategy's name in lower case; a duration as given.
		if i := strings.IndexByte(v, ':'); i >= 0 {
			out.AutoOffsetReset = strings.ToLower(v[:i]) + v[i:]
		} else {
			out.AutoOffsetReset = strings.ToLower(v)
		}
	}
	if v, ok := controlplane.GroupConfigInt(set, controlplane.GroupShareRecordLockDurationMs); ok {
		out.RecordLockDuration = time.Duration(v) * time.Millisecond
	}
	if v, ok := controlplane.GroupConfigInt(set, controlplane.GroupShareDeliveryCountLimit); ok {
		out.DeliveryCountLimit = int(v)
	}
	if strings.EqualFold(set[controlplane.GroupShareIsolationLevel], "read_committed") {
		out.IsolationLevel = 1
	}
	return out
}

func (sg *shareGroups) ShareGroupState(name string) (exists, isShare, empty bool, err error) {
	return sg.gc.ShareGroupState(name)
}

// dropShareStates drops the share-partition state of the empty share
// groups among ids (Config.ShareStates) and calls next with the ids still
// to delete and their places in errs; a group whose state could not be
// dropped gets the error in errs and is left out. With no ShareStates,
// next gets ids as they are.
func (s *Server) dropShareStates(gc *group.Coordinator, ids []string, errs []error, at []int, next func(ids []string, at []int)) {
	st := s.cfg.ShareStates
	if st == nil {
		next(ids, at)
		return
	}
	var share []int // indexes into ids
	for k, id := range ids {
		if _, isShare, empty, err := gc.ShareGroupState(id); err == nil && isShare && empty {
			share = append(share, k)
		}
	}
	if len(share) == 0 {
		next(ids, at)
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), shareStateDeleteTimeout)
		defer cancel()
		failed := make([]error, len(ids))
		var wg sync.WaitGroup
		for _, k := range share {
			wg.Add(1)
			go func() {
				defer wg.Done()
				failed[k] = st.DeleteGroup(ctx, ids[k])
			}()
		}
		wg.Wait()
		var keep []string
		var keepAt []int
		for k, id := range ids {
			if failed[k] != nil {
				errs[at[k]] = failed[k]
				continue
			}
			keep, keepAt = append(keep, id), append(keepAt, at[k])
		}
		next(keep, keepAt)
	}()
}
