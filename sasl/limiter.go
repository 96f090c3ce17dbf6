package sasl

import (
	"sync"
	"time"
)

// LogLimiter lets through at most one event per Interval (a second if
// zero) and counts the ones it holds back, so that a client hammering
// wrong passwords cannot flood the log.
type LogLimiter struct {
	Interval time.Duration

	mu         sync.Mutex
	last       time.Time
	suppressed int
}

// Allow reports whether an event at now may be logged, and how many were
// held back since the last one that was.
func (l *LogLimiter) Allow(now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	iv := l.Interval
	if iv == 0 {
		iv = time.Second
	}
	if !l.last.IsZero() && now.Sub(l.last) < iv {
		l.suppressed++
		return false, 0
	}
	l.last = now
	n := l.suppressed
	l.suppressed = 0
	return true, n
}
