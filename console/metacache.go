package console

// The whole cluster's metadata, shared by the pages for a few seconds: on
// a cluster of 100,000 partitions one read costs the broker 40-140 ms of
// CPU (benchmarks/README.md, the console section), and the
// overview refreshes itself every 5 s in every open tab. The console's own
// changes (create, delete, add partitions) drop it, so they show at once;
// others' show within Config.MetadataMaxAge. A page about one topic reads
// that topic afresh.

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// defaultMetadataMaxAge is Config.MetadataMaxAge when it is 0.
const defaultMetadataMaxAge = 5 * time.Second

type metaCache struct {
	mu sync.Mutex // held while reading, so concurrent pages share one read
	at time.Time
	m  kadm.Metadata
	ok bool
}

// metadataMaxAge is how long a read is shared; 0 shares none.
func (s *Server) metadataMaxAge() time.Duration {
	switch {
	case s.cfg.MetadataMaxAge < 0:
		return 0
	case s.cfg.MetadataMaxAge == 0:
		return defaultMetadataMaxAge
	}
	return s.cfg.MetadataMaxAge
}

// clusterMetadata is every topic's metadata (internal ones included), read
// at most metadataMaxAge ago, less the topics the caller may not describe
// when the console decides for it (authmtls.go). The maps are shared:
// callers only read them.
func (s *Server) clusterMetadata(ctx context.Context) (kadm.Metadata, error) {
	m, err := s.readMetadata(ctx)
	if err != nil {
		return m, err
	}
	return s.describableTopics(ctx, m), nil
}

// readMetadata is every topic's metadata, shared for metadataMaxAge.
func (s *Server) readMetadata(ctx context.Context) (kadm.Metadata, error) {
	age := s.metadataMaxAge()
	if age == 0 {
		return s.adm.Metadata(ctx)
	}
	c := &s.meta
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ok && time.Since(c.at) < age {
		return c.m, nil
	}
	m, err := s.adm.Metadata(ctx)
	if err != nil {
		return m, err
	}
	c.m, c.at, c.ok = m, time.Now(), true
	return m, nil
}

// forgetMetadata drops the shared read after a change this console made.
func (s *Server) forgetMetadata() {
	s.meta.mu.Lock()
	s.meta.ok = false
	s.meta.mu.Unlock()
}
