package restjson

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// apiMessages are every message type of the API.
func apiMessages(t testing.TB) []protoreflect.MessageType {
	var types []protoreflect.MessageType
	protoregistry.GlobalTypes.RangeMessages(func(mt protoreflect.MessageType) bool {
		if strings.HasPrefix(string(mt.Descriptor().FullName()), "banli.v1.") {
			types = append(types, mt)
		}
		return true
	})
	if len(types) < 50 {
		t.Fatalf("only %d API message types registered", len(types))
	}
	return types
}

// sameJSON fails unless restjson and protojson agree on m: both refuse it,
// or both give the same JSON value (numbers compared as written).
func sameJSON(t *testing.T, m proto.Message) {
	t.Helper()
	want, wantErr := protojson.Marshal(m)
	got, gotErr := Marshal(m)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("%s: protojson error %v, restjson error %v", m.ProtoReflect().Descriptor().FullName(), wantErr, gotErr)
	}
	if wantErr != nil {
		return
	}
	if !reflect.DeepEqual(decode(t, got), decode(t, want)) {
		t.Fatalf("%s:\nrestjson  %s\nprotojson %s", m.ProtoReflect().Descriptor().FullName(), got, want)
	}
	// The same message left undecoded, as the gateway's codec leaves it.
	wire, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	got, gotErr = Marshal(undecoded(m.ProtoReflect().Type(), wire))
	if gotErr != nil || !reflect.DeepEqual(decode(t, got), decode(t, want)) {
		t.Fatalf("%s from the wire (error %v):\nrestjson  %s\nprotojson %s", m.ProtoReflect().Descriptor().FullName(), gotErr, got, want)
	}
}

// transcodes fails unless the transcoder takes what Go's encoder writes
// for m (which has no unknown fields), rather than falling back to decoding.
func transcodes(t *testing.T, m proto.Message) {
	t.Helper()
	wire, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := planFor(m.ProtoReflect().Descriptor())
	if p == nil {
		t.Fatalf("%s has no plan", m.ProtoReflect().Descriptor().FullName())
	}
	if _, ok := p.appendWire(nil, wire); !ok {
		t.Fatalf("%s: the transcoder refused what Go's encoder wrote", m.ProtoReflect().Descriptor().FullName())
	}
}

// undecoded is a message of type mt carrying wire as its unknown fields.
func undecoded(mt protoreflect.MessageType, wire []byte) proto.Message {
	m := mt.New()
	m.SetUnknown(wire)
	return m.Interface()
}

func decode(t *testing.T, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	if d.More() {
		t.Fatalf("trailing data after JSON in %q", b)
	}
	return v
}

// fill sets every field of m, recursively to depth, from a small set of
// awkward values chosen by seed: escapes, CJK text, the float edge cases,
// timestamp fractions of each width, enum numbers with no name.
func fill(m protoreflect.Message, seed, depth int) {
	strs := []string{"", "关于优化营商环境的建议", "quote \" backslash \\ tab \t nl \n ctl \x01 del \x7f", "\ufffd<&>\u2028", "a"}
	floats := []float64{0, 1.5, -2, 1e-7, 1e21, 123456789.125, math.NaN(), math.Inf(1), math.Inf(-1), 3.4e38}
	nanos := []int64{0, 1e8, 120e6, 123456e3, 123456789, 5}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		s := seed + i
		value := func(k int) protoreflect.Value {
			switch fd.Kind() {
			case protoreflect.BoolKind:
				return protoreflect.ValueOfBool(k%2 == 0)
			case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
				return protoreflect.ValueOfInt32(int32(k*7919) - 1000)
			case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
				return protoreflect.ValueOfInt64(math.MaxInt64 - int64(k))
			case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
				return protoreflect.ValueOfUint32(uint32(k) * 4000000007)
			case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
				return protoreflect.ValueOfUint64(math.MaxUint64 - uint64(k))
			case protoreflect.FloatKind:
				return protoreflect.ValueOfFloat32(float32(floats[k%len(floats)]))
			case protoreflect.DoubleKind:
				return protoreflect.ValueOfFloat64(floats[k%len(floats)])
			case protoreflect.StringKind:
				return protoreflect.ValueOfString(strs[k%len(strs)])
			case protoreflect.BytesKind:
				return protoreflect.ValueOfBytes([]byte(strs[k%len(strs)]))
			case protoreflect.EnumKind:
				return protoreflect.ValueOfEnum(protoreflect.EnumNumber(k % (fd.Enum().Values().Len() + 2)))
			}
			var sub protoreflect.Message
			if fd.IsList() {
				sub = m.Mutable(fd).List().NewElement().Message()
			} else {
				sub = m.NewField(fd).Message()
			}
			if sub.Descriptor().FullName() == "google.protobuf.Timestamp" {
				sub.Set(sub.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(int64(k)*86400*397+1e9))
				sub.Set(sub.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfInt32(int32(nanos[k%len(nanos)])))
			} else if depth > 0 {
				fill(sub, k, depth-1)
			}
			return protoreflect.ValueOfMessage(sub)
		}
		switch {
		case fd.IsList():
			l := m.Mutable(fd).List()
			for k := range 1 + s%3 {
				l.Append(value(s + k))
			}
		case fd.ContainingOneof() != nil && s%2 == 1:
			// leave some oneof members unset, so that the others get a turn
		default:
			m.Set(fd, value(s))
		}
	}
}

