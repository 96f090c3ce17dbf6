package replication

import "sync/atomic"

// Notifier is a broadcast of "the leader's log end advanced": Wait returns
// a channel that the next Notify after it closes. A replica Fetch parked at
// the leader waits on its partitions' Notifiers, so a follower learns of an
// append at once instead of at the end of replica.fetch.wait.max.ms.
//
// Take the channel before reading the state it guards, then wait on it:
// an advance between the read and the wait closes the channel already
// taken. Notify costs one atomic load when nobody waits (the produce path
// calls it on every append). The zero value is ready.
//
// A channel is in ch from the Wait that made it until the Notify that
// swaps it out, and only that Notify closes it: so a channel returned by
// Wait is closed by the first Notify after it, whichever goroutine calls
// it. (An earlier version kept a separate "wanted" flag that a concurrent
// Notify could clear after a Wait had set it, leaving that waiter on a
// channel nobody would close.)
type Notifier struct {
	ch atomic.Pointer[chan struct{}]
}

// Wait returns a channel closed by the next Notify.
func (n *Notifier) Wait() <-chan struct{} {
	for {
		if p := n.ch.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if n.ch.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// Notify wakes every waiter; a no-op when nobody called Wait since the
// last Notify.
func (n *Notifier) Notify() {
	if n.ch.Load() == nil {
		return
	}
	if p := n.ch.Swap(nil); p != nil {
		close(*p)
	}
}
