package daemon

// Test hooks the e2e tests drive through the environment; unset (as in
// production) they cost one Getenv at start.

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// reconcileHoldEnv names a file: while it lists this node's id on a line,
// the node's reconcile passes wait, so that the images committed meanwhile
// reach the next pass as one change (as a slow pass under load sees them),
// e.g. a topic deleted and re-created at the same leader and leader epoch.
const reconcileHoldEnv = "RINGTAIL_TEST_RECONCILE_HOLD_FILE"

// reconcileHoldPoll is how often a held pass looks at the file again.
const reconcileHoldPoll = 20 * time.Millisecond

// holdReconcile waits while the hold file lists this node; false when the
// node stops meanwhile.
func (n *Node) holdReconcile() bool {
	if n.rec.holdFile == "" {
		return true
	}
	for n.reconcileHeld() {
		select {
		case <-n.rec.stop:
			return false
		case <-time.After(reconcileHoldPoll):
		}
	}
	return true
}

func (n *Node) reconcileHeld() bool {
	b, err := os.ReadFile(n.rec.holdFile)
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if id, err := strconv.Atoi(strings.TrimSpace(line)); err == nil && int32(id) == n.cfg.NodeID {
			return true
		}
	}
	return false
}

// installReconcileHold reads reconcileHoldEnv once, at start.
func (n *Node) installReconcileHold() {
	if f := os.Getenv(reconcileHoldEnv); f != "" {
		n.rec.holdFile = f
		n.log.Warn("test hook: reconcile passes wait while the control file lists this node", "env", reconcileHoldEnv, "file", f)
	}
}
