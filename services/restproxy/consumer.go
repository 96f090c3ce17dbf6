package restproxy

// v2 consumer instances. Each instance is a member of its group (classic
// protocol) through its own kgo client once it subscribes, or a direct
// consumer of the partitions it is assigned; commits go to the group
// either way, so `ringtail group describe` shows them. Records a poll
// fetched beyond a request's max_bytes wait in the instance for the next
// request, so none is skipped.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/ringtail/ringtail/acl"
)

type instanceMode int

const (
	modeNone instanceMode = iota
	modeSubscribed
	modeAssigned
)

// instance is one consumer instance.
type instance struct {
	key        instanceKey
	owner      string // the principal that made it; only it may use it
	format     format
	reset      string // earliest, latest or none
	autoCommit bool

	useMu sync.Mutex // guards last and busy, read by expiry
	last  time.Time
	busy  int

	// mu serializes the requests on this instance.
	mu         sync.Mutex
	closed     bool
	cl         *kgo.Client // nil until subscribed or assigned
	mode       instanceMode
	topics     []string
	pattern    string
	assigned   map[string]map[int32]bool // by the group (subscribed) or the client (assigned)
	assignedMu sync.Mutex                // guards assigned: kgo's callbacks write it
	buf        []*kgo.Record             // fetched, not yet returned
	consumed   map[string]map[int32]int64
	start      map[string]map[int32]kgo.Offset // assigned: where each partition starts
	pending    map[instTP]pendingSeek          // subscribed: seeks not yet seen in the records
}

func (in *instance) use() instanceUse {
	in.useMu.Lock()
	defer in.useMu.Unlock()
	return instanceUse{last: in.last, busy: in.busy > 0}
}

// close closes the instance's client (leaving the group), waiting for a
// request in progress.
func (in *instance) close() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.closed = true
	in.dropClientLocked()
}

func (in *instance) dropClientLocked() {
	if in.cl != nil {
		in.cl.Close()
	}
	in.cl, in.mode, in.topics, in.pattern, in.buf, in.start = nil, modeNone, nil, "", nil, nil
	in.pending = map[instTP]pendingSeek{}
	in.consumed = map[string]map[int32]int64{}
	in.assignedMu.Lock()
	in.assigned = map[string]map[int32]bool{}
	in.assignedMu.Unlock()
}

// acquireBody decodes the request's v2 body into body, then acquires
// the instance as acquire does.
func (p *Proxy) acquireBody(req *http.Request, body any) (*instance, func(), error) {
	if err := decodeV2(req, body); err != nil {
		return nil, nil, err
	}
	return p.acquire(req)
}

// acquire finds the request's instance, locked and marked busy; release
// undoes both. Another principal's instance is not found: an instance
// acts with its maker's rights, and its existence is not shown to others.
func (p *Proxy) acquire(req *http.Request) (*instance, func(), error) {
	k := instanceKey{req.PathValue("group"), req.PathValue("instance")}
	p.mu.Lock()
	in := p.mu.instances[k]
	if in != nil && in.owner != owner(req) {
		in = nil
	}
	if in != nil {
		in.useMu.Lock()
		in.busy++
		in.useMu.Unlock()
	}
	p.mu.Unlock()
	if in == nil {
		return nil, nil, errInstanceNotFound
	}
	release := func() {
		in.useMu.Lock()
		in.busy--
		in.last = p.cfg.Now()
		in.useMu.Unlock()
	}
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		release()
		return nil, nil, errInstanceNotFound
	}
	return in, func() { in.mu.Unlock(); release() }, nil
}

