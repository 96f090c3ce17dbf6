package storage

// Benchmarks of descriptors on demand (fdcache.go): appends round-robin
// over many partitions with every file kept open (no bound) against a
// bound far below their files (each append reopens and closes), and the
// heap an idle partition costs once opened. Recorded in
// benchmarks/partitions-at-scale.md.

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
)

func benchManagerFiles(b *testing.B, dir string, cfg Config, maxFiles int) *Manager {
	b.Helper()
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineAuto, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close() })
	m, err := OpenManager(ManagerConfig{Dir: dir, Runtime: rt, Logger: quietLogger(), MaxOpenFiles: maxFiles},
		func(model.TopicPartition) Config { return cfg })
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkAppendPartitions appends 1 KiB batches (relaxed: no fsync, so
// the descriptor work is not hidden behind the disk) round-robin over 1,000
// partitions, 64 in flight: "unbounded" keeps all 3,000 files open,
// "bound-300" closes and reopens them (the worst case: every append
// misses).
func BenchmarkAppendPartitions(b *testing.B) {
	const parts = 1000
	for _, bc := range []struct {
		name string
		max  int
	}{{"unbounded", -1}, {"bound-300", 300}} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Durable = false
			m := benchManagerFiles(b, b.TempDir(), cfg, bc.max)
			defer m.Close()
			ps := manyTPs("bench", parts)
			for i := range ps {
				ps[i].Config = cfg
			}
			for _, err := range m.CreatePartitions(context.Background(), ps) {
				if err != nil {
					b.Fatal(err)
				}
			}
			pp := make([]*Partition, parts)
			for i := range pp {
				pp[i], _ = m.Partition(ps[i].TP)
			}
			const inflight = 64
			batches := make([][]byte, inflight)
			for i := range batches {
				batches[i] = simpleBatch(10, 80, time.Now().UnixMilli())
			}
			b.SetBytes(int64(len(batches[0])))
			b.ReportAllocs()
			sem := make(chan int, inflight)
			for i := 0; i < inflight; i++ {
				sem <- i
			}
			done := make(chan struct{}, b.N)
			before := m.FileCache()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				slot := <-sem
				pp[i%parts].Append(batches[slot], 0, func(r AppendResult) {
					if r.Err != nil {
						panic(r.Err)
					}
					sem <- slot
					done <- struct{}{}
				})
			}
			for i := 0; i < b.N; i++ {
				<-done
			}
			b.StopTimer()
			st := m.FileCache()
			b.ReportMetric(float64(st.Opens-before.Opens)/float64(b.N), "opens/op")
		})
	}
}

// BenchmarkIdlePartitionHeap opens a data dir of idle partitions (one
// record each, cleanly closed) and reports the heap and goroutines each
// one costs once open. b.N is ignored past the first run: the figure is
// per partition, not per op.
func BenchmarkIdlePartitionHeap(b *testing.B) {
	for _, parts := range []int{1000, 10000} {
		b.Run(fmt.Sprint(parts), func(b *testing.B) {
			cfg := testConfig()
			dir := b.TempDir()
			m := benchManagerFiles(b, dir, cfg, 256)
			ps := manyTPs("idle", parts)
			for i := range ps {
				ps[i].Config = cfg
			}
			for _, err := range m.CreatePartitions(context.Background(), ps) {
				if err != nil {
					b.Fatal(err)
				}
			}
			rec := simpleBatch(1, 100, time.Now().UnixMilli())
			for _, np := range ps {
				p, _ := m.Partition(np.TP)
				done := make(chan AppendResult, 1)
				p.Append(append([]byte(nil), rec...), 0, func(r AppendResult) { done <- r })
				if r := <-done; r.Err != nil {
					b.Fatal(r.Err)
				}
			}
			if err := m.Close(); err != nil {
				b.Fatal(err)
			}
			var heap, gor float64
			var startup time.Duration
			for i := 0; i < b.N; i++ {
				runtime.GC()
				g0 := runtime.NumGoroutine()
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				t0 := time.Now()
				m2 := benchManagerFiles(b, dir, cfg, 256)
				startup = time.Since(t0)
				runtime.GC()
				runtime.ReadMemStats(&ms1)
				heap = float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc)) / float64(parts)
				gor = float64(runtime.NumGoroutine()-g0) / float64(parts)
				runtime.KeepAlive(m2)
				if err := m2.Close(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(heap, "heap-B/partition")
			b.ReportMetric(gor, "goroutines/partition")
			b.ReportMetric(startup.Seconds()*1e6/float64(parts), "open-µs/partition")
		})
	}
}
