package connect

// Kafka's Connect group protocol, the eager ("default") one, version 0
// (ConnectProtocol.java): the metadata a worker sends in JoinGroup and the
// assignment the leader hands out in SyncGroup, in Kafka's own binary
// schemas, so the bytes match what a Java worker would send.
//
//	header:      version int16
//	metadata:    url string, config_offset int64
//	assignment:  error int16, leader string, leader_url string,
//	             config_offset int64,
//	             [connector string, [task int32]]  (task -1 = the connector)
//
// string is an int16 length and UTF-8 bytes; an array is an int32 count.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sort"
)

const (
	// connectProtocolType is JoinGroup's protocol type for Connect
	// workers; connectProtocolEager is the eager protocol's name.
	connectProtocolType  = "connect"
	connectProtocolEager = "default"
	connectProtocolV0    = 0
	// connectorTaskID in an assignment's task list stands for the
	// connector itself.
	connectorTaskID = -1

	// Assignment error codes (ConnectProtocol.Assignment).
	assignNoError        = 0
	assignConfigMismatch = 1

	// maxProtocolItems bounds arrays a decoder accepts, so a bad count
	// cannot make it allocate much.
	maxProtocolItems = 1 << 20
)

// workerMetadata is a member's JoinGroup metadata: its REST URL and how far
// it has read the config topic.
type workerMetadata struct {
	Version      int16
	URL          string
	ConfigOffset int64
}

// assignment is what SyncGroup gives a member.
type assignment struct {
	Version      int16
	Error        int16
	Leader       string // member id
	LeaderURL    string
	ConfigOffset int64
	Connectors   []string
	Tasks        []TaskID
}

type protoWriter struct{ b []byte }

func (w *protoWriter) int16(v int16) { w.b = binary.BigEndian.AppendUint16(w.b, uint16(v)) }
func (w *protoWriter) int32(v int32) { w.b = binary.BigEndian.AppendUint32(w.b, uint32(v)) }
func (w *protoWriter) int64(v int64) { w.b = binary.BigEndian.AppendUint64(w.b, uint64(v)) }
func (w *protoWriter) string(s string) {
	w.int16(int16(len(s)))
	w.b = append(w.b, s...)
}

type protoReader struct {
	b   []byte
	err error
}

var errShortProtocol = errors.New("connect protocol: truncated")

func (r *protoReader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b) < n {
		r.err = errShortProtocol
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *protoReader) int16() int16 {
	if b := r.take(2); b != nil {
		return int16(binary.BigEndian.Uint16(b))
	}
	return 0
}

func (r *protoReader) int32() int32 {
	if b := r.take(4); b != nil {
		return int32(binary.BigEndian.Uint32(b))
	}
	return 0
}

func (r *protoReader) int64() int64 {
	if b := r.take(8); b != nil {
		return int64(binary.BigEndian.Uint64(b))
	}
	return 0
}

func (r *protoReader) string() string {
	n := r.int16()
	if n < 0 {
		if r.err == nil {
			r.err = fmt.Errorf("connect protocol: null or negative string length %d", n)
		}
		return ""
	}
	return string(r.take(int(n)))
}

// arrayLen reads an array count; each element takes at least min bytes,
// which bounds the count by what is left.
func (r *protoReader) arrayLen(min int) int {
	n := r.int32()
	if r.err != nil {
		return 0
	}
	if n < 0 || int(n) > maxProtocolItems || int(n)*min > len(r.b) {
		r.err = fmt.Errorf("connect protocol: bad array length %d", n)
		return 0
	}
	return int(n)
}

func encodeMetadata(m workerMetadata) []byte {
	w := &protoWriter{}
	w.int16(connectProtocolV0)
	w.string(m.URL)
	w.int64(m.ConfigOffset)
	return w.b
}

// decodeMetadata reads a member's metadata. A later version's extra fields
// are ignored, as Kafka reads a newer header with the older schema.
func decodeMetadata(b []byte) (workerMetadata, error) {
	r := &protoReader{b: b}
	m := workerMetadata{Version: r.int16()}
	if r.err == nil && m.Version < connectProtocolV0 {
		return m, fmt.Errorf("connect protocol: metadata version %d", m.Version)
	}
	m.URL = r.string()
	m.ConfigOffset = r.int64()
	return m, r.err
}

func encodeAssignment(a assignment) []byte {
	w := &protoWriter{}
	w.int16(connectProtocolV0)
	w.int16(a.Error)
	w.string(a.Leader)
	w.string(a.LeaderURL)
	w.int64(a.ConfigOffset)
	// Kafka groups by connector: the connector itself as task -1 first.
	byConn := map[string][]int32{}
	for _, c := range a.Connectors {
		byConn[c] = append(byConn[c], connectorTaskID)
	}
	for _, t := range a.Tasks {
		byConn[t.Connector] = append(byConn[t.Connector], int32(t.Task))
	}
	names := make([]string, 0, len(byConn))
	for c := range byConn {
		names = append(names, c)
	}
	sort.Strings(names)
	w.int32(int32(len(names)))
	for _, c := range names {
		w.string(c)
		w.int32(int32(len(byConn[c])))
		for _, t := range byConn[c] {
			w.int32(t)
		}
	}
	return w.b
}

func decodeAssignment(b []byte) (assignment, error) {
	r := &protoReader{b: b}
	a := assignment{Version: r.int16()}
	if r.err == nil && a.Version < connectProtocolV0 {
		return a, fmt.Errorf("connect protocol: assignment version %d", a.Version)
	}
	a.Error = r.int16()
	a.Leader = r.string()
	a.LeaderURL = r.string()
	a.ConfigOffset = r.int64()
	n := r.arrayLen(6)
	for range n {
		c := r.string()
		k := r.arrayLen(4)
		for range k {
			t := r.int32()
			switch {
			case r.err != nil:
			case t == connectorTaskID:
				a.Connectors = append(a.Connectors, c)
			case t < 0:
				r.err = fmt.Errorf("connect protocol: task id %d of %s", t, c)
			default:
				a.Tasks = append(a.Tasks, TaskID{c, int(t)})
			}
		}
		if r.err != nil {
			break
		}
	}
	slices.SortFunc(a.Tasks, compareTaskID)
	return a, r.err
}

func compareTaskID(a, b TaskID) int {
	if a.Connector != b.Connector {
		if a.Connector < b.Connector {
			return -1
		}
		return 1
	}
	return a.Task - b.Task
}
