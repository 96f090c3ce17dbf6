package replication

import "sync/atomic"

// Notifier is a broadcast of "the leader's log end advanced": Wait returns
// a channel that the next Notify after it closes. A replica Fetch parked at
// the leader waits on its partitions' Notifiers, so a follower learns of an
// append at once instead of at the end of replica.fetch.wait.max.ms.
//
// Take the channel before reading the state it guards, then wait on it:
// an advance between the read and the wait closes the channel already
// taken. Notify costs one atomic swap when nobody waits (the produce path
// calls it on every append). The zero value is ready.
type Notifier struct {
	wanted atomic.Bool
	ch     atomic.Pointer[chan struct{}]
}

// Wait returns a channel closed by the next Notify.
func (n *Notifier) Wait() <-chan struct{} {
	n.wanted.Store(true)
	if p := n.ch.Load(); p != nil {
		return *p
	}
	ch := make(chan struct{})
	if n.ch.CompareAndSwap(nil, &ch) {
		return ch
	}
	return *n.ch.Load()
}

// Notify wakes every waiter; a no-op when nobody called Wait since the
// last Notify.
func (n *Notifier) Notify() {
	if !n.wanted.Swap(false) {
		return
	}
	ch := make(chan struct{})
	if old := n.ch.Swap(&ch); old != nil {
		close(*old)
	}
}
