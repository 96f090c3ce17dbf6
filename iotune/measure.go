// Package iotune is `ringtail iotune` (Redpanda's `rpk iotune` as the
// model): it measures the device under a data directory — sequential
// write bandwidth with an fdatasync after each write at several write
// sizes, the fdatasync latency percentiles, parallel writers against one,
// and sequential read bandwidth — and turns the figures into the
// [ringtail] settings it recommends (Recommend), written as an io config
// file that `ringtail serve` applies (config.ApplyIOConfig).
//
// Measure does the I/O, bounded by a total duration, in temporary files
// it removes; Recommend is a pure function of the measurements, unit
// tested with made-up figures.
package iotune

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WriteSizes are the write sizes measured: a lone small batch up to a
// full group-commit drain (as the benchmark suite's fio runs).
var WriteSizes = []int{4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20}

// fileBytes bounds each test file: a write phase wraps around to the
// start past it, so a fast device does not fill the disk.
const fileBytes = 256 << 20

// Latency percentiles in milliseconds.
type Latency struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// Write is one sequential write phase, an fdatasync after each write.
type Write struct {
	BlockBytes int     `json:"block_bytes"`
	MBPerS     float64 `json:"mb_per_s"` // MiB/s
	IOPS       float64 `json:"iops"`     // writes (each with its fdatasync) per second
	Sync       Latency `json:"sync_latency_ms"`
}

// Measurements are what Measure found.
type Measurements struct {
	Dir      string  `json:"dir"`
	Direct   bool    `json:"o_direct"` // writes and reads bypassed the page cache
	Writes   []Write `json:"writes"`
	CPUs     int     `json:"cpus"`
	IOURing  bool    `json:"io_uring"`                // set by the caller: whether io_uring is usable here
	IOURingW string  `json:"io_uring_note,omitempty"` // why not, when it is not
	// Parallel: Writers concurrent writers at ParallelBlock bytes, each on
	// its own file with its own fdatasync (as shards are), in MiB/s over
	// all of them; 0 writers when there is one CPU.
	Writers       int      `json:"parallel_writers"`
	ParallelBlock int      `json:"parallel_block_bytes"`
	ParallelMBps  float64  `json:"parallel_mb_per_s"`
	ReadMBPerS    float64  `json:"read_mb_per_s"`
	Notes         []string `json:"notes,omitempty"`
}

// WriteAt returns the write phase of block size bs.
func (m *Measurements) WriteAt(bs int) (Write, bool) {
	for _, w := range m.Writes {
		if w.BlockBytes == bs {
			return w, true
		}
	}
	return Write{}, false
}

// Measure runs the phases in dir within about total: the write sizes share
// 60% of it, the parallel writers 20%, reading back 20%. cpus is how many
// parallel writers a node would have (its shards at most).
func Measure(ctx context.Context, dir string, total time.Duration, cpus int) (*Measurements, error) {
	if total <= 0 {
		return nil, errors.New("iotune: the duration must be positive")
	}
	work, err := os.MkdirTemp(dir, ".ringtail-iotune-")
	if err != nil {
		return nil, fmt.Errorf("iotune: %w", err)
	}
	defer os.RemoveAll(work)
	m := &Measurements{Dir: dir, CPUs: cpus, Direct: true}
	phase := total * 6 / 10 / time.Duration(len(WriteSizes))
	first := filepath.Join(work, "w0")
	for _, bs := range WriteSizes {
		w, direct, err := writePhase(ctx, first, bs, phase)
		if err != nil {
			return nil, err
		}
		m.Direct = m.Direct && direct
		m.Writes = append(m.Writes, w)
	}
	if !m.Direct {
		m.Notes = append(m.Notes, "O_DIRECT is not available on this file system: writes went through the page cache, each followed by fdatasync, and reads may come from the cache")
	}
	if cpus > 1 {
		m.Writers = min(cpus, 4)
		m.ParallelBlock = 64 << 10
		var wg sync.WaitGroup
		res := make([]Write, m.Writers)
		errs := make([]error, m.Writers)
		for i := range m.Writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[i], _, errs[i] = writePhase(ctx, filepath.Join(work, fmt.Sprintf("p%d", i)), m.ParallelBlock, total/5)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		for _, w := range res {
			m.ParallelMBps += w.MBPerS
		}
	}
	if m.ReadMBPerS, err = readPhase(ctx, first, total/5); err != nil {
		return nil, err
	}
	return m, nil
}

