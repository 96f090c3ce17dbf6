package restproxy

// Avro's JSON encoding to Avro binary and back, driven by the schema
// (hamba/avro parses it), and Confluent's wire format around it:
//
//	+-------+----------------------+-------------------+
//	| 0x00  | schema id (4 bytes,  | Avro binary datum |
//	| magic |  big-endian)         |                   |
//	+-------+----------------------+-------------------+
//
// The encoder is written against the JSON values encoding/json gives
// (json.Number with UseNumber), so REST clients' numbers keep their
// precision; a union takes Avro JSON's {"branch": value} form, or, as a
// convenience, a bare value when one branch accepts it.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/hamba/avro/v2"
)

// maxAvroDepth bounds nesting, so a recursive schema with hostile data
// cannot exhaust the stack.
const maxAvroDepth = 64

// maxAvroItems bounds the items of one decoded array or map block.
const maxAvroItems = 1 << 20

// wireFormat frames an Avro datum as Confluent's serializers do.
func wireFormat(id int, datum []byte) []byte {
	out := make([]byte, 5, 5+len(datum))
	binary.BigEndian.PutUint32(out[1:], uint32(id))
	return append(out, datum...)
}

// splitWireFormat is wireFormat's inverse.
func splitWireFormat(b []byte) (id int, datum []byte, err error) {
	if len(b) < 5 || b[0] != 0 {
		return 0, nil, errors.New("not in the Confluent wire format (magic byte 0, 4-byte schema id)")
	}
	return int(binary.BigEndian.Uint32(b[1:5])), b[5:], nil
}

// encodeAvro encodes the JSON value v (decoded with UseNumber) as s.
func encodeAvro(s avro.Schema, v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeValue(&b, s, v, 0); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func deref(s avro.Schema) avro.Schema {
	if r, ok := s.(*avro.RefSchema); ok {
		return r.Schema()
	}
	return s
}

func putLong(b *bytes.Buffer, n int64) {
	var tmp [binary.MaxVarintLen64]byte
	b.Write(tmp[:binary.PutVarint(tmp[:], n)])
}

func jsonInt(v any, lo, hi int64) (int64, error) {
	var n int64
	switch x := v.(type) {
	case json.Number:
		i, err := strconv.ParseInt(string(x), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s is not an integer", x)
		}
		n = i
	case int:
		n = int64(x)
	case int32:
		n = int64(x)
	case int64:
		n = x
	case float64:
		if x != math.Trunc(x) || x < float64(lo) || x > float64(hi) {
			return 0, fmt.Errorf("%v is not an integer in range", x)
		}
		n = int64(x)
	default:
		return 0, fmt.Errorf("%s where a number is expected", jsonKind(v))
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return n, nil
}

func jsonFloat(v any) (float64, error) {
	switch x := v.(type) {
	case json.Number:
		return x.Float64()
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	}
	return 0, fmt.Errorf("%s where a number is expected", jsonKind(v))
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// avroBytes is Avro JSON's bytes/fixed form: a string of code points 0-255.
func avroBytes(v any) ([]byte, error) {
	switch x := v.(type) {
	case string:
		out := make([]byte, 0, len(x))
		for _, r := range x {
			if r > 255 {
				return nil, fmt.Errorf("bytes string holds code point %d (over 255)", r)
			}
			out = append(out, byte(r))
		}
		return out, nil
	case []byte:
		return x, nil
	}
	// hamba/avro gives a fixed field's default as a byte array.
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Array && rv.Type().Elem().Kind() == reflect.Uint8 {
		out := make([]byte, rv.Len())
		reflect.Copy(reflect.ValueOf(out), rv)
		return out, nil
	}
	return nil, fmt.Errorf("%s where bytes (a string) are expected", jsonKind(v))
}

func encodeValue(b *bytes.Buffer, s avro.Schema, v any, depth int) error {
	if depth > maxAvroDepth {
		return errors.New("nested too deeply")
	}
	s = deref(s)
	switch s.Type() {
	case avro.Null:
		if v != nil {
			return fmt.Errorf("%s where null is expected", jsonKind(v))
		}
	case avro.Boolean:
		x, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%s where a boolean is expected", jsonKind(v))
		}
		if x {
			b.WriteByte(1)
		} else {
			b.WriteByte(0)
		}
	case avro.Int:
		n, err := jsonInt(v, math.MinInt32, math.MaxInt32)
		if err != nil {
			return err
		}
		putLong(b, n)
	case avro.Long:
		n, err := jsonInt(v, math.MinInt64, math.MaxInt64)
		if err != nil {
			return err
		}
		putLong(b, n)
	case avro.Float:
		f, err := jsonFloat(v)
		if err != nil {
			return err
		}
		_ = binary.Write(b, binary.LittleEndian, math.Float32bits(float32(f)))
	case avro.Double:
		f, err := jsonFloat(v)
		if err != nil {
			return err
		}
		_ = binary.Write(b, binary.LittleEndian, math.Float64bits(f))
	case avro.String:
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s where a string is expected", jsonKind(v))
		}
		putLong(b, int64(len(x)))
		b.WriteString(x)
	case avro.Bytes:
		x, err := avroBytes(v)
		if err != nil {
			return err
		}
		putLong(b, int64(len(x)))
		b.Write(x)
	case avro.Fixed:
		x, err := avroBytes(v)
		if err != nil {
			return err
		}
		if n := s.(*avro.FixedSchema).Size(); len(x) != n {
			return fmt.Errorf("fixed of %d bytes given %d", n, len(x))
		}
		b.Write(x)
	case avro.Enum:
		x, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s where an enum symbol is expected", jsonKind(v))
		}
		for i, sym := range s.(*avro.EnumSchema).Symbols() {
			if sym == x {
				putLong(b, int64(i))
				return nil
			}
		}
		return fmt.Errorf("%q is not a symbol of enum %s", x, s.(*avro.EnumSchema).FullName())
	case avro.Array:
		items, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s where an array is expected", jsonKind(v))
		}
		if len(items) > 0 {
			putLong(b, int64(len(items)))
			for i, it := range items {
				if err := encodeValue(b, s.(*avro.ArraySchema).Items(), it, depth+1); err != nil {
					return fmt.Errorf("[%d]: %w", i, err)
				}
			}
		}
		b.WriteByte(0)
	case avro.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s where an object (map) is expected", jsonKind(v))
		}
		if len(m) > 0 {
			putLong(b, int64(len(m)))
			for k, it := range m {
				putLong(b, int64(len(k)))
				b.WriteString(k)
				if err := encodeValue(b, s.(*avro.MapSchema).Values(), it, depth+1); err != nil {
					return fmt.Errorf("%q: %w", k, err)
				}
			}
		}
		b.WriteByte(0)
	case avro.Record, avro.Error:
		return encodeRecord(b, s.(*avro.RecordSchema), v, depth)
	case avro.Union:
		return encodeUnion(b, s.(*avro.UnionSchema), v, depth)
	default:
		return fmt.Errorf("schema type %s is not supported", s.Type())
	}
	return nil
}

