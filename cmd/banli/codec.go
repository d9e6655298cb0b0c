package main

import (
	"context"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	encodingproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A request that cannot be decoded (invalid UTF-8 in a string, a broken
// length) is the caller's bad input, but grpc-go reports every decoding
// failure as INTERNAL. requestCodec decodes as usual and, on failure,
// leaves an empty message marked with the error in an unknown field that
// no Banli message uses; rejectUndecodable, the first interceptor, then
// answers INVALID_ARGUMENT. The marker never reaches a handler.
const undecodableField = protowire.MaxValidNumber

type requestCodec struct {
	encoding.CodecV2
}

func newRequestCodec() requestCodec {
	return requestCodec{encoding.GetCodecV2(encodingproto.Name)}
}

func (c requestCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.CodecV2.Unmarshal(data, v)
	m, ok := v.(proto.Message)
	if err == nil || !ok {
		return err
	}
	proto.Reset(m)
	marker := protowire.AppendTag(nil, undecodableField, protowire.BytesType)
	m.ProtoReflect().SetUnknown(protowire.AppendString(marker, err.Error()))
	return nil
}

// undecodable returns the decoding error marked on req, if any.
func undecodable(req any) (string, bool) {
	m, ok := req.(proto.Message)
	if !ok {
		return "", false
	}
	unknown := m.ProtoReflect().GetUnknown()
	for len(unknown) > 0 {
		num, typ, n := protowire.ConsumeTag(unknown)
		if n < 0 {
			return "", false
		}
		if num == undecodableField && typ == protowire.BytesType {
			msg, m := protowire.ConsumeString(unknown[n:])
			return msg, m >= 0
		}
		skip := protowire.ConsumeFieldValue(num, typ, unknown[n:])
		if skip < 0 {
			return "", false
		}
		unknown = unknown[n+skip:]
	}
	return "", false
}

// rejectUndecodable answers a request that could not be decoded with
// INVALID_ARGUMENT.
func rejectUndecodable(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if reason, bad := undecodable(req); bad {
		st, _ := status.New(codes.InvalidArgument, "the request could not be decoded: "+reason).WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "(request)", Description: reason}},
		})
		return nil, st.Err()
	}
	return handler(ctx, req)
}

// answerCodec is the gateway's codec for unary calls. It leaves Banli's
// answers undecoded, their bytes kept as the message's unknown fields:
// the gateway only turns them into JSON, and restjson writes JSON straight
// from the bytes, with no Go values made in between. Streamed answers
// (downloads, exports) are decoded as usual, since the gateway wraps each
// one before encoding it.
type answerCodec struct{ encoding.CodecV2 }

func newAnswerCodec() answerCodec {
	return answerCodec{encoding.GetCodecV2(encodingproto.Name)}
}

func (c answerCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok || m.ProtoReflect().Descriptor().ParentFile().Package() != "banli.v1" {
		return c.CodecV2.Unmarshal(data, v)
	}
	proto.Reset(m)
	m.ProtoReflect().SetUnknown(data.Materialize())
	return nil
}
