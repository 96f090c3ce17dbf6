package torture

import (
	"errors"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ringtail/ringtail/testkit"
)

// echo starts a server that echoes and counts what it receives.
func echo(t *testing.T) (string, *atomic.Int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var got atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 1024)
				for {
					k, err := c.Read(buf)
					got.Add(int64(k))
					if err != nil {
						return
					}
					c.Write(buf[:k])
				}
			}()
		}
	}()
	return ln.Addr().String(), &got
}

// proxied starts a Net with a proxy for node 2 in front of an echo server
// and returns a dial function from node 1 (127.0.0.11) and from a client.
func proxied(t *testing.T) (*Net, func(src string) net.Conn, *atomic.Int64) {
	target, got := echo(t)
	n := NewNet(map[string]int{"127.0.0.11": 1})
	t.Cleanup(n.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if err := n.Listen(addr, 2, target); err != nil {
		t.Fatal(err)
	}
	dial := func(src string) net.Conn {
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	return n, dial, got
}

func roundTrip(t *testing.T, c net.Conn, msg string, wait time.Duration) error {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		t.Fatalf("echo %q, sent %q", buf, msg)
	}
	return nil
}

func TestProxyBlackholeHoldsBytesUntilHeal(t *testing.T) {
	n, dial, _ := proxied(t)
	c := dial("127.0.0.11")
	if err := roundTrip(t, c, "hello", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	n.Set(1, 2, Blackhole, 0)
	// Absence can only be shown by waiting: nothing comes back in 200 ms.
	if err := roundTrip(t, c, "held", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackholed link answered: %v", err)
	}
	// A client (node 0) is not on the link 1 -> 2.
	if err := roundTrip(t, dial("127.0.0.1"), "client", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	n.Heal()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "held" {
		t.Fatalf("after heal: %q %v", buf, err)
	}
	if st := n.Stats(); st.Held != 1 {
		t.Fatalf("stats %+v, want one chunk held", st)
	}
}

func TestProxyOneWay(t *testing.T) {
	n, dial, got := proxied(t)
	c := dial("127.0.0.11")
	n.Set(2, 1, Blackhole, 0) // answers from 2 to 1 are lost, requests pass
	if _, err := c.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "the request to reach node 2", func() bool { return got.Load() >= 3 })
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if k, err := c.Read(make([]byte, 3)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("an answer crossed the one-way blackhole: %d %v", k, err)
	}
}

func TestProxyDropClosesAndRefuses(t *testing.T) {
	n, dial, _ := proxied(t)
	c := dial("127.0.0.11")
	if err := roundTrip(t, c, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	n.Set(2, 1, Drop, 0) // either direction closes the link's connections
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection survived a drop")
	}
	if err := roundTrip(t, dial("127.0.0.11"), "y", 5*time.Second); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a new connection over a dropped link: %v, want closed", err)
	}
	n.Heal()
	if err := roundTrip(t, dial("127.0.0.11"), "z", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if st := n.Stats(); st.Dropped != 2 {
		t.Fatalf("stats %+v, want two connections dropped (one closed, one refused)", st)
	}
}

func TestProxyDelay(t *testing.T) {
	n, dial, _ := proxied(t)
	c := dial("127.0.0.11")
	n.Set(1, 2, Delay, 100*time.Millisecond)
	start := time.Now()
	if err := roundTrip(t, c, "slow", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("round trip took %v through a 100ms delay", d)
	}
}
