package admin

// Share group (KIP-932) share-partition metrics, read from the Source at
// each scrape when it has ShareStats.

import "github.com/prometheus/client_golang/prometheus"

// ShareStats are the share-partition side's cumulative counts.
type ShareStats struct {
	Acquired, Accepted, Released, Rejected, Gaps, Renewed, Archived, LockExpiries int64
	// Sessions is the share sessions open now.
	Sessions int
}

var (
	descShareAcquired = prometheus.NewDesc("ringtail_share_records_acquired_total",
		"Records acquired by share group members (each delivery counts).", nil, nil)
	descShareAcks = prometheus.NewDesc("ringtail_share_acknowledgements_total",
		"Records acknowledged by share group members, by acknowledgement type.", []string{"type"}, nil)
	descShareArchived = prometheus.NewDesc("ringtail_share_records_archived_total",
		"Records archived: rejected, acknowledged as gaps, or released or expired at group.share.delivery.count.limit.", nil, nil)
	descShareExpiries = prometheus.NewDesc("ringtail_share_lock_expiries_total",
		"Acquisition locks that expired before their records were acknowledged.", nil, nil)
	descShareSessions = prometheus.NewDesc("ringtail_share_sessions",
		"Share sessions (ShareFetch) open on this broker.", nil, nil)
)

type shareCollector struct{ src Source }

func (c *shareCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descShareAcquired, descShareAcks, descShareArchived, descShareExpiries, descShareSessions} {
		ch <- d
	}
}

func (c *shareCollector) Collect(ch chan<- prometheus.Metric) {
	ss, ok := c.src.(interface{ ShareStats() ShareStats })
	if !ok {
		return
	}
	st := ss.ShareStats()
	ch <- prometheus.MustNewConstMetric(descShareAcquired, prometheus.CounterValue, float64(st.Acquired))
	for _, a := range []struct {
		name string
		n    int64
	}{{"accept", st.Accepted}, {"release", st.Released}, {"reject", st.Rejected}, {"gap", st.Gaps}, {"renew", st.Renewed}} {
		ch <- prometheus.MustNewConstMetric(descShareAcks, prometheus.CounterValue, float64(a.n), a.name)
	}
	ch <- prometheus.MustNewConstMetric(descShareArchived, prometheus.CounterValue, float64(st.Archived))
	ch <- prometheus.MustNewConstMetric(descShareExpiries, prometheus.CounterValue, float64(st.LockExpiries))
	ch <- prometheus.MustNewConstMetric(descShareSessions, prometheus.GaugeValue, float64(st.Sessions))
}
