package restproxy

// Produce bodies: the v2 body with its embedded format, and one v3
// record. Decoding is pure and checks every record before any is
// produced, so a bad record refuses the whole request.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// v2ProduceBody is a v2 produce request as sent.
type v2ProduceBody struct {
	KeySchema     *string         `json:"key_schema"`
	KeySchemaID   *int            `json:"key_schema_id"`
	ValueSchema   *string         `json:"value_schema"`
	ValueSchemaID *int            `json:"value_schema_id"`
	Records       []v2ProduceItem `json:"records"`
}

type v2ProduceItem struct {
	Key       json.RawMessage `json:"key"`
	Value     json.RawMessage `json:"value"`
	Partition *int32          `json:"partition"`
}

// v2Produce is a decoded v2 produce request: keys and values serialized,
// except Avro's, which stay JSON (AvroKeys/AvroValues) until the schema is
// known.
type v2Produce struct {
	Format   format
	Body     v2ProduceBody
	Records  []outRecord
	AvroKeys []any // per record; nil entries are null keys
	AvroVals []any
}

// outRecord is a record ready to produce; Partition -1 lets the
// partitioner choose.
type outRecord struct {
	Key, Value []byte
	Partition  int32
	Headers    []outHeader
	Timestamp  time.Time
}

type outHeader struct {
	Key   string
	Value []byte
}

func isNull(m json.RawMessage) bool {
	return len(m) == 0 || bytes.Equal(bytes.TrimSpace(m), []byte("null"))
}

// decodeV2Produce decodes and checks a v2 produce body of format f.
// fixedPartition is true for the partition endpoint, whose records may not
// name a partition of their own.
func decodeV2Produce(body []byte, f format, fixedPartition bool) (*v2Produce, error) {
	out := &v2Produce{Format: f}
	if err := unmarshalBody(body, &out.Body); err != nil {
		return nil, err
	}
	recs := out.Body.Records
	if len(recs) == 0 {
		return nil, errShape("records may not be empty")
	}
	if len(recs) > maxRecordsPerReq {
		return nil, errShape(fmt.Sprintf("records may hold at most %d records", maxRecordsPerReq))
	}
	out.Records = make([]outRecord, len(recs))
	if f == fmtAvro {
		out.AvroKeys = make([]any, len(recs))
		out.AvroVals = make([]any, len(recs))
	}
	for i, r := range recs {
		o := &out.Records[i]
		o.Partition = -1
		if r.Partition != nil {
			if fixedPartition {
				return nil, errShape(fmt.Sprintf("records[%d]: partition is set by the URL and may not be given per record", i))
			}
			if *r.Partition < 0 {
				return nil, errShape(fmt.Sprintf("records[%d]: partition %d is negative", i, *r.Partition))
			}
			o.Partition = *r.Partition
		}
		var err error
		switch f {
		case fmtJSON:
			o.Key, err = jsonEmbedded(r.Key)
			if err == nil {
				o.Value, err = jsonEmbedded(r.Value)
			}
		case fmtBinary:
			o.Key, err = binaryEmbedded(r.Key)
			if err == nil {
				o.Value, err = binaryEmbedded(r.Value)
			}
		case fmtAvro:
			out.AvroKeys[i], err = avroEmbedded(r.Key)
			if err == nil {
				out.AvroVals[i], err = avroEmbedded(r.Value)
			}
			if err == nil && !isNull(r.Key) && out.Body.KeySchema == nil && out.Body.KeySchemaID == nil {
				return nil, errKeySchemaMissing
			}
			if err == nil && !isNull(r.Value) && out.Body.ValueSchema == nil && out.Body.ValueSchemaID == nil {
				return nil, errValSchemaMissing
			}
		}
		if err != nil {
			return nil, errShape(fmt.Sprintf("records[%d]: %v", i, err))
		}
	}
	return out, nil
}

// jsonEmbedded is a json-format key or value: its JSON, compacted; null is
// no key or value.
func jsonEmbedded(m json.RawMessage) ([]byte, error) {
	if isNull(m) {
		return nil, nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// binaryEmbedded is a binary-format key or value: a base64 string.
func binaryEmbedded(m json.RawMessage) ([]byte, error) {
	if isNull(m) {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(m, &s); err != nil {
		return nil, fmt.Errorf("binary data must be a base64 string")
	}
	b, err := base64Std.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("binary data is not valid base64: %v", err)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// avroEmbedded is an avro-format key or value as JSON values.
func avroEmbedded(m json.RawMessage) (any, error) {
	if isNull(m) {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(m))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// v3Record is one record of a v3 produce request.
type v3Record struct {
	PartitionID *int32     `json:"partition_id"`
	Headers     []v3Header `json:"headers"`
	Key         *v3Data    `json:"key"`
	Value       *v3Data    `json:"value"`
	Timestamp   *time.Time `json:"timestamp"`
}

type v3Header struct {
	Name  string  `json:"name"`
	Value *string `json:"value"` // base64
}

// v3Data is a key or value: its type and data.
type v3Data struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
}

// v3Out is a v3 record ready to produce, with the types and sizes the
// result reports.
type v3Out struct {
	outRecord
	KeyType, ValueType string
}

// convertV3 checks and serializes a decoded v3 record.
func convertV3(r *v3Record) (*v3Out, error) {
	o := &v3Out{outRecord: outRecord{Partition: -1}}
	if r.PartitionID != nil {
		if *r.PartitionID < 0 {
			return nil, fmt.Errorf("partition_id %d is negative", *r.PartitionID)
		}
		o.Partition = *r.PartitionID
	}
	var err error
	if o.Key, o.KeyType, err = v3Embedded(r.Key); err != nil {
		return nil, fmt.Errorf("key: %v", err)
	}
	if o.Value, o.ValueType, err = v3Embedded(r.Value); err != nil {
		return nil, fmt.Errorf("value: %v", err)
	}
	for i, h := range r.Headers {
		oh := outHeader{Key: h.Name}
		if h.Value != nil {
			if oh.Value, err = base64Std.DecodeString(*h.Value); err != nil {
				return nil, fmt.Errorf("headers[%d]: value is not valid base64: %v", i, err)
			}
		}
		o.Headers = append(o.Headers, oh)
	}
	if r.Timestamp != nil {
		o.Timestamp = *r.Timestamp
	}
	return o, nil
}

// v3Embedded serializes a v3 key or value of type BINARY (base64), STRING
// or JSON; schema-registry types are not served.
func v3Embedded(d *v3Data) ([]byte, string, error) {
	if d == nil {
		return nil, "", nil
	}
	typ := strings.ToUpper(d.Type)
	switch typ {
	case "BINARY":
		b, err := binaryEmbedded(d.Data)
		return b, typ, err
	case "JSON":
		b, err := jsonEmbedded(d.Data)
		return b, typ, err
	case "STRING":
		if isNull(d.Data) {
			return nil, typ, nil
		}
		var s string
		if err := json.Unmarshal(d.Data, &s); err != nil {
			return nil, "", fmt.Errorf("STRING data must be a JSON string")
		}
		return []byte(s), typ, nil
	case "":
		return nil, "", fmt.Errorf("type is required: BINARY, JSON or STRING")
	}
	return nil, "", fmt.Errorf("type %q is not supported: BINARY, JSON or STRING", d.Type)
}
