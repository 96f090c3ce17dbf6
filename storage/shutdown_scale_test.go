// This file measures the clean shutdown of many partitions (issue 16): the
// per-file fsyncs of before against one syncfs, in the same run on the same
// data dir, and the start-up that follows each. It runs only with
// RINGTAIL_SHUTDOWN_PARTITIONS set (a measurement, not a check):
//
//	RINGTAIL_SHUTDOWN_PARTITIONS=10000 go test -run TestShutdownManyPartitions -v ./storage
package storage

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ringtail/ringtail/iocore"
	"github.com/ringtail/ringtail/model"
)

func TestShutdownManyPartitions(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RINGTAIL_SHUTDOWN_PARTITIONS"))
	if n <= 0 {
		t.Skip("a measurement: set RINGTAIL_SHUTDOWN_PARTITIONS (e.g. 10000)")
	}
	rt, err := iocore.NewRuntime(iocore.RuntimeConfig{Shards: 4, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	dir := t.TempDir()
	if d := os.Getenv("RINGTAIL_SHUTDOWN_DIR"); d != "" {
		dir = d
	}
	clock := newFakeClock()
	cfg := testConfig()
	open := func() (*Manager, time.Duration) {
		start := time.Now()
		m, err := OpenManager(ManagerConfig{Dir: dir, Runtime: rt, Logger: quietLogger(), Now: clock.Now, MaxOpenFiles: 4096},
			func(model.TopicPartition) Config { return cfg })
		if err != nil {
			t.Fatalf("OpenManager: %v", err)
		}
		return m, time.Since(start)
	}
	m, _ := open()
	for i, err := range m.CreatePartitions(context.Background(), manyTPs("scale", n)) {
		if err != nil {
			t.Fatalf("create %d: %v", i, err)
		}
	}
	// One idempotent record per partition and round, at a new leader
	// epoch: each close then writes a producer snapshot, a leader-epoch
	// checkpoint and the time index's last entry.
	appendAll := func(m *Manager, round int) {
		done := make(chan error, n)
		for i := 0; i < n; i++ {
			p, _ := m.Partition(model.TopicPartition{Topic: "scale", Partition: int32(i)})
			b := buildBatch(batchOpts{firstTs: clock.Ms(), producerID: int64(i), epoch: 0, baseSeq: int32(round)}, []testRec{{value: []byte("v")}})
			p.Append(b, model.Epoch(round), func(r AppendResult) { done <- r.Err })
		}
		for i := 0; i < n; i++ {
			if err := <-done; err != nil {
				t.Fatalf("append: %v", err)
			}
		}
	}
	var figures []string
	for round, perFile := range []bool{true, false, true, false} {
		appendAll(m, round)
		m.closePerFileSync = perFile
		start := time.Now()
		if err := m.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		took := time.Since(start)
		var opened time.Duration
		m, opened = open()
		if got := m.Recovery(); !got.CleanShutdown || got.Rescanned != 0 {
			t.Fatalf("after the close: %+v", got)
		}
		how := "syncfs"
		if perFile {
			how = "per-file fsync"
		}
		figures = append(figures, fmt.Sprintf("%d partitions: close (%s) %v (%.3f ms/partition), then open %v", n, how, took.Round(time.Millisecond),
			float64(took.Microseconds())/1000/float64(n), opened.Round(time.Millisecond)))
	}
	m.Close()
	for _, f := range figures {
		t.Log(f)
		fmt.Println("shutdown:", f)
	}
}
