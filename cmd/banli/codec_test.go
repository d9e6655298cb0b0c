package main

import (
	"context"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec sends bytes as they are, so a test can send what a correct
// protobuf library would refuse to encode.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

func TestUndecodableRequestIsInvalidArgument(t *testing.T) {
	ts := startServer(t)
	// CreateUnitRequest{unit: Unit{display_name: "\xff\xfe"}}, by hand.
	unit := protowire.AppendTag(nil, 2, protowire.BytesType)
	unit = protowire.AppendString(unit, "\xff\xfe")
	req := protowire.AppendTag(nil, 1, protowire.BytesType)
	req = protowire.AppendBytes(req, unit)

	tests := map[string][]byte{
		"invalid UTF-8":     req,
		"truncated message": req[:len(req)-1],
	}
	for name, body := range tests {
		t.Run(name, func(t *testing.T) {
			var out []byte
			err := ts.conn.Invoke(context.Background(), "/banli.v1.UnitService/CreateUnit", &body, &out, grpc.ForceCodecV2(rawCodec{}))
			wantCode(t, err, codes.InvalidArgument, "(request)")
		})
	}
	list := must(ts.units.ListUnits(office, nil))(t)
	if len(list.GetUnits()) != 0 {
		t.Errorf("an undecodable request created %v", list.GetUnits())
	}
}