// openDirect opens path for writing with O_DIRECT, or without it when the
// file system refuses it (tmpfs, some overlays).
func openDirect(path string, flags int) (*os.File, bool, error) {
	f, err := os.OpenFile(path, flags|syscall.O_DIRECT, 0o600)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, syscall.EINVAL) {
		return nil, false, fmt.Errorf("iotune: %w", err)
	}
	f, err = os.OpenFile(path, flags, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("iotune: %w", err)
	}
	return f, false, nil
}

// alignedBuf is n bytes aligned to 4 KiB, as O_DIRECT wants.
func alignedBuf(n int) []byte {
	const align = 4096
	b := make([]byte, n+align)
	off := int(uintptr(unsafe.Pointer(&b[0])) & (align - 1))
	if off != 0 {
		off = align - off
	}
	b = b[off : off+n]
	for i := range b {
		b[i] = byte(i*7 + 1) // not zeros, in case the device compresses
	}
	return b
}

// writePhase writes bs-byte blocks to path sequentially for d, an
// fdatasync after each, and reports throughput and sync latency.
func writePhase(ctx context.Context, path string, bs int, d time.Duration) (Write, bool, error) {
	f, direct, err := openDirect(path, os.O_CREATE|os.O_WRONLY)
	if err != nil {
		return Write{}, false, err
	}
	defer f.Close()
	buf := alignedBuf(bs)
	var lat []time.Duration
	var off int64
	start := time.Now()
	end := start.Add(d)
	for n := 0; n < 2 || time.Now().Before(end); n++ {
		if ctx.Err() != nil {
			return Write{}, direct, ctx.Err()
		}
		if _, err := f.WriteAt(buf, off); err != nil {
			return Write{}, direct, fmt.Errorf("iotune: writing %s: %w", path, err)
		}
		t0 := time.Now()
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return Write{}, direct, fmt.Errorf("iotune: fdatasync %s: %w", path, err)
		}
		lat = append(lat, time.Since(t0))
		if off += int64(bs); off+int64(bs) > fileBytes {
			off = 0
		}
	}
	el := time.Since(start).Seconds()
	w := Write{BlockBytes: bs, IOPS: float64(len(lat)) / el, MBPerS: float64(len(lat)*bs) / (1 << 20) / el, Sync: percentiles(lat)}
	return w, direct, nil
}

// readPhase reads path sequentially for up to d (wrapping at its end) and
// returns MiB/s. Without O_DIRECT it drops the file's pages first
// (fadvise DONTNEED), which a dirty page survives.
func readPhase(ctx context.Context, path string, d time.Duration) (float64, error) {
	f, _, err := openDirect(path, os.O_RDONLY)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	_ = fadviseDontNeed(f)
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size() &^ (1<<20 - 1)
	if size == 0 {
		return 0, errors.New("iotune: nothing was written to read back")
	}
	buf := alignedBuf(1 << 20)
	var n, off int64
	start := time.Now()
	for end := start.Add(d); n == 0 || time.Now().Before(end); {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		k, err := f.ReadAt(buf, off)
		if err != nil && k == 0 {
			return 0, fmt.Errorf("iotune: reading %s: %w", path, err)
		}
		n += int64(k)
		if off += int64(k); off >= size {
			off = 0
		}
	}
	return float64(n) / (1 << 20) / time.Since(start).Seconds(), nil
}

func fadviseDontNeed(f *os.File) error {
	return unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
}

// percentiles of ds in milliseconds (nearest rank).
func percentiles(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	at := func(q float64) float64 {
		i := int(q*float64(len(s))+0.5) - 1
		i = max(0, min(i, len(s)-1))
		return float64(s[i]) / float64(time.Millisecond)
	}
	return Latency{P50: at(0.5), P99: at(0.99), P999: at(0.999), Max: float64(s[len(s)-1]) / float64(time.Millisecond)}
}
