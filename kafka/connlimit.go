package kafka

// Connection limits, as Kafka's ConnectionQuotas: max.connections over the
// node's listeners (the inter-broker listener exempt),
// max.connections.per.ip with its overrides, and the connection_creation_rate
// quota of ip entities (KIP-612). A connection over a limit is closed as
// soon as it is accepted, logged and counted; nothing of it is read.

import (
	"math"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ringtail/ringtail/config"
	"github.com/ringtail/ringtail/controlplane"
	"github.com/ringtail/ringtail/quota"
)

// ConnLimiter enforces a node's connection limits over all its servers.
type ConnLimiter struct {
	max, perIP int
	overrides  map[string]int // IP address -> limit
	// interBroker is the listener exempt from max.connections.
	interBroker string
	w           quota.Window

	mu     sync.Mutex
	total  int
	counts map[string]int
	// rates are the connection creation rates of IPs with a
	// connection_creation_rate quota; lastSweep drops idle ones.
	rates     map[string]*ipRate
	lastSweep time.Time
}

type ipRate struct {
	rate quota.Rate
	last time.Time
}

// ipRateExpiry drops an IP's rate unused this long.
const ipRateExpiry = time.Hour

// NewConnLimiter makes the limiter of a node's config; host names in the
// overrides are resolved once.
func NewConnLimiter(q config.QuotaConfig, interBrokerListener string) *ConnLimiter {
	l := &ConnLimiter{max: int(q.MaxConnections), perIP: int(q.MaxConnectionsPerIP), overrides: map[string]int{},
		interBroker: interBrokerListener, counts: map[string]int{}, rates: map[string]*ipRate{},
		w: quota.Window{Samples: int(q.WindowNum), Size: time.Duration(q.WindowSizeSeconds) * time.Second}}
	for _, o := range q.PerIPOverrides {
		if ip := net.ParseIP(o.Host); ip != nil {
			l.overrides[ip.String()] = int(o.Limit)
			continue
		}
		addrs, _ := net.LookupHost(o.Host)
		for _, a := range addrs {
			if ip := net.ParseIP(a); ip != nil {
				l.overrides[ip.String()] = int(o.Limit)
			}
		}
	}
	return l
}

// counting reports whether any count limit is below Kafka's unlimited
// default (connections are then counted, and released when closed).
func (l *ConnLimiter) counting() bool {
	return l.max < math.MaxInt32 || l.perIP < math.MaxInt32 || len(l.overrides) > 0
}

// allowRate records a new connection from ip against its
// connection_creation_rate bound and reports whether it is within; a
// refused connection is taken back out, as Kafka does.
func (l *ConnLimiter) allowRate(ip string, bound float64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > ipRateExpiry {
		l.lastSweep = now
		for k, r := range l.rates {
			if now.Sub(r.last) > ipRateExpiry {
				delete(l.rates, k)
			}
		}
	}
	r := l.rates[ip]
	if r == nil {
		r = &ipRate{}
		l.rates[ip] = r
	}
	r.last = now
	ms := now.UnixMilli()
	r.rate.Record(l.w, 1, ms)
	if r.rate.Measure(l.w, ms) > bound {
		r.rate.Record(l.w, -1, ms)
		return false
	}
	return true
}

// admit counts a new connection from ip on listener; the reason is set
// when a limit refuses it.
func (l *ConnLimiter) admit(listener, ip string) (release func(), reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	limit, ok := l.overrides[ip]
	if !ok {
		limit = l.perIP
	}
	if l.counts[ip] >= limit {
		return nil, "max_connections_per_ip"
	}
	if listener != l.interBroker && l.total >= l.max {
		return nil, "max_connections"
	}
	l.counts[ip]++
	l.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.counts[ip]--; l.counts[ip] <= 0 {
				delete(l.counts, ip)
			}
		})
	}, ""
}

func remoteIP(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return host
}

// connectionRateQuota is the connection_creation_rate of ip from the
// image: its own entity, else the ip default; 0 when none.
func connectionRateQuota(im *controlplane.Image, ip string) float64 {
	if len(im.ClientQuotas) == 0 {
		return 0
	}
	const key = "connection_creation_rate"
	if q := im.ClientQuotas[controlplane.QuotaEntityKey([]controlplane.QuotaEntityPart{{Type: controlplane.QuotaEntityIP, Name: &ip}})]; q != nil {
		if v, ok := q.Values[key]; ok {
			return v
		}
	}
	if q := im.ClientQuotas[controlplane.QuotaEntityKey([]controlplane.QuotaEntityPart{{Type: controlplane.QuotaEntityIP}})]; q != nil {
		return q.Values[key]
	}
	return 0
}

// limitedConn releases its connection-limit slot when closed. It embeds
// the *net.TCPConn so that SyscallConn (sendfile) and the rest stay
// reachable.
type limitedConn struct {
	*net.TCPConn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.TCPConn.Close()
}

// admitConn applies the node's connection limits to an accepted
// connection: nil means it was refused (and closed). A counted connection
// comes back wrapped, to release its slot when closed.
func (s *Server) admitConn(nc net.Conn) net.Conn {
	l := s.cfg.Conns
	if l == nil {
		return nc
	}
	ip := remoteIP(nc.RemoteAddr())
	refuse := func(reason string) net.Conn {
		s.log.Warn("connection refused: "+strings.ReplaceAll(reason, "_", "."), "listener", s.cfg.ListenerName, "remote", nc.RemoteAddr().String())
		nc.Close()
		if o, ok := s.cfg.Observer.(QuotaObserver); ok {
			o.ObserveConnectionRefused(reason)
		}
		return nil
	}
	if bound := connectionRateQuota(s.ctrl.Image(), ip); bound > 0 && !l.allowRate(ip, bound, s.cfg.Now()) {
		return refuse("connection_creation_rate")
	}
	tc, isTCP := nc.(*net.TCPConn)
	if !l.counting() || !isTCP {
		return nc
	}
	release, reason := l.admit(s.cfg.ListenerName, ip)
	if release == nil {
		return refuse(reason)
	}
	return &limitedConn{TCPConn: tc, release: release}
}
