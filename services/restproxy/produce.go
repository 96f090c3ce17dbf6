package restproxy

// Produce: v2 POST /topics/{t}[/partitions/{p}] in the json, binary and
// avro formats, and v3 POST .../records, one record or a stream of them.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/ringtail/ringtail/acl"
)

// explicitPartition marks, in a record's Context, the partition a client
// named; the partitioner uses it instead of hashing.
type explicitPartition struct{}

// partitioner is Kafka's default (murmur2 of the key, sticky without one)
// unless the record names its partition.
type partitioner struct{ def kgo.Partitioner }

func newPartitioner() kgo.Partitioner { return partitioner{def: kgo.StickyKeyPartitioner(nil)} }

func (p partitioner) ForTopic(t string) kgo.TopicPartitioner {
	return topicPartitioner{def: p.def.ForTopic(t)}
}

type topicPartitioner struct{ def kgo.TopicPartitioner }

func named(r *kgo.Record) (int, bool) {
	if r.Context == nil {
		return 0, false
	}
	v, ok := r.Context.Value(explicitPartition{}).(int32)
	return int(v), ok
}

func (t topicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	if _, ok := named(r); ok {
		return true
	}
	return t.def.RequiresConsistency(r)
}

func (t topicPartitioner) Partition(r *kgo.Record, n int) int {
	if p, ok := named(r); ok && p < n {
		return p
	}
	return t.def.Partition(r, n)
}

