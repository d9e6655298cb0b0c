package service

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/banli/banli/store"
)

// TestOneErrorPath: a handler's domain error becomes its status once, in
// the innermost interceptor; a panic, unary or streaming, becomes a masked
// failure with a reference id, and says nothing of what panicked.
func TestOneErrorPath(t *testing.T) {
	info := &grpc.UnaryServerInfo{FullMethod: "/banli.v1.ProposalService/GetProposal"}
	_, err := ConvertErrors()(context.Background(), nil, info, func(context.Context, any) (any, error) {
		return nil, fmt.Errorf("proposal 7: %w", store.ErrNotFound)
	})
	if status.Code(err) != codes.NotFound {
		t.Errorf("a wrapped ErrNotFound became %v", err)
	}
	_, err = ConvertErrors()(context.Background(), nil, info, func(context.Context, any) (any, error) {
		return nil, fmt.Errorf("read /secret/path/banli.db: input/output error")
	})
	if st := status.Convert(err); st.Code() != codes.Unavailable || strings.Contains(st.Message(), "/secret") || !strings.Contains(st.Message(), "ref ") {
		t.Errorf("a storage failure became %v", err)
	}
	_, err = RecoverPanics()(context.Background(), nil, info, func(context.Context, any) (any, error) {
		panic("secret detail")
	})
	if st := status.Convert(err); st.Code() != codes.Unavailable || strings.Contains(st.Message(), "secret") {
		t.Errorf("a unary panic became %v", err)
	}
	err = RecoverStreamPanics()(nil, nil, &grpc.StreamServerInfo{FullMethod: "/banli.v1.ImportService/ImportProposals"}, func(any, grpc.ServerStream) error {
		panic("secret detail")
	})
	if st := status.Convert(err); st.Code() != codes.Unavailable || strings.Contains(st.Message(), "secret") || !strings.Contains(st.Message(), "ref ") {
		t.Errorf("a stream panic became %v", err)
	}
}
