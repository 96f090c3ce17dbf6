// Package dialsrc is the dialer every node-to-node connection uses (the
// controller transport, replica fetchers, peer clients). Normally a plain
// net.Dialer; with RINGTAIL_TEST_DIAL_SOURCE set (tests only) each dial
// binds that local IP, so the nemesis suite's proxies can tell which node a
// connection comes from and cut links between chosen nodes.
package dialsrc

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"time"
)

// EnvVar names the local IP to dial from (e.g. 127.0.0.12); unset: any.
const EnvVar = "RINGTAIL_TEST_DIAL_SOURCE"

var source = func() *net.TCPAddr {
	if ip := net.ParseIP(os.Getenv(EnvVar)); ip != nil {
		return &net.TCPAddr{IP: ip}
	}
	return nil
}()

// Dialer returns a dialer with the given timeout, bound to the test
// source address when one is set.
func Dialer(timeout time.Duration) *net.Dialer {
	d := &net.Dialer{Timeout: timeout}
	if source != nil {
		d.LocalAddr = source
	}
	return d
}

// KgoDialFunc is for kgo.Dialer: nil when no test source is set (use
// franz-go's own dialer and kgo.DialTLSConfig as usual); else a dial from
// the source address, wrapped in TLS with tc when tc is not nil (franz-go
// takes a custom dialer or a TLS config, not both).
func KgoDialFunc(tc *tls.Config) func(ctx context.Context, network, host string) (net.Conn, error) {
	if source == nil {
		return nil
	}
	d := Dialer(10 * time.Second)
	if tc == nil {
		return d.DialContext
	}
	td := &tls.Dialer{NetDialer: d, Config: tc}
	return td.DialContext
}
