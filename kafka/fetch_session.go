package kafka

// Fetch sessions (KIP-227) in the Fetch handler: the glue between a
// kmsg.FetchRequest/Response and the fetchsession cache. A request with
// session_epoch > 0 reads every partition of its session (the request names
// only the changed ones and those to forget); the response then drops the
// partitions that have no records, no new high watermark or log start
// offset, and no error. A full request with epoch 0 gets a session id in
// its answer when the cache has room (max.incremental.fetch.session.cache.slots);
// epoch -1 keeps none. Fetch v7+ only: older requests have no session fields.

import (
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/fetchsession"
	"github.com/ringtail/ringtail/storage"
)

// fetchSessionBegin validates req's session fields. It returns the
// session context (nil before v7), the request to read (req itself, or for
// an incremental request a copy whose topics are the session's
// partitions), and a whole-response error code.
func (s *Server) fetchSessionBegin(req *kmsg.FetchRequest) (*fetchsession.Context, *kmsg.FetchRequest, int16) {
	if req.Version < 7 || s.fetchSessions == nil {
		return nil, req, 0
	}
	byID := req.Version >= 13
	r := fetchsession.Request{SessionID: req.SessionID, SessionEpoch: req.SessionEpoch,
		Privileged: req.ReplicaID >= 0, ByID: byID}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			r.Partitions = append(r.Partitions, sessionPartition(t, p, byID))
		}
	}
	if req.SessionEpoch > 0 {
		for _, t := range req.ForgottenTopics {
			for _, p := range t.Partitions {
				k := fetchsession.Key{Topic: t.Topic, Partition: p}
				if byID {
					k = fetchsession.Key{TopicID: t.TopicID, Partition: p}
				}
				r.Forgotten = append(r.Forgotten, k)
			}
		}
	}
	sx, code := s.fetchSessions.Begin(s.cfg.Now(), r)
	if code != 0 || sx.Kind != fetchsession.Incremental {
		return sx, req, code
	}
	eff := *req
	eff.Topics = sessionTopics(sx.Partitions())
	return sx, &eff, 0
}

func sessionPartition(t kmsg.FetchRequestTopic, p kmsg.FetchRequestTopicPartition, byID bool) fetchsession.Partition {
	k := fetchsession.Key{Topic: t.Topic, Partition: p.Partition}
	if byID {
		k = fetchsession.Key{TopicID: t.TopicID, Partition: p.Partition}
	}
	return fetchsession.Partition{Key: k, FetchOffset: p.FetchOffset, MaxBytes: p.PartitionMaxBytes,
		CurrentLeaderEpoch: p.CurrentLeaderEpoch, LastFetchedEpoch: p.LastFetchedEpoch, LogStartOffset: p.LogStartOffset}
}

// sessionTopics turns a session's partitions back into request topics,
// consecutive partitions of one topic in one entry.
func sessionTopics(ps []fetchsession.Partition) []kmsg.FetchRequestTopic {
	var out []kmsg.FetchRequestTopic
	for _, sp := range ps {
		if n := len(out); n == 0 || out[n-1].Topic != sp.Topic || out[n-1].TopicID != sp.TopicID {
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = sp.Topic, sp.TopicID
			out = append(out, t)
		}
		p := kmsg.NewFetchRequestTopicPartition()
		p.Partition, p.FetchOffset, p.PartitionMaxBytes = sp.Partition, sp.FetchOffset, sp.MaxBytes
		p.CurrentLeaderEpoch, p.LastFetchedEpoch, p.LogStartOffset = sp.CurrentLeaderEpoch, sp.LastFetchedEpoch, sp.LogStartOffset
		t := &out[len(out)-1]
		t.Partitions = append(t.Partitions, p)
	}
	return out
}

// fetchSessionFinish sets resp's session_id and, for an incremental
// request, drops the partitions (and their file ranges in fr) that the
// fetcher already knows everything about. eff is the request that was
// read (resp.Topics mirrors eff.Topics).
func (s *Server) fetchSessionFinish(sx *fetchsession.Context, eff *kmsg.FetchRequest, resp *kmsg.FetchResponse, fr *fetchRanges) {
	if sx == nil {
		return
	}
	byID := eff.Version >= 13
	var parts []fetchsession.Partition
	var res []fetchsession.Result
	for ti, t := range resp.Topics {
		for pi, p := range t.Partitions {
			parts = append(parts, sessionPartition(eff.Topics[ti], eff.Topics[ti].Partitions[pi], byID))
			res = append(res, fetchsession.Result{
				Records:        len(p.RecordBatches) > 0 || fr.recordBytes(ti, pi) > 0,
				HighWatermark:  p.HighWatermark,
				LogStartOffset: p.LogStartOffset,
				Error:          p.ErrorCode != 0,
				Diverging:      p.DivergingEpoch.Epoch != -1 || p.DivergingEpoch.EndOffset != -1,
				Preferred:      p.PreferredReadReplica >= 0,
			})
		}
	}
	keep, id := sx.Respond(s.cfg.Now(), parts, res)
	resp.SessionID = id
	if sx.Kind != fetchsession.Incremental {
		return
	}
	i, nt := 0, 0
	for ti := range resp.Topics {
		t := resp.Topics[ti]
		var ranges []storage.Ranges
		if fr != nil && ti < len(fr.parts) {
			ranges = fr.parts[ti]
		}
		np := 0
		for pi := range t.Partitions {
			if keep[i] {
				t.Partitions[np] = t.Partitions[pi]
				if ranges != nil {
					ranges[np], ranges[pi] = ranges[pi], ranges[np]
				}
				np++
			} else if ranges != nil {
				ranges[pi].Release()
			}
			i++
		}
		if np == 0 {
			continue
		}
		t.Partitions = t.Partitions[:np]
		resp.Topics[nt] = t
		if ranges != nil {
			fr.parts[nt] = ranges[:np]
		}
		nt++
	}
	resp.Topics = resp.Topics[:nt]
	if fr != nil {
		// Every dropped partition's ranges were released above.
		fr.parts = fr.parts[:nt]
	}
}
