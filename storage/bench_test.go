// This file measures the append path (1 KiB batches, durable and relaxed)
// and index lookups; both report allocations (the append path allocates per
// batch, never per record).
package storage

import (
	"testing"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
)

func benchManager(b *testing.B, cfg Config) (*Manager, *Partition) {
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 1, Engine: iocore.EngineAuto, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rt.Close() })
	m, err := OpenManager(ManagerConfig{Dir: b.TempDir(), Runtime: rt, Logger: quietLogger()}, func(model.TopicPartition) Config { return cfg })
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { m.Close() })
	p, err := m.CreatePartition(tp0, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("engine %s", rt.EngineName())
	return m, p
}

func BenchmarkAppend(b *testing.B) {
	for _, durable := range []bool{true, false} {
		name := "durable"
		if !durable {
			name = "relaxed"
		}
		b.Run(name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Durable = durable
			_, p := benchManager(b, cfg)
			// 1 KiB batches of 10 records; a pool of 64 in flight at once.
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
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				slot := <-sem
				p.Append(batches[slot], 0, func(r AppendResult) {
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
		})
	}
}

func BenchmarkIndexLookup(b *testing.B) {
	s := newSparseIndex(1 << 20)
	for i := 0; i < 100_000; i++ {
		s.add(indexEntry{key: uint32(i * 10), val: uint32(i * 4096)})
	}
	b.ReportAllocs()
	b.ResetTimer()
	var sum int64
	for i := 0; i < b.N; i++ {
		sum += s.lookupOffset(uint32(i*7919) % 1_000_000)
	}
	_ = sum
}
