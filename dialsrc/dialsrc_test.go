package dialsrc

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestSourceBound: unset, dials are plain and franz-go keeps its own
// dialer; set, the listener sees the connection come from the source IP,
// through Dialer and through KgoDialFunc alike.
func TestSourceBound(t *testing.T) {
	if source != nil {
		t.Skipf("%s is set in the test environment", EnvVar)
	}
	if d := Dialer(time.Second); d.LocalAddr != nil {
		t.Fatalf("unset: local address %v", d.LocalAddr)
	}
	if KgoDialFunc(nil) != nil {
		t.Fatal("unset: a custom franz-go dialer")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	source = &net.TCPAddr{IP: net.ParseIP("127.0.0.23")}
	defer func() { source = nil }()
	dials := []func() (net.Conn, error){
		func() (net.Conn, error) { return Dialer(time.Second).Dial("tcp", ln.Addr().String()) },
		func() (net.Conn, error) { return KgoDialFunc(nil)(context.Background(), "tcp", ln.Addr().String()) },
	}
	for i, dial := range dials {
		c, err := dial()
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		if ip := s.RemoteAddr().(*net.TCPAddr).IP.String(); ip != "127.0.0.23" {
			t.Fatalf("dial %d came from %s", i, ip)
		}
		c.Close()
		s.Close()
	}
}
