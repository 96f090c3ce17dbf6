package admin

import "github.com/prometheus/client_golang/prometheus"

// DeniedCount is one series of ringtail_authorization_denied_total.
type DeniedCount struct {
	Operation, ResourceType string
	Count                   int64
}

var descAuthzDenied = prometheus.NewDesc("ringtail_authorization_denied_total",
	"Requests (or parts of requests) the authorizer refused, by ACL operation and resource type.", []string{"operation", "resource_type"}, nil)

// authzCollector reports the denials of a Source that counts them
// (AuthorizationDenied).
type authzCollector struct{ src Source }

func (c *authzCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descAuthzDenied }

func (c *authzCollector) Collect(ch chan<- prometheus.Metric) {
	ad, ok := c.src.(interface{ AuthorizationDenied() []DeniedCount })
	if !ok {
		return
	}
	for _, d := range ad.AuthorizationDenied() {
		ch <- prometheus.MustNewConstMetric(descAuthzDenied, prometheus.CounterValue, float64(d.Count), d.Operation, d.ResourceType)
	}
}