// reachesFieldMask reports whether md holds a google.protobuf.FieldMask,
// which only the update requests do: they are never answers, so restjson
// leaves them to protojson (whose output sameJSON still checks).
func reachesFieldMask(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if md.FullName() == "google.protobuf.FieldMask" {
		return true
	}
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	for i := range md.Fields().Len() {
		if fd := md.Fields().Get(i); fd.Message() != nil && reachesFieldMask(fd.Message(), seen) {
			return true
		}
	}
	return false
}

func TestMatchesProtojson(t *testing.T) {
	for _, mt := range apiMessages(t) {
		for seed := range 12 {
			m := mt.New()
			fill(m, seed, 3)
			sameJSON(t, m.Interface())
			if _, err := protojson.Marshal(m.Interface()); err == nil && !reachesFieldMask(mt.Descriptor(), map[protoreflect.FullName]bool{}) {
				transcodes(t, m.Interface())
			}
		}
		sameJSON(t, mt.New().Interface()) // nothing set
	}
}

// An error body carries Any details, which restjson hands to protojson.
func TestErrorBodiesGoToProtojson(t *testing.T) {
	detail, err := anypb.New(&errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "name", Description: "必填"}}})
	if err != nil {
		t.Fatal(err)
	}
	st := &status.Status{Code: 3, Message: "bad", Details: []*anypb.Any{detail}}
	if planFor(st.ProtoReflect().Descriptor()) != nil {
		t.Fatal("a status with Any details should have no plan")
	}
	sameJSON(t, st)
	if planFor((&banliv1.ListProposalsResponse{}).ProtoReflect().Descriptor()) == nil {
		t.Fatal("ListProposalsResponse should have a plan")
	}
}

func TestTimestampRange(t *testing.T) {
	for _, secs := range []int64{-62135596800, -62135596801, 253402300799, 253402300800, 0, -1} {
		for _, nanos := range []int32{0, -1, 999999999, 1000000000} {
			p := &banliv1.Proposal{}
			ts := p.ProtoReflect().NewField(p.ProtoReflect().Descriptor().Fields().ByName("create_time")).Message()
			ts.Set(ts.Descriptor().Fields().ByNumber(1), protoreflect.ValueOfInt64(secs))
			ts.Set(ts.Descriptor().Fields().ByNumber(2), protoreflect.ValueOfInt32(nanos))
			p.ProtoReflect().Set(p.ProtoReflect().Descriptor().Fields().ByName("create_time"), protoreflect.ValueOfMessage(ts))
			sameJSON(t, p)
		}
	}
}

func TestInvalidUTF8IsRefused(t *testing.T) {
	p := &banliv1.Proposal{Title: "ok\xffno"}
	sameJSON(t, p)
	if _, err := Marshal(p); err == nil {
		t.Fatal("invalid UTF-8 encoded without error")
	}
}