func (t topicPartitioner) OnNewBatch() {
	if nb, ok := t.def.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

// toKgo makes the kgo record of o for topic.
func toKgo(topic string, o *outRecord) *kgo.Record {
	r := &kgo.Record{Topic: topic, Key: o.Key, Value: o.Value, Timestamp: o.Timestamp}
	if o.Partition >= 0 {
		r.Context = context.WithValue(context.Background(), explicitPartition{}, o.Partition)
	}
	for _, h := range o.Headers {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	return r
}

// checkPartitions refuses records naming a partition the topic lacks.
func checkPartitions(td kadm.TopicDetail, recs []outRecord) error {
	for _, r := range recs {
		if _, ok := td.Partitions[r.Partition]; r.Partition >= 0 && !ok {
			return errPartitionNotFound
		}
	}
	return nil
}

type v2Offset struct {
	Partition *int32  `json:"partition"`
	Offset    *int64  `json:"offset"`
	ErrorCode *int    `json:"error_code"`
	Error     *string `json:"error"`
}

type v2ProduceResponse struct {
	KeySchemaID   *int       `json:"key_schema_id"`
	ValueSchemaID *int       `json:"value_schema_id"`
	Offsets       []v2Offset `json:"offsets"`
}

func (p *Proxy) produceTopic(w http.ResponseWriter, req *http.Request) error {
	return p.produceV2(w, req, -1)
}

func (p *Proxy) producePartition(w http.ResponseWriter, req *http.Request) error {
	n, err := strconv.ParseInt(req.PathValue("partition"), 10, 32)
	if err != nil || n < 0 {
		return errPartitionNotFound
	}
	return p.produceV2(w, req, int32(n))
}

// produceV2 decodes and checks the whole request, serializes every record,
// then produces them all; partition >= 0 is the partition endpoint's.
func (p *Proxy) produceV2(w http.ResponseWriter, req *http.Request, partition int32) error {
	f, err := produceFormat(req)
	if err != nil {
		return err
	}
	body, err := readBody(req)
	if err != nil {
		return err
	}
	pr, err := decodeV2Produce(body, f, partition >= 0)
	if err != nil {
		return err
	}
	if partition >= 0 {
		for i := range pr.Records {
			pr.Records[i].Partition = partition
		}
	}
	cl, adm, err := p.shared(req)
	if err != nil {
		return err
	}
	ctx, cancel := reqCtx(req)
	defer cancel()
	topic := req.PathValue("topic")
	if err := p.authorize(req, acl.ResourceTopic, topic, acl.OpWrite); err != nil {
		return err
	}
	td, err := p.topicDetail(ctx, adm, topic)
	if err != nil {
		return err
	}
	if err := checkPartitions(td, pr.Records); err != nil {
		return err
	}
	var resp v2ProduceResponse
	if f == fmtAvro {
		if resp.KeySchemaID, resp.ValueSchemaID, err = p.serializeAvro(ctx, topic, pr); err != nil {
			return err
		}
	}
	recs := make([]*kgo.Record, len(pr.Records))
	for i := range pr.Records {
		recs[i] = toKgo(topic, &pr.Records[i])
	}
	// ProduceSync answers in completion order; the response is in the
	// request's order.
	index := make(map[*kgo.Record]int, len(recs))
	for i, r := range recs {
		index[r] = i
	}
	res := cl.ProduceSync(ctx, recs...)
	resp.Offsets = make([]v2Offset, len(recs))
	var denied *apiError
	for _, r := range res {
		i := index[r.Record]
		if r.Err != nil {
			code, msg := 1, r.Err.Error() // 1: non-retriable, 2: retriable
			if kerr.IsRetriable(r.Err) || errors.Is(r.Err, context.DeadlineExceeded) {
				code = 2
			}
			if d := errDenied(r.Err, topic, ""); d != nil {
				code, msg, denied = d.Code, d.Message, d
			}
			resp.Offsets[i] = v2Offset{ErrorCode: &code, Error: &msg}
			continue
		}
		part, off := r.Record.Partition, r.Record.Offset
		resp.Offsets[i] = v2Offset{Partition: &part, Offset: &off}
	}
	if denied != nil {
		// Confluent answers a produce the broker refused 403, with the
		// error and the per-record offsets in one body.
		writeJSON(w, denied.Status, ctV2, deniedProduce{Code: denied.Code, Message: denied.Message, v2ProduceResponse: resp})
		return nil
	}
	writeJSON(w, 200, ctV2, resp)
	return nil
}

// deniedProduce is a v2 produce the broker refused.
type deniedProduce struct {
	Code    int    `json:"error_code"`
	Message string `json:"message"`
	v2ProduceResponse
}

// serializeAvro resolves the request's schemas (registering given ones
// under <topic>-key and <topic>-value) and serializes every key and value
// in Confluent's wire format.
func (p *Proxy) serializeAvro(ctx context.Context, topic string, pr *v2Produce) (keyID, valID *int, err error) {
	var keyS, valS avro.Schema
	for i := range pr.Records {
		if pr.AvroKeys[i] != nil && keyS == nil {
			if keyS, keyID, err = p.resolveSchema(ctx, topic+"-key", pr.Body.KeySchema, pr.Body.KeySchemaID); err != nil {
				return nil, nil, err
			}
		}
		if pr.AvroVals[i] != nil && valS == nil {
			if valS, valID, err = p.resolveSchema(ctx, topic+"-value", pr.Body.ValueSchema, pr.Body.ValueSchemaID); err != nil {
				return nil, nil, err
			}
		}
	}
	for i := range pr.Records {
		o := &pr.Records[i]
		if pr.AvroKeys[i] != nil {
			b, err := encodeAvro(keyS, pr.AvroKeys[i])
			if err != nil {
				return nil, nil, errConversion(fmt.Errorf("records[%d].key: %w", i, err))
			}
			o.Key = wireFormat(*keyID, b)
		}
		if pr.AvroVals[i] != nil {
			b, err := encodeAvro(valS, pr.AvroVals[i])
			if err != nil {
				return nil, nil, errConversion(fmt.Errorf("records[%d].value: %w", i, err))
			}
			o.Value = wireFormat(*valID, b)
		}
	}
	return keyID, valID, nil
}

// resolveSchema is the schema by id, or the schema text registered under
// subject (the registry answers an existing one's id).
func (p *Proxy) resolveSchema(ctx context.Context, subject string, text *string, id *int) (avro.Schema, *int, error) {
	if p.sr == nil {
		return nil, nil, errSchema(errors.New("the Schema Registry is not enabled (ringtail.schema_registry_enable)"))
	}
	if id != nil {
		s, err := p.schemaByID(ctx, *id)
		if err != nil {
			return nil, nil, err
		}
		return s, id, nil
	}
	s, err := avro.Parse(*text)
	if err != nil {
		return nil, nil, errInvalidSchema(err)
	}
	if got, ok := p.schemas.idOf(subject, *text); ok {
		return s, &got, nil
	}
	ss, err := p.sr.CreateSchema(ctx, subject, sr.Schema{Schema: *text, Type: sr.TypeAvro})
	if err != nil {
		return nil, nil, errSchema(err)
	}
	p.schemas.putID(subject, *text, ss.ID)
	p.schemas.put(ss.ID, s)
	return s, &ss.ID, nil
}

// schemaByID is the parsed schema of a registry id.
func (p *Proxy) schemaByID(ctx context.Context, id int) (avro.Schema, error) {
	if s, ok := p.schemas.get(id); ok {
		return s, nil
	}
	if p.sr == nil {
		return nil, errSchema(errors.New("the Schema Registry is not enabled (ringtail.schema_registry_enable)"))
	}
	ss, err := p.sr.SchemaByID(ctx, id)
	if err != nil {
		return nil, errSchema(err)
	}
	if ss.Type != sr.TypeAvro {
		return nil, errSchema(fmt.Errorf("schema %d is %s, not Avro", id, ss.Type))
	}
	s, err := avro.Parse(ss.Schema)
	if err != nil {
		return nil, errSchema(err)
	}
	p.schemas.put(id, s)
	return s, nil
}

// maxCachedSchemas bounds the schema cache; past it the cache starts over.
const maxCachedSchemas = 1000

// schemaCache keeps parsed schemas by id and ids by subject and text,
// since registry ids never change meaning.
type schemaCache struct {
	mu   sync.Mutex
	byID map[int]avro.Schema
	ids  map[[2]string]int
}

func newSchemaCache() *schemaCache {
	return &schemaCache{byID: map[int]avro.Schema{}, ids: map[[2]string]int{}}
}

func (c *schemaCache) get(id int) (avro.Schema, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.byID[id]
	return s, ok
}

func (c *schemaCache) put(id int, s avro.Schema) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byID) >= maxCachedSchemas {
		c.byID = map[int]avro.Schema{}
	}
	c.byID[id] = s
}

