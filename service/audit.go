package service

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// auditRecord starts the audit record of a call by the caller of ctx.
func auditRecord(ctx context.Context, method string, req proto.Message, now time.Time) *banliv1.AuditRecord {
	rec := &banliv1.AuditRecord{
		Time:   timestamppb.New(now),
		Actor:  Actor(ctx),
		Method: method,
		Source: Source(ctx),
	}
	if c, ok := CallerFrom(ctx); ok {
		rec.Role = c.Role.String()
	}
	if req != nil {
		rec.Target = auditTarget(req)
		rec.RequestId = stringField(req, "request_id")
	}
	if rec.Target == "" {
		rec.Target = methodCollection(method)
	}
	return rec
}

// methodCollection is the collection a method with no resource named in
// its request acts on, as its REST route says it: "proposals" for
// ListProposals, "audit" for ListAuditRecords, "statistics" for
// GetStatistics. Requests are read anyway, so a refused or empty one is
// still recorded against something.
func methodCollection(method string) string { return methodCollections()[method] }

// methodCollections is methodCollection of every method of the API, read
// once from the services' descriptors.
var methodCollections = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	protoregistry.GlobalFiles.RangeFilesByPackage("banli.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				out["/"+string(sd.FullName())+"/"+string(md.Name())] = collectionOfRoute(md)
			}
		}
		return true
	})
	return out
})

// collectionOfRoute is the collection a method's REST route is under; for
// a stream without a route, what its name says it moves: "proposals" for
// ImportProposals, "files" for UploadFile.
func collectionOfRoute(md protoreflect.MethodDescriptor) string {
	rule, _ := proto.GetExtension(md.Options(), annotations.E_Http).(*annotations.HttpRule)
	if rule == nil {
		name := string(md.Name())
		i := strings.IndexFunc(name[1:], unicode.IsUpper) + 1
		what := strings.ToLower(name[i:i+1]) + name[i+1:]
		if !strings.HasSuffix(what, "s") {
			what += "s"
		}
		return what
	}
	path := ""
	switch p := rule.GetPattern().(type) {
	case *annotations.HttpRule_Get:
		path = p.Get
	case *annotations.HttpRule_Post:
		path = p.Post
	case *annotations.HttpRule_Patch:
		path = p.Patch
	}
	path = strings.TrimPrefix(path, "/v1/")
	if strings.HasPrefix(path, "{") {
		// {unit.name=units/*}: the collection the variable is in.
		_, path, _ = strings.Cut(path, "=")
	}
	if i := strings.IndexAny(path, ":/{}"); i >= 0 {
		path = path[:i]
	}
	return path
}

// auditTarget is what a request acts on: its name, or the parent it
// lists (a case's history), or the session it looks a number up in, or
// the resource of its body (an update's case, unit …), or an upload's
// case.
func auditTarget(req proto.Message) string {
	if name := stringField(req, "name"); name != "" {
		return name
	}
	if parent := stringField(req, "parent"); parent != "" {
		return parent
	}
	if session := stringField(req, "session"); session != "" && stringField(req, "number") != "" {
		return session // a lookup by number in it
	}
	if up, ok := req.(*banliv1.UploadFileRequest); ok {
		return up.GetUpload().GetParent()
	}
	m := req.ProtoReflect()
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() && m.Has(fd) {
			if name := stringField(m.Get(fd).Message().Interface(), "name"); name != "" {
				return name
			}
		}
	}
	return ""
}

