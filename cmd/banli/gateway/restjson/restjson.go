// Package restjson encodes API messages as JSON for the REST gateway,
// producing the same JSON as protojson with the gateway's options (lower
// camel-case names, enums by name, unset fields left out), faster.
//
// protojson is general: for every message it sorts the populated fields,
// and it writes through a validating token encoder. On a page of fifty
// cases that was a third of the server's work for a REST call. restjson
// walks a plan made once per message type instead, and appends to one
// buffer. It writes in one of two ways:
//
//   - from the wire bytes (wire.go), when the message carries its
//     encoding undecoded, as the gateway's codec leaves answers: no Go
//     values are made at all;
//   - from the Go message, through protoreflect, otherwise.
//
// Messages it has no plan for - well-known types other than Timestamp,
// such as Any in error details - go to protojson whole. The output never
// differs from protojson's in value; TestMatchesProtojson and
// FuzzMatchesProtojson hold it to that.
package restjson

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Marshal encodes m as protojson.Marshal does with default options.
//
// A message whose only content is unknown fields is written from those
// bytes, as the message they encode: the gateway's codec (answerCodec in
// cmd/banli) leaves answers undecoded that way.
func Marshal(m proto.Message) ([]byte, error) {
	r := m.ProtoReflect()
	if wire := r.GetUnknown(); len(wire) > 0 && !hasKnownFields(r) {
		if p := planFor(r.Descriptor()); p != nil {
			b := make([]byte, 0, 2*len(wire)+64) // JSON is about twice the size
			if out, ok := p.appendWire(b, wire); ok {
				return out, nil
			}
		}
		// Not in the form transcoding expects: decode, then encode.
		decoded := r.New()
		if err := proto.Unmarshal(wire, decoded.Interface()); err != nil {
			return nil, err
		}
		r, m = decoded, decoded.Interface()
	}
	p := planFor(r.Descriptor())
	if p == nil {
		return protojson.Marshal(m)
	}
	return p.append(nil, r)
}

func hasKnownFields(m protoreflect.Message) bool {
	known := false
	m.Range(func(protoreflect.FieldDescriptor, protoreflect.Value) bool {
		known = true
		return false
	})
	return known
}

// plan is how to encode one message type.
type plan struct {
	fields []fieldPlan
	// byNumber finds a field's plan from its number on the wire.
	byNumber []*fieldPlan
	// timestamp is set for google.protobuf.Timestamp, which is a string.
	timestamp bool
}

type fieldPlan struct {
	fd protoreflect.FieldDescriptor
	// key is `"jsonName":`, with a leading comma for all but the first
	// field written.
	key []byte
	// message is the plan of a message field's (or list element's) type.
	message *plan
	// oneof is the field's oneof's index in the message, or -1.
	oneof int
	// zeroEnum is how an enum field's zero value is written.
	zeroEnum string
}

var (
	plansMu sync.Mutex
	plans   sync.Map // protoreflect.FullName -> *plan, or nil for "use protojson"
)

// planFor returns the plan for md, or nil if some message reachable from
// it needs protojson.
func planFor(md protoreflect.MessageDescriptor) *plan {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*plan)
	}
	plansMu.Lock()
	defer plansMu.Unlock()
	building := map[protoreflect.FullName]*plan{}
	p, ok := build(md, building)
	if !ok {
		p = nil
	}
	plans.Store(md.FullName(), p)
	return p
}

