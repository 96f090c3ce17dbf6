package kafka

// DescribeShareGroupOffsets (key 90): versions 0-1.
// AlterShareGroupOffsets (key 91): version 0.
// DeleteShareGroupOffsets (key 92): version 0.
//
// Behavior:
//   - Sent to the group's coordinator, which checks the group through
//     ShareGroups.ShareGroupState (a coordinator error is the group's, or
//     the top-level, error code; an unknown group or one that is not a
//     share group is GROUP_ID_NOT_FOUND) and reads or writes the data at
//     the share coordinator (share_partitions.go, locally or over the
//     wire).
//   - Describe answers each share-partition's start offset (the SPSO: every
//     record below it was acknowledged or archived), -1 for one with no
//     state; no topics: every share-partition the group has state for.
//     Lag (v1): the high watermark less the SPSO and the records past it
//     already acknowledged or archived, where this node leads the
//     partition; -1 elsewhere. Authorization: DESCRIBE on the group
//     (GROUP_AUTHORIZATION_FAILED), DESCRIBE on each topic (the
//     partition's TOPIC_AUTHORIZATION_FAILED).
//   - Alter needs an empty group (NON_EMPTY_GROUP) and sets each named
//     partition's SPSO, dropping its in-flight state, at a new state
//     epoch. Authorization: READ on the group, READ on each topic.
//   - Delete needs an empty group and drops the share state of every
//     partition of each named topic, so that the next fetch starts over at
//     share.auto.offset.reset. Authorization: DELETE on the group, READ on
//     each topic.
//
// Skipped on purpose: with no group side wired (Config.ShareGroups nil)
// every group is taken to exist, and none to be empty. A partition leader
// on another node keeps what it loaded until its next write is refused
// with FENCED_STATE_EPOCH, then reloads.

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/share"
)

// shareGroupCheck asks the group side whether group is a share group and
// whether it is empty (needEmpty: NON_EMPTY_GROUP otherwise).
func (s *Server) shareGroupCheck(group string, needEmpty bool) error {
	if s.cfg.ShareGroups == nil {
		if needEmpty {
			return fmt.Errorf("%w: no group side to tell whether share group %q is empty", kerr.NonEmptyGroup, group)
		}
		return nil
	}
	exists, isShare, empty, err := s.cfg.ShareGroups.ShareGroupState(group)
	switch {
	case err != nil:
		return err
	case !exists || !isShare:
		return fmt.Errorf("%w: %q is not a share group", kerr.GroupIDNotFound, group)
	case needEmpty && !empty:
		return fmt.Errorf("%w: share group %q has members", kerr.NonEmptyGroup, group)
	}
	return nil
}

func handleDescribeShareGroupOffsets(s *Server, cx *reqCtx, req *kmsg.DescribeShareGroupOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeShareGroupOffsetsResponse)
	ctx, cancel := context.WithTimeout(context.Background(), shareStateWait+5*time.Second)
	defer cancel()
	for _, g := range req.Groups {
		rg := kmsg.NewDescribeShareGroupOffsetsResponseGroup()
		rg.GroupID = g.GroupID
		var err error
		if !cx.authorize(acl.ResourceGroup, g.GroupID, acl.OpDescribe) {
			err = kerr.GroupAuthorizationFailed
		} else {
			err = s.shareGroupCheck(g.GroupID, false)
		}
		if err == nil {
			err = s.describeShareOffsets(ctx, cx, g, &rg)
		}
		if err != nil {
			rg.ErrorCode, rg.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			rg.Topics = nil
		}
		resp.Groups = append(resp.Groups, rg)
	}
	return resp, nil
}

