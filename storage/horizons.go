package storage

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/ringtail/ringtail/model"
)

// When each part of a compacted log was first cleaned, for tombstones: a
// tombstone stays for delete.retention.ms after the pass that first
// cleaned it, whatever later passes do to its segment (they rewrite and
// merge segments, so a segment's time says nothing about its records;
// Kafka 3.1 keeps the time in each batch, KIP-534). Each pass cleans from
// the first dirty offset, which only grows, so the times form ranges: the
// pass that moved the first dirty offset from a to b first cleaned [a, b).
//
// The ranges live in <partition>/cleaner-horizons, one "<end offset>
// <unix ms>" line per range, oldest first; ranges that are all past every
// retention are merged. The file is advisory: when it is missing or
// unreadable, what is clean counts as cleaned at the time it was loaded,
// which only keeps tombstones longer.
const horizonsFile = "cleaner-horizons"

// cleanedRange says that the offsets below end (and at or above the
// previous range's end) were first cleaned at ms.
type cleanedRange struct {
	end model.Offset
	ms  int64
}

// horizons is a partition's cleaned ranges.
type horizons struct {
	mu     sync.Mutex
	ranges []cleanedRange
}

// firstCleanedMs is when off was first cleaned; ok is false for an offset
// no pass has cleaned yet.
func (h *horizons) firstCleanedMs(off model.Offset) (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.ranges), func(i int) bool { return h.ranges[i].end > off })
	if i == len(h.ranges) {
		return 0, false
	}
	return h.ranges[i].ms, true
}

// cleaned records a pass that cleaned up to end at ms and merges the ranges
// older than expiredBefore (past any tombstone's retention) into one.
func (h *horizons) cleaned(end model.Offset, ms, expiredBefore int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.ranges); n == 0 || end > h.ranges[n-1].end {
		h.ranges = append(h.ranges, cleanedRange{end: end, ms: ms})
	}
	i := 0
	for i+1 < len(h.ranges) && h.ranges[i+1].ms < expiredBefore {
		i++
	}
	if i > 0 {
		// The newest time of the merged ranges: a larger retention set
		// later never drops a tombstone early.
		merged := cleanedRange{end: h.ranges[i].end, ms: h.ranges[i].ms}
		h.ranges = append([]cleanedRange{merged}, h.ranges[i+1:]...)
	}
}

// truncate forgets what lies at or above off (a log truncated there is
// written again).
func (h *horizons) truncate(off model.Offset) {
	h.mu.Lock()
	defer h.mu.Unlock()
	kept := h.ranges[:0]
	prev := model.Offset(0)
	for _, r := range h.ranges {
		if prev >= off {
			break
		}
		r.end = min(r.end, off)
		kept = append(kept, r)
		prev = r.end
	}
	h.ranges = kept
}

func (h *horizons) encode() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b bytes.Buffer
	for _, r := range h.ranges {
		fmt.Fprintf(&b, "%d %d\n", int64(r.end), r.ms)
	}
	return b.Bytes()
}

var errBadHorizons = errors.New("storage: malformed " + horizonsFile)

// decodeHorizons parses the file: ends strictly increasing, times >= 0.
func decodeHorizons(data []byte) ([]cleanedRange, error) {
	var out []cleanedRange
	for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("%w: line %q", errBadHorizons, line)
		}
		end, err1 := strconv.ParseInt(f[0], 10, 64)
		ms, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || end <= 0 || ms < 0 || (len(out) > 0 && model.Offset(end) <= out[len(out)-1].end) {
			return nil, fmt.Errorf("%w: line %q", errBadHorizons, line)
		}
		out = append(out, cleanedRange{end: model.Offset(end), ms: ms})
	}
	return out, nil
}

// loadHorizons reads the partition's file. Without one, what the cleaner
// checkpoint says is clean counts as cleaned now.
func (p *Partition) loadHorizons(cleanedTo model.Offset, nowMs int64) {
	data, err := os.ReadFile(filepath.Join(p.dir, horizonsFile))
	var rs []cleanedRange
	if errors.Is(err, os.ErrNotExist) {
		err = nil
	} else if err == nil {
		rs, err = decodeHorizons(data)
	}
	if err != nil {
		p.m.logger.Warn("ignoring unreadable "+horizonsFile+"; tombstones of the clean part stay another delete.retention.ms", "partition", p.tp.String(), "err", err)
		rs = nil
	}
	if n := len(rs); cleanedTo > 0 && (n == 0 || rs[n-1].end < cleanedTo) {
		rs = append(rs, cleanedRange{end: cleanedTo, ms: nowMs})
	}
	p.horizons.mu.Lock()
	p.horizons.ranges = rs
	p.horizons.mu.Unlock()
}

// writeHorizons writes the file (not fsynced: see above).
func (p *Partition) writeHorizons() error {
	return writeFileAtomic(p.m.fsys, filepath.Join(p.dir, horizonsFile), p.horizons.encode(), false)
}
