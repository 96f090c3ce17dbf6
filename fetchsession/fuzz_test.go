package fetchsession

import (
	"testing"
	"time"
)

// FuzzCache drives a small cache with requests decoded from the input (a
// fetcher's session id, epoch, partitions and forgotten partitions as
// untrusted numbers) and checks that nothing panics and every session's
// list and map agree.
func FuzzCache(f *testing.F) {
	f.Add([]byte{0, 0, 3, 1, 2, 3, 0, 1, 1, 0, 0})
	f.Add([]byte{0, 0, 5, 1, 2, 3, 4, 5, 1, 1, 2, 9, 1, 2, 0xff, 0xff, 1, 1})
	f.Add([]byte{0, 0xff, 2, 7, 7, 2, 1, 1, 1, 7})
	f.Fuzz(func(t *testing.T, in []byte) {
		c := New(3, time.Second)
		now := t0
		var ids []int32
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		for len(in) > 0 {
			now = now.Add(time.Duration(next()) * 100 * time.Millisecond)
			r := Request{SessionEpoch: int32(int8(next())), Privileged: next()&1 == 1}
			if sel := int(next()); len(ids) > 0 && r.SessionEpoch != 0 {
				r.SessionID = ids[sel%len(ids)]
			}
			for n := int(next() % 8); n > 0; n-- {
				r.Partitions = append(r.Partitions, Partition{Key: Key{Topic: "t", Partition: int32(next() % 6)}, FetchOffset: int64(next())})
			}
			for n := int(next() % 4); n > 0; n-- {
				r.Forgotten = append(r.Forgotten, Key{Topic: "t", Partition: int32(next() % 6)})
			}
			x, code := c.Begin(now, r)
			if code != 0 {
				continue
			}
			ps := x.Partitions()
			res := make([]Result, len(ps))
			for i := range res {
				b := next()
				res[i] = Result{Records: b&1 == 1, Error: b&2 == 2, HighWatermark: int64(b >> 2)}
			}
			keep, id := x.Respond(now, ps, res)
			if len(keep) != len(ps) {
				t.Fatalf("keep %d for %d partitions", len(keep), len(ps))
			}
			if id != 0 {
				ids = append(ids, id)
			}
			c.mu.Lock()
			for _, s := range c.sessions {
				n := 0
				for p := s.head; p != nil; p = p.next {
					if s.parts[p.Key] != p {
						t.Fatalf("session %d lists %v, not in its map", s.ID, p.Key)
					}
					n++
				}
				if n != len(s.parts) {
					t.Fatalf("session %d: list %d, map %d", s.ID, n, len(s.parts))
				}
			}
			if len(c.sessions) > c.slots {
				t.Fatalf("%d sessions over %d slots", len(c.sessions), c.slots)
			}
			c.mu.Unlock()
		}
	})
}
