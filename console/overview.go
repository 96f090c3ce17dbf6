package console

// The overview: brokers, the controller, counts, and the partitions that
// need attention, all from one Metadata request (plus log dir totals).

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxListedProblems bounds the under-replicated and offline partitions
// listed by name; the counts are always complete.
const maxListedProblems = 50

type brokerRow struct {
	ID         int32
	Addr       string
	Rack       string
	Controller bool
	LogDirs    []logDirRow
}

type logDirRow struct {
	Dir           string
	Total, Usable int64 // -1 if the broker does not say
	Err           string
}

type partitionProblem struct {
	Topic     string
	Partition int32
	Leader    int32
	Replicas  []int32
	ISR       []int32
}

type overviewData struct {
	Cluster           string
	Controller        int32
	Brokers           []brokerRow
	Topics            int
	InternalTopics    int
	Partitions        int
	UnderReplicated   int
	Offline           int
	Problems          []partitionProblem // first maxListedProblems
	ProblemsTruncated bool
	Quorum            *quorumData // quorum.go
}

// summarize counts m's topics and partitions and picks the partitions with
// an ISR shorter than their replicas (under-replicated) or no leader
// (offline).
func summarize(m kadm.Metadata) overviewData {
	d := overviewData{Cluster: m.Cluster, Controller: m.Controller}
	for _, b := range m.Brokers {
		row := brokerRow{ID: b.NodeID, Addr: hostPort(b.Host, b.Port), Controller: b.NodeID == m.Controller}
		if b.Rack != nil {
			row.Rack = *b.Rack
		}
		d.Brokers = append(d.Brokers, row)
	}
	sort.Slice(d.Brokers, func(i, j int) bool { return d.Brokers[i].ID < d.Brokers[j].ID })
	for _, t := range m.Topics.Sorted() {
		if t.Err != nil {
			continue
		}
		d.Topics++
		if t.IsInternal {
			d.InternalTopics++
		}
		for _, p := range t.Partitions.Sorted() {
			d.Partitions++
			offline := p.Leader < 0
			under := len(p.ISR) < len(p.Replicas)
			if offline {
				d.Offline++
			}
			if under {
				d.UnderReplicated++
			}
			if offline || under {
				if len(d.Problems) < maxListedProblems {
					d.Problems = append(d.Problems, partitionProblem{Topic: p.Topic, Partition: p.Partition, Leader: p.Leader, Replicas: p.Replicas, ISR: p.ISR})
				} else {
					d.ProblemsTruncated = true
				}
			}
		}
	}
	return d
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := pageCtx(r)
	defer cancel()
	m, err := s.clusterMetadata(ctx) // metacache.go
	if err != nil {
		s.fail(w, r, "read the cluster's metadata", err, "", "/")
		return
	}
	d := summarize(m)
	ids := make([]int32, len(d.Brokers))
	for i, b := range d.Brokers {
		ids[i] = b.ID
	}
	dirs := s.logDirTotals(ctx, ids)
	for i := range d.Brokers {
		d.Brokers[i].LogDirs = dirs[d.Brokers[i].ID]
	}
	d.Quorum = s.describeQuorum(ctx, d.Controller, time.Now())
	s.render(w, r, 0, "overview", view{Title: "Overview", Nav: "overview", Data: d})
}

// logDirTotals asks each broker (ids) for its log dirs without any
// partitions (an empty, not null, topic list), which is cheap on a large
// cluster, and keeps each dir's volume size and free space. The requests
// go to each broker by id, in parallel: kgo's sharding of a
// DescribeLogDirs without topics first reads every topic's metadata,
// which cost the broker more than all the rest of the overview.
func (s *Server) logDirTotals(ctx context.Context, ids []int32) map[int32][]logDirRow {
	ctx, cancel := context.WithTimeout(ctx, logDirsTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := make(map[int32][]logDirRow)
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := kmsg.NewPtrDescribeLogDirsRequest()
			req.Topics = []kmsg.DescribeLogDirsRequestTopic{}
			r, err := s.cl.Broker(int(id)).Request(ctx, req)
			if err != nil {
				return
			}
			var rows []logDirRow
			for _, d := range r.(*kmsg.DescribeLogDirsResponse).Dirs {
				row := logDirRow{Dir: d.Dir, Total: d.TotalBytes, Usable: d.UsableBytes}
				if err := kerr.ErrorForCode(d.ErrorCode); err != nil {
					row.Err = err.Error()
				}
				rows = append(rows, row)
			}
			mu.Lock()
			out[id] = rows
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, rows := range out {
		sort.Slice(rows, func(i, j int) bool { return rows[i].Dir < rows[j].Dir })
	}
	return out
}