// instanceConfig is the create body; Confluent takes its values as
// strings, numbers or booleans alike.
func instanceConfig(m map[string]any) (name string, f format, reset string, autoCommit bool, err error) {
	str := func(k string) (string, bool) {
		v, ok := m[k]
		if !ok || v == nil {
			return "", false
		}
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			return strconv.FormatBool(x), true
		}
		return "", false
	}
	name, _ = str("name")
	if name == "" {
		name, _ = str("id") // the v1 name of the field
	}
	if strings.ContainsAny(name, "/?#%") || len(name) > 255 {
		return "", "", "", false, errConsumerConfig("name may not contain / ? # % or be over 255 characters")
	}
	f = fmtBinary
	if s, ok := str("format"); ok {
		switch format(strings.ToLower(s)) {
		case fmtJSON, fmtBinary, fmtAvro:
			f = format(strings.ToLower(s))
		default:
			return "", "", "", false, errConsumerConfig(fmt.Sprintf("format %q is not supported: json, binary or avro", s))
		}
	}
	reset = "latest"
	if s, ok := str("auto.offset.reset"); ok {
		switch strings.ToLower(s) {
		case "earliest", "latest", "none":
			reset = strings.ToLower(s)
		case "smallest":
			reset = "earliest"
		case "largest":
			reset = "latest"
		default:
			return "", "", "", false, errConsumerConfig(fmt.Sprintf("auto.offset.reset %q must be earliest, latest or none", s))
		}
	}
	autoCommit = true
	if s, ok := str("auto.commit.enable"); ok {
		b, perr := strconv.ParseBool(s)
		if perr != nil {
			return "", "", "", false, errConsumerConfig(fmt.Sprintf("auto.commit.enable %q must be true or false", s))
		}
		autoCommit = b
	}
	return name, f, reset, autoCommit, nil
}

func randomName() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "rest-consumer-" + hex.EncodeToString(b[:])
}

func (p *Proxy) createInstance(w http.ResponseWriter, req *http.Request) error {
	m := map[string]any{}
	if err := decodeV2(req, &m); err != nil {
		return err
	}
	name, f, reset, ac, err := instanceConfig(m)
	if err != nil {
		return err
	}
	if name == "" {
		name = randomName()
	}
	group := req.PathValue("group")
	in := &instance{key: instanceKey{group, name}, owner: owner(req), format: f, reset: reset, autoCommit: ac,
		last: p.cfg.Now(), consumed: map[string]map[int32]int64{}, assigned: map[string]map[int32]bool{}, pending: map[instTP]pendingSeek{}}
	p.mu.Lock()
	if _, ok := p.mu.instances[in.key]; ok {
		p.mu.Unlock()
		return errInstanceExists
	}
	if len(p.mu.instances) >= p.cfg.MaxInstances {
		p.mu.Unlock()
		return errf(42901, "Too many consumer instances: this proxy serves at most %d", p.cfg.MaxInstances)
	}
	p.mu.instances[in.key] = in
	p.metrics.instances.Set(float64(len(p.mu.instances)))
	p.mu.Unlock()
	writeJSON(w, 200, ctV2, map[string]string{"instance_id": name,
		"base_uri": baseURL(req) + "/consumers/" + group + "/instances/" + name})
	return nil
}

func (p *Proxy) deleteInstance(w http.ResponseWriter, req *http.Request) error {
	k := instanceKey{req.PathValue("group"), req.PathValue("instance")}
	p.mu.Lock()
	in := p.mu.instances[k]
	if in == nil || in.owner != owner(req) {
		p.mu.Unlock()
		return errInstanceNotFound
	}
	delete(p.mu.instances, k)
	p.metrics.instances.Set(float64(len(p.mu.instances)))
	p.mu.Unlock()
	in.close()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (in *instance) resetOffset() kgo.Offset {
	switch in.reset {
	case "earliest":
		return kgo.NewOffset().AtStart()
	case "none":
		return kgo.NoResetOffset()
	}
	return kgo.NewOffset().AtEnd()
}

// trackAssigned keeps in.assigned current from kgo's group callbacks.
func (in *instance) trackAssigned(add bool) func(context.Context, *kgo.Client, map[string][]int32) {
	return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
		in.assignedMu.Lock()
		defer in.assignedMu.Unlock()
		for t, parts := range ps {
			if in.assigned[t] == nil {
				in.assigned[t] = map[int32]bool{}
			}
			for _, pt := range parts {
				if add {
					in.assigned[t][pt] = true
				} else {
					delete(in.assigned[t], pt)
				}
			}
		}
	}
}

