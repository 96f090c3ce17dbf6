// BenchmarkEngineAppendSync measures one group commit on each engine, the
// way a shard drain submits it: N appends of 4 KiB spread round-robin over 8
// files, then one fdatasync per file written, all in one Submit.
//
// BenchmarkGroupCommitVsPerRequest measures the shard runtime end to end with
// and without group commit (RuntimeConfig.NoGroupCommit): per op, 64
// goroutines each submit one durable 1 KiB append (8 files, round-robin) to
// one shard and wait for its acknowledgement. It reports fsyncs/op: 64
// without group commit, between 8 and 64 with it, depending on how many
// appends are queued when the shard drains.
package iocore

import (
	"fmt"
	"sync"
	"testing"
)

func BenchmarkEngineAppendSync(b *testing.B) {
	const (
		files      = 8
		writeBytes = 4 << 10
		fileBytes  = 64 << 20 // appends wrap around here, to bound disk use
	)
	for _, k := range engineKinds {
		for _, n := range []int{1, 16, 128} {
			b.Run(fmt.Sprintf("engine=%s/N=%d", k.name, n), func(b *testing.B) {
				e := k.open(b, defaultRingEntries)
				dir := b.TempDir()
				fds := make([]int, files)
				for i := range fds {
					fds[i] = int(createFile(b, dir, fmt.Sprintf("%d.log", i)).Fd())
				}
				bufs := [][]byte{pattern(1, writeBytes)}
				var offs [files]int64
				ops := make([]Op, 0, n+files)
				b.SetBytes(int64(n * writeBytes))
				b.ReportAllocs()
				for b.Loop() {
					ops = ops[:0]
					for i := 0; i < n; i++ {
						f := i % files
						ops = append(ops, Op{Kind: OpWrite, FD: fds[f], Offset: offs[f], Bufs: bufs})
						offs[f] = (offs[f] + writeBytes) % fileBytes
					}
					for f := 0; f < min(n, files); f++ {
						ops = append(ops, Op{Kind: OpSync, FD: fds[f]})
					}
					if err := e.Submit(ops); err != nil {
						b.Fatal(err)
					}
					for i := range ops {
						if ops[i].Err != nil {
							b.Fatal(ops[i].Err)
						}
					}
				}
			})
		}
	}
}

func BenchmarkGroupCommitVsPerRequest(b *testing.B) {
	const (
		concurrency = 64
		files       = 8
		appendBytes = 1 << 10
		fileBytes   = 16 << 20 // appends wrap around here, to bound disk use
	)
	for _, m := range commitModes {
		for _, k := range engineKinds {
			b.Run(fmt.Sprintf("%s/engine=%s", m.name, k.name), func(b *testing.B) {
				r := newTestRuntimeConfig(b, RuntimeConfig{Shards: 1, Engine: k.name, NoGroupCommit: m.noGroupCommit})
				s := r.Shard(0)
				dir := b.TempDir()
				logs := make([]*appendLog, files)
				for i := range logs {
					logs[i] = newAppendLog(b, dir, fmt.Sprintf("%d.log", i), fileBytes)
				}
				tasks := make([]*appendTask, concurrency)
				for i := range tasks {
					tasks[i] = newAppendTask(i, logs[i%files], pattern(i, appendBytes), true, nil)
				}
				syncs0 := s.Stats().Syncs.Load()
				b.SetBytes(concurrency * appendBytes)
				b.ReportAllocs()
				var wg sync.WaitGroup
				for b.Loop() {
					for _, t := range tasks {
						wg.Go(func() {
							if err := s.Submit(t); err != nil {
								b.Error(err)
								return
							}
							if err := <-t.done; err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
					if b.Failed() {
						b.FailNow()
					}
				}
				b.ReportMetric(float64(s.Stats().Syncs.Load()-syncs0)/float64(b.N), "fsyncs/op")
			})
		}
	}
}

// BenchmarkShardHandoff measures what handing work to a shard costs: per
// op, 8 goroutines each run one empty Do on a shard (round-robin over the
// shards) and wait for it, with the shard goroutines locked to their
// threads (as every shard was before) and not (the default unless pinned).
func BenchmarkShardHandoff(b *testing.B) {
	const concurrency = 8
	for _, shards := range []int{1, 2} {
		for _, lock := range []bool{true, false} {
			b.Run(fmt.Sprintf("shards=%d/locked=%v", shards, lock), func(b *testing.B) {
				r := newTestRuntimeConfig(b, RuntimeConfig{Shards: shards, Engine: EngineSync, lockThreads: lock})
				nop := func() error { return nil }
				var wg sync.WaitGroup
				b.ReportAllocs()
				for b.Loop() {
					for i := 0; i < concurrency; i++ {
						wg.Go(func() {
							if err := r.Shard(i % shards).Do(nop); err != nil {
								b.Error(err)
							}
						})
					}
					wg.Wait()
				}
			})
		}
	}
}
