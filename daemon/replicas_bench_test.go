package daemon

// BenchmarkReplicaLookups measures what the produce path pays to find a
// partition's replication state: an acks=all produce looks it up five
// times per partition (Append: replicated and leader; the append
// callback: leader; CheckAppend and AwaitCommit: leader). "view" is the
// real lookup (an atomic load of the copy-on-write snapshot); "mutex" is
// the previous one (replicas.mu around the map read), kept here only as
// the alternative to compare with. Run in parallel, as connections do:
//
//	go test -run '^$' -bench ReplicaLookups -cpu 1,2 ./daemon

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ringtail/ringtail/model"
)

func BenchmarkReplicaLookups(b *testing.B) {
	const parts = 1000
	r := &replicas{leaders: map[model.TopicPartition]*leaderReplica{}, external: map[model.TopicPartition]bool{}}
	tps := make([]model.TopicPartition, parts)
	for i := range tps {
		tps[i] = model.TopicPartition{Topic: "t", Partition: int32(i)}
		r.leaders[tps[i]] = &leaderReplica{tp: tps[i]}
		r.external[tps[i]] = true
	}
	r.publishLocked()
	r.leaders, r.external = r.view.Load().leaders, r.view.Load().external // the same maps for both
	var mu sync.Mutex
	lockedLeader := func(tp model.TopicPartition) *leaderReplica {
		mu.Lock()
		defer mu.Unlock()
		return r.leaders[tp]
	}
	lockedReplicated := func(tp model.TopicPartition) bool {
		mu.Lock()
		defer mu.Unlock()
		return r.external[tp]
	}
	for _, v := range []struct {
		name       string
		leader     func(model.TopicPartition) *leaderReplica
		replicated func(model.TopicPartition) bool
	}{
		{"view", r.leader, r.replicated},
		{"mutex", lockedLeader, lockedReplicated},
	} {
		b.Run(v.name, func(b *testing.B) {
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					tp := tps[i%parts]
					i++
					if !v.replicated(tp) || v.leader(tp) == nil || v.leader(tp) == nil || v.leader(tp) == nil || v.leader(tp) == nil {
						panic(fmt.Sprint("missing ", tp))
					}
				}
			})
		})
	}
}
