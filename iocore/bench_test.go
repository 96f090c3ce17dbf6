// These benchmarks measure one group commit on each engine, the way a shard
// drain submits it: N appends of 4 KiB spread round-robin over 8 files, then
// one fdatasync per file written, all in one Submit.
package iocore

import (
	"fmt"
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
