package iocore

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// OpKind says what an Op does.
type OpKind uint8

const (
	// OpWrite writes Bufs at Offset of FD (pwritev semantics; short writes are
	// continued by the engine until all bytes are written or an error occurs).
	OpWrite OpKind = iota + 1
	// OpSync makes FD's written data durable (fdatasync semantics).
	OpSync
)

// Op is one I/O operation handed to an Engine.
type Op struct {
	Kind   OpKind
	FD     int
	Offset int64
	Bufs   [][]byte
	// Err is set by the engine: nil on success, else the error (wrapping
	// the syscall.Errno where there is one).
	Err error
}

// Engine performs batches of ops.
//
// Ordering contract for Submit: every OpWrite in ops completes before any
// OpSync in ops is started when the two share an FD; ops on different FDs may
// run in any order and in parallel. An Engine is used by one goroutine at a
// time (its shard) and is not safe for concurrent Submit calls.
type Engine interface {
	// Name is "io_uring" or "sync".
	Name() string
	// Submit performs every op and returns when all have completed, each
	// op's Err set. The returned error is for failures of the engine itself
	// (ring broken); per-op failures go in Op.Err only.
	Submit(ops []Op) error
	Close() error
}

// Engine kinds accepted by NewEngine and the runtime config.
const (
	EngineAuto    = "auto"
	EngineIOUring = "io_uring"
	EngineSync    = "sync"
)

// ErrUnsupported is returned (wrapped) when io_uring cannot be used here.
var ErrUnsupported = errors.New("io_uring unsupported")

// NewEngine makes an engine of the given kind. With EngineAuto it tries
// io_uring and falls back to the sync engine, returning why in reason.
func NewEngine(kind string, entries uint32) (e Engine, reason string, err error) {
	switch strings.ToLower(kind) {
	case EngineSync:
		return NewSyncEngine(), "configured ringtail.io_engine = \"sync\"", nil
	case EngineIOUring:
		r, err := NewRingEngine(entries)
		if err != nil {
			return nil, "", fmt.Errorf("iocore: io_engine = \"io_uring\" configured but unavailable: %w", err)
		}
		return r, "configured ringtail.io_engine = \"io_uring\"", nil
	case EngineAuto, "":
		r, err := NewRingEngine(entries)
		if err != nil {
			return NewSyncEngine(), fmt.Sprintf("io_uring unavailable (%v); using pwritev/fdatasync", err), nil
		}
		return r, "io_uring available", nil
	default:
		return nil, "", fmt.Errorf("iocore: unknown io engine %q (valid: auto, io_uring, sync)", kind)
	}
}

// logEngine reports which engine runs and why.
func logEngine(l *slog.Logger, shard int, name, reason string) {
	if shard == 0 {
		l.Info("io engine selected", "engine", name, "reason", reason)
	}
}
