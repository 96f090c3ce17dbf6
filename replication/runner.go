package replication

// The fetcher's run loop (Kafka's AbstractFetcherThread.doWork) and how a
// follower spreads a leader's partitions over num.replica.fetchers
// fetchers. Time comes from a Clock, so that tests drive the loop with a
// fake one.

import (
	"context"
	"errors"
	"math"
	"time"
	"unicode/utf16"

	"github.com/ringtail/ringtail/model"
)

// Clock is the time Run waits on: SystemClock in the daemon, a fake in
// tests.
type Clock interface {
	Now() time.Time
	// After is a channel that receives once d has passed.
	After(d time.Duration) <-chan time.Time
}

// SystemClock is the real time.
type SystemClock struct{}

// Now is time.Now.
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Run calls Step until ctx ends. A round's own long poll (the leader
// holds the Fetch up to the request's max wait, and answers early when its
// log end passes a fetched offset) is the only wait while partitions
// fetch; Run itself waits only when there is nothing to fetch (until Add,
// or Backoff for partitions backing off) and after a failed round trip
// (Backoff). A session error or a round cancelled by Add or Remove goes
// round again at once. onErr sees every error but ctx's own (for logs).
func (f *ReplicaFetcher) Run(ctx context.Context, clk Clock, onErr func(error)) {
	pause := func(d time.Duration, wake <-chan struct{}) {
		select {
		case <-ctx.Done():
		case <-wake:
		case <-clk.After(d):
		}
	}
	for ctx.Err() == nil {
		_, err := f.Step(ctx, clk.Now())
		if err == nil || ctx.Err() != nil {
			continue
		}
		if onErr != nil {
			onErr(err)
		}
		switch {
		case errors.Is(err, ErrIdle):
			pause(f.cfg.Backoff, f.wake)
		case errors.Is(err, ErrSessionReset), errors.Is(err, context.Canceled):
		default:
			pause(f.cfg.Backoff, nil)
		}
	}
}

// FetcherID is the fetcher (0 to n-1) that follows tp among a follower's
// n fetchers for one leader: Kafka's AbstractFetcherManager.getFetcherId,
// Utils.abs(31 * topic.hashCode() + partition) % n with Java's
// String.hashCode, so that a Kafka operator finds the same split.
func FetcherID(tp model.TopicPartition, n int) int {
	if n <= 1 {
		return 0
	}
	var h int32
	for _, c := range utf16.Encode([]rune(tp.Topic)) {
		h = 31*h + int32(c)
	}
	v := 31*h + tp.Partition
	if v == math.MinInt32 {
		return 0 // Utils.abs
	}
	if v < 0 {
		v = -v
	}
	return int(v) % n
}
