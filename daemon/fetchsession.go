package daemon

// The node's one KIP-227 fetch session cache, shared by its Kafka
// listeners so that max.incremental.fetch.session.cache.slots bounds the
// whole broker, and its metrics.

import (
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/fetchsession"
)

// fetchSessionCache makes the node's fetch session cache.
func (n *Node) fetchSessionCache(cfg *config.Config) *fetchsession.Cache {
	c := fetchsession.New(int(cfg.FetchSessionCacheSlots), 0)
	n.fetchSessions.Store(c)
	return c
}

// FetchSessions is the cache's counts (ringtail_fetch_sessions and
// ringtail_fetch_session_*).
func (s adminSource) FetchSessions() fetchsession.Stats {
	if !s.n.ops.ready.Load() {
		return fetchsession.Stats{}
	}
	return s.n.fetchSessions.Load().Stats()
}
