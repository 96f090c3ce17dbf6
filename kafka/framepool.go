package kafka

import (
	"encoding/binary"
	"math/bits"
	"sync"
)

// Produce request frames are read into buffers from framePool and go back
// to it once nothing aliases them: kmsg's decode leaves each partition's
// records pointing into the frame, and storage writes them from there, so a
// Produce frame is released (reqCtx.releaseFrame) only when the writer has
// encoded and observed the response AND every append of the request has
// completed (an acks=all request answered by its timeout still has appends
// in flight). Other requests' frames are allocated per request as before:
// handlers of other APIs may keep slices of their request (group metadata,
// SASL bytes) past the response. A frame whose slot is dropped (the
// connection died) is left to the garbage collector, never put back early.
//
// In workload (a)'s CPU profile (benchmarks/produce-path.md) zeroing the
// per-request frame allocation (runtime.memclrNoHeapPointers under
// mallocgcLarge) was the largest single item after the syscalls.

const (
	// minPooledFrameShift and maxPooledFrameBytes bound the pooled size
	// classes: powers of two from 1 KiB to 8 MiB (frameTrustBytes).
	minPooledFrameShift = 10
	maxPooledFrameShift = 23
	maxPooledFrameBytes = 1 << maxPooledFrameShift
	// maxKeptEncodeBytes is the largest response encode buffer a
	// connection keeps for its next response.
	maxKeptEncodeBytes = 64 << 10
	produceKey         = 0
)

var framePool [maxPooledFrameShift - minPooledFrameShift + 1]sync.Pool

// frameClass is the index in framePool of the class holding n bytes.
func frameClass(n int) int {
	return max(bits.Len(uint(n-1)), minPooledFrameShift) - minPooledFrameShift
}

// getFrame returns a pooled buffer of at least n (1..maxPooledFrameBytes)
// bytes; its contents are whatever the last user left.
func getFrame(n int) *[]byte {
	c := frameClass(n)
	if b, ok := framePool[c].Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 1<<(c+minPooledFrameShift))
	return &b
}

// putFrame gives b back to its class.
func putFrame(b *[]byte) {
	framePool[frameClass(cap(*b))].Put(b)
}

// releaseFrame drops one hold on the request's pooled frame; the last puts
// it back. Without a pooled frame it does nothing.
func (cx *reqCtx) releaseFrame() {
	if cx.frame != nil && cx.frameRefs.Add(-1) == 0 {
		putFrame(cx.frame)
	}
}

// holdFrame adds a hold on the request's pooled frame (a Produce's appends);
// it is called while the slot still holds it.
func (cx *reqCtx) holdFrame() {
	if cx.frame != nil {
		cx.frameRefs.Add(1)
	}
}

// peekKey is the API key of the frame whose size prefix was just read, or
// -1: it looks at the next two bytes without consuming them.
func (c *conn) peekKey() int16 {
	if c.saslRaw() {
		return -1 // a raw SASL token may be shorter than a key
	}
	b, err := c.br.Peek(2)
	if err != nil {
		return -1
	}
	return int16(binary.BigEndian.Uint16(b))
}
