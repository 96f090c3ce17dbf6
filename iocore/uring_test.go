// These tests prove what is particular to the io_uring engine: its structs
// match the kernel's io_uring.h byte for byte, NewEngine("auto") and
// NewRuntime fall back to the sync engine with a reason when the ring cannot
// be set up, a short write is resubmitted for its remainder, and a closed
// engine refuses work.
package iocore

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestRingABILayout(t *testing.T) {
	type field struct {
		name      string
		got, want uintptr
	}
	var sqe ringSQE
	var cqe ringCQE
	var p ringParams
	var so sqringOffsets
	var co cqringOffsets
	// Offsets as laid out by include/uapi/linux/io_uring.h on every arch.
	for _, f := range []field{
		{"sizeof(io_uring_sqe)", unsafe.Sizeof(sqe), 64},
		{"sqe.opcode", unsafe.Offsetof(sqe.opcode), 0},
		{"sqe.flags", unsafe.Offsetof(sqe.flags), 1},
		{"sqe.ioprio", unsafe.Offsetof(sqe.ioprio), 2},
		{"sqe.fd", unsafe.Offsetof(sqe.fd), 4},
		{"sqe.off", unsafe.Offsetof(sqe.off), 8},
		{"sqe.addr", unsafe.Offsetof(sqe.addr), 16},
		{"sqe.len", unsafe.Offsetof(sqe.len), 24},
		{"sqe.fsync_flags", unsafe.Offsetof(sqe.opFlags), 28},
		{"sqe.user_data", unsafe.Offsetof(sqe.userData), 32},
		{"sqe.buf_index", unsafe.Offsetof(sqe.bufIndex), 40},
		{"sqe.personality", unsafe.Offsetof(sqe.personality), 42},
		{"sqe.splice_fd_in", unsafe.Offsetof(sqe.spliceFDIn), 44},
		{"sqe.addr3", unsafe.Offsetof(sqe.addr3), 48},
		{"sizeof(io_uring_cqe)", unsafe.Sizeof(cqe), 16},
		{"cqe.user_data", unsafe.Offsetof(cqe.userData), 0},
		{"cqe.res", unsafe.Offsetof(cqe.res), 8},
		{"cqe.flags", unsafe.Offsetof(cqe.flags), 12},
		{"sizeof(io_sqring_offsets)", unsafe.Sizeof(so), 40},
		{"sq_off.array", unsafe.Offsetof(so.array), 24},
		{"sq_off.user_addr", unsafe.Offsetof(so.userAddr), 32},
		{"sizeof(io_cqring_offsets)", unsafe.Sizeof(co), 40},
		{"cq_off.cqes", unsafe.Offsetof(co.cqes), 20},
		{"cq_off.user_addr", unsafe.Offsetof(co.userAddr), 32},
		{"sizeof(io_uring_params)", unsafe.Sizeof(p), 120},
		{"params.features", unsafe.Offsetof(p.features), 20},
		{"params.wq_fd", unsafe.Offsetof(p.wqFD), 24},
		{"params.sq_off", unsafe.Offsetof(p.sqOff), 40},
		{"params.cq_off", unsafe.Offsetof(p.cqOff), 80},
	} {
		if f.got != f.want {
			t.Errorf("%s = %d, want %d", f.name, f.got, f.want)
		}
	}
}

// The kernel fills io_uring_params the way the engine reads it.
func TestRingSetupParams(t *testing.T) {
	var p ringParams
	fd, err := ringSetup(100, &p)
	if err != nil {
		t.Skipf("io_uring cannot be set up on this machine: %v", setupFailure(err))
	}
	defer unix.Close(fd)
	if p.sqEntries != 128 || p.cqEntries != 256 {
		t.Fatalf("asked for 100 entries, got sq %d cq %d; want 128 and 256", p.sqEntries, p.cqEntries)
	}
	if p.sqOff.array == 0 || p.cqOff.cqes == 0 || p.sqOff.tail == p.sqOff.head {
		t.Fatalf("implausible ring offsets: %+v %+v", p.sqOff, p.cqOff)
	}
}

// forceSetupFailure makes io_uring_setup fail with errno for one test.
func forceSetupFailure(t *testing.T, errno unix.Errno) {
	old := ringSetup
	ringSetup = func(uint32, *ringParams) (int, error) { return -1, errno }
	t.Cleanup(func() { ringSetup = old })
}

func TestAutoFallsBackWhenSetupFails(t *testing.T) {
	for _, tc := range []struct {
		errno unix.Errno
		why   string // part of the reason an operator reads
	}{
		{unix.ENOSYS, "no io_uring"},
		{unix.EPERM, "not permitted"},
		{unix.ENOMEM, "RLIMIT_MEMLOCK"},
	} {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			forceSetupFailure(t, tc.errno)

			e, reason, err := NewEngine(EngineAuto, 64)
			if err != nil {
				t.Fatalf("auto: %v", err)
			}
			defer e.Close()
			if e.Name() != EngineSync {
				t.Fatalf("auto gave %q, want the sync engine", e.Name())
			}
			for _, want := range []string{"io_uring unavailable", tc.why, tc.errno.Error()} {
				if !strings.Contains(reason, want) {
					t.Errorf("reason %q does not say %q", reason, want)
				}
			}

			_, _, err = NewEngine(EngineIOUring, 64)
			if !errors.Is(err, ErrUnsupported) || !errors.Is(err, tc.errno) {
				t.Fatalf("io_uring configured: err = %v, want ErrUnsupported wrapping %v", err, tc.errno)
			}

			r, err := NewRuntime(RuntimeConfig{Shards: 2, Engine: EngineAuto, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if r.EngineName() != EngineSync || !strings.Contains(r.EngineReason(), tc.errno.Error()) {
				t.Fatalf("runtime: engine %q, reason %q", r.EngineName(), r.EngineReason())
			}
			f := createFile(t, t.TempDir(), "seg.log")
			task := newWriteTask(int(f.Fd()), 0, []byte("x"), true)
			if err := r.Shard(1).Submit(task); err != nil {
				t.Fatal(err)
			}
			if err := <-task.done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A 256 KiB write to a 64 KiB tmpfs comes back short from the kernel; the
// engine resubmits the rest, which then fails with ENOSPC, and the file
// holds exactly the prefix that fitted.
func TestRingShortWriteResubmitted(t *testing.T) {
	e := engineKinds[1].open(t, 8).(*ringEngine)
	f := createFile(t, mountTinyTmpfs(t), "full.log")
	data := pattern(9, 256<<10)
	sqes := 0
	e.trace = func(ev ringEvent, _ int) {
		if ev == ringPrepared {
			sqes++
		}
	}
	ops := []Op{{Kind: OpWrite, FD: int(f.Fd()), Offset: 0, Bufs: [][]byte{data}}}
	if err := e.Submit(ops); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(ops[0].Err, unix.ENOSPC) {
		t.Fatalf("err = %v, want ENOSPC", ops[0].Err)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || !bytes.Equal(got, data[:len(got)]) {
		t.Fatalf("file holds %d bytes that are not a prefix of the write", len(got))
	}
	if sqes < 2 {
		t.Fatalf("%d SQEs: the short write was not resubmitted", sqes)
	}
}

func TestRingClosed(t *testing.T) {
	e, err := NewRingEngine(8)
	if err != nil {
		t.Skipf("io_uring cannot be set up on this machine: %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := e.Submit([]Op{{Kind: OpSync, FD: 0}}); !errors.Is(err, errRingClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
}
