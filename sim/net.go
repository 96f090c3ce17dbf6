package sim

import (
	"fmt"
	"time"
)

// network delivers messages between nodes after a random delay (so they
// reorder), loses a fraction of them, sometimes delivers one twice, and
// drops everything across a partition: a message is lost when its link
// is cut at send or at delivery.
type network struct {
	w       *World
	cut     map[[2]int32]bool // one-way: from, to
	loss    float64
	maxWait time.Duration
}

func newNetwork(w *World) *network {
	return &network{w: w, cut: map[[2]int32]bool{}, maxWait: 20 * time.Millisecond}
}

// send carries msg from one node to another; deliver runs on arrival at
// a node that is up.
func (n *network) send(from, to int32, what string, deliver func(dst *node)) {
	if n.cut[[2]int32{from, to}] || n.w.chance(n.loss) {
		return
	}
	copies := 1
	if n.w.chance(0.01) {
		copies = 2
	}
	for range copies {
		d := n.w.jitter(time.Millisecond, n.maxWait)
		n.w.after(d, func() {
			dst := n.w.nodes[to]
			if n.cut[[2]int32{from, to}] || dst.down {
				return
			}
			n.w.tracef("recv %d->%d %s", from, to, what)
			deliver(dst)
		})
	}
}

// partition cuts every link between the two sides (oneWay: from a to b
// only).
func (n *network) partition(a, b []int32, oneWay bool) {
	for _, x := range a {
		for _, y := range b {
			n.cut[[2]int32{x, y}] = true
			if !oneWay {
				n.cut[[2]int32{y, x}] = true
			}
		}
	}
	n.w.tracef("partition %v|%v oneway=%v", a, b, oneWay)
}

func (n *network) heal() {
	clear(n.cut)
	n.w.tracef("heal")
}

func (n *network) String() string { return fmt.Sprintf("cut=%d loss=%.2f", len(n.cut), n.loss) }
