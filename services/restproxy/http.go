package restproxy

// Routes, content negotiation and Confluent's error bodies, kept in one
// place so every endpoint answers the same codes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/ringtail/ringtail/services/internal/httpsvc"
)

// Content types (Confluent's application/vnd.kafka[.format].v2+json).
const (
	ctV2     = "application/vnd.kafka.v2+json"
	ctJSON   = "application/json"
	ctLegacy = "application/vnd.kafka+json"
)

// format is an embedded data format of the v2 API.
type format string

const (
	fmtJSON   format = "json"
	fmtBinary format = "binary"
	fmtAvro   format = "avro"
)

func (f format) contentType() string { return "application/vnd.kafka." + string(f) + ".v2+json" }

// apiError is Confluent's error body with its HTTP status.
type apiError = httpsvc.Error

// errf makes an error whose HTTP status is the first three digits of code.
func errf(code int, format string, args ...any) *apiError {
	return httpsvc.Errorf(code, format, args...)
}

// Confluent's errors (kafka-rest Errors and rest-utils' JSON mappers).
var (
	errTopicNotFound     = errf(40401, "Topic not found.")
	errPartitionNotFound = errf(40402, "Partition not found.")
	errInstanceNotFound  = errf(40403, "Consumer instance not found.")
	errFormatMismatch    = errf(40601, "The requested embedded data format does not match the deserializer for this consumer instance")
	errKeySchemaMissing  = errf(42201, "Request includes keys but does not include key schema")
	errValSchemaMissing  = errf(42202, "Request includes values but does not include value schema")
	errInstanceExists    = errf(40902, "Consumer with specified consumer ID already exists in the specified consumer group.")
	errUnsupportedMedia  = errf(415, "HTTP 415 Unsupported Media Type")
	errNotAcceptable     = errf(406, "HTTP 406 Not Acceptable")
)

func errIllegalState(msg string) *apiError { return errf(40903, "Illegal state: %s", msg) }
func errConversion(err error) *apiError {
	return errf(42203, "Conversion of JSON to Avro failed: %v", err)
}
func errInvalidSchema(err error) *apiError { return errf(42205, "Invalid schema: %v", err) }
func errConsumerConfig(msg string) *apiError {
	return errf(42204, "Invalid consumer configuration: %s", msg)
}

// errSchema is a failed registration or lookup in the Schema Registry.
func errSchema(err error) *apiError {
	return errf(40801, "Schema registration or lookup failed: %v", err)
}

// errKafka is an error from Kafka: 50003 when retrying may help.
func errKafka(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if d := errDenied(err, "", ""); d != nil {
		return d
	}
	if kerr.IsRetriable(err) {
		return errf(50003, "Retriable Kafka error: %v", err)
	}
	return errf(50002, "Kafka error: %v", err)
}

// errSyntax is a body that is not JSON (rest-utils' JsonParseException
// mapper), errShape one that is JSON of the wrong shape (its
// JsonMappingException mapper).
func errSyntax(err error) *apiError { return errf(400, "Unexpected JSON in the request body: %v", err) }
func errShape(msg string) *apiError { return errf(422, "%s", msg) }

// jsonError classifies an encoding/json error.
func jsonError(err error) *apiError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			field = "the request body"
		}
		return errShape(fmt.Sprintf("Cannot deserialize %s: %s where %s is expected", field, te.Value, te.Type))
	}
	return errSyntax(err)
}

func writeJSON(w http.ResponseWriter, status int, ct string, v any) {
	httpsvc.WriteJSON(w, status, ct, v)
}

func writeErr(w http.ResponseWriter, ct string, err error) {
	ae, ok := err.(*apiError)
	if !ok {
		ae = errf(50002, "Kafka error: %v", err)
	}
	writeJSON(w, ae.Status, ct, ae)
}

// handler is one endpoint: it writes its success answer, or returns an
// error that the route writes in Confluent's form.
type handler func(w http.ResponseWriter, req *http.Request) error

