package telemetry

import (
	"testing"
)

// FuzzDecode feeds arbitrary payloads with every compression type to the
// PushTelemetry decoder. Invariants: it never panics; it fails or returns
// at most maxPointsPerPush points, each with a non-empty name of at most
// maxNameBytes+".count" bytes; and a payload it accepts decodes the same a
// second time.
func FuzzDecode(f *testing.F) {
	for _, c := range []int8{CompressionNone, CompressionGzip, CompressionSnappy, CompressionLZ4, CompressionZstd} {
		f.Add(c, compress(f, c, payload(f, 1.5)))
	}
	f.Add(int8(2), append([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}, 0, 0, 0, 9))
	f.Add(int8(0), []byte{0x0a, 0x02, 0x12, 0x00})
	f.Add(int8(7), []byte{})
	f.Fuzz(func(t *testing.T, codec int8, b []byte) {
		pts, _, err := Decode(codec, b, 1<<20)
		if err != nil {
			return
		}
		if len(pts) > maxPointsPerPush {
			t.Fatalf("%d points", len(pts))
		}
		for _, p := range pts {
			if p.Name == "" || len(p.Name) > maxNameBytes+len(".count") {
				t.Fatalf("name %q", p.Name)
			}
		}
		again, _, err := Decode(codec, b, 1<<20)
		if err != nil || len(again) != len(pts) {
			t.Fatalf("second decode: %v, %d vs %d points", err, len(again), len(pts))
		}
	})
}
