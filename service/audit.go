package service

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// auditRecord starts the audit record of a mutating call.
func auditRecord(ctx context.Context, method string, req mutatingRequest, now time.Time) *banliv1.AuditRecord {
	return &banliv1.AuditRecord{
		Time:      timestamppb.New(now),
		Actor:     Actor(ctx),
		Method:    method,
		Target:    nameField(req),
		Source:    source(ctx),
		RequestId: req.GetRequestId(),
	}
}

// nameField is a message's "name" field, if it has one.
func nameField(m proto.Message) string {
	if fd := m.ProtoReflect().Descriptor().Fields().ByName("name"); fd != nil {
		return m.ProtoReflect().Get(fd).String()
	}
	return ""
}

// source is where a call came from: the REST caller's address when the
// gateway forwarded one, else the gRPC peer.
func source(ctx context.Context) string {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if xff := md.Get("x-forwarded-for"); len(xff) > 0 && xff[0] != "" {
			return xff[0]
		}
	}
	if p, ok := peer.FromContext(ctx); ok {
		return p.Addr.String()
	}
	return ""
}

// auditRefusal records a refused mutating call, in a transaction of its
// own (the refused decision wrote nothing).
func (s *Server) auditRefusal(ctx context.Context, method string, req mutatingRequest, refusal error) {
	if errors.Is(refusal, store.ErrClosed) {
		return
	}
	rec := auditRecord(ctx, method, req, s.now())
	rec.Outcome = status.Code(refusal).String()
	// A failure to record is not the caller's to see: they get the answer
	// to their own call either way.
	s.store.Write(context.WithoutCancel(ctx), store.Request{}, func(tx *store.Tx) (proto.Message, error) {
		tx.AppendAudit(rec)
		return rec, nil
	})
}

// ListAuditRecords lists the audit trail.
func (s *Server) ListAuditRecords(ctx context.Context, req *banliv1.ListAuditRecordsRequest) (*banliv1.ListAuditRecordsResponse, error) {
	v := &violations{}
	v.pageSize(req.GetPageSize())
	if err := v.err(); err != nil {
		return nil, toStatus(err)
	}
	resp := &banliv1.ListAuditRecordsResponse{}
	err := s.store.View(func(r *store.Reader) error {
		var err error
		resp.Records, err = r.ListAudit(req.GetAfterSequence(), pageSize(req.GetPageSize(), defaultEventPage))
		return err
	})
	return resp, toStatus(err)
}

// VerifyAudit checks the whole chain.
func (s *Server) VerifyAudit(ctx context.Context, req *banliv1.VerifyAuditRequest) (*banliv1.VerifyAuditResponse, error) {
	var v store.AuditVerdict
	err := s.store.View(func(r *store.Reader) error {
		v = r.VerifyAudit()
		return nil
	})
	return &banliv1.VerifyAuditResponse{Intact: v.FirstBroken == 0, Records: v.Records, FirstBroken: v.FirstBroken, Problem: v.Problem}, toStatus(err)
}
