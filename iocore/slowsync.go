package iocore

import (
	"os"
	"strings"
	"time"
)

// SlowSyncEnv names a file holding a delay ("200ms"; empty or missing: none)
// that each batch with syncs waits before it is submitted: the nemesis
// suite's slow-fsync fault, changed at run time by rewriting the file. Unset
// (always, outside tests) it costs one comparison per batch.
const SlowSyncEnv = "RINGTAIL_TEST_SLOW_FSYNC_FILE"

var slowSyncFile = os.Getenv(SlowSyncEnv)

// testSlowSync sleeps for the delay in slowSyncFile, if any.
func testSlowSync() {
	if slowSyncFile == "" {
		return
	}
	b, err := os.ReadFile(slowSyncFile)
	if err != nil {
		return
	}
	if d, err := time.ParseDuration(strings.TrimSpace(string(b))); err == nil && d > 0 {
		time.Sleep(d)
	}
}