// FuzzMatchesProtojson decodes arbitrary bytes as an API message (the
// first byte picks which) and holds restjson to protojson's output, both
// from the decoded message and from the bytes as they came.
func FuzzMatchesProtojson(f *testing.F) {
	types := apiMessages(f)
	proposal := slices.IndexFunc(types, func(mt protoreflect.MessageType) bool {
		return mt.Descriptor().FullName() == "banli.v1.Proposal"
	})
	seed := &banliv1.Proposal{}
	fill(seed.ProtoReflect(), 3, 1)
	b, err := proto.Marshal(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(append([]byte{byte(proposal)}, b...))
	f.Add([]byte{0})
	// A tag whose field number is past the largest valid one.
	audit := slices.IndexFunc(types, func(mt protoreflect.MessageType) bool {
		return mt.Descriptor().FullName() == "banli.v1.VerifyAuditResponse"
	})
	f.Add(append([]byte{byte(audit)}, "\xba\xe8\xae\xae0\n0000000000"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		mt := types[int(b[0])%len(types)]
		b = b[1:]
		m := mt.New().Interface()
		if decodeErr := proto.Unmarshal(b, m); decodeErr != nil {
			if out, err := Marshal(undecoded(mt, b)); err == nil {
				t.Fatalf("%s: decoding fails (%v) but the transcoder wrote %s", mt.Descriptor().FullName(), decodeErr, out)
			}
			return
		}
		sameJSON(t, m)
		// The bytes as they came, in whatever order and form.
		want, wantErr := protojson.Marshal(m)
		got, gotErr := Marshal(undecoded(mt, b))
		if (wantErr != nil) != (gotErr != nil) {
			t.Fatalf("%s from the wire: protojson error %v, restjson error %v", mt.Descriptor().FullName(), wantErr, gotErr)
		}
		if wantErr == nil && !reflect.DeepEqual(decode(t, got), decode(t, want)) {
			t.Fatalf("%s from the wire:\nrestjson  %s\nprotojson %s", mt.Descriptor().FullName(), got, want)
		}
	})
}

// BenchmarkPage encodes a page of fifty cases in the basic view, as
// banli seed makes them and a list returns them.
func BenchmarkPage(b *testing.B) {
	raw, err := os.ReadFile("testdata/page.json")
	if err != nil {
		b.Fatal(err)
	}
	page := &banliv1.ListProposalsResponse{}
	if err := protojson.Unmarshal(raw, page); err != nil {
		b.Fatal(err)
	}
	b.Run("protojson", func(b *testing.B) {
		for b.Loop() {
			if _, err := protojson.Marshal(page); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("restjson", func(b *testing.B) {
		for b.Loop() {
			if _, err := Marshal(page); err != nil {
				b.Fatal(err)
			}
		}
	})
	// What the gateway does with an answer: before, decode it and write
	// it with protojson; now, write it from the wire bytes.
	wire, err := proto.Marshal(page)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("gateway-before", func(b *testing.B) {
		for b.Loop() {
			m := &banliv1.ListProposalsResponse{}
			if err := proto.Unmarshal(wire, m); err != nil {
				b.Fatal(err)
			}
			if _, err := protojson.Marshal(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("gateway-now", func(b *testing.B) {
		for b.Loop() {
			if _, err := Marshal(undecoded(page.ProtoReflect().Type(), wire)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Every day of the Timestamp range's edges and of the years Banli serves
// is written as time.Format writes it.
func TestDateTime(t *testing.T) {
	check := func(secs int64) {
		want := time.Unix(secs, 0).UTC().Format("2006-01-02T15:04:05")
		if got := string(appendDateTime(nil, secs)); got != want {
			t.Fatalf("%d: got %s, want %s", secs, got, want)
		}
	}
	for secs := int64(minTimestampSeconds); secs < minTimestampSeconds+800*86400; secs += 86399 {
		check(secs)
	}
	for secs := int64(-400 * 366 * 86400); secs < 400*366*86400; secs += 86400 - 7 {
		check(secs)
	}
	for secs := int64(maxTimestampSeconds); secs > maxTimestampSeconds-800*86400; secs -= 86399 {
		check(secs)
	}
}

// The server sends a page with its token as a known field and the cases,
// already encoded, after it: the transcoder must take that form as it is.
func TestPageAsTheServerSendsIt(t *testing.T) {
	want := &banliv1.ListProposalsResponse{NextPageToken: "AQ"}
	var page []byte
	for i := range 3 {
		p := &banliv1.Proposal{}
		fill(p.ProtoReflect(), i, 2)
		want.Proposals = append(want.Proposals, p)
		b, err := proto.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		page = protowire.AppendBytes(protowire.AppendTag(page, 1, protowire.BytesType), b)
	}
	sent := &banliv1.ListProposalsResponse{NextPageToken: "AQ"}
	sent.ProtoReflect().SetUnknown(page)
	wire, err := proto.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	if wire[0] == page[0] {
		t.Fatal("expected the token first, as Go's encoder writes known fields first")
	}
	if _, err := protojson.Marshal(want); err != nil {
		t.Skip("the filled cases hold values JSON cannot carry:", err)
	}
	if _, ok := planFor(want.ProtoReflect().Descriptor()).appendWire(nil, wire); !ok {
		t.Fatal("the transcoder refused the page as the server sends it")
	}
	got, err := Marshal(undecoded(want.ProtoReflect().Type(), wire))
	if err != nil {
		t.Fatal(err)
	}
	wantJSON, _ := protojson.Marshal(want)
	if !reflect.DeepEqual(decode(t, got), decode(t, wantJSON)) {
		t.Fatalf("restjson  %s\nprotojson %s", got, wantJSON)
	}
}
