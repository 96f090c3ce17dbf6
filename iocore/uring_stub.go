package iocore

import "fmt"

// NewRingEngine sets up an io_uring engine with the given submission queue
// size. (Placeholder until uring.go lands: reports io_uring as unavailable.)
func NewRingEngine(entries uint32) (Engine, error) {
	return nil, fmt.Errorf("%w: not built yet", ErrUnsupported)
}