// build makes the plan for md; building holds the plans being made, so
// that recursive types refer to themselves.
func build(md protoreflect.MessageDescriptor, building map[protoreflect.FullName]*plan) (*plan, bool) {
	if p, ok := plans.Load(md.FullName()); ok {
		return p.(*plan), p.(*plan) != nil
	}
	if p, ok := building[md.FullName()]; ok {
		return p, true
	}
	if md.FullName() == "google.protobuf.Timestamp" {
		return &plan{timestamp: true}, true
	}
	if md.ParentFile().Package() == "google.protobuf" {
		return nil, false // other well-known types have JSON forms of their own
	}
	p := &plan{}
	building[md.FullName()] = p
	for i := range md.Fields().Len() {
		fd := md.Fields().Get(i)
		if fd.IsMap() || fd.IsExtension() {
			return nil, false
		}
		f := fieldPlan{fd: fd, key: []byte(",\"" + fd.JSONName() + "\":")}
		if fd.Kind() == protoreflect.MessageKind || fd.Kind() == protoreflect.GroupKind {
			sub, ok := build(fd.Message(), building)
			if !ok {
				return nil, false
			}
			f.message = sub
		}
		if fd.Kind() == protoreflect.EnumKind && fd.Enum().FullName() == "google.protobuf.NullValue" {
			return nil, false
		}
		if fd.Kind() == protoreflect.EnumKind {
			f.zeroEnum = "0"
			if ev := fd.Enum().Values().ByNumber(0); ev != nil {
				f.zeroEnum = `"` + string(ev.Name()) + `"`
			}
		}
		f.oneof = -1
		if o := fd.ContainingOneof(); o != nil {
			f.oneof = o.Index()
		}
		p.fields = append(p.fields, f)
	}
	for i := range p.fields {
		n := int(p.fields[i].fd.Number())
		if n >= len(p.byNumber) {
			p.byNumber = append(p.byNumber, make([]*fieldPlan, n+1-len(p.byNumber))...)
		}
		p.byNumber[n] = &p.fields[i]
	}
	return p, true
}