func encodeRecord(b *bytes.Buffer, rs *avro.RecordSchema, v any, depth int) error {
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s where record %s (an object) is expected", jsonKind(v), rs.FullName())
	}
	for _, f := range rs.Fields() {
		fv, ok := m[f.Name()]
		if !ok {
			if !f.HasDefault() {
				return fmt.Errorf("field %q of %s is missing and has no default", f.Name(), rs.FullName())
			}
			// A union's default is of its first branch.
			ft := deref(f.Type())
			if u, isU := ft.(*avro.UnionSchema); isU {
				putLong(b, 0)
				ft = u.Types()[0]
			}
			if err := encodeValue(b, ft, f.Default(), depth+1); err != nil {
				return fmt.Errorf("default of field %q: %w", f.Name(), err)
			}
			continue
		}
		if err := encodeValue(b, f.Type(), fv, depth+1); err != nil {
			return fmt.Errorf("field %q: %w", f.Name(), err)
		}
	}
	return nil
}

// branchName is a union branch's name in Avro JSON: the full name of a
// named type, else the type.
func branchName(s avro.Schema) string {
	s = deref(s)
	if n, ok := s.(avro.NamedSchema); ok {
		return n.FullName()
	}
	return string(s.Type())
}

func encodeUnion(b *bytes.Buffer, u *avro.UnionSchema, v any, depth int) error {
	types := u.Types()
	if v == nil {
		for i, t := range types {
			if t.Type() == avro.Null {
				putLong(b, int64(i))
				return nil
			}
		}
		return errors.New("null where the union has no null branch")
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for k, inner := range m {
			for i, t := range types {
				if branchName(t) == k {
					putLong(b, int64(i))
					return encodeValue(b, t, inner, depth+1)
				}
			}
		}
	}
	// A bare value: the first non-null branch that takes it.
	for i, t := range types {
		if t.Type() == avro.Null {
			continue
		}
		var tmp bytes.Buffer
		if encodeValue(&tmp, t, v, depth+1) == nil {
			putLong(b, int64(i))
			b.Write(tmp.Bytes())
			return nil
		}
	}
	return fmt.Errorf("%s matches no branch of the union", jsonKind(v))
}

