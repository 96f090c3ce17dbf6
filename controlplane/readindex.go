package controlplane

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/raft/v3"
)

// Catching up with the quorum (raft's ReadIndex). A node's image trails
// the quorum by however long the commit index takes to reach it and the
// entries to apply. CatchUp closes that gap on demand: it asks the leader
// for its commit index (the leader confirms it still leads with a round of
// heartbeats) and returns once this node has applied the log that far. So
// everything committed before CatchUp was called — a topic created through
// another node, a broker registered — is in the image when it returns.
//
// Callers that arrive while the loop is busy share one ReadIndex. A read
// that raft drops (no leader, a leader change) expires after a few
// election timeouts of ticks and CatchUp asks again.

// readExpiryElections is how many ticks an unanswered read waits before its
// callers ask again, in election timeouts.
const readExpiryElections = 2

var errReadLost = errors.New("controlplane: read index lost (no leader or a leader change)")

// readBatch is the callers one ReadIndex answers.
type readBatch struct {
	waiters []chan error
	index   uint64 // the leader's commit index, once answered
	ticks   int    // ticks since asked
}

// readState is the loop's bookkeeping of reads; owned by the loop.
type readState struct {
	next    uint64
	asked   map[uint64]*readBatch // by request context, until raft answers
	waiting []*readBatch          // answered, until applied reaches index
}

// CatchUp waits until this node has applied every metadata entry that was
// committed when it was called. It needs a quorum leader; without one it
// waits (bounded by ctx and the command timeout) and then fails with
// ErrTimeout.
func (c *Controller) CatchUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.CommandTimeout)
	defer cancel()
	for {
		if err := c.waitFor(ctx, func() bool { return c.leader.Load() >= 0 }); err != nil {
			return fmt.Errorf("controlplane: catching up: no quorum leader: %w", err)
		}
		ch := make(chan error, 1)
		select {
		case c.readc <- ch:
		case <-ctx.Done():
			return fmt.Errorf("%w: catching up: %w", ErrTimeout, ctx.Err())
		case <-c.donec:
			return c.stoppedErr()
		}
		select {
		case err := <-ch:
			if err == nil {
				return nil
			}
		case <-ctx.Done():
			return fmt.Errorf("%w: catching up: %w", ErrTimeout, ctx.Err())
		case <-c.donec:
			return c.stoppedErr()
		}
		// Lost: ask again once something changes or a tick passes.
		select {
		case <-c.changedCh():
		case <-c.afterTick():
		case <-ctx.Done():
			return fmt.Errorf("%w: catching up: %w", ErrTimeout, ctx.Err())
		case <-c.donec:
			return c.stoppedErr()
		}
	}
}

// afterTick fires after about one raft tick of wall time (or at once when
// ticks come from a test, which drives them by hand).
func (c *Controller) afterTick() <-chan struct{} {
	ch := make(chan struct{})
	if c.cfg.Ticks != nil {
		close(ch)
		return ch
	}
	go func() {
		select {
		case <-time.After(c.cfg.Tick):
		case <-c.donec:
		}
		close(ch)
	}()
	return ch
}

// askRead runs on the loop: one ReadIndex for first and every caller
// already queued behind it.
func (c *Controller) askRead(first chan error) {
	b := &readBatch{waiters: []chan error{first}}
	for more := true; more; {
		select {
		case ch := <-c.readc:
			b.waiters = append(b.waiters, ch)
		default:
			more = false
		}
	}
	l := &c.loop
	if l.rn.BasicStatus().Lead == raft.None {
		b.fail(errReadLost)
		return
	}
	if l.reads.asked == nil {
		l.reads.asked = map[uint64]*readBatch{}
	}
	l.reads.next++
	key := l.reads.next
	var rctx [8]byte
	binary.BigEndian.PutUint64(rctx[:], key)
	l.reads.asked[key] = b
	l.rn.ReadIndex(rctx[:])
}

// readAnswered records raft's answer to one of our reads (from a Ready).
func (c *Controller) readAnswered(rs raft.ReadState) {
	l := &c.loop
	if len(rs.RequestCtx) != 8 {
		return
	}
	key := binary.BigEndian.Uint64(rs.RequestCtx)
	b, ok := l.reads.asked[key]
	if !ok {
		return
	}
	delete(l.reads.asked, key)
	b.index = rs.Index
	l.reads.waiting = append(l.reads.waiting, b)
}

// releaseReads answers the reads whose index this node has applied.
func (c *Controller) releaseReads() {
	l := &c.loop
	kept := l.reads.waiting[:0]
	for _, b := range l.reads.waiting {
		if l.applied >= b.index {
			b.fail(nil)
			continue
		}
		kept = append(kept, b)
	}
	clear(l.reads.waiting[len(kept):])
	l.reads.waiting = kept
}

// tickReads expires reads raft has not answered (dropped for want of a
// leader, or lost in a leader change); their callers ask again.
func (c *Controller) tickReads() {
	l := &c.loop
	for key, b := range l.reads.asked {
		b.ticks++
		if b.ticks > readExpiryElections*c.cfg.ElectionTicks {
			delete(l.reads.asked, key)
			b.fail(errReadLost)
		}
	}
}

// dropAskedReads fails the unanswered reads after a leader change: the old
// leader will not answer them. Answered ones stay valid.
func (c *Controller) dropAskedReads() {
	l := &c.loop
	for key, b := range l.reads.asked {
		delete(l.reads.asked, key)
		b.fail(errReadLost)
	}
}

// failReads answers every read with err (the loop is stopping).
func (c *Controller) failReads(err error) {
	c.dropAskedReads()
	for _, b := range c.loop.reads.waiting {
		b.fail(err)
	}
	c.loop.reads.waiting = nil
}

func (b *readBatch) fail(err error) {
	for _, ch := range b.waiters {
		ch <- err // buffered, one send each
	}
}
