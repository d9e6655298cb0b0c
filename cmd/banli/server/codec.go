package server

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	encodingproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/service"
)

// A request that cannot be decoded (invalid UTF-8 in a string, a broken
// length) is the caller's bad input, but grpc-go reports every decoding
// failure as INTERNAL. requestCodec decodes as usual and, on failure,
// leaves the message marked as undecodable (service.MarkUndecodable); the
// service's interceptor refuses it with INVALID_ARGUMENT once the caller
// is signed in and checked, and audits it. The mark never reaches a
// handler.
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
	service.MarkUndecodable(m, err.Error())
	return nil
}

// rejectMalformed refuses undecodable requests, and those with fields the
// API does not define, where the service's interceptor does not run (a
// server measured without authentication).
func rejectMalformed(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := service.Malformed(req); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}
