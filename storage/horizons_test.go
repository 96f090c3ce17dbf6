package storage

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringtail/ringtail/model"
)

func TestHorizonsRanges(t *testing.T) {
	var h horizons
	h.cleaned(100, 1000, 0)
	h.cleaned(250, 2000, 0)
	h.cleaned(250, 2500, 0) // nothing new cleaned: no range
	h.cleaned(400, 3000, 0)
	for _, c := range []struct {
		off  int64
		ms   int64
		have bool
	}{{0, 1000, true}, {99, 1000, true}, {100, 2000, true}, {399, 3000, true}, {400, 0, false}} {
		if ms, ok := h.firstCleanedMs(model.Offset(c.off)); ms != c.ms || ok != c.have {
			t.Fatalf("offset %d: %d %v, want %d %v", c.off, ms, ok, c.ms, c.have)
		}
	}
	back, err := decodeHorizons(h.encode())
	if err != nil || !slices.Equal(back, h.ranges) {
		t.Fatalf("round trip: %v %v", back, err)
	}
	// Ranges past every retention merge, keeping the newest time.
	h.cleaned(500, 9000, 2500)
	if len(h.ranges) != 3 || h.ranges[0] != (cleanedRange{end: 250, ms: 2000}) {
		t.Fatalf("after merging: %v", h.ranges)
	}
	h.truncate(300)
	if len(h.ranges) != 2 || h.ranges[1] != (cleanedRange{end: 300, ms: 3000}) {
		t.Fatalf("after truncate(300): %v", h.ranges)
	}
	h.truncate(0)
	if len(h.ranges) != 0 {
		t.Fatalf("after truncate(0): %v", h.ranges)
	}
	for _, bad := range []string{"x 1\n", "10 5\n5 6\n", "0 1\n", "10 -1\n", "10\n"} {
		if _, err := decodeHorizons([]byte(bad)); err == nil {
			t.Errorf("decoded %q", bad)
		}
	}
}

// FuzzDecodeHorizons: the decoder never panics, and what it accepts
// encodes back to itself.
func FuzzDecodeHorizons(f *testing.F) {
	f.Add([]byte("100 1000\n250 2000\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, err := decodeHorizons(data)
		if err != nil {
			return
		}
		h := horizons{ranges: rs}
		back, err := decodeHorizons(h.encode())
		if err != nil || !slices.Equal(back, rs) {
			t.Fatalf("%q decoded to %v, re-encoded to %v (%v)", data, rs, back, err)
		}
	})
}

// Tombstones go delete.retention.ms after the pass that first cleaned
// them, even when passes come more often than that and rewrite their
// segment every time.
func TestTombstonesGoUnderSteadyPasses(t *testing.T) {
	eachEngine(t, func(t *testing.T, e *env) {
		e.cfg = compactConfig() // delete.retention.ms 1 h
		m := e.open()
		defer m.Close()
		p := e.create(m, tp0)
		appendKV(t, p, e.clock.Ms(), "gone", "v")
		appendKV(t, p, e.clock.Ms(), "gone", "")
		tombstone := func() bool {
			for _, r := range readKVs(t, p) {
				if r.key == "gone" {
					return true
				}
			}
			return false
		}
		start := e.clock.Now()
		for pass := 0; pass < 14; pass++ {
			for i := 0; i < 30; i++ {
				appendKV(t, p, e.clock.Ms(), fmt.Sprintf("f%d", i%4), strings.Repeat("s", 150))
			}
			if _, err := m.Clean(tp0); err != nil {
				t.Fatal(err)
			}
			elapsed := e.clock.Now().Sub(start)
			if elapsed <= time.Hour && !tombstone() {
				t.Fatalf("pass %d, %v after the first: the tombstone went before delete.retention.ms", pass, elapsed)
			}
			e.clock.Advance(10 * time.Minute)
		}
		if tombstone() {
			t.Fatal("the tombstone is still there 2 hours after its first cleaning, with a pass every 10 minutes")
		}
		// The first-cleaned times survive a restart.
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		m = e.open()
		p, _ = m.Partition(tp0)
		if _, ok := p.horizons.firstCleanedMs(0); !ok {
			t.Fatal("cleaner-horizons not loaded after a restart")
		}
	})
}
