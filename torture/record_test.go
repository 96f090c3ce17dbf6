package torture

import (
	"errors"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	for _, pad := range []int{0, 1, 100, MaxPadBytes, MaxPadBytes + 10} {
		r := Rec{Producer: 7, Seq: 12345, Txn: 3}
		got, err := Decode(Encode(r, pad))
		if err != nil || got != r {
			t.Fatalf("pad %d: %+v %v", pad, got, err)
		}
	}
}

func TestRecordCorruptionCaught(t *testing.T) {
	v := Encode(Rec{Producer: 1, Seq: 2}, 16)
	for i := range v {
		c := append([]byte(nil), v...)
		c[i] ^= 0x40
		if _, err := Decode(c); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("flipping byte %d not caught: %v", i, err)
		}
	}
	for n := range len(v) {
		if _, err := Decode(v[:n]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncation to %d bytes not caught", n)
		}
	}
}

// FuzzDecode checks that Decode never panics, that whatever it accepts
// encodes back to the same bytes (so no two values decode alike), and that
// everything else is ErrCorrupt.
func FuzzDecode(f *testing.F) {
	f.Add(Encode(Rec{Producer: 1, Seq: 1}, 0))
	f.Add(Encode(Rec{Producer: 9, Seq: 1 << 40, Txn: 5}, 33))
	f.Add([]byte("RTT1"))
	f.Fuzz(func(t *testing.T, v []byte) {
		r, err := Decode(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error not ErrCorrupt: %v", err)
			}
			return
		}
		pad := len(v) - recHeaderLen - recCRCLen
		if string(Encode(r, pad)) != string(v) {
			t.Fatalf("accepted %x, which does not re-encode to itself", v)
		}
	})
}
