package iocore

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// SyncEngine performs ops one by one with pwritev and fdatasync. It is the
// fallback where io_uring is unavailable and the simpler alternative that the
// benchmarks measure io_uring against.
type SyncEngine struct{}

// NewSyncEngine returns the pwritev/fdatasync engine.
func NewSyncEngine() *SyncEngine { return &SyncEngine{} }

// Name implements Engine.
func (*SyncEngine) Name() string { return EngineSync }

// Close implements Engine.
func (*SyncEngine) Close() error { return nil }

// Submit implements Engine: all writes in order, then the syncs.
func (*SyncEngine) Submit(ops []Op) error {
	for i := range ops {
		if ops[i].Kind == OpWrite {
			ops[i].Err = pwriteAll(ops[i].FD, ops[i].Offset, ops[i].Bufs)
		}
	}
	for i := range ops {
		if ops[i].Kind == OpSync {
			ops[i].Err = fdatasync(ops[i].FD)
		}
	}
	return nil
}

// uioMaxIOV is the kernel's UIO_MAXIOV, the most buffers one pwritev (or
// io_uring writev) takes; a write with more goes out in parts.
const uioMaxIOV = 1024

func pwriteAll(fd int, off int64, bufs [][]byte) error {
	// Skip leading empty buffers and continue after short writes (and after
	// each uioMaxIOV buffers).
	for len(bufs) > 0 {
		if len(bufs[0]) == 0 {
			bufs = bufs[1:]
			continue
		}
		n, err := unix.Pwritev(fd, bufs[:min(len(bufs), uioMaxIOV)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("pwritev fd %d at %d: %w", fd, off, err)
		}
		if n == 0 {
			return fmt.Errorf("pwritev fd %d at %d: wrote 0 bytes: %w", fd, off, unix.EIO)
		}
		off += int64(n)
		bufs = advance(bufs, n)
	}
	return nil
}

// advance drops n bytes from the front of bufs (which it may reslice).
func advance(bufs [][]byte, n int) [][]byte {
	for n > 0 && len(bufs) > 0 {
		if n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
			continue
		}
		// Copy the header slice so the caller's slice of slices is untouched.
		rest := make([][]byte, len(bufs))
		copy(rest, bufs)
		rest[0] = rest[0][n:]
		return rest
	}
	return bufs
}

func fdatasync(fd int) error {
	for {
		err := unix.Fdatasync(fd)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("fdatasync fd %d: %w", fd, err)
		}
		return nil
	}
}
