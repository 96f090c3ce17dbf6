//go:build linux

package iocore

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The io_uring ABI, transcribed from include/uapi/linux/io_uring.h. Only
// what this engine uses is here; the struct layouts are checked at compile
// time below and field by field in uring_abi_test.go.
const (
	ioringOpWritev = 2 // IORING_OP_WRITEV
	ioringOpFsync  = 3 // IORING_OP_FSYNC

	ioringFsyncDatasync  = 1 << 0 // IORING_FSYNC_DATASYNC
	ioringEnterGetevents = 1 << 0 // IORING_ENTER_GETEVENTS
	ioringFeatSingleMmap = 1 << 0 // IORING_FEAT_SINGLE_MMAP

	ioringOffSQRing = 0          // IORING_OFF_SQ_RING
	ioringOffCQRing = 0x8000000  // IORING_OFF_CQ_RING
	ioringOffSQEs   = 0x10000000 // IORING_OFF_SQES

	// maxRingEntries is the kernel's IORING_MAX_ENTRIES.
	maxRingEntries = 32768
	// maxOpRetries bounds how often one op is resubmitted after -EINTR or
	// -EAGAIN in a row before its error is reported.
	maxOpRetries = 64
	// maxEnterRetries bounds consecutive io_uring_enter calls failing with
	// EAGAIN/EBUSY (kernel out of request memory) before the ring is
	// declared broken.
	maxEnterRetries = 1024
)

// ringSQE is struct io_uring_sqe (64 bytes). Unions are collapsed to the
// member this engine uses.
type ringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64 // off / addr2
	addr        uint64 // addr / splice_off_in
	len         uint32
	opFlags     uint32 // rw_flags / fsync_flags / ...
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFDIn  int32
	addr3       uint64
	_           uint64
}

// ringCQE is struct io_uring_cqe (16 bytes, no IORING_SETUP_CQE32).
type ringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// sqringOffsets is struct io_sqring_offsets.
type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqringOffsets is struct io_cqring_offsets.
type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// ringParams is struct io_uring_params.
type ringParams struct {
	sqEntries    uint32
	cqEntries    uint32
	flags        uint32
	sqThreadCPU  uint32
	sqThreadIdle uint32
	features     uint32
	wqFD         uint32
	resv         [3]uint32
	sqOff        sqringOffsets
	cqOff        cqringOffsets
}

// Compile-time size checks: each array length is negative (a compile error)
// unless the size is exactly the kernel's.
var (
	_ [unsafe.Sizeof(ringSQE{}) - 64]struct{}
	_ [64 - unsafe.Sizeof(ringSQE{})]struct{}
	_ [unsafe.Sizeof(ringCQE{}) - 16]struct{}
	_ [16 - unsafe.Sizeof(ringCQE{})]struct{}
	_ [unsafe.Sizeof(ringParams{}) - 120]struct{}
	_ [120 - unsafe.Sizeof(ringParams{})]struct{}
)

