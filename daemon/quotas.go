package daemon

import (
	"time"

	"github.com/ringtail/ringtail/admin"
	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/kafka"
	"github.com/ringtail/ringtail/quota"
)

// newQuotas makes the node's client quota manager and connection limiter,
// shared by all its Kafka listeners.
func newQuotas(cfg *config.Config) (*quota.Manager, *kafka.ConnLimiter) {
	w := quota.Window{Samples: int(cfg.Quotas.WindowNum), Size: time.Duration(cfg.Quotas.WindowSizeSeconds) * time.Second}
	return quota.NewManager(w), kafka.NewConnLimiter(cfg.Quotas, cfg.InterBrokerListenerName)
}

// The admin metrics count throttles and refused connections.
var _ kafka.QuotaObserver = (*admin.Metrics)(nil)
