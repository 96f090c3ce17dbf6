package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ringtail/ringtail/model"
)

// Limits.
const (
	// maxTopicNameLen is Kafka's limit (249, so that "<topic>-<partition>"
	// and ".delete" suffixes fit a file name).
	maxTopicNameLen = 249
	// maxPartitionsPerTopic bounds one CreateTopics/CreatePartitions.
	maxPartitionsPerTopic = 100000
	// producerIDBlockSize is how many producer ids one ProducerIDsRecord hands out.
	producerIDBlockSize = 1000
)

// Config configures a Controller.
type Config struct {
	// Dir is the data dir; the log lives in Dir/__cluster_metadata-0.
	Dir       string
	NodeID    int32
	ClusterID string
	// Endpoints and Rack are this node's broker registration.
	Endpoints []Endpoint
	Rack      string
	// DefaultPartitions and DefaultReplicationFactor apply when a request
	// says -1 (num.partitions, default.replication.factor).
	DefaultPartitions        int32
	DefaultReplicationFactor int16
	// ValidateTopicConfig checks one topic config key and value; its error
	// should wrap model.ErrInvalidConfig.
	ValidateTopicConfig func(key, value string) error
	Logger              *slog.Logger
}

// Controller accepts metadata commands, writes them as records and publishes
// the resulting Image. Commands are serialised by one mutex: the controller
// is not on any data path.
type Controller struct {
	cfg   Config
	image atomic.Pointer[Image]
	mu    struct {
		sync.Mutex
		log         *metaLog
		subscribers []func(old, new *Image)
		// pidNext and pidEnd are this node's current producer-id block.
		pidNext, pidEnd int64
	}
}

// Open replays the metadata log and registers this node as a broker.
func Open(cfg Config) (*Controller, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.ValidateTopicConfig == nil {
		cfg.ValidateTopicConfig = func(string, string) error { return nil }
	}
	c := &Controller{cfg: cfg}
	im := emptyImage(cfg.ClusterID, cfg.NodeID)
	l, truncated, err := openMetaLog(cfg.Dir, func(i int64, r *Record) error {
		n, err := im.apply(i, r)
		if err != nil {
			return err
		}
		im = n
		return nil
	})
	if err != nil {
		return nil, err
	}
	if truncated > 0 {
		cfg.Logger.Warn("metadata log had a torn tail; truncated", "bytes", truncated)
	}
	c.mu.log = l
	c.image.Store(im)
	cfg.Logger.Info("metadata log replayed", "records", im.Offset+1, "topics", len(im.Topics))
	if err := c.register(); err != nil {
		l.close()
		return nil, err
	}
	return c, nil
}

// Image is the current metadata image. Never modify it.
func (c *Controller) Image() *Image { return c.image.Load() }

// Subscribe calls fn with the old and new image after every change, under
// the controller's lock, in order. fn must not call the controller.
func (c *Controller) Subscribe(fn func(old, new *Image)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.subscribers = append(c.mu.subscribers, fn)
}

// Close closes the metadata log.
func (c *Controller) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mu.log.close()
}

// commitLocked appends recs to the log and publishes the new image.
func (c *Controller) commitLocked(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	old := c.image.Load()
	n := old
	first := old.Offset + 1
	for i := range recs {
		next, err := n.apply(first+int64(i), &recs[i])
		if err != nil {
			return fmt.Errorf("controlplane: rejected before write: %w", err)
		}
		n = next
	}
	if _, err := c.mu.log.append(recs); err != nil {
		return fmt.Errorf("%w: %v", model.ErrStorage, err)
	}
	c.image.Store(n)
	for _, fn := range c.mu.subscribers {
		fn(old, n)
	}
	return nil
}

func (c *Controller) register() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	im := c.image.Load()
	if b, ok := im.Brokers[c.cfg.NodeID]; ok && slices.Equal(b.Endpoints, c.cfg.Endpoints) && b.Rack == c.cfg.Rack && !b.Fenced {
		return nil
	}
	var epoch int64 = im.Offset + 1
	return c.commitLocked([]Record{{Type: RecRegisterBroker, RegisterBroker: &RegisterBrokerRecord{
		BrokerID: c.cfg.NodeID, BrokerEpoch: epoch, Incarnation: NewUUID(),
		Endpoints: slices.Clone(c.cfg.Endpoints), Rack: c.cfg.Rack,
	}}})
}