// Source is where a call came from: the REST caller's address when the
// call came through Banli's own gateway, else the gRPC peer. Headers a
// client sends (X-Forwarded-For and the like) are never believed.
func Source(ctx context.Context) string {
	if src := gatewayValue(ctx, GatewaySourceHeader); src != "" {
		return src
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

// auditCall records a call that wrote nothing, with its outcome, in a
// transaction of its own. actor, if not empty, replaces the caller of ctx:
// the account a failed sign-in claimed.
func (s *Server) auditCall(ctx context.Context, method string, req proto.Message, actor string, outcome error) {
	if errors.Is(outcome, store.ErrClosed) {
		return // shutting down: nothing more is written
	}
	rec := auditRecord(ctx, method, req, s.now())
	if actor != "" {
		rec.Actor = actor
	}
	rec.Outcome = status.Code(toStatus(outcome)).String()
	s.appendAudit(ctx, rec)
}

// appendAudit writes rec in a transaction of its own, after any records
// kept back (see writeAudit).
func (s *Server) appendAudit(ctx context.Context, rec *banliv1.AuditRecord) {
	s.writeAudit(ctx, rec)
}

// flushAuditBacklog writes the records kept back, if any.
func (s *Server) flushAuditBacklog(ctx context.Context) {
	s.writeAudit(ctx)
}

// writeAudit writes the records kept back and then recs, in one
// transaction of their own. Records that cannot be written (the disk is
// full) are kept back in memory and written before the next ones; the
// caller gets the answer to its own call either way.
func (s *Server) writeAudit(ctx context.Context, recs ...*banliv1.AuditRecord) {
	recs = append(s.auditBacklog.take(), recs...)
	if len(recs) == 0 {
		return
	}
	_, err := s.commit(context.WithoutCancel(ctx), store.Request{}, func(tx store.Tx) (proto.Message, error) {
		for _, r := range recs {
			tx.AppendAudit(proto.Clone(r).(*banliv1.AuditRecord))
		}
		return recs[0], nil
	})
	if err != nil && !errors.Is(err, store.ErrClosed) {
		s.auditBacklog.keep(recs)
	}
}

// auditBacklog holds audit records that could not be written yet. It is
// bounded: when it is full, calls are refused before they run (see
// admit), so that nothing happens that the trail would not show.
type auditBacklog struct {
	mu   sync.Mutex
	recs []*banliv1.AuditRecord
	// n is len(recs), read without the lock: every call asks whether
	// anything waits, and almost always nothing does.
	n atomic.Int64
}

// maxAuditBacklog is how many records wait for the disk at most.
const maxAuditBacklog = 10000

func (b *auditBacklog) take() []*banliv1.AuditRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	recs := b.recs
	b.recs = nil
	b.n.Store(0)
	return recs
}

// keep puts recs back in front of any kept since, up to the bound; past
// it the newest are dropped (their calls were refused as it filled).
func (b *auditBacklog) keep(recs []*banliv1.AuditRecord) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.recs = append(recs, b.recs...)
	if len(b.recs) > maxAuditBacklog {
		b.recs = b.recs[:maxAuditBacklog]
	}
	b.n.Store(int64(len(b.recs)))
}

func (b *auditBacklog) len() int { return int(b.n.Load()) }

// ListAuditRecords lists the audit trail.
func (s *Server) ListAuditRecords(ctx context.Context, req *banliv1.ListAuditRecordsRequest) (*banliv1.ListAuditRecordsResponse, error) {
	v := &violations{}
	v.pageSize(req.GetPageSize())
	if err := v.err(); err != nil {
		return nil, err
	}
	resp := &banliv1.ListAuditRecordsResponse{}
	err := s.store.View(func(r store.Reader) error {
		var err error
		if resp.HeadSequence, err = r.AuditHead(); err != nil {
			return err
		}
		resp.Records, err = r.ListAudit(req.GetAfterSequence(), pageSize(req.GetPageSize(), defaultEventPage))
		return err
	})
	if err != nil {
		return nil, err
	}
	// The reading is recorded once per listing (see auditAfter).
	end := req.GetAfterSequence()
	if n := len(resp.GetRecords()); n > 0 {
		end = resp.GetRecords()[n-1].GetSequence()
	}
	if !s.auditListings.continues(callerAccount(ctx), req.GetAfterSequence(), end, s.now()) {
		s.auditCall(ctx, banliv1.AuditService_ListAuditRecords_FullMethodName, req, "", nil)
	}
	return resp, nil
}

// auditListingWindow is how long after a page the next one still belongs
// to the same listing.
const auditListingWindow = 10 * time.Minute

// auditListings remembers where each auditor's listing of the trail got
// to, so that its pages are recorded once: a page that starts where the
// account's previous page ended, within auditListingWindow, continues the
// listing already recorded.
type auditListings struct {
	mu   sync.Mutex
	last map[string]auditListing
}

type auditListing struct {
	end uint64
	at  time.Time
}

// continues records that account read up to end, and reports whether the
// page from after continued its previous one.
func (l *auditListings) continues(account string, after, end uint64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]auditListing{}
	}
	prev, ok := l.last[account]
	l.last[account] = auditListing{end: end, at: now}
	return ok && after != 0 && prev.end == after && now.Sub(prev.at) <= auditListingWindow
}

// VerifyAudit checks the whole chain, and that it still holds the anchor
// given.
func (s *Server) VerifyAudit(ctx context.Context, req *banliv1.VerifyAuditRequest) (*banliv1.VerifyAuditResponse, error) {
	v := &violations{}
	switch {
	case req.GetAnchorSequence() == 0 && len(req.GetAnchorHash()) > 0:
		v.add("anchor_sequence", "required with anchor_hash")
	case req.GetAnchorSequence() > 0 && len(req.GetAnchorHash()) != sha256.Size:
		v.add("anchor_hash", "the %d-byte head_hash of the verdict whose head_sequence is anchor_sequence", sha256.Size)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return VerifyAuditTrail(s.store, req.GetAnchorSequence(), req.GetAnchorHash())
}