func (p *plan) append(b []byte, m protoreflect.Message) ([]byte, error) {
	if p.timestamp {
		return appendTimestamp(b, m)
	}
	b = append(b, '{')
	first := true
	var err error
	for i := range p.fields {
		f := &p.fields[i]
		if !m.Has(f.fd) {
			continue
		}
		key := f.key
		if first {
			key, first = key[1:], false
		}
		b = append(b, key...)
		v := m.Get(f.fd)
		if f.fd.IsList() {
			b, err = f.appendList(b, v.List())
		} else {
			b, err = f.appendSingular(b, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func (f *fieldPlan) appendList(b []byte, l protoreflect.List) ([]byte, error) {
	b = append(b, '[')
	var err error
	for i := range l.Len() {
		if i > 0 {
			b = append(b, ',')
		}
		if b, err = f.appendSingular(b, l.Get(i)); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func (f *fieldPlan) appendSingular(b []byte, v protoreflect.Value) ([]byte, error) {
	switch f.fd.Kind() {
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		// 64-bit integers are strings, as JSON numbers lose their precision.
		b = append(b, '"')
		return append(strconv.AppendInt(b, v.Int(), 10), '"'), nil
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		b = append(b, '"')
		return append(strconv.AppendUint(b, v.Uint(), 10), '"'), nil
	case protoreflect.FloatKind:
		return appendFloat(b, v.Float(), 32), nil
	case protoreflect.DoubleKind:
		return appendFloat(b, v.Float(), 64), nil
	case protoreflect.StringKind:
		return appendString(b, v.String())
	case protoreflect.BytesKind:
		b = append(b, '"')
		return append(base64.StdEncoding.AppendEncode(b, v.Bytes()), '"'), nil
	case protoreflect.EnumKind:
		if ev := f.fd.Enum().Values().ByNumber(v.Enum()); ev != nil {
			b = append(b, '"')
			return append(append(b, ev.Name()...), '"'), nil
		}
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return f.message.append(b, v.Message())
	}
	return nil, fmt.Errorf("restjson: field %s has unknown kind %v", f.fd.FullName(), f.fd.Kind())
}

// The range of a Timestamp: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z.
const (
	minTimestampSeconds = -62135596800
	maxTimestampSeconds = 253402300799
)

// appendTimestamp writes RFC 3339 in UTC with 0, 3, 6 or 9 fractional
// digits, as protojson does.
func appendTimestamp(b []byte, m protoreflect.Message) ([]byte, error) {
	fields := m.Descriptor().Fields()
	return appendTime(b, m.Get(fields.ByNumber(1)).Int(), m.Get(fields.ByNumber(2)).Int())
}

func appendTime(b []byte, secs, nanos int64) ([]byte, error) {
	if secs < minTimestampSeconds || secs > maxTimestampSeconds {
		return nil, fmt.Errorf("google.protobuf.Timestamp: seconds out of range %d", secs)
	}
	if nanos < 0 || nanos >= 1e9 {
		return nil, fmt.Errorf("google.protobuf.Timestamp: nanos out of range %d", nanos)
	}
	b = appendDateTime(append(b, '"'), secs)
	if nanos != 0 {
		digits := 9
		for n := nanos; n%1000 == 0; n /= 1000 {
			digits -= 3
		}
		var frac [9]byte
		for i, n := 8, nanos; i >= 0; i, n = i-1, n/10 {
			frac[i] = byte('0' + n%10)
		}
		b = append(append(b, '.'), frac[:digits]...)
	}
	return append(b, 'Z', '"'), nil
}

// appendDateTime writes secs since 1970 as YYYY-MM-DDTHH:MM:SS in UTC,
// without time.Format's layout parsing (it was a tenth of a page's cost).
func appendDateTime(b []byte, secs int64) []byte {
	days, rem := secs/86400, secs%86400
	if rem < 0 {
		days, rem = days-1, rem+86400
	}
	year, month, day := civil(days)
	b = appendDigits(b, year, 4)
	b = appendDigits(append(b, '-'), month, 2)
	b = appendDigits(append(b, '-'), day, 2)
	b = appendDigits(append(b, 'T'), rem/3600, 2)
	b = appendDigits(append(b, ':'), rem/60%60, 2)
	return appendDigits(append(b, ':'), rem%60, 2)
}

// civil turns days since 1970-01-01 into a proleptic Gregorian date
// (Howard Hinnant's days-to-civil algorithm).
func civil(days int64) (year, month, day int64) {
	days += 719468
	era := days / 146097
	if days < 0 && days%146097 != 0 {
		era--
	}
	doe := days - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day = doy - (153*mp+2)/5 + 1
	month = mp + 3
	if month > 12 {
		month -= 12
	}
	year = yoe + era*400
	if month <= 2 {
		year++
	}
	return year, month, day
}

// appendDigits writes n (0 <= n < 10^width) zero-padded to width digits.
func appendDigits(b []byte, n int64, width int) []byte {
	var d [4]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

// appendFloat writes n as protojson does: NaN and the infinities as
// strings, exponent form only for very small or very large magnitudes.
func appendFloat(b []byte, n float64, bitSize int) []byte {
	switch {
	case math.IsNaN(n):
		return append(b, `"NaN"`...)
	case math.IsInf(n, 1):
		return append(b, `"Infinity"`...)
	case math.IsInf(n, -1):
		return append(b, `"-Infinity"`...)
	}
	format := byte('f')
	if abs := math.Abs(n); abs != 0 {
		if bitSize == 64 && (abs < 1e-6 || abs >= 1e21) || bitSize == 32 && (float32(abs) < 1e-6 || float32(abs) >= 1e21) {
			format = 'e'
		}
	}
	b = strconv.AppendFloat(b, n, format, -1, bitSize)
	if format == 'e' { // e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

var errInvalidUTF8 = errors.New("restjson: string field contains invalid UTF-8")

// appendString writes s as a JSON string, refusing invalid UTF-8 as
// protojson does.
func appendString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, errInvalidUTF8
	}
	return appendEscaped(b, s), nil
}

// appendEscaped writes valid UTF-8 text as a JSON string. Text is copied as
// it is (UTF-8, not \u escapes); only quotes, backslashes and control
// characters are escaped, as protojson escapes them.
func appendEscaped[T ~string | ~[]byte](b []byte, s T) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= ' ' && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hex = "0123456789abcdef"