func (c *schemaCache) idOf(subject, text string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	id, ok := c.ids[[2]string{subject, text}]
	return id, ok
}

func (c *schemaCache) putID(subject, text string, id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.ids) >= maxCachedSchemas {
		c.ids = map[[2]string]int{}
	}
	c.ids[[2]string{subject, text}] = id
}

// v3 produce.

type v3Size struct {
	Type string `json:"type"`
	Size int    `json:"size"`
}

type v3Result struct {
	ErrorCode   int     `json:"error_code"`
	Message     string  `json:"message,omitempty"`
	ClusterID   string  `json:"cluster_id,omitempty"`
	TopicName   string  `json:"topic_name,omitempty"`
	PartitionID *int32  `json:"partition_id,omitempty"`
	Offset      *int64  `json:"offset,omitempty"`
	Timestamp   *string `json:"timestamp,omitempty"`
	Key         *v3Size `json:"key,omitempty"`
	Value       *v3Size `json:"value,omitempty"`
}

func v3Failure(err error) v3Result {
	ae := v3Err(err).(*apiError)
	return v3Result{ErrorCode: ae.Code, Message: ae.Message}
}

// v3Produce answers one JSON result for a body of one record, and for a
// body of several concatenated records a stream of results, one per
// record in order, each written as soon as its record is produced.
func (p *Proxy) v3Produce(w http.ResponseWriter, req *http.Request) error {
	switch mediaType(req) {
	case ctJSON, "":
	default:
		return v3Err(errUnsupportedMedia)
	}
	topic := req.PathValue("topic")
	if err := p.authorize(req, acl.ResourceTopic, topic, acl.OpWrite); err != nil {
		return v3Err(err)
	}
	cl, adm, err := p.shared(req)
	if err != nil {
		return v3Err(err)
	}
	ctx, cancel := reqCtx(req)
	md, err := p.v3ClusterArg(ctx, req, adm)
	if err != nil {
		cancel()
		return err
	}
	td, err := p.topicDetail(ctx, adm, topic)
	cancel()
	if ae, ok := err.(*apiError); ok && ae.Code == 40301 {
		return v3Err(err)
	}
	if err != nil {
		return errf(404, "This server does not host this topic-partition.")
	}
	// Results are written while the request's later records are still
	// being read.
	_ = http.NewResponseController(w).EnableFullDuplex()
	dec := json.NewDecoder(req.Body)
	dec.UseNumber()
	for first := true; ; first = false {
		var r v3Record
		derr := dec.Decode(&r)
		if errors.Is(derr, io.EOF) {
			if first {
				return errf(400, "The request body is empty")
			}
			return nil
		}
		// After bad JSON syntax the stream cannot be resynchronized; a
		// well-formed record of the wrong shape fails alone.
		var te *json.UnmarshalTypeError
		fatal := derr != nil && !errors.As(derr, &te)
		var res v3Result
		if derr != nil {
			res = v3Failure(jsonError(derr))
		} else {
			res = p.v3ProduceOne(req, cl, md.Cluster, td, &r)
		}
		if first {
			if fatal || !dec.More() {
				w.Header().Set("Content-Type", ctJSON)
				w.WriteHeader(res.ErrorCode)
				b, _ := json.Marshal(res)
				_, _ = w.Write(b)
				return nil
			}
			w.Header().Set("Content-Type", ctJSON)
			w.WriteHeader(200)
		}
		b, _ := json.Marshal(res)
		if _, err := w.Write(append(b, '\n')); err != nil {
			return nil
		}
		_ = http.NewResponseController(w).Flush()
		if fatal {
			return nil
		}
	}
}

// v3ProduceOne produces one v3 record and describes the outcome.
func (p *Proxy) v3ProduceOne(req *http.Request, cl *kgo.Client, cluster string, td kadm.TopicDetail, r *v3Record) v3Result {
	o, err := convertV3(r)
	if err != nil {
		return v3Failure(errf(400, "%v", err))
	}
	if err := checkPartitions(td, []outRecord{o.outRecord}); err != nil {
		return v3Failure(errf(404, "This server does not host this topic-partition."))
	}
	ctx, cancel := reqCtx(req)
	defer cancel()
	res := cl.ProduceSync(ctx, toKgo(td.Topic, &o.outRecord))
	rec, err := res.First()
	if err != nil {
		return v3Failure(errKafka(err))
	}
	ts := rec.Timestamp.UTC().Format(time.RFC3339Nano)
	out := v3Result{ErrorCode: 200, ClusterID: cluster, TopicName: td.Topic, PartitionID: &rec.Partition, Offset: &rec.Offset, Timestamp: &ts}
	if o.KeyType != "" {
		out.Key = &v3Size{Type: o.KeyType, Size: len(o.Key)}
	}
	if o.ValueType != "" {
		out.Value = &v3Size{Type: o.ValueType, Size: len(o.Value)}
	}
	return out
}