// ringSetup is io_uring_setup(2). Tests replace it to force the fallback.
var ringSetup = func(entries uint32, p *ringParams) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// ringEngine is the io_uring Engine. It is driven by one goroutine at a
// time (its shard), like every Engine.
//
// Ordering. Submit runs in two phases: every write of the batch is submitted
// and reaped (short writes and -EINTR/-EAGAIN resubmitted) before any sync is
// submitted, and then the syncs run, all in parallel. The alternative, one
// IOSQE_IO_LINK chain per fd ending in its fsync, saves one io_uring_enter
// per batch but loses more than that:
//   - the kernel treats a short write in a chain as a failure and cancels
//     the rest of the chain (-ECANCELED), so a short write would need the
//     remainder and the sync re-driven by hand anyway;
//   - a chain runs its writes to a file one after another, where two phases
//     let the writes of one drain to one file run side by side;
//   - a chain must be submitted whole, which fights splitting a batch that
//     is larger than the SQ into chunks;
//   - a failed write cancels the sync of a chain, where the sync engine still
//     syncs; two phases behave the same in both engines.
//
// The extra round trip costs a few microseconds; the fdatasync it waits on
// costs tens of microseconds to milliseconds.
//
// Writes to one fd whose byte ranges overlap are applied in op order, as the
// sync engine does: a write that overlaps an earlier one goes in a later
// wave of phase one. Appends never overlap, so a log's drain is one wave.
// Offsets are honored as with pwritev, so fds must not be opened O_APPEND.
//
// Memory. The kernel reads the iovecs and the buffers they point at while a
// request is in flight. Each SQE's iovec array lives in its slot and each
// op's remaining buffers in r.st until its CQE is reaped; Submit returns only
// when nothing is in flight (or the ring is broken, and then it keeps them).
type ringEngine struct {
	fd int

	sqMem, cqMem, sqeMem []byte // mappings; cqMem is nil with IORING_FEAT_SINGLE_MMAP

	// Shared with the kernel: read and written with sync/atomic.
	sqHead, sqTail, sqFlags, sqDropped *uint32
	cqHead, cqTail, cqOverflow         *uint32
	sqArray                            []uint32
	sqes                               []ringSQE
	cqes                               []ringCQE

	sqMask, cqMask uint32
	tail           uint32 // next SQ tail to publish; this engine is the only producer

	slots []ringSlot // one per SQ entry; an SQE's user_data is its slot index
	free  []uint32   // free slot indices
	queue []int      // op indices waiting for a slot
	qhead int        // queue[:qhead] are submitted

	st     []opState     // per op of the Submit in progress
	wave   []int         // per op: the phase-one wave of a write
	wlen   []int64       // per op: byte length of a write
	maxEnd map[int]int64 // per fd: highest end offset among the writes planned so far

	enters uint64                     // io_uring_enter calls, for tests
	trace  func(ev ringEvent, op int) // when set (tests), told of every SQE prepared and CQE reaped
	broken error                      // set when the ring failed; every later Submit fails
	closed bool
}

// ringEvent is what a ringEngine.trace hook is told about.
type ringEvent uint8

const (
	ringPrepared ringEvent = iota + 1 // an SQE for the op was filled
	ringReaped                        // a CQE for the op was consumed
)

type ringSlot struct {
	op   int          // index in ops, -1 when free
	iov  []unix.Iovec // the SQE's iovec array, referenced until its CQE arrives
	want int64        // bytes the SQE asked to write
}

type opState struct {
	bufs    [][]byte // what is left to write
	off     int64    // where it goes
	retries int      // consecutive -EINTR/-EAGAIN results
	done    bool
}

var errRingClosed = errors.New("iocore: io_uring engine closed")

