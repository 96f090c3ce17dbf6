package daemon

import (
	"time"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/kafka"
)

// saslConfig is the SASL side of Kafka listener name, nil unless it is
// SASL_PLAINTEXT or SASL_SSL. The config was validated at load, so the
// PLAIN users parse.
func (n *Node) saslConfig(name string) *kafka.SASLConfig {
	cfg := n.cfg
	if !config.IsSASL(cfg.ListenerProtocol(name)) {
		return nil
	}
	s := cfg.SASLFor(name)
	users, err := config.ParsePlainJAAS(s.PlainJAAS)
	if err != nil {
		n.log.Error("plain.sasl.jaas.config: no PLAIN users", "listener", name, "err", err)
	}
	sc := &kafka.SASLConfig{
		Mechanisms:   s.EnabledMechanisms,
		PlainUsers:   users,
		Reauth:       time.Duration(cfg.ConnectionsMaxReauthMs) * time.Millisecond,
		FailureDelay: time.Duration(cfg.ConnectionFailedAuthenticationDelayMs) * time.Millisecond,
	}
	if n.ops.metrics != nil {
		sc.Observe = n.ops.metrics.ObserveAuthentication
	}
	return sc
}