// ValidateTopicName applies Kafka's rules for topic names.
func ValidateTopicName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: topic name is empty", model.ErrInvalidTopic)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("%w: topic name cannot be %q", model.ErrInvalidTopic, name)
	}
	if len(name) > maxTopicNameLen {
		return fmt.Errorf("%w: topic name is %d characters; the limit is %d", model.ErrInvalidTopic, len(name), maxTopicNameLen)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: topic name %q contains %q; valid characters are ASCII letters, digits, '.', '_' and '-'", model.ErrInvalidTopic, name, r)
		}
	}
	return nil
}

// CreateTopic is one topic of a CreateTopics command.
type CreateTopic struct {
	Name              string
	NumPartitions     int32 // -1: default
	ReplicationFactor int16 // -1: default
	// Assignments, when set, gives the replicas of each partition
	// (NumPartitions and ReplicationFactor must then be -1).
	Assignments [][]int32
	Configs     map[string]string
}

// CreateTopicResult is the outcome for one topic.
type CreateTopicResult struct {
	Name              string
	ID                UUID
	NumPartitions     int32
	ReplicationFactor int16
	Err               error
}

// CreateTopics validates and creates topics. Each topic succeeds or fails
// alone. With validateOnly nothing is written.
func (c *Controller) CreateTopics(ctx context.Context, topics []CreateTopic, validateOnly bool) []CreateTopicResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := make([]CreateTopicResult, len(topics))
	seen := map[string]int{}
	for _, t := range topics {
		seen[t.Name]++
	}
	for i, t := range topics {
		res[i].Name = t.Name
		if seen[t.Name] > 1 {
			res[i].Err = fmt.Errorf("%w: topic %q appears more than once in the request", model.ErrInvalidRequest, t.Name)
			continue
		}
		if err := ctx.Err(); err != nil {
			res[i].Err = err
			continue
		}
		recs, r, err := c.planTopicLocked(t)
		res[i] = r
		res[i].Err = err
		if err != nil || validateOnly {
			continue
		}
		if err := c.commitLocked(recs); err != nil {
			res[i].Err = err
		}
	}
	return res
}

func (c *Controller) planTopicLocked(t CreateTopic) ([]Record, CreateTopicResult, error) {
	r := CreateTopicResult{Name: t.Name}
	im := c.image.Load()
	if err := ValidateTopicName(t.Name); err != nil {
		return nil, r, err
	}
	if _, ok := im.Topics[t.Name]; ok {
		return nil, r, fmt.Errorf("%w: topic %q already exists", model.ErrTopicAlreadyExists, t.Name)
	}
	// '.' and '_' collide in metric names, so Kafka refuses topics that
	// differ only by them.
	norm := strings.ReplaceAll(t.Name, ".", "_")
	for name := range im.Topics {
		if strings.ReplaceAll(name, ".", "_") == norm {
			return nil, r, fmt.Errorf("%w: topic %q collides with existing topic %q ('.' and '_' are the same in metric names)", model.ErrInvalidTopic, t.Name, name)
		}
	}
	for k, v := range t.Configs {
		if err := c.cfg.ValidateTopicConfig(k, v); err != nil {
			return nil, r, err
		}
	}
	var assign [][]int32
	if len(t.Assignments) > 0 {
		if t.NumPartitions != -1 || t.ReplicationFactor != -1 {
			return nil, r, fmt.Errorf("%w: both replica assignments and partitions/replication factor were given", model.ErrInvalidRequest)
		}
		if err := c.checkAssignments(im, t.Assignments, -1); err != nil {
			return nil, r, err
		}
		assign = t.Assignments
	} else {
		np, rf := t.NumPartitions, t.ReplicationFactor
		if np == -1 {
			np = c.cfg.DefaultPartitions
		}
		if rf == -1 {
			rf = c.cfg.DefaultReplicationFactor
		}
		if np <= 0 || np > maxPartitionsPerTopic {
			return nil, r, fmt.Errorf("%w: %d partitions requested; must be between 1 and %d", model.ErrInvalidPartitions, np, maxPartitionsPerTopic)
		}
		var err error
		assign, err = place(im, 0, np, rf)
		if err != nil {
			return nil, r, err
		}
	}
	id := NewUUID()
	r.ID = id
	r.NumPartitions = int32(len(assign))
	r.ReplicationFactor = int16(len(assign[0]))
	recs := []Record{{Type: RecTopic, Topic: &TopicRecord{Name: t.Name, ID: id}}}
	for p, reps := range assign {
		recs = append(recs, Record{Type: RecPartition, Partition: &PartitionRecord{
			TopicID: id, Partition: int32(p), Replicas: reps, ISR: slices.Clone(reps), Leader: reps[0],
		}})
	}
	keys := make([]string, 0, len(t.Configs))
	for k := range t.Configs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := t.Configs[k]
		recs = append(recs, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: t.Name, Name: k, Value: &v}})
	}
	return recs, r, nil
}

