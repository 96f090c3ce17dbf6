// Package quota measures client rates and computes throttle times the way
// Kafka's client quota managers do (ClientQuotaManager, ClientRequestQuotaManager,
// ControllerMutationQuotaManager): sampled rates and token buckets, the
// quota resolution order over (user, client-id) entities, and
// throttle = (rate - quota) / quota * window. Pure: time is passed in.
package quota

import (
	"math"
	"time"
)

// Window is the sampling of a rate: Kafka's quota.window.num samples of
// quota.window.size.seconds each.
type Window struct {
	Samples int           // quota.window.num (Kafka's default 11)
	Size    time.Duration // quota.window.size.seconds (Kafka's default 1s)
}

// DefaultWindow is Kafka's default sampling.
var DefaultWindow = Window{Samples: 11, Size: time.Second}

func (w Window) sizeMs() int64 { return max(w.Size.Milliseconds(), 1) }

func (w Window) samples() int { return max(w.Samples, 2) }

// sample is one window of a Rate (Kafka's SampledStat.Sample).
type sample struct {
	value   float64
	startMs int64 // lastWindowMs: when the window started
}

// Rate is Kafka's Rate over a SampledStat of sums: the value recorded in
// the retained samples divided by the time they cover, where the time is
// at least (samples-1) full windows so that a client that just started is
// not measured over a few milliseconds.
type Rate struct {
	samples []sample
	current int
}

// Record adds v at nowMs (Kafka's SampledStat.record): a sample whose
// window has passed is replaced by a new one starting at nowMs.
func (r *Rate) Record(w Window, v float64, nowMs int64) {
	if len(r.samples) == 0 {
		r.samples = append(r.samples, sample{startMs: nowMs})
		r.current = 0
	}
	s := &r.samples[r.current]
	if nowMs-s.startMs >= w.sizeMs() {
		r.current = (r.current + 1) % w.samples()
		if r.current >= len(r.samples) {
			r.samples = append(r.samples, sample{startMs: nowMs})
		} else {
			r.samples[r.current] = sample{startMs: nowMs}
		}
		s = &r.samples[r.current]
	}
	s.value += v
}

// purge resets the samples older than the whole window (Kafka's
// purgeObsoleteSamples).
func (r *Rate) purge(w Window, nowMs int64) {
	expire := int64(w.samples()) * w.sizeMs()
	for i := range r.samples {
		if nowMs-r.samples[i].startMs >= expire {
			r.samples[i] = sample{startMs: nowMs}
		}
	}
}

// WindowMs is the time the rate is measured over at nowMs (Kafka's
// Rate.windowSize): from the oldest retained sample's start to now, and at
// least samples-1 full windows; never below 1 ms.
func (r *Rate) WindowMs(w Window, nowMs int64) int64 {
	r.purge(w, nowMs)
	oldest := nowMs
	for _, s := range r.samples {
		oldest = min(oldest, s.startMs)
	}
	elapsed := nowMs - oldest
	full := elapsed / w.sizeMs()
	if minFull := int64(w.samples() - 1); full < minFull {
		elapsed += (minFull - full) * w.sizeMs()
	}
	return max(elapsed, 1)
}

// Measure is the rate per second at nowMs.
func (r *Rate) Measure(w Window, nowMs int64) float64 {
	win := r.WindowMs(w, nowMs)
	var sum float64
	for _, s := range r.samples {
		sum += s.value
	}
	return sum / (float64(win) / 1000)
}

// ThrottleMs is Kafka's QuotaUtils.throttleTime: how long the client must
// stay idle for a rate measured as observed over windowMs to fall back to
// bound, (observed - bound) / bound * windowMs, rounded; 0 when within.
func ThrottleMs(observed, bound float64, windowMs int64) int64 {
	if observed <= bound || bound <= 0 {
		if bound <= 0 && observed > 0 {
			return math.MaxInt32
		}
		return 0
	}
	t := math.Round((observed - bound) / bound * float64(windowMs))
	return int64(min(t, math.MaxInt32))
}

// TokenBucket is Kafka's TokenBucket (KIP-599, controller mutations): a
// bucket of burst = quota * (samples-1) * window tokens refilled at quota
// per second; recording takes tokens, and the quota is exceeded while the
// bucket is below zero.
type TokenBucket struct {
	tokens       float64
	lastUpdateMs int64
	started      bool
}

func burst(w Window, quota float64) float64 {
	return float64(w.samples()-1) * w.Size.Seconds() * quota
}

func (b *TokenBucket) refill(w Window, quota float64, nowMs int64) {
	if !b.started {
		b.started, b.tokens, b.lastUpdateMs = true, burst(w, quota), nowMs
		return
	}
	b.tokens = min(burst(w, quota), b.tokens+quota*float64(nowMs-b.lastUpdateMs)/1000)
	b.lastUpdateMs = nowMs
}

// Tokens is the bucket's level at nowMs.
func (b *TokenBucket) Tokens(w Window, quota float64, nowMs int64) float64 {
	b.refill(w, quota, nowMs)
	return b.tokens
}

// Record takes v tokens at nowMs.
func (b *TokenBucket) Record(w Window, quota, v float64, nowMs int64) {
	b.refill(w, quota, nowMs)
	b.tokens = min(burst(w, quota), b.tokens-v)
}

// BucketThrottleMs is ControllerMutationQuotaManager.throttleTime: the
// time to refill a bucket at tokens (< 0) back to zero.
func BucketThrottleMs(tokens, quota float64) int64 {
	if tokens >= 0 || quota <= 0 {
		return 0
	}
	return int64(min(math.Round(-tokens/quota*1000), math.MaxInt32))
}