func (s *Server) describeShareOffsets(ctx context.Context, cx *reqCtx, g kmsg.DescribeShareGroupOffsetsRequestGroup, rg *kmsg.DescribeShareGroupOffsetsResponseGroup) error {
	im := s.ctrl.Image()
	topics := g.Topics
	if topics == nil {
		// Every share-partition with state.
		if im.Topics[share.StateTopic] == nil {
			return nil
		}
		keys, err := s.shareGroupKeys(ctx, g.GroupID)
		if err != nil {
			return err
		}
		idx := map[string]int{}
		for _, k := range keys {
			name := shareTopicName(im, k.TopicID)
			if name == "" {
				continue
			}
			i, ok := idx[name]
			if !ok {
				i = len(topics)
				idx[name] = i
				topics = append(topics, kmsg.DescribeShareGroupOffsetsRequestGroupTopic{Topic: name})
			}
			topics[i].Partitions = append(topics[i].Partitions, k.Partition)
		}
	}
	for _, t := range topics {
		rt := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopic()
		rt.Topic = t.Topic
		tm := im.Topics[t.Topic]
		var terr error
		switch {
		case !cx.authorize(acl.ResourceTopic, t.Topic, acl.OpDescribe):
			terr = kerr.TopicAuthorizationFailed
		case tm == nil:
			terr = kerr.UnknownTopicOrPartition
		default:
			rt.TopicID = [16]byte(tm.ID)
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeShareGroupOffsetsResponseGroupTopicPartition()
			rp.Partition, rp.StartOffset, rp.LeaderEpoch, rp.Lag = p, -1, -1, -1
			err := terr
			if err == nil && (p < 0 || int(p) >= len(tm.Partitions)) {
				err = kerr.UnknownTopicOrPartition
			}
			if err == nil && im.Topics[share.StateTopic] != nil {
				var snap share.Snapshot
				var ok bool
				snap, ok, err = s.shareRead(ctx, share.Key{Group: g.GroupID, TopicID: tm.ID, Partition: p})
				if err == nil && ok {
					rp.StartOffset, rp.LeaderEpoch = snap.StartOffset, tm.Partitions[p].LeaderEpoch
					rp.Lag = s.shareLag(im, tm, p, snap)
				}
			}
			rp.ErrorCode, rp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		rg.Topics = append(rg.Topics, rt)
	}
	return nil
}

func handleAlterShareGroupOffsets(s *Server, cx *reqCtx, req *kmsg.AlterShareGroupOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterShareGroupOffsetsResponse)
	var err error
	if !cx.authorize(acl.ResourceGroup, req.GroupID, acl.OpRead) {
		err = kerr.GroupAuthorizationFailed
	} else {
		err = s.shareGroupCheck(req.GroupID, true)
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shareStateWait+5*time.Second)
	defer cancel()
	im := s.ctrl.Image()
	for _, t := range req.Topics {
		rt := kmsg.NewAlterShareGroupOffsetsResponseTopic()
		rt.Topic = t.Topic
		tm := im.Topics[t.Topic]
		var terr error
		switch {
		case !cx.authorize(acl.ResourceTopic, t.Topic, acl.OpRead):
			terr = kerr.TopicAuthorizationFailed
		case tm == nil:
			terr = kerr.UnknownTopicOrPartition
		default:
			rt.TopicID = [16]byte(tm.ID)
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewAlterShareGroupOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			err := terr
			if err == nil && (p.Partition < 0 || int(p.Partition) >= len(tm.Partitions)) {
				err = kerr.UnknownTopicOrPartition
			}
			if err == nil && p.StartOffset < 0 {
				err = fmt.Errorf("%w: start offset %d", kerr.InvalidRequest, p.StartOffset)
			}
			if err == nil {
				err = s.alterShareOffset(ctx, share.Key{Group: req.GroupID, TopicID: tm.ID, Partition: p.Partition}, p.StartOffset)
			}
			rp.ErrorCode, rp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// alterShareOffset sets key's SPSO at a new state epoch.
func (s *Server) alterShareOffset(ctx context.Context, key share.Key, start int64) error {
	old, _, err := s.shareRead(ctx, key)
	if err != nil {
		return err
	}
	s.shares.forget(func(k share.Key) bool { return k == key })
	return s.shareWrite(ctx, key, share.Snapshot{StateEpoch: old.StateEpoch + 1, LeaderEpoch: -1, StartOffset: start})
}

func handleDeleteShareGroupOffsets(s *Server, cx *reqCtx, req *kmsg.DeleteShareGroupOffsetsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DeleteShareGroupOffsetsResponse)
	var err error
	if !cx.authorize(acl.ResourceGroup, req.GroupID, acl.OpDelete) {
		err = kerr.GroupAuthorizationFailed
	} else {
		err = s.shareGroupCheck(req.GroupID, true)
	}
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
		return resp, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), shareStateWait+5*time.Second)
	defer cancel()
	im := s.ctrl.Image()
	var keys []share.Key
	if im.Topics[share.StateTopic] != nil {
		if keys, err = s.shareGroupKeys(ctx, req.GroupID); err != nil {
			resp.ErrorCode, resp.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
			return resp, nil
		}
	}
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteShareGroupOffsetsResponseTopic()
		rt.Topic = t.Topic
		tm := im.Topics[t.Topic]
		var err error
		switch {
		case !cx.authorize(acl.ResourceTopic, t.Topic, acl.OpRead):
			err = kerr.TopicAuthorizationFailed
		case tm == nil:
			err = kerr.UnknownTopicOrPartition
		default:
			rt.TopicID = [16]byte(tm.ID)
			var del []share.Key
			for _, k := range keys {
				if controlplane.UUID(k.TopicID) == tm.ID {
					del = append(del, k)
				}
			}
			s.shares.forget(func(k share.Key) bool { return k.Group == req.GroupID && controlplane.UUID(k.TopicID) == tm.ID })
			err = s.shareDelete(ctx, req.GroupID, del)
		}
		rt.ErrorCode, rt.ErrorMessage = s.shareErrorCode(err), errorMessage(err)
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// shareLag is a share-partition's lag when this node leads its partition
// (the high watermark is known here), else -1.
func (s *Server) shareLag(im *controlplane.Image, tm *controlplane.Topic, p int32, snap share.Snapshot) int64 {
	_, l, err := s.localPartition(im, topicRef{id: tm.ID, byID: true}, p)
	if err != nil {
		return -1
	}
	_, hw, _ := l.Offsets()
	lag := int64(hw) - snap.StartOffset
	for _, b := range snap.Batches {
		if b.State == share.Acknowledged || b.State == share.Archived {
			if n := min(b.Last, int64(hw)-1) - max(b.First, snap.StartOffset) + 1; n > 0 {
				lag -= n
			}
		}
	}
	return max(lag, 0)
}
