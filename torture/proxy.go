package torture

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Fault is what a link does to the bytes on it.
type Fault int

// The faults of a link, one direction at a time.
const (
	// Pass forwards bytes as they come.
	Pass Fault = iota
	// Delay holds each chunk for the link's delay before forwarding it.
	Delay
	// Blackhole forwards nothing and keeps the connection: as when every
	// packet is dropped, the bytes flow again (late, in order) after the
	// link heals, unless an end gives up first. New connections are
	// accepted and hang.
	Blackhole
	// Drop closes the connections on the link (both directions) and
	// closes new ones at once: a refused or reset connection.
	Drop
)

func (f Fault) String() string {
	return [...]string{"pass", "delay", "blackhole", "drop"}[f]
}

// Link is one direction between two nodes; node 0 is anything that is not
// a node (the test's clients).
type Link struct{ From, To int }

type linkRule struct {
	fault Fault
	delay time.Duration
}

// Net is the set of fault-injecting proxies of one run: one in front of
// each node's port that other nodes dial, telling the dialing node by its
// source IP (see package dialsrc) and applying the rule of the link from it
// to the proxied node, and of the link back for the answers.
type Net struct {
	ips map[string]int // source IP -> node

	mu      sync.Mutex
	rules   map[Link]linkRule
	changed chan struct{} // closed (and replaced) when rules change
	conns   map[*proxyConn]struct{}
	seen    map[Link]int // connections accepted per (source node, proxied node)
	stats   NetStats
	lns     []net.Listener
	closed  bool
	wg      sync.WaitGroup
}

// NewNet returns a Net that knows node i by source IP ips[ip] = i.
func NewNet(ips map[string]int) *Net {
	return &Net{ips: ips, rules: map[Link]linkRule{}, changed: make(chan struct{}), conns: map[*proxyConn]struct{}{}, seen: map[Link]int{}}
}

// Set sets the fault on the link from -> to (delay is for Delay).
func (n *Net) Set(from, to int, f Fault, delay time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if f == Pass {
		delete(n.rules, Link{from, to})
	} else {
		n.rules[Link{from, to}] = linkRule{f, delay}
	}
	if f == Drop {
		for c := range n.conns {
			if (c.src == from && c.dst == to) || (c.src == to && c.dst == from) {
				n.stats.Dropped++
				c.close()
			}
		}
	}
	close(n.changed)
	n.changed = make(chan struct{})
}

// Heal passes every link again.
func (n *Net) Heal() {
	n.mu.Lock()
	defer n.mu.Unlock()
	clear(n.rules)
	close(n.changed)
	n.changed = make(chan struct{})
}

func (n *Net) rule(from, to int) (linkRule, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rules[Link{from, to}], n.changed
}

// Listen starts a proxy on addr for node to, forwarding to target.
func (n *Net) Listen(addr string, to int, target string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("torture: proxy for node %d on %s: %w", to, addr, err)
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		ln.Close()
		return errors.New("torture: net closed")
	}
	n.lns = append(n.lns, ln)
	n.wg.Add(1)
	n.mu.Unlock()
	go n.accept(ln, to, target)
	return nil
}

// NetStats count what the faults did: connections refused or closed by
// Drop, chunks that waited in a Blackhole, chunks held by a Delay.
type NetStats struct{ Dropped, Held, Delayed int }

// Stats returns the counts so far.
func (n *Net) Stats() NetStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

func (n *Net) count(f func(*NetStats)) {
	n.mu.Lock()
	f(&n.stats)
	n.mu.Unlock()
}

// Seen is how many connections each (source node, proxied node) pair
// opened so far.
func (n *Net) Seen() map[Link]int {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[Link]int, len(n.seen))
	for k, v := range n.seen {
		out[k] = v
	}
	return out
}

// Close stops every proxy and closes every proxied connection.
func (n *Net) Close() {
	n.mu.Lock()
	n.closed = true
	for _, ln := range n.lns {
		ln.Close()
	}
	for c := range n.conns {
		c.close()
	}
	n.mu.Unlock()
	n.wg.Wait()
}

func (n *Net) accept(ln net.Listener, to int, target string) {
	defer n.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		src := 0
		if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			src = n.ips[ta.IP.String()]
		}
		n.mu.Lock()
		n.seen[Link{src, to}]++
		n.mu.Unlock()
		fwd, _ := n.rule(src, to)
		back, _ := n.rule(to, src)
		if fwd.fault == Drop || back.fault == Drop {
			n.count(func(s *NetStats) { s.Dropped++ })
			c.Close()
			continue
		}
		n.wg.Add(1)
		go n.serve(c, src, to, target)
	}
}

// proxyConn is one proxied connection from node src to node dst.
type proxyConn struct {
	src, dst int
	down, up net.Conn
	once     sync.Once
	done     chan struct{}
}

func (c *proxyConn) close() {
	c.once.Do(func() {
		close(c.done)
		c.down.Close()
		if c.up != nil {
			c.up.Close()
		}
	})
}

func (n *Net) serve(down net.Conn, src, dst int, target string) {
	defer n.wg.Done()
	up, err := net.DialTimeout("tcp", target, 5*time.Second)
	if err != nil {
		down.Close()
		return
	}
	c := &proxyConn{src: src, dst: dst, down: down, up: up, done: make(chan struct{})}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		c.close()
		return
	}
	n.conns[c] = struct{}{}
	n.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); n.pump(c, src, dst, down, up) }()
	go func() { defer wg.Done(); n.pump(c, dst, src, up, down) }()
	wg.Wait()
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

// pump copies r to w chunk by chunk, each under the rule of from -> to at
// the time it is forwarded.
func (n *Net) pump(c *proxyConn, from, to int, r io.Reader, w io.Writer) {
	defer c.close()
	buf := make([]byte, 32<<10)
	for {
		k, err := r.Read(buf)
		if k > 0 && !n.forward(c, from, to, w, buf[:k]) {
			return
		}
		if err != nil {
			return
		}
	}
}

// forward writes b under the link's rule; false when the connection ends.
func (n *Net) forward(c *proxyConn, from, to int, w io.Writer, b []byte) bool {
	held := false
	for {
		rl, changed := n.rule(from, to)
		switch rl.fault {
		case Drop:
			return false
		case Blackhole:
			if !held {
				held = true
				n.count(func(s *NetStats) { s.Held++ })
			}
			select {
			case <-changed:
				continue
			case <-c.done:
				return false
			}
		case Delay:
			n.count(func(s *NetStats) { s.Delayed++ })
			t := time.NewTimer(rl.delay)
			select {
			case <-t.C:
			case <-c.done:
				t.Stop()
				return false
			}
		}
		_, err := w.Write(b)
		return err == nil
	}
}