// checkAssignments validates explicit replica lists; wantRF < 0 takes the
// first list's length as the replication factor.
func (c *Controller) checkAssignments(im *Image, assign [][]int32, wantRF int) error {
	if len(assign) > maxPartitionsPerTopic {
		return fmt.Errorf("%w: %d partitions; the limit is %d", model.ErrInvalidPartitions, len(assign), maxPartitionsPerTopic)
	}
	for p, reps := range assign {
		if wantRF < 0 {
			wantRF = len(reps)
		}
		if len(reps) == 0 || len(reps) != wantRF {
			return fmt.Errorf("%w: partition %d has %d replicas; every partition needs the same non-zero count", model.ErrInvalidReplicaAssignment, p, len(reps))
		}
		seen := map[int32]bool{}
		for _, b := range reps {
			if _, ok := im.Brokers[b]; !ok {
				return fmt.Errorf("%w: partition %d names unknown broker %d", model.ErrInvalidReplicaAssignment, p, b)
			}
			if seen[b] {
				return fmt.Errorf("%w: partition %d names broker %d twice", model.ErrInvalidReplicaAssignment, p, b)
			}
			seen[b] = true
		}
	}
	return nil
}

// place spreads count partitions starting at partition first over the
// unfenced brokers, round robin, leaders rotating.
func place(im *Image, first, count int32, rf int16) ([][]int32, error) {
	var live []int32
	for _, id := range im.BrokerIDs() {
		if !im.Brokers[id].Fenced {
			live = append(live, id)
		}
	}
	if rf <= 0 || int(rf) > len(live) {
		return nil, fmt.Errorf("%w: replication factor %d; it must be between 1 and the number of available brokers (%d)", model.ErrInvalidReplicationFactor, rf, len(live))
	}
	out := make([][]int32, count)
	for i := int32(0); i < count; i++ {
		p := first + i
		reps := make([]int32, rf)
		for j := range reps {
			reps[j] = live[(int(p)+j)%len(live)]
		}
		out[i] = reps
	}
	return out, nil
}

// DeleteTopics deletes topics by name; one error (or nil) per name.
func (c *Controller) DeleteTopics(ctx context.Context, names []string) []error {
	c.mu.Lock()
	defer c.mu.Unlock()
	errs := make([]error, len(names))
	for i, n := range names {
		t, ok := c.image.Load().Topics[n]
		if !ok {
			errs[i] = fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, n)
			continue
		}
		errs[i] = c.commitLocked([]Record{{Type: RecRemoveTopic, RemoveTopic: &RemoveTopicRecord{TopicID: t.ID}}})
	}
	return errs
}

// CreatePartitions grows a topic to count partitions.
func (c *Controller) CreatePartitions(ctx context.Context, topic string, count int32, assignments [][]int32, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	im := c.image.Load()
	t, ok := im.Topics[topic]
	if !ok {
		return fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, topic)
	}
	have := int32(len(t.Partitions))
	if count <= have {
		return fmt.Errorf("%w: topic %q has %d partitions; the new count %d must be larger", model.ErrInvalidPartitions, topic, have, count)
	}
	if count > maxPartitionsPerTopic {
		return fmt.Errorf("%w: %d partitions; the limit is %d", model.ErrInvalidPartitions, count, maxPartitionsPerTopic)
	}
	rf := len(t.Partitions[0].Replicas)
	var assign [][]int32
	if len(assignments) > 0 {
		if int32(len(assignments)) != count-have {
			return fmt.Errorf("%w: %d assignments for %d new partitions", model.ErrInvalidReplicaAssignment, len(assignments), count-have)
		}
		if err := c.checkAssignments(im, assignments, rf); err != nil {
			return err
		}
		assign = assignments
	} else {
		var err error
		if assign, err = place(im, have, count-have, int16(rf)); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	recs := make([]Record, 0, len(assign))
	for i, reps := range assign {
		recs = append(recs, Record{Type: RecPartition, Partition: &PartitionRecord{
			TopicID: t.ID, Partition: have + int32(i), Replicas: reps, ISR: slices.Clone(reps), Leader: reps[0],
		}})
	}
	return c.commitLocked(recs)
}

