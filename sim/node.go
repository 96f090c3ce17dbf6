package sim

import (
	"fmt"
	"strconv"
	"time"

	"github.com/ringtail/ringtail/controlplane"
)

// node is one simulated process: a controller quorum voter and a broker
// holding a replica of every partition of the topic.
type node struct {
	w           *World
	id          int32
	down        bool
	incarnation uint32 // bumped at every start and crash: old timers stop
	uuid        controlplane.UUID
	skew        time.Duration // clock jumps
	ctrl        ctrl
	reps        []*replica
	dirty       bool // the image changed: reconcile
}

const topicName = "t"

func newNode(w *World, id int32) *node {
	n := &node{w: w, id: id}
	n.ctrl.n = n
	for p := 0; p < w.opts.Partitions; p++ {
		n.reps = append(n.reps, newReplica(n, int32(p)))
	}
	return n
}

// clock is this node's view of the time (the simulated time plus its
// skew); nowMs is the same in Unix milliseconds.
func (n *node) clock() time.Duration { return n.w.now + n.skew }
func (n *node) nowMs() int64         { return epoch.Add(n.clock()).UnixMilli() }

// every runs fn every period (first after a random phase) while this
// incarnation lives.
func (n *node) every(period time.Duration, fn func()) {
	inc := n.incarnation
	var loop func()
	loop = func() {
		if n.down || n.incarnation != inc {
			return
		}
		fn()
		n.w.after(period, loop)
	}
	n.w.after(n.w.jitter(0, period), loop)
}

func (n *node) start() {
	n.down = false
	n.incarnation++
	n.uuid = n.w.newUUID()
	n.w.tracef("n%d start inc=%d", n.id, n.incarnation)
	n.ctrl.recover()
	for _, r := range n.reps {
		r.restart()
	}
	n.ctrl.handleReady()
	n.afterControllerStep()
	n.every(raftTick, func() {
		n.ctrl.tick()
		n.afterControllerStep()
	})
	n.every(fencePeriod, func() {
		n.ctrl.fence()
		n.afterControllerStep()
	})
	n.every(registerPeriod, func() {
		n.register()
		n.w.maybeCreateTopic(n)
		n.afterControllerStep()
	})
	n.every(leaderTick, func() {
		for _, r := range n.reps {
			r.tick()
		}
		n.afterControllerStep()
	})
	n.every(time.Second, func() {
		for _, r := range n.reps {
			r.hwCkpt = r.hw
		}
	})
	n.every(followerPoll, func() {
		for _, r := range n.reps {
			r.poll()
		}
		n.afterControllerStep()
	})
}

// crash loses everything but the disks: the raft disk and the partition
// logs (appends are durable before they complete) with their last
// high-watermark checkpoints.
func (n *node) crash() {
	n.w.tracef("n%d crash", n.id)
	n.w.res.Crashes++
	n.ctrl.failPending(func(*pendingCmd) bool { return true })
	n.down = true
	n.incarnation++
	n.ctrl.rn = nil
	for _, r := range n.reps {
		r.crash()
	}
}

func (n *node) restart() { n.start() }

func (n *node) imageChanged() { n.dirty = true }

// afterControllerStep reconciles the node toward its image, as the
// daemon's subscribers do, until nothing changes.
func (n *node) afterControllerStep() {
	for i := 0; n.dirty && !n.down; i++ {
		if i > 100 {
			panic("sim: reconcile does not settle")
		}
		n.dirty = false
		for _, r := range n.reps {
			r.reconcile()
		}
		n.w.chk.step()
	}
	if !n.down {
		n.w.chk.step()
	}
}

// registered is Controller.registered: the image holds this process's
// own registration, unfenced.
func (n *node) registered() bool {
	b, ok := n.ctrl.image.Brokers[n.id]
	return ok && b.Incarnation == n.uuid && !b.Fenced
}

// register is one pass of heartbeatLoop.
func (n *node) register() {
	c := &n.ctrl
	if n.registered() || c.lead < 0 || c.hasPending("register") {
		return
	}
	rec := controlplane.Record{Type: controlplane.RecRegisterBroker, RegisterBroker: &controlplane.RegisterBrokerRecord{
		BrokerID: n.id, BrokerEpoch: c.image.Offset + 1, Incarnation: n.uuid,
		Endpoints: []controlplane.Endpoint{{Name: "PLAINTEXT", Host: "127.0.0.1", Port: 9092 + n.id}},
	}}
	c.propose("register", []controlplane.Record{rec}, func(error) {})
}

func (w *World) newUUID() controlplane.UUID {
	var u controlplane.UUID
	for i := range u {
		u[i] = byte(w.rng.UintN(256))
	}
	u[0] |= 1
	return u
}

// maybeCreateTopic creates the replicated topic once, from the ready
// leader, when every broker is registered.
func (w *World) maybeCreateTopic(n *node) {
	c := &n.ctrl
	im := c.image
	if !c.ready || im.Topics[topicName] != nil || len(im.Brokers) < len(w.nodes) || c.hasPending("create") {
		return
	}
	id := w.newUUID()
	recs := []controlplane.Record{{Type: controlplane.RecTopic, Topic: &controlplane.TopicRecord{Name: topicName, ID: id}}}
	for p := 0; p < w.opts.Partitions; p++ {
		var reps []int32
		for j := range len(w.nodes) {
			reps = append(reps, int32((p+j)%len(w.nodes)))
		}
		recs = append(recs, controlplane.Record{Type: controlplane.RecPartition, Partition: &controlplane.PartitionRecord{
			TopicID: id, Partition: int32(p), Replicas: reps, ISR: append([]int32(nil), reps...), Leader: reps[0]}})
	}
	v := strconv.Itoa(minISR)
	recs = append(recs, controlplane.Record{Type: controlplane.RecConfig, Config: &controlplane.ConfigRecord{
		ResourceType: controlplane.ResourceTopic, ResourceName: topicName, Name: "min.insync.replicas", Value: &v}})
	c.propose("create", recs, func(error) {})
}

func (n *node) String() string { return fmt.Sprintf("n%d", n.id) }
