package config

import (
	"strings"
	"testing"
)

func TestReplicaFetchKeys(t *testing.T) {
	c, err := Parse([]byte("replica.fetch.wait.max.ms = 250\nreplica.fetch.min.bytes = 4096\nreplica.fetch.max.bytes = 65536\nreplica.fetch.response.max.bytes = 1048576\nnum.replica.fetchers = 4"))
	if err != nil {
		t.Fatal(err)
	}
	want := ReplicaFetchConfig{WaitMaxMs: 250, MinBytes: 4096, MaxBytes: 65536, ResponseMaxBytes: 1 << 20, NumFetchers: 4}
	if c.ReplicaFetch != want {
		t.Fatalf("got %+v, want %+v", c.ReplicaFetch, want)
	}
	if d := Default().ReplicaFetch; d != defaultReplicaFetch() || d.WaitMaxMs != 500 || d.NumFetchers != 1 {
		t.Fatalf("defaults %+v", d)
	}
	for _, tt := range []struct{ doc, want string }{
		{"num.replica.fetchers = 0", "num.replica.fetchers = 0: must be an integer from 1 to 64"},
		{"replica.fetch.min.bytes = 0", "replica.fetch.min.bytes = 0: must be"},
		{"replica.fetch.wait.max.ms = -1", "replica.fetch.wait.max.ms = -1: must be"},
		{"replica.lag.time.max.ms = 1000\nreplica.fetch.wait.max.ms = 1000", "replica.fetch.wait.max.ms = 1000: must be below replica.lag.time.max.ms (1000)"},
	} {
		_, err := Parse([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want %q", tt.doc, err, tt.want)
		}
	}
}
