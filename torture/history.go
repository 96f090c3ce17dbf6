package torture

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// EventKind is what an Event records.
type EventKind string

// The kinds of events.
const (
	EvSend EventKind = "send" // a record handed to the producer
	EvAck  EventKind = "ack"  // the broker acknowledged it (Partition, Offset)
	EvFail EventKind = "fail" // the producer gave up on it (Err): it may or may not be written
	EvRead EventKind = "read" // a record read back at the end (Partition, Offset, Value)
	EvLive EventKind = "live" // a record read (read_committed) while the nemeses ran
	EvTxn  EventKind = "txn"  // a transaction ended (Outcome)
	EvNem  EventKind = "nemesis"
)

// TxnOutcome is how a transaction ended, as far as its producer knows.
type TxnOutcome string

// Transaction outcomes.
const (
	TxnCommitted TxnOutcome = "committed" // EndTransaction(commit) succeeded
	TxnAborted   TxnOutcome = "aborted"   // never committed: aborted, or its abort failed and a fence aborts it
	TxnUnknown   TxnOutcome = "unknown"   // EndTransaction(commit) failed: all of it or none may be visible
)

// Event is one line of a History.
type Event struct {
	Kind      EventKind  `json:"k"`
	AtMs      int64      `json:"t"` // since the run started
	Topic     string     `json:"topic,omitempty"`
	Producer  ProducerID `json:"p,omitempty"`
	Seq       Seq        `json:"s,omitempty"`
	Txn       TxnNum     `json:"x,omitempty"`
	Partition int32      `json:"part"`
	Offset    int64      `json:"off"`
	Value     []byte     `json:"v,omitempty"` // reads only
	Err       string     `json:"err,omitempty"`
	Outcome   TxnOutcome `json:"outcome,omitempty"`
	Note      string     `json:"note,omitempty"` // nemesis events: what was done
}

// History is every event of a run, in the order recorded. Safe for
// concurrent Add.
type History struct {
	start time.Time
	mu    sync.Mutex
	ev    []Event
}

// NewHistory starts an empty history clocked from now.
func NewHistory() *History { return &History{start: time.Now()} }

// Add appends e, stamping its time.
func (h *History) Add(e Event) {
	h.mu.Lock()
	e.AtMs = time.Since(h.start).Milliseconds()
	h.ev = append(h.ev, e)
	h.mu.Unlock()
}

// Events returns a copy of the events so far.
func (h *History) Events() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.ev...)
}

// WriteEvents writes events as JSON lines after a header line.
func WriteEvents(w io.Writer, header string, ev []Event) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# %s\n", header)
	enc := json.NewEncoder(bw)
	for i := range ev {
		if err := enc.Encode(&ev[i]); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// ReadEventsFile reads a file written by WriteEvents, returning its
// header and events.
func ReadEventsFile(path string) (string, []Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	var header string
	var ev []Event
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) > 0 && line[0] == '#' {
			header = string(line[1:])
			continue
		}
		var e Event
		if err := json.Unmarshal(line, &e); err != nil {
			return "", nil, fmt.Errorf("%s: %w", path, err)
		}
		ev = append(ev, e)
	}
	return header, ev, sc.Err()
}
