package sim

import (
	"time"
)

// The nemesis: every 0.5 to 3 s of the chaos phase it picks one fault:
// crash a node (restarted 0.2 to 6 s later, with what its disks kept),
// cut the network (isolate a node, one way or both, or split it), heal
// it, change the message loss or delay, or jump a node's clock.
func (w *World) startNemesis() {
	var loop func()
	loop = func() {
		if w.quiet {
			return
		}
		w.nemesis()
		w.after(w.jitter(500*time.Millisecond, 3*time.Second), loop)
	}
	w.after(w.jitter(time.Second, 3*time.Second), loop)
}

func (w *World) nemesis() {
	nodes := len(w.nodes)
	pick := int32(w.rng.IntN(nodes))
	switch k := w.rng.IntN(10); k {
	case 0, 1, 2:
		n := w.nodes[pick]
		if n.down {
			return
		}
		n.crash()
		w.after(w.jitter(200*time.Millisecond, 6*time.Second), func() {
			if n.down && !w.quiet {
				n.restart()
			}
		})
	case 3, 4:
		var rest []int32
		for i := range nodes {
			if int32(i) != pick {
				rest = append(rest, int32(i))
			}
		}
		w.res.Partitions++
		if k == 3 {
			w.net.partition([]int32{pick}, rest, false)
		} else {
			w.net.partition([]int32{pick}, rest[:1+w.rng.IntN(len(rest))], true)
		}
	case 5, 6:
		w.net.heal()
	case 7:
		w.net.loss = []float64{0, 0, 0.05, 0.2}[w.rng.IntN(4)]
		w.tracef("loss %.2f", w.net.loss)
	case 8:
		w.net.maxWait = []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 200 * time.Millisecond, time.Second}[w.rng.IntN(4)]
		w.tracef("delay %v", w.net.maxWait)
	case 9:
		n := w.nodes[pick]
		n.skew += w.jitter(-5*time.Second, 15*time.Second)
		w.tracef("n%d clock skew %v", n.id, n.skew)
	}
}

// crashPoint crashes n with probability p right after its current step
// (a Ready it has just persisted and sent), and restarts it soon: a voter
// that voted (p 0.3) while the election it voted in may still run, a
// follower that acknowledged entries (p 0.01) while they commit.
func (w *World) crashPoint(n *node, p float64) {
	if w.quiet || !w.chance(p) {
		return
	}
	inc := n.incarnation
	w.after(0, func() {
		if n.down || n.incarnation != inc {
			return
		}
		n.crash()
		w.after(w.jitter(10*time.Millisecond, 300*time.Millisecond), func() {
			if n.down {
				n.restart()
			}
		})
	})
}