// routes is the API. What is not here is 404.
func (p *Proxy) routes() http.Handler {
	mux := http.NewServeMux()
	h := func(pattern, errCT string, f handler) {
		mux.HandleFunc(pattern, p.metrics.Wrap(pattern, func(w http.ResponseWriter, req *http.Request) {
			req.Body = http.MaxBytesReader(w, req.Body, maxBodyBytes)
			if err := f(w, req); err != nil {
				writeErr(w, errCT, err)
			}
		}))
	}
	v2 := func(pattern string, f handler) { h(pattern, ctV2, f) }
	v3 := func(pattern string, f handler) { h(pattern, ctJSON, f) }
	v2("GET /{$}", func(w http.ResponseWriter, _ *http.Request) error { writeJSON(w, 200, ctV2, struct{}{}); return nil })
	v2("GET /topics", p.listTopics)
	v2("GET /topics/{topic}", p.getTopic)
	v2("POST /topics/{topic}", p.produceTopic)
	v2("GET /topics/{topic}/partitions", p.listPartitions)
	v2("GET /topics/{topic}/partitions/{partition}", p.getPartition)
	v2("POST /topics/{topic}/partitions/{partition}", p.producePartition)
	v2("GET /topics/{topic}/partitions/{partition}/offsets", p.partitionOffsets)
	v2("GET /brokers", p.listBrokers)

	v2("POST /consumers/{group}", p.createInstance)
	v2("DELETE /consumers/{group}/instances/{instance}", p.deleteInstance)
	v2("POST /consumers/{group}/instances/{instance}/subscription", p.subscribe)
	v2("GET /consumers/{group}/instances/{instance}/subscription", p.getSubscription)
	v2("DELETE /consumers/{group}/instances/{instance}/subscription", p.unsubscribe)
	v2("POST /consumers/{group}/instances/{instance}/assignments", p.assign)
	v2("GET /consumers/{group}/instances/{instance}/assignments", p.getAssignments)
	v2("POST /consumers/{group}/instances/{instance}/positions", p.seek)
	v2("POST /consumers/{group}/instances/{instance}/positions/beginning", p.seekBeginning)
	v2("POST /consumers/{group}/instances/{instance}/positions/end", p.seekEnd)
	v2("GET /consumers/{group}/instances/{instance}/records", p.records)
	v2("POST /consumers/{group}/instances/{instance}/offsets", p.commit)
	v2("GET /consumers/{group}/instances/{instance}/offsets", p.committed)

	v3("GET /v3/clusters", p.v3Clusters)
	v3("GET /v3/clusters/{cluster}", p.v3Cluster)
	v3("GET /v3/clusters/{cluster}/topics", p.v3Topics)
	v3("POST /v3/clusters/{cluster}/topics/{topic}/records", p.v3Produce)
	return mux
}

// mediaType is the request's Content-Type without parameters; "" if none.
func mediaType(req *http.Request) string {
	ct := req.Header.Get("Content-Type")
	if ct == "" {
		return ""
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return "invalid"
	}
	return strings.ToLower(mt)
}

// produceFormat is the embedded format a v2 produce request's Content-Type
// names; others are 415 (protobuf and jsonschema are not served).
func produceFormat(req *http.Request) (format, error) {
	switch mediaType(req) {
	case fmtJSON.contentType():
		return fmtJSON, nil
	case fmtBinary.contentType():
		return fmtBinary, nil
	case fmtAvro.contentType():
		return fmtAvro, nil
	}
	return "", errUnsupportedMedia
}

// checkV2Body accepts the v2 content types without an embedded format; a
// request without a body may leave Content-Type out.
func checkV2Body(req *http.Request) error {
	switch mediaType(req) {
	case ctV2, ctLegacy, ctJSON:
		return nil
	case "":
		if req.ContentLength == 0 {
			return nil
		}
	}
	return errUnsupportedMedia
}

// readBody reads a v2 body after checking its Content-Type.
func readBody(req *http.Request) ([]byte, error) {
	b, err := io.ReadAll(req.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errf(413, "HTTP 413 Request Entity Too Large: the body is over %d bytes", mbe.Limit)
		}
		return nil, errSyntax(err)
	}
	return b, nil
}

// decodeV2 reads a v2 JSON body into v.
func decodeV2(req *http.Request, v any) error {
	if err := checkV2Body(req); err != nil {
		return err
	}
	b, err := readBody(req)
	if err != nil {
		return err
	}
	return unmarshalBody(b, v)
}

// unmarshalBody decodes one JSON value and refuses trailing data.
func unmarshalBody(b []byte, v any) error {
	d := json.NewDecoder(strings.NewReader(string(b)))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errShape("The request body is empty")
		}
		return jsonError(err)
	}
	if d.More() {
		return errSyntax(errors.New("data after the JSON value"))
	}
	if _, err := d.Token(); err != io.EOF {
		return errSyntax(errors.New("data after the JSON value"))
	}
	return nil
}

// acceptFormat is the format an Accept header asks of GET records, "" for
// any (no header, */*, or a type without an embedded format).
func acceptFormat(req *http.Request) (format, error) {
	acc := req.Header.Get("Accept")
	if acc == "" {
		return "", nil
	}
	var named format
	for _, part := range strings.Split(acc, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch strings.ToLower(mt) {
		case "*/*", "application/*", ctV2, ctJSON, ctLegacy:
			return "", nil
		case fmtJSON.contentType(), fmtBinary.contentType(), fmtAvro.contentType():
			if named == "" {
				named = format(strings.TrimSuffix(strings.TrimPrefix(strings.ToLower(mt), "application/vnd.kafka."), ".v2+json"))
			}
		}
	}
	if named == "" {
		return "", errNotAcceptable
	}
	return named, nil
}
