package daemon

// QueuedRequestBytes is queued.max.request.bytes in use and its limit (0:
// unbounded), shared by the node's Kafka listeners
// (ringtail_queued_request_bytes).
func (s adminSource) QueuedRequestBytes() (inUse, limit int64) {
	if !s.n.ops.ready.Load() || len(s.n.servers) == 0 {
		return 0, 0
	}
	b := s.n.servers[0].RequestBudget()
	return b.InUse(), b.Limit()
}
