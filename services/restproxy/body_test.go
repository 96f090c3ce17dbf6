// These tests prove the produce bodies decode as Confluent's formats say
// (json embedded as is, binary as base64, avro as JSON kept for its
// schema), that a bad record refuses the whole request, that the v3 record
// types serialize, and that the Avro codec agrees with hamba/avro (a real
// Avro implementation) both ways. FuzzDecodeProduce runs the decoders on
// arbitrary bytes.
package restproxy

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/hamba/avro/v2"
)

func TestDecodeV2Produce(t *testing.T) {
	pr, err := decodeV2Produce([]byte(`{"records":[{"key":{"a": 1},"value":[1, 2]},{"value":"x","partition":2},{"key":null}]}`), fmtJSON, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []outRecord{{Key: []byte(`{"a":1}`), Value: []byte(`[1,2]`), Partition: -1}, {Value: []byte(`"x"`), Partition: 2}, {Partition: -1}}
	if !reflect.DeepEqual(pr.Records, want) {
		t.Fatalf("json: %+v", pr.Records)
	}
	pr, err = decodeV2Produce([]byte(`{"records":[{"key":"a2V5","value":""},{"value":"AAEC"}]}`), fmtBinary, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(pr.Records[0].Key) != "key" || pr.Records[0].Value == nil || len(pr.Records[0].Value) != 0 || !bytes.Equal(pr.Records[1].Value, []byte{0, 1, 2}) {
		t.Fatalf("binary: %+v", pr.Records)
	}
	pr, err = decodeV2Produce([]byte(`{"value_schema_id":3,"records":[{"value":{"n":12345678901234567}}]}`), fmtAvro, false)
	if err != nil {
		t.Fatal(err)
	}
	if v := pr.AvroVals[0].(map[string]any)["n"]; v != json.Number("12345678901234567") {
		t.Fatalf("avro keeps numbers exact: %#v", v)
	}
	// One bad record refuses them all.
	if _, err := decodeV2Produce([]byte(`{"records":[{"value":"AAEC"},{"value":5}]}`), fmtBinary, false); err == nil || !strings.Contains(err.Error(), "records[1]") {
		t.Fatalf("bad second record: %v", err)
	}
	if _, err := decodeV2Produce([]byte(`{"records":[{"value":1,"partition":-1}]}`), fmtJSON, false); err == nil {
		t.Fatal("negative partition accepted")
	}
}

func TestConvertV3(t *testing.T) {
	var r v3Record
	if err := json.Unmarshal([]byte(`{"partition_id":1,"key":{"type":"STRING","data":"k"},"value":{"type":"BINARY","data":"AAE="},
		"headers":[{"name":"h","value":"dg=="}]}`), &r); err != nil {
		t.Fatal(err)
	}
	o, err := convertV3(&r)
	if err != nil {
		t.Fatal(err)
	}
	if o.Partition != 1 || string(o.Key) != "k" || !bytes.Equal(o.Value, []byte{0, 1}) || o.KeyType != "STRING" || o.ValueType != "BINARY" ||
		len(o.Headers) != 1 || o.Headers[0].Key != "h" || string(o.Headers[0].Value) != "v" {
		t.Fatalf("%+v", o)
	}
	for _, bad := range []string{`{"value":{"type":"AVRO","data":1}}`, `{"value":{"data":1}}`, `{"value":{"type":"BINARY","data":"%"}}`, `{"partition_id":-2}`} {
		var r v3Record
		if err := json.Unmarshal([]byte(bad), &r); err != nil {
			t.Fatal(err)
		}
		if _, err := convertV3(&r); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

const testSchema = `{"type":"record","name":"R","fields":[
 {"name":"id","type":"long"},
 {"name":"name","type":["null","string"],"default":null},
 {"name":"tags","type":{"type":"array","items":"string"},"default":[]},
 {"name":"attrs","type":{"type":"map","values":"double"},"default":{}},
 {"name":"kind","type":{"type":"enum","name":"K","symbols":["A","B"]},"default":"A"},
 {"name":"raw","type":"bytes","default":""},
 {"name":"ok","type":"boolean","default":false},
 {"name":"f","type":"float","default":0},
 {"name":"fx","type":{"type":"fixed","name":"F2","size":2},"default":"ab"},
 {"name":"next","type":["null","R"],"default":null}]}`

type testR struct {
	ID    int64              `avro:"id"`
	Name  *string            `avro:"name"`
	Tags  []string           `avro:"tags"`
	Attrs map[string]float64 `avro:"attrs"`
	Kind  string             `avro:"kind"`
	Raw   []byte             `avro:"raw"`
	OK    bool               `avro:"ok"`
	F     float32            `avro:"f"`
	Fx    [2]byte            `avro:"fx"`
	Next  *testR             `avro:"next"`
}

func jsonValue(t testing.TB, s string) any {
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestAvroAgreesWithHamba(t *testing.T) {
	s := avro.MustParse(testSchema)
	in := jsonValue(t, `{"id":-7,"name":{"string":"ann"},"tags":["x","y"],"attrs":{"w":1.5},"kind":"B","raw":"\u0000\u00ff",
		"ok":true,"f":2.5,"fx":"zz","next":{"R":{"id":8}}}`)
	b, err := encodeAvro(s, in)
	if err != nil {
		t.Fatal(err)
	}
	var got testR
	if err := avro.Unmarshal(s, b, &got); err != nil {
		t.Fatalf("hamba cannot read our encoding: %v", err)
	}
	if got.ID != -7 || got.Name == nil || *got.Name != "ann" || !reflect.DeepEqual(got.Tags, []string{"x", "y"}) || got.Attrs["w"] != 1.5 ||
		got.Kind != "B" || !bytes.Equal(got.Raw, []byte{0, 255}) || !got.OK || got.F != 2.5 || got.Fx != [2]byte{'z', 'z'} ||
		got.Next == nil || got.Next.ID != 8 || got.Next.Kind != "A" || got.Next.Fx != [2]byte{'a', 'b'} {
		t.Fatalf("hamba read %+v", got)
	}
	// And back: hamba's encoding decodes to Avro JSON.
	hb, err := avro.Marshal(s, got)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := decodeAvro(s, hb)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(dec)
	for _, want := range []string{`"id":-7`, `"name":{"string":"ann"}`, `"kind":"B"`, `"raw":"\u0000ÿ"`, `"next":{"R":{`, `"tags":["x","y"]`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("decoded %s lacks %s", out, want)
		}
	}
	// A bare value for a union is taken by the branch that fits it.
	if _, err := encodeAvro(s, jsonValue(t, `{"id":1,"name":"bare"}`)); err != nil {
		t.Fatalf("bare union value: %v", err)
	}
	for _, bad := range []string{`{"name":"x"}`, `{"id":1.5}`, `{"id":1,"kind":"C"}`, `{"id":1,"fx":"abc"}`, `{"id":"1"}`, `{"id":1,"raw":"Ā"}`} {
		if _, err := encodeAvro(s, jsonValue(t, bad)); err == nil {
			t.Errorf("%s encoded", bad)
		}
	}
	id, datum, err := splitWireFormat(wireFormat(258, []byte{9}))
	if err != nil || id != 258 || !bytes.Equal(datum, []byte{9}) {
		t.Fatalf("wire format: %d %v %v", id, datum, err)
	}
	if _, _, err := splitWireFormat([]byte{1, 0, 0, 0, 1}); err == nil {
		t.Fatal("magic byte 1 accepted")
	}
}

// FuzzDecodeProduce checks, for any body and each format: decoding never
// panics; a decoded request has one serialized record per record sent,
// json ones valid JSON; and an Avro value that encodes with the test
// schema decodes back to a value that encodes and decodes to itself.
// Decoding the body as an Avro datum never panics either.
func FuzzDecodeProduce(f *testing.F) {
	f.Add([]byte(`{"records":[{"key":"a","value":{"x":1},"partition":0}]}`), uint8(0))
	f.Add([]byte(`{"records":[{"value":"AAEC"}]}`), uint8(1))
	f.Add([]byte(`{"value_schema_id":1,"records":[{"value":{"id":3,"name":{"string":"n"},"next":{"R":{"id":4}}}}]}`), uint8(2))
	f.Add([]byte{0x02, 0x02, 0x06, 'a', 'b', 'c'}, uint8(2))
	s := avro.MustParse(testSchema)
	formats := []format{fmtJSON, fmtBinary, fmtAvro}
	f.Fuzz(func(t *testing.T, body []byte, sel uint8) {
		_, _ = decodeAvro(s, body)
		fm := formats[int(sel)%len(formats)]
		pr, err := decodeV2Produce(body, fm, sel&4 != 0)
		if err != nil {
			return
		}
		if len(pr.Records) != len(pr.Body.Records) || len(pr.Records) == 0 {
			t.Fatalf("%d records from %d", len(pr.Records), len(pr.Body.Records))
		}
		for _, r := range pr.Records {
			if fm == fmtJSON && r.Value != nil && !json.Valid(r.Value) {
				t.Fatalf("json value %q is not JSON", r.Value)
			}
		}
		for _, v := range pr.AvroVals {
			b, err := encodeAvro(s, v)
			if err != nil {
				continue
			}
			d1, err := decodeAvro(s, b)
			if err != nil {
				t.Fatalf("our own encoding does not decode: %v", err)
			}
			b2, err := encodeAvro(s, d1)
			if err != nil {
				t.Fatalf("decoded value does not encode: %v (%#v)", err, d1)
			}
			d2, err := decodeAvro(s, b2)
			if err != nil || !reflect.DeepEqual(d1, d2) {
				t.Fatalf("round trip: %#v != %#v (%v)", d1, d2, err)
			}
		}
	})
}
