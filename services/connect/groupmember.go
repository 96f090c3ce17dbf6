package connect

// A worker's membership of the Connect group (group.id): JoinGroup with
// protocol type "connect" and the eager protocol, SyncGroup (the leader
// sends every member's assignment), Heartbeat and LeaveGroup, spoken with
// kmsg requests through the herder's kgo client (which finds the group's
// coordinator). The decisions are pure functions, tested without Kafka:
// assignWork, heartbeatAction and sessionLost.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Group timing defaults, Kafka's.
const (
	DefaultSessionTimeout = 10 * time.Second
	rebalanceTimeout      = 60 * time.Second
	// groupRequestSlack is added to JoinGroup's wait (it blocks until the
	// rebalance completes) and bounds the other group requests.
	groupRequestSlack = 10 * time.Second
)

// memberInfo is one member of a JoinGroup response, as the leader sees it.
type memberInfo struct {
	ID   string
	Meta workerMetadata
}

// assignWork is the leader's eager assignment (Kafka's EagerAssignor):
// members sorted by id, connectors then tasks handed out round-robin by
// one iterator, so one connector's tasks spread over the workers. The
// leader's snapshot must be at least as new as every member's; otherwise
// every member gets CONFIG_MISMATCH and rejoins after reading further.
func assignWork(leaderID, leaderURL string, members []memberInfo, snap *configSnapshot) map[string]assignment {
	ms := slices.Clone(members)
	slices.SortFunc(ms, func(a, b memberInfo) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	out := make(map[string]assignment, len(ms))
	mismatch := false
	for _, m := range ms {
		if m.Meta.ConfigOffset > snap.Offset {
			mismatch = true
		}
	}
	for _, m := range ms {
		a := assignment{Version: connectProtocolV0, Leader: leaderID, LeaderURL: leaderURL, ConfigOffset: snap.Offset}
		if mismatch {
			a.Error = assignConfigMismatch
		}
		out[m.ID] = a
	}
	if mismatch || len(ms) == 0 {
		return out
	}
	next := 0
	take := func() string {
		id := ms[next%len(ms)].ID
		next++
		return id
	}
	for _, name := range sortedKeys(snap.Connectors) {
		id := take()
		a := out[id]
		a.Connectors = append(a.Connectors, name)
		out[id] = a
	}
	for _, t := range snap.taskIDs() {
		id := take()
		a := out[id]
		a.Tasks = append(a.Tasks, t)
		out[id] = a
	}
	return out
}

// memberAction is what a member does after a group response.
type memberAction int

const (
	actionNone   memberAction = iota // carry on
	actionRetry                      // transient: try again shortly
	actionRejoin                     // a rebalance: join again
	actionReset                      // membership lost: forget the member id, join again
	actionFatal                      // misconfiguration: stop, with the error
)

// heartbeatAction maps a Heartbeat (or SyncGroup) error to what to do.
func heartbeatAction(err error) memberAction {
	switch {
	case err == nil:
		return actionNone
	case errors.Is(err, kerr.RebalanceInProgress):
		return actionRejoin
	case errors.Is(err, kerr.UnknownMemberID), errors.Is(err, kerr.IllegalGeneration), errors.Is(err, kerr.FencedInstanceID):
		return actionReset
	case errors.Is(err, kerr.GroupAuthorizationFailed), errors.Is(err, kerr.InconsistentGroupProtocol),
		errors.Is(err, kerr.InvalidSessionTimeout), errors.Is(err, kerr.GroupMaxSizeReached):
		return actionFatal
	}
	return actionRetry
}

// sessionLost says whether a member whose last successful heartbeat was
// at lastOK must consider itself out of the group: the coordinator has
// expired it by now, and another worker may run its tasks.
func sessionLost(now, lastOK time.Time, session time.Duration) bool {
	return now.Sub(lastOK) >= session
}

// heartbeatInterval is Kafka's default ratio: a third of the session.
func heartbeatInterval(session time.Duration) time.Duration {
	return max(session/3, 100*time.Millisecond)
}

// groupMember holds one worker's membership.
type groupMember struct {
	cl         *kgo.Client
	group      string
	session    time.Duration
	memberID   string
	generation int32
}

// joinResult is a completed JoinGroup.
type joinResult struct {
	leader   bool
	leaderID string
	members  []memberInfo
}

// join sends JoinGroup until it completes (a first join learns its member
// id from MEMBER_ID_REQUIRED and sends again).
func (g *groupMember) join(ctx context.Context, meta workerMetadata) (*joinResult, error) {
	for range 3 {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.MemberID, req.ProtocolType = g.group, g.memberID, connectProtocolType
		req.SessionTimeoutMillis = int32(g.session.Milliseconds())
		req.RebalanceTimeoutMillis = int32(rebalanceTimeout.Milliseconds())
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = connectProtocolEager, encodeMetadata(meta)
		req.Protocols = append(req.Protocols, p)
		rctx, cancel := context.WithTimeout(ctx, rebalanceTimeout+groupRequestSlack)
		resp, err := req.RequestWith(rctx, g.cl)
		cancel()
		if err != nil {
			return nil, err
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		switch {
		case errors.Is(err, kerr.MemberIDRequired):
			g.memberID = resp.MemberID
			continue
		case errors.Is(err, kerr.UnknownMemberID):
			g.memberID = ""
			return nil, err
		case err != nil:
			return nil, err
		}
		if resp.Protocol != nil && *resp.Protocol != connectProtocolEager {
			return nil, fmt.Errorf("group %s chose protocol %q; this worker speaks only %q", g.group, *resp.Protocol, connectProtocolEager)
		}
		g.memberID, g.generation = resp.MemberID, resp.Generation
		jr := &joinResult{leader: resp.LeaderID == resp.MemberID, leaderID: resp.LeaderID}
		for _, m := range resp.Members {
			md, err := decodeMetadata(m.ProtocolMetadata)
			if err != nil {
				return nil, fmt.Errorf("group %s member %s: %w", g.group, m.MemberID, err)
			}
			jr.members = append(jr.members, memberInfo{ID: m.MemberID, Meta: md})
		}
		return jr, nil
	}
	return nil, fmt.Errorf("group %s: JoinGroup kept asking for a member id", g.group)
}

// sync sends SyncGroup (the leader with everyone's assignment) and returns
// this member's.
func (g *groupMember) sync(ctx context.Context, assignments map[string]assignment) (assignment, error) {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Group, req.Generation, req.MemberID = g.group, g.generation, g.memberID
	req.ProtocolType, req.Protocol = kmsg.StringPtr(connectProtocolType), kmsg.StringPtr(connectProtocolEager)
	for _, id := range sortedKeys(assignments) {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, encodeAssignment(assignments[id])
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	rctx, cancel := context.WithTimeout(ctx, rebalanceTimeout+groupRequestSlack)
	defer cancel()
	resp, err := req.RequestWith(rctx, g.cl)
	if err != nil {
		return assignment{}, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return assignment{}, err
	}
	return decodeAssignment(resp.MemberAssignment)
}

func (g *groupMember) heartbeat(ctx context.Context) error {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Group, req.Generation, req.MemberID = g.group, g.generation, g.memberID
	// One heartbeat may take no longer than the interval: a coordinator
	// that died is looked up again at the next tick, well within the
	// session.
	rctx, cancel := context.WithTimeout(ctx, heartbeatInterval(g.session))
	defer cancel()
	resp, err := req.RequestWith(rctx, g.cl)
	if err != nil {
		return err
	}
	return kerr.ErrorForCode(resp.ErrorCode)
}

// leave sends LeaveGroup, so the others rebalance at once rather than
// after the session timeout.
func (g *groupMember) leave(ctx context.Context) error {
	if g.memberID == "" {
		return nil
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group, req.MemberID = g.group, g.memberID
	m := kmsg.NewLeaveGroupRequestMember()
	m.MemberID = g.memberID
	req.Members = append(req.Members, m)
	rctx, cancel := context.WithTimeout(ctx, groupRequestSlack)
	defer cancel()
	resp, err := req.RequestWith(rctx, g.cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	g.memberID, g.generation = "", -1
	return err
}