// avroReader reads Avro binary with bounds checks.
type avroReader struct {
	b   []byte
	err error
}

var errShort = errors.New("avro datum ends early")

func (r *avroReader) long() int64 {
	n, k := binary.Varint(r.b)
	if k <= 0 {
		r.err = errShort
		return 0
	}
	r.b = r.b[k:]
	return n
}

func (r *avroReader) take(n int64) []byte {
	if n < 0 || n > int64(len(r.b)) {
		r.err = errShort
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

// decodeAvro decodes an Avro datum of s into Avro JSON's values.
func decodeAvro(s avro.Schema, datum []byte) (any, error) {
	r := &avroReader{b: datum}
	v := decodeValue(r, s, 0)
	if r.err != nil {
		return nil, r.err
	}
	return v, nil
}

func codepoints(b []byte) string {
	rs := make([]rune, len(b))
	for i, c := range b {
		rs[i] = rune(c)
	}
	return string(rs)
}

func decodeValue(r *avroReader, s avro.Schema, depth int) any {
	if depth > maxAvroDepth {
		r.err = errors.New("nested too deeply")
	}
	if r.err != nil {
		return nil
	}
	s = deref(s)
	switch s.Type() {
	case avro.Null:
		return nil
	case avro.Boolean:
		b := r.take(1)
		return len(b) == 1 && b[0] != 0
	case avro.Int, avro.Long:
		return r.long()
	case avro.Float:
		b := r.take(4)
		if b == nil {
			return nil
		}
		return jsonSafeFloat(float64(math.Float32frombits(binary.LittleEndian.Uint32(b))))
	case avro.Double:
		b := r.take(8)
		if b == nil {
			return nil
		}
		return jsonSafeFloat(math.Float64frombits(binary.LittleEndian.Uint64(b)))
	case avro.String:
		return string(r.take(r.long()))
	case avro.Bytes:
		return codepoints(r.take(r.long()))
	case avro.Fixed:
		return codepoints(r.take(int64(s.(*avro.FixedSchema).Size())))
	case avro.Enum:
		sym, ok := s.(*avro.EnumSchema).Symbol(int(r.long()))
		if !ok && r.err == nil {
			r.err = errors.New("enum index out of range")
		}
		return sym
	case avro.Array:
		out := []any{}
		r.blocks(func() { out = append(out, decodeValue(r, s.(*avro.ArraySchema).Items(), depth+1)) })
		return out
	case avro.Map:
		out := map[string]any{}
		r.blocks(func() {
			k := string(r.take(r.long()))
			out[k] = decodeValue(r, s.(*avro.MapSchema).Values(), depth+1)
		})
		return out
	case avro.Record, avro.Error:
		out := map[string]any{}
		for _, f := range s.(*avro.RecordSchema).Fields() {
			out[f.Name()] = decodeValue(r, f.Type(), depth+1)
		}
		return out
	case avro.Union:
		types := s.(*avro.UnionSchema).Types()
		i := r.long()
		if r.err != nil || i < 0 || i >= int64(len(types)) {
			if r.err == nil {
				r.err = errors.New("union index out of range")
			}
			return nil
		}
		if types[i].Type() == avro.Null {
			return nil
		}
		return map[string]any{branchName(types[i]): decodeValue(r, types[i], depth+1)}
	}
	r.err = fmt.Errorf("schema type %s is not supported", s.Type())
	return nil
}

// blocks reads an array's or map's blocks, calling item for each item.
func (r *avroReader) blocks(item func()) {
	for total := 0; r.err == nil; {
		n := r.long()
		if r.err != nil || n == 0 {
			return
		}
		if n < 0 { // a negative count is followed by the block's byte size
			n = -n
			r.long()
		}
		if total += int(min(n, maxAvroItems+1)); total > maxAvroItems || n > int64(len(r.b))+1 {
			r.err = errors.New("array or map block too large")
			return
		}
		for range n {
			if item(); r.err != nil {
				return
			}
		}
	}
}

// jsonSafeFloat keeps NaN and infinities out of JSON, which cannot hold
// them: Avro JSON writes them as strings.
func jsonSafeFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return f
}

// base64Std is the encoding of binary keys and values.
var base64Std = base64.StdEncoding