// Config alteration operations (Kafka's IncrementalAlterConfigs op codes).
const (
	OpSet      int8 = 0
	OpDelete   int8 = 1
	OpAppend   int8 = 2
	OpSubtract int8 = 3
)

// ConfigOp is one change to a topic config.
type ConfigOp struct {
	Key   string
	Value *string
	Op    int8
}

// AlterTopicConfigs changes a topic's config overrides. With incremental
// false (legacy AlterConfigs) the ops replace every override; with true each
// op applies on its own (IncrementalAlterConfigs).
func (c *Controller) AlterTopicConfigs(ctx context.Context, topic string, ops []ConfigOp, incremental, validateOnly bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.image.Load().Topics[topic]
	if !ok {
		return fmt.Errorf("%w: topic %q", model.ErrUnknownTopicOrPartition, topic)
	}
	next := map[string]string{}
	if incremental {
		next = cloneMap(t.Configs)
	}
	for _, op := range ops {
		switch op.Op {
		case OpSet:
			if op.Value == nil {
				return fmt.Errorf("%w: %s: set needs a value", model.ErrInvalidConfig, op.Key)
			}
			next[op.Key] = *op.Value
		case OpDelete:
			delete(next, op.Key)
		case OpAppend, OpSubtract:
			if op.Value == nil {
				return fmt.Errorf("%w: %s: append/subtract need a value", model.ErrInvalidConfig, op.Key)
			}
			next[op.Key] = listOp(next[op.Key], *op.Value, op.Op == OpAppend)
		default:
			return fmt.Errorf("%w: %s: unknown operation %d (valid: 0 set, 1 delete, 2 append, 3 subtract)", model.ErrInvalidRequest, op.Key, op.Op)
		}
	}
	for k, v := range next {
		if err := c.cfg.ValidateTopicConfig(k, v); err != nil {
			return err
		}
	}
	if validateOnly {
		return nil
	}
	var recs []Record
	keys := make([]string, 0, len(next)+len(t.Configs))
	for k := range next {
		keys = append(keys, k)
	}
	for k := range t.Configs {
		if _, ok := next[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		v, ok := next[k]
		old, had := t.Configs[k]
		switch {
		case ok && (!had || old != v):
			val := v
			recs = append(recs, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: topic, Name: k, Value: &val}})
		case !ok && had:
			recs = append(recs, Record{Type: RecConfig, Config: &ConfigRecord{ResourceType: ResourceTopic, ResourceName: topic, Name: k}})
		}
	}
	return c.commitLocked(recs)
}

// listOp appends v's items to (or removes them from) a comma-separated list.
func listOp(list, v string, add bool) string {
	var items []string
	if list != "" {
		items = strings.Split(list, ",")
	}
	for _, it := range strings.Split(v, ",") {
		it = strings.TrimSpace(it)
		i := slices.Index(items, it)
		switch {
		case add && i < 0:
			items = append(items, it)
		case !add && i >= 0:
			items = slices.Delete(items, i, i+1)
		}
	}
	return strings.Join(items, ",")
}

// AllocateProducerID hands out a producer id, claiming a new block from the
// metadata log when the current one is spent.
func (c *Controller) AllocateProducerID(ctx context.Context) (model.ProducerID, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.pidNext >= c.mu.pidEnd {
		start := c.image.Load().NextProducerID
		end := start + producerIDBlockSize
		if err := c.commitLocked([]Record{{Type: RecProducerIDs, ProducerIDs: &ProducerIDsRecord{BrokerID: c.cfg.NodeID, NextProducerID: end}}}); err != nil {
			return -1, err
		}
		c.mu.pidNext, c.mu.pidEnd = start, end
	}
	id := c.mu.pidNext
	c.mu.pidNext++
	return model.ProducerID(id), nil
}
