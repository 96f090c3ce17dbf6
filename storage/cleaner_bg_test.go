package storage

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

// The cleaner threads find a dirty compacted partition on their own.
func TestCleanerThreadsCleanInTheBackground(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig()
		e.cfg.MinCleanableRatio = 0.1
		m, err := OpenManager(ManagerConfig{Dir: e.dir, Runtime: e.rt, Logger: quietLogger(), Now: e.clock.Now,
			Cleaner: CleanerConfig{Enabled: true, Threads: 1, Backoff: 10 * time.Millisecond}},
			func(model.TopicPartition) Config { return e.cfg })
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		p := e.create(m, tp0)
		for i := 0; i < 300; i++ {
			appendKV(t, p, 1, fmt.Sprintf("k%d", i%10), strings.Repeat("v", 50))
		}
		waitFor(t, "a background cleaning pass", func() bool { return m.CleanerStats().Passes > 0 })
		if st := p.CleanState(); st.FirstDirty <= 0 || st.LastCleanMs == 0 {
			t.Fatalf("clean state after a pass: %+v", st)
		}
	})
}