// NewRingEngine sets up an io_uring with the given submission queue size
// (rounded up to a power of two by the kernel; 0 means the default). When
// io_uring cannot be used here the error wraps ErrUnsupported and says why.
func NewRingEngine(entries uint32) (Engine, error) {
	if entries == 0 {
		entries = defaultRingEntries
	}
	if entries > maxRingEntries {
		entries = maxRingEntries
	}
	// No IORING_SETUP_SINGLE_ISSUER, COOP_TASKRUN or DEFER_TASKRUN: the ring
	// is created on one goroutine and driven by another, and a goroutine that
	// is not locked to its thread may enter from a different thread each
	// time; these flags tie completion work to one task and could stall it.
	var p ringParams
	fd, err := ringSetup(entries, &p)
	if err != nil {
		return nil, setupFailure(err)
	}
	r := &ringEngine{fd: fd, maxEnd: make(map[int]int64)}
	if err := r.mapRings(&p); err != nil {
		r.Close()
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	r.slots = make([]ringSlot, p.sqEntries)
	r.free = make([]uint32, 0, p.sqEntries)
	for i := int(p.sqEntries) - 1; i >= 0; i-- {
		r.slots[i].op = -1
		r.free = append(r.free, uint32(i))
	}
	return r, nil
}

// setupFailure turns an io_uring_setup error into an ErrUnsupported that says
// what an operator can do about it.
func setupFailure(err error) error {
	var why string
	switch {
	case errors.Is(err, unix.ENOSYS):
		why = "the kernel has no io_uring (Linux 5.1+ needed, or CONFIG_IO_URING is off)"
	case errors.Is(err, unix.EPERM):
		why = "not permitted: " + permissionReason()
	case errors.Is(err, unix.ENOMEM):
		why = "not enough locked memory for the ring (raise RLIMIT_MEMLOCK / LimitMEMLOCK= on kernels before 5.12)"
	case errors.Is(err, unix.EINVAL):
		why = "the kernel rejected the ring parameters"
	default:
		why = "setup failed"
	}
	return fmt.Errorf("%w: io_uring_setup: %s: %w", ErrUnsupported, why, err)
}

func permissionReason() string {
	b, err := os.ReadFile("/proc/sys/kernel/io_uring_disabled")
	if err == nil {
		switch v := strings.TrimSpace(string(b)); v {
		case "2":
			return "kernel.io_uring_disabled = 2"
		case "1":
			return "kernel.io_uring_disabled = 1 and this process is not in kernel.io_uring_group"
		}
	}
	return "blocked by a seccomp filter or security module (containers often block io_uring)"
}

func (r *ringEngine) mapRings(p *ringParams) error {
	const prot = unix.PROT_READ | unix.PROT_WRITE
	const flags = unix.MAP_SHARED | unix.MAP_POPULATE
	sqSize := int(p.sqOff.array) + int(p.sqEntries)*4
	cqSize := int(p.cqOff.cqes) + int(p.cqEntries)*int(unsafe.Sizeof(ringCQE{}))
	single := p.features&ioringFeatSingleMmap != 0
	if single {
		sqSize = max(sqSize, cqSize)
	}
	var err error
	if r.sqMem, err = unix.Mmap(r.fd, ioringOffSQRing, sqSize, prot, flags); err != nil {
		r.sqMem = nil
		return fmt.Errorf("mmap of the SQ ring: %w", err)
	}
	cq := r.sqMem
	if !single {
		if r.cqMem, err = unix.Mmap(r.fd, ioringOffCQRing, cqSize, prot, flags); err != nil {
			r.cqMem = nil
			return fmt.Errorf("mmap of the CQ ring: %w", err)
		}
		cq = r.cqMem
	}
	sqeBytes := int(p.sqEntries) * int(unsafe.Sizeof(ringSQE{}))
	if r.sqeMem, err = unix.Mmap(r.fd, ioringOffSQEs, sqeBytes, prot, flags); err != nil {
		r.sqeMem = nil
		return fmt.Errorf("mmap of the SQE array: %w", err)
	}

	sq := r.sqMem
	r.sqHead = u32At(sq, p.sqOff.head)
	r.sqTail = u32At(sq, p.sqOff.tail)
	r.sqFlags = u32At(sq, p.sqOff.flags)
	r.sqDropped = u32At(sq, p.sqOff.dropped)
	r.sqMask = atomic.LoadUint32(u32At(sq, p.sqOff.ringMask))
	r.sqArray = unsafe.Slice(u32At(sq, p.sqOff.array), p.sqEntries)
	r.sqes = unsafe.Slice((*ringSQE)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = u32At(cq, p.cqOff.head)
	r.cqTail = u32At(cq, p.cqOff.tail)
	r.cqOverflow = u32At(cq, p.cqOff.overflow)
	r.cqMask = atomic.LoadUint32(u32At(cq, p.cqOff.ringMask))
	r.cqes = unsafe.Slice((*ringCQE)(unsafe.Pointer(&cq[p.cqOff.cqes])), p.cqEntries)
	r.tail = atomic.LoadUint32(r.sqTail)

	// SQ ring slot i always names SQE i: SQEs are filled in ring order.
	for i := range r.sqArray {
		atomic.StoreUint32(&r.sqArray[i], uint32(i))
	}
	return nil
}

func u32At(mem []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }

// Name implements Engine.
func (*ringEngine) Name() string { return EngineIOUring }

// Close implements Engine: it unmaps the rings and closes the ring fd.
func (r *ringEngine) Close() error {
	if r.closed {
		return nil
	}
	r.closed = true
	var errs []error
	for _, m := range [][]byte{r.sqeMem, r.cqMem, r.sqMem} {
		if m != nil {
			if err := unix.Munmap(m); err != nil {
				errs = append(errs, fmt.Errorf("iocore: munmap io_uring: %w", err))
			}
		}
	}
	r.sqeMem, r.cqMem, r.sqMem = nil, nil, nil
	r.sqes, r.cqes, r.sqArray = nil, nil, nil
	if err := unix.Close(r.fd); err != nil {
		errs = append(errs, fmt.Errorf("iocore: close io_uring fd: %w", err))
	}
	return errors.Join(errs...)
}

// Submit implements Engine. See ringEngine for the ordering.
func (r *ringEngine) Submit(ops []Op) error {
	if r.closed {
		return errRingClosed
	}
	if r.broken != nil {
		for i := range ops {
			ops[i].Err = r.broken
		}
		return r.broken
	}
	r.st = resize(r.st, len(ops))
	for i := range ops {
		ops[i].Err = nil
		r.st[i] = opState{bufs: ops[i].Bufs, off: ops[i].Offset}
		if k := ops[i].Kind; k != OpWrite && k != OpSync {
			ops[i].Err = fmt.Errorf("iocore: unknown op kind %d", k)
			r.st[i].done = true
		}
	}

	// Phase one: the writes, wave by wave.
	waves := r.planWrites(ops)
	for w := 0; w < waves; w++ {
		for i := range ops {
			if ops[i].Kind == OpWrite && r.wave[i] == w {
				r.enqueueWrite(i)
			}
		}
		if err := r.drive(ops); err != nil {
			return r.fail(ops, err)
		}
	}
	// Phase two: the syncs, once no write is in flight.
	for i := range ops {
		if ops[i].Kind == OpSync {
			r.queue = append(r.queue, i)
		}
	}
	if err := r.drive(ops); err != nil {
		return r.fail(ops, err)
	}

	// Drop the references to the caller's buffers.
	clear(r.st)
	runtime.KeepAlive(ops)
	return nil
}

// planWrites assigns each write its phase-one wave and returns the number of
// waves: a write goes one wave after the latest earlier write to the same fd
// whose bytes it overlaps.
func (r *ringEngine) planWrites(ops []Op) int {
	r.wave = resize(r.wave, len(ops))
	r.wlen = resize(r.wlen, len(ops))
	clear(r.maxEnd)
	waves := 0
	for j := range ops {
		if ops[j].Kind != OpWrite {
			continue
		}
		var n int64
		for _, b := range ops[j].Bufs {
			n += int64(len(b))
		}
		r.wlen[j] = n
		fd, off, w := ops[j].FD, ops[j].Offset, 0
		prevEnd, seen := r.maxEnd[fd]
		if seen && off < prevEnd && n > 0 {
			// Not a plain append: look for the earlier writes it overlaps.
			for i := 0; i < j; i++ {
				if ops[i].Kind == OpWrite && ops[i].FD == fd && r.wlen[i] > 0 &&
					off < ops[i].Offset+r.wlen[i] && ops[i].Offset < off+n && r.wave[i] >= w {
					w = r.wave[i] + 1
				}
			}
		}
		r.wave[j] = w
		if !seen || off+n > prevEnd {
			r.maxEnd[fd] = off + n
		}
		waves = max(waves, w+1)
	}
	return waves
}

// enqueueWrite queues write i unless it has nothing (left) to write.
func (r *ringEngine) enqueueWrite(i int) {
	st := &r.st[i]
	for len(st.bufs) > 0 && len(st.bufs[0]) == 0 {
		st.bufs = st.bufs[1:]
	}
	if len(st.bufs) == 0 {
		st.done = true
		return
	}
	r.queue = append(r.queue, i)
}

// drive submits every queued op, in chunks of at most the SQ size, and
// returns once all of them and the ops they were resubmitted as completed.
func (r *ringEngine) drive(ops []Op) error {
	enterRetries := 0
	for {
		for r.qhead < len(r.queue) && len(r.free) > 0 {
			r.prep(ops, r.queue[r.qhead])
			r.qhead++
		}
		busy := uint32(len(r.slots) - len(r.free))
		if busy == 0 {
			r.queue, r.qhead = r.queue[:0], 0
			return nil
		}
		atomic.StoreUint32(r.sqTail, r.tail)
		toSubmit := r.tail - atomic.LoadUint32(r.sqHead)
		// With everything handed to the kernel, wait for all of it; while ops
		// still wait for a slot, wake on the first completion to refill.
		wait := uint32(1)
		if r.qhead == len(r.queue) {
			wait = busy
		}
		switch err := r.enter(toSubmit, wait); err {
		case nil, unix.EINTR:
			// EINTR: a signal (Go's preemption among them) cut the wait short.
			// SQEs the kernel did not take stay in the ring (the SQ head
			// says which), so the next pass submits them again.
			enterRetries = 0
		case unix.EAGAIN, unix.EBUSY:
			enterRetries++
			if enterRetries > maxEnterRetries {
				return fmt.Errorf("io_uring_enter: %w after %d retries", err, maxEnterRetries)
			}
		default:
			return fmt.Errorf("io_uring_enter: %w", err)
		}
		if err := r.reap(ops); err != nil {
			return err
		}
	}
}

// prep fills the next SQE for op i.
func (r *ringEngine) prep(ops []Op, i int) {
	s := r.free[len(r.free)-1]
	r.free = r.free[:len(r.free)-1]
	slot := &r.slots[s]
	slot.op = i
	sqe := &r.sqes[r.tail&r.sqMask]
	*sqe = ringSQE{fd: int32(ops[i].FD), userData: uint64(s)}
	switch ops[i].Kind {
	case OpWrite:
		// A write with more than uioMaxIOV buffers goes out as several SQEs
		// in turn, through the same path as a short write.
		st := &r.st[i]
		iov, want := slot.iov[:0], int64(0)
		for _, b := range st.bufs {
			if len(iov) == uioMaxIOV {
				break // the rest goes out when this part completes
			}
			if len(b) == 0 {
				continue
			}
			v := unix.Iovec{Base: &b[0]}
			v.SetLen(len(b))
			iov = append(iov, v)
			want += int64(len(b))
		}
		slot.iov, slot.want = iov, want
		sqe.opcode = ioringOpWritev
		sqe.off = uint64(st.off)
		sqe.addr = uint64(uintptr(unsafe.Pointer(&iov[0])))
		sqe.len = uint32(len(iov))
	case OpSync:
		sqe.opcode = ioringOpFsync
		sqe.opFlags = ioringFsyncDatasync
	}
	r.tail++
	if r.trace != nil {
		r.trace(ringPrepared, i)
	}
}

func (r *ringEngine) enter(toSubmit, minComplete uint32) error {
	r.enters++
	_, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit),
		uintptr(minComplete), ioringEnterGetevents, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// reap consumes every CQE in the ring.
func (r *ringEngine) reap(ops []Op) error {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	for ; head != tail; head++ {
		c := r.cqes[head&r.cqMask]
		if c.userData >= uint64(len(r.slots)) || r.slots[c.userData].op < 0 {
			atomic.StoreUint32(r.cqHead, head+1)
			return fmt.Errorf("io_uring: completion for unknown request %d", c.userData)
		}
		slot := &r.slots[c.userData]
		i, want := slot.op, slot.want
		slot.op, slot.want = -1, 0
		clear(slot.iov) // drop the pointers into the caller's buffers
		r.free = append(r.free, uint32(c.userData))
		if r.trace != nil {
			r.trace(ringReaped, i)
		}
		r.complete(ops, i, c.res, want)
	}
	atomic.StoreUint32(r.cqHead, head)
	return nil
}

// complete records the result res of one SQE of op i, or queues the op again
// for what it has left.
func (r *ringEngine) complete(ops []Op, i int, res int32, want int64) {
	op, st := &ops[i], &r.st[i]
	if res < 0 {
		errno := unix.Errno(-res)
		if (errno == unix.EINTR || errno == unix.EAGAIN) && st.retries < maxOpRetries {
			st.retries++
			r.queue = append(r.queue, i)
			return
		}
		st.done = true
		if op.Kind == OpSync {
			op.Err = fmt.Errorf("io_uring fdatasync fd %d: %w", op.FD, errno)
		} else {
			op.Err = fmt.Errorf("io_uring writev fd %d at %d: %w", op.FD, st.off, errno)
		}
		return
	}
	st.retries = 0
	if op.Kind == OpSync {
		st.done = true
		return
	}
	if res == 0 && want > 0 {
		st.done = true
		op.Err = fmt.Errorf("io_uring writev fd %d at %d: wrote 0 bytes: %w", op.FD, st.off, unix.EIO)
		return
	}
	// A short write (or a write of more than uioMaxIOV buffers): continue
	// after what was written.
	st.off += int64(res)
	st.bufs = advance(st.bufs, int(res))
	r.enqueueWrite(i)
}

// fail marks the ring broken after err: ops that did not complete get the
// error. The per-op state is kept, since the kernel may still be reading
// buffers of requests that never completed.
func (r *ringEngine) fail(ops []Op, err error) error {
	r.broken = fmt.Errorf("iocore: io_uring ring broken (sq dropped %d, sq flags %#x, cq overflow %d): %w",
		atomic.LoadUint32(r.sqDropped), atomic.LoadUint32(r.sqFlags), atomic.LoadUint32(r.cqOverflow), err)
	for i := range ops {
		if !r.st[i].done {
			ops[i].Err = r.broken
		}
	}
	runtime.KeepAlive(ops)
	return r.broken
}

// resize returns s with length n, reusing its backing array when it can.
func resize[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n, n+n/4)
	}
	return s[:n]
}
