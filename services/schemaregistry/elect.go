package schemaregistry

// Electing the single writer through the classic group protocol, as
// Confluent's registry does: every registry joins the group
// "schema-registry" (protocol type "sr") with its URL in its member
// metadata; the group leader the coordinator picks names itself the writer
// in the SyncGroup assignment every member gets. The coordinator keeps the
// leader across rebalances while it stays a member, so the writer changes
// only when it leaves or dies (session timeout). Ids stay unique across a
// writer change as well: a write is applied only when read back from the
// log, and State.Apply gives an id to the first record that claims it.

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group membership timing.
const (
	sessionTimeoutMs   = 10000
	rebalanceTimeoutMs = 10000
	heartbeatInterval  = time.Second
	rejoinBackoff      = 500 * time.Millisecond
)

// identity is a registry's member metadata.
type identity struct {
	Version           int    `json:"version"`
	URL               string `json:"url"`
	LeaderEligibility bool   `json:"leader_eligibility"`
}

// assignment is what the group leader hands every member.
type assignment struct {
	Error          int      `json:"error"`
	Leader         string   `json:"leader"`
	LeaderIdentity identity `json:"leader_identity"`
}

// elector keeps this registry in the group and knows the writer.
type elector struct {
	cl    *kgo.Client
	group string
	self  identity
	log   *slog.Logger

	mu      sync.Mutex
	writer  string // URL; "" until the first assignment
	isSelf  bool
	changed chan struct{} // closed when writer changes
}

func newElector(cl *kgo.Client, group, url string, log *slog.Logger) *elector {
	return &elector{cl: cl, group: group, log: log, changed: make(chan struct{}),
		self: identity{Version: 1, URL: url, LeaderEligibility: true}}
}

// current is the writer's URL and whether it is this registry.
func (e *elector) current() (url string, self bool, changed <-chan struct{}) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.writer, e.isSelf, e.changed
}

func (e *elector) set(url string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if url == e.writer {
		return
	}
	e.writer, e.isSelf = url, url == e.self.URL
	close(e.changed)
	e.changed = make(chan struct{})
	e.log.Info("schema registry writer", "url", url, "self", e.isSelf)
}

// run keeps the membership until ctx ends, then leaves the group.
func (e *elector) run(ctx context.Context) {
	memberID := ""
	for ctx.Err() == nil {
		gen, mid, err := e.joinAndSync(ctx, memberID)
		memberID = mid
		if err == nil {
			err = e.heartbeat(ctx, gen, memberID)
		}
		if ctx.Err() != nil {
			break
		}
		if err == kerr.UnknownMemberID || err == kerr.IllegalGeneration || err == kerr.FencedInstanceID {
			memberID = ""
		}
		if err != kerr.RebalanceInProgress {
			e.log.Debug("schema registry group: rejoining", "err", err)
			t := time.NewTimer(rejoinBackoff)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	if memberID != "" {
		lctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		req := kmsg.NewPtrLeaveGroupRequest()
		req.Group = e.group
		req.MemberID = memberID
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = memberID
		req.Members = append(req.Members, m)
		_, _ = req.RequestWith(lctx, e.cl)
		cancel()
	}
}

func (e *elector) joinAndSync(ctx context.Context, memberID string) (int32, string, error) {
	meta, _ := json.Marshal(e.self)
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = e.group
		req.SessionTimeoutMillis = sessionTimeoutMs
		req.RebalanceTimeoutMillis = rebalanceTimeoutMs
		req.MemberID = memberID
		req.ProtocolType = "sr"
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name = "v1"
		p.Metadata = meta
		req.Protocols = append(req.Protocols, p)
		resp, err := req.RequestWith(ctx, e.cl)
		if err != nil {
			return 0, memberID, err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if err == kerr.MemberIDRequired && attempt == 0 {
				memberID = resp.MemberID
				continue
			}
			return 0, memberID, err
		}
		memberID = resp.MemberID
		sreq := kmsg.NewPtrSyncGroupRequest()
		sreq.Group = e.group
		sreq.Generation = resp.Generation
		sreq.MemberID = memberID
		sreq.ProtocolType = kmsg.StringPtr("sr")
		sreq.Protocol = kmsg.StringPtr("v1")
		if resp.LeaderID == memberID {
			a, _ := json.Marshal(assignment{Leader: memberID, LeaderIdentity: e.self})
			for _, m := range resp.Members {
				sa := kmsg.NewSyncGroupRequestGroupAssignment()
				sa.MemberID = m.MemberID
				sa.MemberAssignment = a
				sreq.GroupAssignment = append(sreq.GroupAssignment, sa)
			}
		}
		sresp, err := sreq.RequestWith(ctx, e.cl)
		if err != nil {
			return 0, memberID, err
		}
		if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
			return 0, memberID, err
		}
		var a assignment
		if err := json.Unmarshal(sresp.MemberAssignment, &a); err == nil && a.LeaderIdentity.URL != "" {
			e.set(a.LeaderIdentity.URL)
		}
		return resp.Generation, memberID, nil
	}
}

// heartbeat beats until the coordinator answers an error (a rebalance).
func (e *elector) heartbeat(ctx context.Context, gen int32, memberID string) error {
	t := time.NewTicker(heartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group = e.group
		req.Generation = gen
		req.MemberID = memberID
		resp, err := req.RequestWith(ctx, e.cl)
		if err != nil {
			return err
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			return err
		}
	}
}
