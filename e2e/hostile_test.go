// This file holds requests that cost more than they carry, sent over raw
// loopback sockets to the real binary. A flexible request whose tagged-field
// count is 2^32-1 with nothing behind it must be refused for next to no CPU:
// kmsg v1.15.0 looped through such a count after its reader ran out of
// bytes, about two seconds of CPU for a ~25-byte request (v1.15.1 stops at
// the end of input). And a well-formed request for a key Kafka defines but
// the broker does not serve closes the connection, as Apache Kafka's
// SocketServer does, while the same framing for a served key is answered.
package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/ringtail/ringtail/testkit"
)

const (
	hostileRequests = 1000
	// hostileCPUBudget is 1 ms a request on average: connection setup and
	// teardown under -race fit many times over; one looped count does not.
	hostileCPUBudget = time.Second
	// hostileIOTimeout bounds every socket operation.
	hostileIOTimeout = 10 * time.Second
)

// hostileCount is the uvarint 2^32-1: the largest count a flexible request
// can claim.
var hostileCount = []byte{0xff, 0xff, 0xff, 0xff, 0x0f}

type hostileCase struct {
	name         string
	key, version int16
	headerTags   []byte // the request header's tagged fields (header v2)
	body         []byte
}

// frame is the request on the wire: size, header v2 (key, version,
// correlation id, client id, tagged fields), body.
func (c hostileCase) frame(correlationID int32) []byte {
	const clientID = "hostile"
	b := make([]byte, 4, 32)
	b = binary.BigEndian.AppendUint16(b, uint16(c.key))
	b = binary.BigEndian.AppendUint16(b, uint16(c.version))
	b = binary.BigEndian.AppendUint32(b, uint32(correlationID))
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	b = append(b, c.headerTags...)
	b = append(b, c.body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// hostileCases builds, for every flexible version of every served key:
// a body that is only the hostile count; the zero-valued request with its
// top-level tag count (its last byte) replaced by the hostile count, so
// that the count sits behind valid fields; and a valid body behind a
// header whose tag count is 2^31, the largest the header parser accepts.
func hostileCases(t *testing.T, served []kmsg.ApiVersionsResponseApiKey) []hostileCase {
	t.Helper()
	hugeHeaderTags := binary.AppendUvarint(nil, 1<<31)
	var cases []hostileCase
	for _, k := range served {
		for v := k.MinVersion; v <= k.MaxVersion; v++ {
			req := kmsg.RequestForKey(k.ApiKey)
			if req == nil {
				t.Logf("key %d is served but unknown to kmsg; not covered", k.ApiKey)
				break
			}
			req.SetVersion(v)
			if !req.IsFlexible() {
				continue
			}
			name := fmt.Sprintf("%s v%d", kmsg.NameForKey(k.ApiKey), v)
			valid := req.AppendTo(nil)
			cases = append(cases,
				hostileCase{name + ": body is the count", k.ApiKey, v, []byte{0}, hostileCount},
				hostileCase{name + ": header tag count 2^31", k.ApiKey, v, hugeHeaderTags, valid})
			if last := len(valid) - 1; valid[last] == 0 {
				body := append(valid[:last:last], hostileCount...)
				cases = append(cases, hostileCase{name + ": top-level tag count after valid fields", k.ApiKey, v, []byte{0}, body})
			} else {
				t.Errorf("%s: zero-valued request ends in %#x, not an empty tag count", name, valid[last])
			}
		}
	}
	return cases
}

func TestHostileTagCountsCostNoCPU(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	pid := n.PID()
	cases := hostileCases(t, servedVersions(t, n.Addr()))
	if len(cases) == 0 {
		t.Fatal("the broker serves no flexible version")
	}
	if len(cases) > hostileRequests {
		t.Fatalf("%d cases do not fit in %d requests", len(cases), hostileRequests)
	}
	before := processCPU(t, pid)
	start := time.Now()
	overBudget := func() error {
		if used := processCPU(t, pid) - before; used > hostileCPUBudget {
			return fmt.Errorf("the broker has used %v of CPU since the first of them; budget %v for %d",
				used, hostileCPUBudget, hostileRequests)
		}
		return nil
	}
	for i := 0; i < hostileRequests; i++ {
		c := cases[i%len(cases)]
		err := expectRefused(n.Addr(), c.frame(int32(i)), overBudget)
		if err == nil {
			err = overBudget()
		}
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, c.name, err)
		}
	}
	used := processCPU(t, pid) - before
	t.Logf("broker CPU for %d hostile requests (%d cases: every flexible version of every served key): %v (%v a request), wall %v",
		hostileRequests, len(cases), used, used/hostileRequests, time.Since(start).Round(time.Millisecond))
	// And it still serves.
	if len(servedVersions(t, n.Addr())) == 0 {
		t.Fatal("no keys served after the hostile requests")
	}
}