type subscriptionBody struct {
	Topics       []string `json:"topics"`
	TopicPattern string   `json:"topic_pattern"`
}

func (p *Proxy) subscribe(w http.ResponseWriter, req *http.Request) error {
	var body subscriptionBody
	if err := decodeV2(req, &body); err != nil {
		return err
	}
	if (len(body.Topics) == 0) == (body.TopicPattern == "") {
		return errShape("A subscription names topics or a topic_pattern, not both")
	}
	var pattern *regexp.Regexp
	if body.TopicPattern != "" {
		var err error
		if pattern, err = regexp.Compile(body.TopicPattern); err != nil {
			return errShape(fmt.Sprintf("topic_pattern is not a valid regular expression: %v", err))
		}
	}
	in, release, err := p.acquire(req)
	if err != nil {
		return err
	}
	defer release()
	if in.mode == modeAssigned {
		return errIllegalState("Subscription to topics, partitions and pattern are mutually exclusive")
	}
	// Checked now, not at the first poll as a Kafka consumer would: the
	// proxy's own client would otherwise join the group for a caller
	// that may not read it.
	if err := p.authorize(req, acl.ResourceGroup, in.key.group, acl.OpRead); err != nil {
		return err
	}
	if err := p.authorizeTopics(req, body.Topics, acl.OpRead); err != nil {
		return err
	}
	in.dropClientLocked()
	opts := []kgo.Opt{kgo.ConsumerGroup(in.key.group), kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(in.resetOffset()),
		kgo.OnPartitionsAssigned(in.trackAssigned(true)), kgo.OnPartitionsRevoked(in.trackAssigned(false)),
		kgo.OnPartitionsLost(in.trackAssigned(false))}
	opts = append(opts, consumerLimits()...)
	if pattern != nil {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(pattern.String()))
	} else {
		opts = append(opts, kgo.ConsumeTopics(body.Topics...))
	}
	cl, err := p.clients.NewConsumer(req, opts...)
	if err != nil {
		return errKafka(err)
	}
	in.cl, in.mode, in.topics, in.pattern = cl, modeSubscribed, body.Topics, body.TopicPattern
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *Proxy) getSubscription(w http.ResponseWriter, req *http.Request) error {
	in, release, err := p.acquire(req)
	if err != nil {
		return err
	}
	defer release()
	topics := []string{}
	if in.mode == modeSubscribed {
		if in.pattern != "" {
			topics = in.cl.GetConsumeTopics()
		} else {
			topics = append(topics, in.topics...)
		}
	}
	sort.Strings(topics)
	writeJSON(w, 200, ctV2, map[string][]string{"topics": topics})
	return nil
}

