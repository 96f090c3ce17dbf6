package kafka

import (
	"context"
	"testing"
	"time"
)

func TestRequestCap(t *testing.T) {
	const max = 100 << 20
	for _, c := range []struct {
		key  int16
		max  int32
		want int32
	}{
		{0, max, max},                     // Produce: all of socket.request.max.bytes
		{1, max, 32 << 20},                // Fetch
		{3, max, 32 << 20},                // Metadata
		{18, max, 1 << 20},                // ApiVersions
		{12, max, 1 << 20},                // Heartbeat
		{10, max, 1 << 20},                // FindCoordinator
		{3, 4 << 20, 4 << 20},             // never above socket.request.max.bytes
		{18, 512 << 10, 512 << 10},        // nor for the small ones
		{-1, max, 32 << 20},               // a raw SASL token (no key): the list cap
		{32000, max, listRequestMaxBytes}, // unknown: closed later anyway
	} {
		if got := requestCap(c.key, c.max); got != c.want {
			t.Errorf("requestCap(%d, %d) = %d, want %d", c.key, c.max, got, c.want)
		}
	}
}

func TestRequestBudget(t *testing.T) {
	if NewRequestBudget(-1) != nil || NewRequestBudget(0) != nil {
		t.Fatal("a budget of -1 or 0 is not unbounded (nil)")
	}
	var unbounded *RequestBudget
	if n, err := unbounded.acquire(context.Background(), 1<<40); err != nil || n != 0 {
		t.Fatalf("unbounded acquire: %d, %v", n, err)
	}
	unbounded.release(0)

	b := NewRequestBudget(100)
	ctx := context.Background()
	got, err := b.acquire(ctx, 60)
	if err != nil || got != 60 || b.InUse() != 60 {
		t.Fatalf("acquire 60: %d %v, in use %d", got, err, b.InUse())
	}
	// 50 does not fit: it waits until 60 are released.
	big := make(chan struct{})
	go func() {
		if n, err := b.acquire(ctx, 50); err != nil || n != 50 {
			t.Errorf("acquire 50: %d, %v", n, err)
		}
		close(big)
	}()
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	select {
	case <-big:
		t.Fatal("50 bytes granted with 60 of 100 in use")
	case <-short.Done():
	}
	b.release(60)
	select {
	case <-big:
	case <-time.After(10 * time.Second):
		t.Fatal("50 bytes not granted once 60 were released")
	}
	if b.InUse() != 50 {
		t.Fatalf("in use %d, want 50", b.InUse())
	}
	// A wait ends with its context (a connection killed or Shutdown).
	c2, cancel2 := context.WithCancel(ctx)
	done := make(chan error)
	go func() {
		_, err := b.acquire(c2, 80)
		done <- err
	}()
	cancel2()
	if err := <-done; err == nil {
		t.Fatal("a cancelled wait was granted")
	}
	// More than the limit is granted whole once nothing else is held.
	b.release(50)
	if n, err := b.acquire(ctx, 1000); err != nil || n != 100 {
		t.Fatalf("acquire above the limit: %d, %v", n, err)
	}
	b.release(100)
	if b.InUse() != 0 || b.Limit() != 100 {
		t.Fatalf("in use %d, limit %d", b.InUse(), b.Limit())
	}
}