// TestUnservedKeyClosesConnection sends, for every key kmsg knows that the
// broker does not list in ApiVersions, a well-formed request (at version 0
// and at kmsg's newest) behind a served request with the same header
// version on the same connection: the served one is answered, the unserved
// one closes the connection without an answer.
func TestUnservedKeyClosesConnection(t *testing.T) {
	t.Parallel()
	n := startNode(t, testkit.Options{})
	served := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range servedVersions(t, n.Addr()) {
		served[k.ApiKey] = k
	}
	meta, ok := served[3]
	if !ok {
		t.Fatal("Metadata is not served")
	}
	// control returns a Metadata request at a served version whose header
	// has the same version (v2 when flexible, else v1) as req's.
	control := func(flexible bool) kmsg.Request {
		for v := meta.MinVersion; v <= meta.MaxVersion; v++ {
			r := kmsg.NewPtrMetadataRequest()
			r.SetVersion(v)
			if r.IsFlexible() == flexible {
				return r
			}
		}
		return nil
	}
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("unserved"))
	var tested []string
	for key := int16(0); key <= kmsg.MaxKey; key++ {
		req := kmsg.RequestForKey(key)
		if req == nil {
			continue
		}
		if _, ok := served[key]; ok {
			continue
		}
		for _, v := range []int16{0, req.MaxVersion()} {
			if key == 7 && v == 0 {
				continue // ControlledShutdown v0's header has no client id
			}
			req.SetVersion(v)
			ctl := control(req.IsFlexible())
			if ctl == nil {
				t.Logf("%s v%d: no served Metadata version with the same header; not covered", kmsg.NameForKey(key), v)
				continue
			}
			name := fmt.Sprintf("%s v%d", kmsg.NameForKey(key), v)
			c, err := net.DialTimeout("tcp", n.Addr(), hostileIOTimeout)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(hostileIOTimeout))
			if _, err := c.Write(f.AppendRequest(nil, ctl, 1)); err != nil {
				t.Fatalf("%s: writing the control request: %v", name, err)
			}
			if corr, _, err := readFrame(c); err != nil || corr != 1 {
				t.Fatalf("%s: control Metadata v%d not answered: correlation id %d, %v", name, ctl.GetVersion(), corr, err)
			}
			if _, err := c.Write(f.AppendRequest(nil, req, 2)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := expectClosed(c); err != nil {
				t.Errorf("%s (not served): %v", name, err)
			}
			c.Close()
			tested = append(tested, name)
			if v == req.MaxVersion() {
				break // version 0 was the newest
			}
		}
	}
	if len(tested) == 0 {
		t.Skip("the broker serves every key kmsg knows")
	}
	t.Logf("%d unserved key versions sent: %s", len(tested), strings.Join(tested, ", "))
}

// servedVersions asks the broker for its ApiVersions (v3) over a raw socket.
func servedVersions(t *testing.T, addr string) []kmsg.ApiVersionsResponseApiKey {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hostileIOTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(hostileIOTimeout))
	req := kmsg.NewPtrApiVersionsRequest()
	req.Version = 3
	req.ClientSoftwareName, req.ClientSoftwareVersion = "ringtail-e2e", "1.0"
	if _, err := c.Write(kmsg.NewRequestFormatter(kmsg.FormatterClientID("e2e")).AppendRequest(nil, req, 1)); err != nil {
		t.Fatal(err)
	}
	corr, body, err := readFrame(c)
	if err != nil || corr != 1 {
		t.Fatalf("ApiVersions: correlation id %d, %v", corr, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3 // its response header is v0: no tags to skip
	if err := resp.ReadFrom(body); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: error code %d, %v", resp.ErrorCode, err)
	}
	return resp.ApiKeys
}

// readFrame reads one response: its correlation id and the rest.
func readFrame(c net.Conn) (int32, []byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > 1<<20 {
		return 0, nil, fmt.Errorf("response size %d", n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(buf)), buf[4:], nil
}

// expectRefused sends frame on a fresh connection and returns nil once the
// broker closes it without an answer. While it waits it calls check every
// 100 ms and gives up with check's error, so that a request the broker
// spins on fails the test in about a second rather than at the deadline.
func expectRefused(addr string, frame []byte, check func() error) error {
	c, err := net.DialTimeout("tcp", addr, hostileIOTimeout)
	if err != nil {
		return err
	}
	defer c.Close()
	deadline := time.Now().Add(hostileIOTimeout)
	c.SetWriteDeadline(deadline)
	if _, err := c.Write(frame); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	for {
		next := time.Now().Add(100 * time.Millisecond)
		if next.After(deadline) {
			next = deadline
		}
		c.SetReadDeadline(next)
		err := expectClosed(c)
		if err == nil || !errors.Is(err, errStillOpen) || !time.Now().Before(deadline) {
			return err
		}
		if err := check(); err != nil {
			return err
		}
	}
}

var errStillOpen = errors.New("connection still open at the deadline; want it closed")

// expectClosed returns nil when the broker closes c (before c's deadline)
// without sending anything.
func expectClosed(c net.Conn) error {
	var b [1]byte
	n, err := c.Read(b[:])
	switch {
	case n > 0:
		return errors.New("answered; want the connection closed")
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
		return nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return errStillOpen
	default:
		return err
	}
}

// processCPU is the user plus system CPU time process pid has used so far,
// from /proc/<pid>/stat, whose figures are in clock ticks.
func processCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: the first is field 3 (state); utime and stime are 14 and 15.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("/proc/%d/stat: %v", pid, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / time.Duration(clockTicks())
}

// clockTicks is sysconf(_SC_CLK_TCK), which the kernel passes to every
// process as AT_CLKTCK in its auxiliary vector; 100 where it cannot be read.
func clockTicks() uint64 {
	const atClkTck = 17
	if auxv, err := unix.Auxv(); err == nil {
		for _, kv := range auxv {
			if kv[0] == atClkTck && kv[1] > 0 {
				return uint64(kv[1])
			}
		}
	}
	return 100
}