func (p *Proxy) unsubscribe(w http.ResponseWriter, req *http.Request) error {
	in, release, err := p.acquire(req)
	if err != nil {
		return err
	}
	defer release()
	if in.mode == modeSubscribed {
		in.dropClientLocked()
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type topicPartition struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
}

type partitionsBody struct {
	Partitions []topicPartition `json:"partitions"`
}

func (p *Proxy) assign(w http.ResponseWriter, req *http.Request) error {
	var body partitionsBody
	in, release, err := p.acquireBody(req, &body)
	if err != nil {
		return err
	}
	defer release()
	if in.mode == modeSubscribed {
		return errIllegalState("Subscription to topics, partitions and pattern are mutually exclusive")
	}
	if err := p.authorizeTopics(req, topicsOf(body.Partitions), acl.OpRead); err != nil {
		return err
	}
	if len(body.Partitions) > 0 {
		// The committed offsets are the group's.
		if err := p.authorize(req, acl.ResourceGroup, in.key.group, acl.OpDescribe); err != nil {
			return err
		}
	}
	in.dropClientLocked()
	if len(body.Partitions) == 0 {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	adm, ctx, cancel, err := p.admin(req)
	if err != nil {
		return err
	}
	defer cancel()
	// Like a Kafka consumer, an assigned partition starts at the group's
	// committed offset, else where auto.offset.reset says.
	committed, err := adm.FetchOffsets(ctx, in.key.group)
	if err != nil {
		return errKafka(err)
	}
	start := map[string]map[int32]kgo.Offset{}
	for _, tp := range body.Partitions {
		o := in.resetOffset()
		if c, ok := committed.Lookup(tp.Topic, tp.Partition); ok && c.Err == nil && c.At >= 0 {
			o = kgo.NewOffset().At(c.At)
		}
		setTP(start, tp.Topic, tp.Partition, o)
	}
	cl, err := p.clients.NewConsumer(req, append([]kgo.Opt{kgo.ConsumePartitions(copyStart(start))}, consumerLimits()...)...)
	if err != nil {
		return errKafka(err)
	}
	in.cl, in.mode, in.start = cl, modeAssigned, start
	in.assignedMu.Lock()
	for t, ps := range start {
		in.assigned[t] = map[int32]bool{}
		for pt := range ps {
			in.assigned[t][pt] = true
		}
	}
	in.assignedMu.Unlock()
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// assignedList is the instance's partitions, sorted.
func (in *instance) assignedList() []topicPartition {
	in.assignedMu.Lock()
	defer in.assignedMu.Unlock()
	out := []topicPartition{}
	for t, ps := range in.assigned {
		for pt := range ps {
			out = append(out, topicPartition{t, pt})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

func (in *instance) isAssigned(t string, pt int32) bool {
	in.assignedMu.Lock()
	defer in.assignedMu.Unlock()
	return in.assigned[t][pt]
}

func (p *Proxy) getAssignments(w http.ResponseWriter, req *http.Request) error {
	in, release, err := p.acquire(req)
	if err != nil {
		return err
	}
	defer release()
	writeJSON(w, 200, ctV2, partitionsBody{Partitions: in.assignedList()})
	return nil
}

type offsetItem struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Metadata  *string `json:"metadata,omitempty"`
}

type offsetsBody struct {
	Offsets []offsetItem `json:"offsets"`
}

// seekLocked moves the instance's positions and drops buffered records of
// those partitions, which the seek makes stale.
func (in *instance) seekLocked(req *http.Request, p *Proxy, to map[string]map[int32]int64) error {
	set := map[string]map[int32]kgo.EpochOffset{}
	for t, ps := range to {
		for pt, o := range ps {
			if in.cl == nil || !in.isAssigned(t, pt) {
				return errIllegalState(fmt.Sprintf("No current assignment for partition %s-%d", t, pt))
			}
			if set[t] == nil {
				set[t] = map[int32]kgo.EpochOffset{}
			}
			set[t][pt] = kgo.EpochOffset{Epoch: -1, Offset: o}
		}
	}
	if in.mode == modeAssigned {
		return in.restartAssignedLocked(req, p, to)
	}
	kept := in.buf[:0]
	for _, r := range in.buf {
		if _, moved := to[r.Topic][r.Partition]; !moved {
			kept = append(kept, r)
		}
	}
	in.buf = kept
	for t, ps := range to {
		for pt, o := range ps {
			in.pending[instTP{t, pt}] = pendingSeek{offset: o}
		}
	}
	in.cl.SetOffsets(set)
	return nil
}

// maxReseeks bounds how often a group member's seek is applied again.
const maxReseeks = 3

// instTP is a topic partition as a map key.
type instTP struct {
	topic     string
	partition int32
}

// pendingSeek is a group member's seek not yet seen in the records: kgo's
// SetOffsets skips a partition whose committed offset it is still
// fetching after an assignment, and that fetch then wins.
type pendingSeek struct {
	offset  int64
	reseeks int
}

// checkSeeksLocked drops fetched records of a partition whose pending seek
// they do not start at, and applies the seek again (at most maxReseeks
// times: a seek out of the log's range legitimately starts elsewhere, at
// auto.offset.reset).
func (in *instance) checkSeeksLocked() {
	if len(in.pending) == 0 {
		return
	}
	again := map[string]map[int32]kgo.EpochOffset{}
	seen := map[instTP]bool{}
	kept := in.buf[:0]
	for _, r := range in.buf {
		k := instTP{r.Topic, r.Partition}
		ps, ok := in.pending[k]
		if !ok || seen[k] {
			kept = append(kept, r) // a stale partition's are filtered below
			continue
		}
		seen[k] = true
		if r.Offset == ps.offset || ps.reseeks >= maxReseeks {
			delete(in.pending, k)
			kept = append(kept, r)
			continue
		}
		// Stale: drop this partition's records of this fetch.
		in.pending[k] = pendingSeek{offset: ps.offset, reseeks: ps.reseeks + 1}
		if again[r.Topic] == nil {
			again[r.Topic] = map[int32]kgo.EpochOffset{}
		}
		again[r.Topic][r.Partition] = kgo.EpochOffset{Epoch: -1, Offset: ps.offset}
	}
	if len(again) > 0 {
		filtered := kept[:0]
		for _, r := range kept {
			if _, redo := again[r.Topic][r.Partition]; !redo {
				filtered = append(filtered, r)
			}
		}
		kept = filtered
		in.cl.SetOffsets(again)
	}
	in.buf = kept
}

// restartAssignedLocked makes the assigned instance's client anew, each
// partition starting at its seek target, else after the last record
// returned, else where it started. kgo's SetOffsets skips a partition
// whose metadata a new client has not loaded yet, so a seek right after
// an assignment could be lost; a new client has no such window. Buffered
// records are dropped: they are fetched again from the new positions.
func (in *instance) restartAssignedLocked(req *http.Request, p *Proxy, to map[string]map[int32]int64) error {
	for t, ps := range in.start {
		for pt := range ps {
			if o, ok := to[t][pt]; ok {
				ps[pt] = kgo.NewOffset().At(o)
			} else if o, ok := in.consumed[t][pt]; ok {
				ps[pt] = kgo.NewOffset().At(o)
			}
		}
	}
	cl, err := p.clients.NewConsumer(req, append([]kgo.Opt{kgo.ConsumePartitions(copyStart(in.start))}, consumerLimits()...)...)
	if err != nil {
		return errKafka(err)
	}
	in.cl.Close()
	in.cl, in.buf = cl, nil
	return nil
}

func (p *Proxy) seek(w http.ResponseWriter, req *http.Request) error {
	var body offsetsBody
	in, release, err := p.acquireBody(req, &body)
	if err != nil {
		return err
	}
	defer release()
	to := map[string]map[int32]int64{}
	for _, o := range body.Offsets {
		if o.Offset < 0 {
			return errShape(fmt.Sprintf("offset %d of %s-%d is negative", o.Offset, o.Topic, o.Partition))
		}
		setTP(to, o.Topic, o.Partition, o.Offset)
	}
	if err := in.seekLocked(req, p, to); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (p *Proxy) seekBeginning(w http.ResponseWriter, req *http.Request) error {
	return p.seekEdge(w, req, true)
}

func (p *Proxy) seekEnd(w http.ResponseWriter, req *http.Request) error {
	return p.seekEdge(w, req, false)
}

// seekEdge seeks the given partitions to their start or end offsets.
func (p *Proxy) seekEdge(w http.ResponseWriter, req *http.Request, beginning bool) error {
	var body partitionsBody
	in, release, err := p.acquireBody(req, &body)
	if err != nil {
		return err
	}
	defer release()
	if err := p.authorizeTopics(req, topicsOf(body.Partitions), acl.OpDescribe); err != nil {
		return err
	}
	adm, ctx, cancel, err := p.admin(req)
	if err != nil {
		return err
	}
	defer cancel()
	list := adm.ListEndOffsets
	if beginning {
		list = adm.ListStartOffsets
	}
	to := map[string]map[int32]int64{}
	for _, tp := range body.Partitions {
		o, err := listOffset(ctx, list, tp.Topic, tp.Partition)
		if err != nil {
			return err
		}
		setTP(to, tp.Topic, tp.Partition, o)
	}
	if err := in.seekLocked(req, p, to); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// v2Record is a consumed record as GET records shows it.
type v2Record struct {
	Topic     string `json:"topic"`
	Key       any    `json:"key"`
	Value     any    `json:"value"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

// queryInt is a non-negative integer query parameter, def when absent.
func queryInt(req *http.Request, name string, def int64) (int64, error) {
	s := req.URL.Query().Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errf(400, "The query parameter %s=%q must be a non-negative integer", name, s)
	}
	return n, nil
}

func (p *Proxy) records(w http.ResponseWriter, req *http.Request) error {
	want, err := acceptFormat(req)
	if err != nil {
		return err
	}
	timeoutMs, err := queryInt(req, "timeout", defaultPollTimeout.Milliseconds())
	if err != nil {
		return err
	}
	maxBytes, err := queryInt(req, "max_bytes", defaultMaxPollBytes)
	if err != nil {
		return err
	}
	in, release, err := p.acquire(req)
	if err != nil {
		return err
	}
	defer release()
	if want != "" && want != in.format {
		return errFormatMismatch
	}
	if in.cl == nil {
		return errIllegalState("Consumer is not subscribed to any topics or assigned any partitions")
	}
	if len(in.buf) == 0 {
		timeout := min(time.Duration(timeoutMs)*time.Millisecond, maxPollTimeout)
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		fs := in.cl.PollRecords(ctx, pollRecordsMax)
		cancel()
		var ferr error
		fs.EachError(func(t string, pt int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = fmt.Errorf("%s-%d: %w", t, pt, err)
				if d := errDenied(err, t, in.key.group); d != nil {
					ferr = d
				}
			}
		})
		in.buf = fs.Records()
		if ferr != nil && len(in.buf) == 0 {
			return errKafka(ferr)
		}
	}
	if in.mode == modeSubscribed {
		// A rebalance may have taken partitions away since these were
		// fetched; their new owner reads them from the committed offset.
		kept := in.buf[:0]
		for _, r := range in.buf {
			if in.isAssigned(r.Topic, r.Partition) {
				kept = append(kept, r)
			}
		}
		in.buf = kept
		in.checkSeeksLocked()
	}
	// After the poll: a pattern's topics are known once assigned, and
	// records of a topic the caller may not read stay unreturned.
	if err := p.authorizeRead(req, in); err != nil {
		return err
	}
	// Take records up to max_bytes of keys and values (at least one, so a
	// record larger than max_bytes does not stall the instance).
	n, size := 0, int64(0)
	for n < len(in.buf) {
		size += int64(len(in.buf[n].Key) + len(in.buf[n].Value))
		if n > 0 && size > maxBytes {
			break
		}
		n++
	}
	out := make([]v2Record, 0, n)
	ctx, cancel := reqCtx(req)
	defer cancel()
	for _, r := range in.buf[:n] {
		k, err := p.present(ctx, in.format, r.Key)
		if err != nil {
			return err
		}
		v, err := p.present(ctx, in.format, r.Value)
		if err != nil {
			return err
		}
		out = append(out, v2Record{Topic: r.Topic, Key: k, Value: v, Partition: r.Partition, Offset: r.Offset})
	}
	for _, r := range in.buf[:n] {
		setTP(in.consumed, r.Topic, r.Partition, r.Offset+1)
	}
	in.buf = in.buf[n:]
	// An assigned instance's auto commit goes through the proxy's own
	// client with mtls, so it needs the group READ a commit needs.
	if in.autoCommit && n > 0 && p.authorize(req, acl.ResourceGroup, in.key.group, acl.OpRead) == nil {
		if err := p.commitLocked(ctx, req, in, in.consumed); err != nil {
			p.log.Debug("auto commit", "group", in.key.group, "instance", in.key.name, "err", err)
		}
	}
	writeJSON(w, 200, in.format.contentType(), out)
	return nil
}

// present is a key or value in the instance's format: JSON as is, binary
// as base64, Avro decoded with its registry schema to Avro JSON.
func (p *Proxy) present(ctx context.Context, f format, b []byte) (any, error) {
	if b == nil {
		return nil, nil
	}
	switch f {
	case fmtBinary:
		return base64Std.EncodeToString(b), nil
	case fmtJSON:
		if !json.Valid(b) {
			return nil, errf(50002, "Kafka error: the record is not JSON, which a json-format consumer cannot return")
		}
		return json.RawMessage(b), nil
	}
	id, datum, err := splitWireFormat(b)
	if err != nil {
		return nil, errf(50002, "Kafka error: Avro deserialization failed: %v", err)
	}
	s, err := p.schemaByID(ctx, id)
	if err != nil {
		return nil, err
	}
	v, err := decodeAvro(s, datum)
	if err != nil {
		return nil, errf(50002, "Kafka error: Avro deserialization of schema %d failed: %v", id, err)
	}
	return v, nil
}

// commitLocked commits next offsets (already +1) for the group: through
// the member's client when subscribed (the group's generation), else as a
// standalone commit.
func (p *Proxy) commitLocked(ctx context.Context, req *http.Request, in *instance, next map[string]map[int32]int64) error {
	if in.mode == modeSubscribed {
		set := map[string]map[int32]kgo.EpochOffset{}
		for t, ps := range next {
			set[t] = map[int32]kgo.EpochOffset{}
			for pt, o := range ps {
				set[t][pt] = kgo.EpochOffset{Epoch: -1, Offset: o}
			}
		}
		var cerr error
		in.cl.CommitOffsetsSync(ctx, set, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = commitResponseErr(resp, err)
		})
		if cerr != nil {
			return errKafka(cerr)
		}
		return nil
	}
	_, adm, err := p.shared(req)
	if err != nil {
		return err
	}
	var offs kadm.Offsets
	for t, ps := range next {
		for pt, o := range ps {
			offs.Add(kadm.Offset{Topic: t, Partition: pt, At: o, LeaderEpoch: -1})
		}
	}
	resp, err := adm.CommitOffsets(ctx, in.key.group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		return errKafka(err)
	}
	return nil
}

func (p *Proxy) commit(w http.ResponseWriter, req *http.Request) error {
	if err := checkV2Body(req); err != nil {
		return err
	}
	b, err := readBody(req)
	if err != nil {
		return err
	}
	var body offsetsBody
	if strings.TrimSpace(string(b)) != "" {
		if err := unmarshalBody(b, &body); err != nil {
			return err
		}
	}
	in, release, err := p.acquire(req)
	if err != nil {
		return err
	}
	defer release()
	if err := p.authorize(req, acl.ResourceGroup, in.key.group, acl.OpRead); err != nil {
		return err
	}
	next := in.consumed
	if len(body.Offsets) > 0 {
		// Confluent's v2 commits the offset after the one given: the
		// client names the last record it processed.
		next = map[string]map[int32]int64{}
		for _, o := range body.Offsets {
			if o.Offset < 0 {
				return errShape(fmt.Sprintf("offset %d of %s-%d is negative", o.Offset, o.Topic, o.Partition))
			}
			setTP(next, o.Topic, o.Partition, o.Offset+1)
		}
	}
	for t := range next {
		if err := p.authorize(req, acl.ResourceTopic, t, acl.OpRead); err != nil {
			return err
		}
	}
	ctx, cancel := reqCtx(req)
	defer cancel()
	if err := p.commitLocked(ctx, req, in, next); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// committed answers the group's committed offsets of the partitions the
// body lists; without a body, of the instance's assigned partitions.
func (p *Proxy) committed(w http.ResponseWriter, req *http.Request) error {
	if err := checkV2Body(req); err != nil {
		return err
	}
	b, err := readBody(req)
	if err != nil {
		return err
	}
	in, release, err := p.acquire(req)
	if err != nil {
		return err
	}
	defer release()
	var body partitionsBody
	if strings.TrimSpace(string(b)) == "" {
		body.Partitions = in.assignedList()
	} else if err := unmarshalBody(b, &body); err != nil {
		return err
	}
	if err := p.authorize(req, acl.ResourceGroup, in.key.group, acl.OpDescribe); err != nil {
		return err
	}
	if err := p.authorizeTopics(req, topicsOf(body.Partitions), acl.OpDescribe); err != nil {
		return err
	}
	adm, ctx, cancel, err := p.admin(req)
	if err != nil {
		return err
	}
	defer cancel()
	got, err := adm.FetchOffsets(ctx, in.key.group)
	if err == nil {
		err = got.Error()
	}
	if err != nil {
		return errKafka(err)
	}
	out := offsetsBody{Offsets: []offsetItem{}}
	for _, tp := range body.Partitions {
		o, ok := got.Lookup(tp.Topic, tp.Partition)
		if !ok || o.At < 0 {
			continue // never committed: left out, as Confluent does
		}
		md := o.Metadata
		out.Offsets = append(out.Offsets, offsetItem{Topic: tp.Topic, Partition: tp.Partition, Offset: o.At, Metadata: &md})
	}
	writeJSON(w, 200, ctV2, out)
	return nil
}

// commitResponseErr is a commit's error: the request's, else the first
// partition's.
func commitResponseErr(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil || resp == nil {
		return err
	}
	for _, t := range resp.Topics {
		for _, pt := range t.Partitions {
			if err := kerr.ErrorForCode(pt.ErrorCode); err != nil {
				return fmt.Errorf("%s-%d: %w", t.Topic, pt.Partition, err)
			}
		}
	}
	return nil
}

// setTP sets m[topic][partition], making the topic's map when needed.
func setTP[V any](m map[string]map[int32]V, topic string, partition int32, v V) {
	if m[topic] == nil {
		m[topic] = map[int32]V{}
	}
	m[topic][partition] = v
}

// topicsOf are the topics of tps, as often as they stand there.
func topicsOf(tps []topicPartition) []string {
	topics := make([]string, 0, len(tps))
	for _, tp := range tps {
		topics = append(topics, tp.Topic)
	}
	return topics
}

// copyStart copies start offsets, so the instance's map is never one kgo
// holds.
func copyStart(m map[string]map[int32]kgo.Offset) map[string]map[int32]kgo.Offset {
	out := make(map[string]map[int32]kgo.Offset, len(m))
	for t, ps := range m {
		out[t] = make(map[int32]kgo.Offset, len(ps))
		for p, o := range ps {
			out[t][p] = o
		}
	}
	return out
}

// consumerLimits bound what one instance's client fetches and buffers, so
// a thousand instances stay within memory, and how long a fetch waits, so
// a GET records with a short timeout still sees new records.
func consumerLimits() []kgo.Opt {
	return []kgo.Opt{kgo.FetchMaxWait(500 * time.Millisecond), kgo.FetchMaxBytes(instanceFetchMaxBytes),
		kgo.FetchMaxPartitionBytes(instanceFetchMaxBytes / 4), kgo.MaxConcurrentFetches(1)}
}
