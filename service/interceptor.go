package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The interceptors are the one door every call passes: they sign the
// caller in, apply the per-identity rate limit and the method's access
// rule (access.go), and put what the audit trail must hold into it. A
// handler finds the caller with CallerFrom and never checks access itself.

// UnaryInterceptor guards the unary RPCs.
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if Public(info.FullMethod) {
			if err := s.limitPublic(ctx); err != nil {
				return nil, err
			}
			return handler(ctx, req)
		}
		msg, _ := req.(proto.Message)
		ctx, c, err := s.admit(ctx, info.FullMethod, msg)
		if err != nil {
			return nil, err
		}
		resp, err := handler(ctx, req)
		s.auditAfter(ctx, c, info.FullMethod, msg, err)
		if err == nil {
			narrowAnswer(c, resp)
		}
		return resp, err
	}
}

// StreamInterceptor guards the streaming RPCs: the caller is admitted when
// the stream opens, within its account's cap on open streams, and every
// message it sends is a call of its own: signed in again (the account may
// have been disabled or its key rotated meanwhile), charged to the rate
// limit and confined like a unary request.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if Public(info.FullMethod) {
			if err := s.limitPublic(ss.Context()); err != nil {
				return err
			}
			return handler(srv, ss)
		}
		ctx, c, err := s.admit(ss.Context(), info.FullMethod, nil)
		if err != nil {
			return err
		}
		release, err := s.streams.open(c.Account)
		if err != nil {
			err = toStatus(err)
			s.auditCall(ctx, info.FullMethod, nil, "", err)
			return err
		}
		defer release()
		guarded := &guardedStream{ServerStream: ss, ctx: ctx, s: s, caller: c, method: info.FullMethod}
		err = handler(srv, guarded)
		s.auditAfter(ctx, c, info.FullMethod, guarded.first, err)
		return err
	}
}

type guardedStream struct {
	grpc.ServerStream
	ctx    context.Context
	s      *Server
	caller *Caller
	method string
	first  proto.Message // the first request, for the audit trail
}

func (g *guardedStream) Context() context.Context { return g.ctx }

func (g *guardedStream) RecvMsg(m any) error {
	if err := g.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	msg, _ := m.(proto.Message)
	if g.first == nil {
		g.first = msg
	}
	if _, err := g.s.authenticate(g.ServerStream.Context()); err != nil {
		return g.s.refuseSignIn(g.ServerStream.Context(), g.method, msg, err)
	}
	if limited := g.s.limit(g.ctx, g.caller.Account); limited != nil {
		return limited
	}
	if err := g.s.check(g.caller, g.method, msg); err != nil {
		g.s.auditCall(g.ctx, g.method, msg, "", err)
		return err
	}
	return nil
}

// admit signs the caller of ctx in and checks the rate limit and the
// method's rule for req (nil when a stream opens). It returns ctx with the
// caller, or the status to answer with.
func (s *Server) admit(ctx context.Context, method string, req proto.Message) (context.Context, *Caller, error) {
	if n := s.auditBacklog.len(); n > 0 {
		s.flushAuditBacklog(ctx)
		if s.auditBacklog.len() >= maxAuditBacklog {
			// The trail cannot be written: nothing may happen that it
			// would not show.
			return nil, nil, status.Error(codes.Unavailable, "the audit trail cannot be written now, so no call is taken; try again later")
		}
	}
	c, err := s.authenticate(ctx)
	if err != nil {
		return nil, nil, s.refuseSignIn(ctx, method, req, err)
	}
	ctx = WithCaller(ctx, c)
	noteCaller(ctx, c)
	if limited := s.limit(ctx, c.Account); limited != nil {
		return nil, nil, limited
	}
	if err := s.check(c, method, req); err != nil {
		s.auditCall(ctx, method, req, "", err)
		return nil, nil, err
	}
	return ctx, c, nil
}

// refuseSignIn answers a failed sign-in, auditing it under the account the
// credentials claimed. Failed sign-ins are limited by where they come
// from, so that a guesser neither gets far nor floods the audit trail.
func (s *Server) refuseSignIn(ctx context.Context, method string, req proto.Message, err error) error {
	if limited := s.limit(ctx, "source "+sourceHost(ctx)); limited != nil {
		return limited
	}
	claimed := "unknown"
	if sie := (*signInError)(nil); errors.As(err, &sie) {
		claimed = sie.claimed
	}
	err = toStatus(err)
	s.auditCall(ctx, method, req, claimed, err)
	return err
}

// check applies the method's rule to req, then refuses a request that did
// not decode into the API's fields (see Malformed): a caller that may not
// make the call hears so whatever it sent. It returns a status.
func (s *Server) check(c *Caller, method string, req proto.Message) error {
	if err := s.authorize(c, method, req); err != nil {
		return toStatus(err)
	}
	return Malformed(req)
}

// MetricsRoute names the Prometheus endpoint in the access table.
const MetricsRoute = "GET /metrics"

// AdmitHTTP guards a plain HTTP route of the access table (not an RPC, so
// not seen by the interceptors): it signs the caller in with the
// Authorization header's value, limits and authorizes it, and audits a
// refusal, just as a call would be. It returns the status to answer with.
func (s *Server) AdmitHTTP(ctx context.Context, route, authorization, remoteAddr string) error {
	md := metadata.MD{}
	if authorization != "" {
		md.Set("authorization", authorization)
	}
	ctx = peer.NewContext(metadata.NewIncomingContext(ctx, md), &peer.Peer{Addr: httpAddr(remoteAddr)})
	ctx, c, err := s.admit(ctx, route, nil)
	if err == nil {
		s.auditAfter(ctx, c, route, nil, nil)
	}
	return err
}

// httpAddr is an HTTP caller's address, as a net.Addr for the audit trail.
type httpAddr string

func (a httpAddr) Network() string { return "tcp" }
func (a httpAddr) String() string  { return string(a) }

// limit takes a token for identity, or returns RESOURCE_EXHAUSTED with a
// retry-after header (which the REST gateway sends as Retry-After).
func (s *Server) limit(ctx context.Context, identity string) error {
	return s.limitOn(s.limiter, ctx, identity)
}

// limitPublic limits a call that needs no sign-in (publicMethods) by the
// address it comes from, as the accounts' calls are limited by account.
func (s *Server) limitPublic(ctx context.Context) error {
	return s.limitOn(s.publicLimiter, ctx, "public calls from "+sourceHost(ctx))
}

// limitOn is limit on one limiter: the accounts', or the public calls'.
func (s *Server) limitOn(l *rateLimiter, ctx context.Context, identity string) error {
	ok, wait := l.take(identity, time.Now())
	if ok {
		return nil
	}
	grpc.SetHeader(ctx, metadata.Pairs("retry-after", strconv.Itoa(retryAfterSeconds(wait))))
	return toStatus(&rateLimitError{identity: identity, retryAfter: wait})
}

// auditAfter records what a handler did not record itself. An accepted
// mutation records itself, in its own transaction; a refused one is
// recorded here, whatever refused it (its content, a rule, the store).
// A call by an admin or an auditor is recorded whatever it was: their
// reads (an account list, a backup, the audit trail) are actions the trail
// must show.
func (s *Server) auditAfter(ctx context.Context, c *Caller, method string, req proto.Message, err error) {
	_, mutating := req.(mutatingRequest)
	switch {
	case mutating && err != nil:
		s.auditCall(ctx, method, req, "", toStatus(err))
	case method == banliv1.AuditService_ListAuditRecords_FullMethodName && err == nil:
		// Recorded by the listing itself, once per listing.
	case !mutating && (c.Role == admin || c.Role == auditor):
		s.auditCall(ctx, method, req, "", toStatus(err))
	}
}

// sourceHost is the caller's address without its port.
func sourceHost(ctx context.Context) string {
	src := Source(ctx)
	if host, _, err := net.SplitHostPort(src); err == nil {
		return host
	}
	return src
}

// The one error path. Handlers and the rules they call return domain
// errors (wrapping the sentinels of errors.go and store); ConvertErrors,
// the innermost interceptor, turns them into statuses once, with their
// google.rpc details. RecoverPanics, the outermost, turns a panic anywhere
// (a handler, a rule, the interceptors) into a masked UNAVAILABLE with a
// reference id, which the log line carries with the panic and its stack.

// ConvertErrors converts a unary handler's error to a status.
func ConvertErrors() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		return resp, toStatus(err)
	}
}

// ConvertStreamErrors converts a streaming handler's error to a status.
func ConvertStreamErrors() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return toStatus(handler(srv, ss))
	}
}

// RecoverPanics answers a panic in a unary call as a failure inside the
// server instead of crashing the process.
func RecoverPanics() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		defer func() {
			if r := recover(); r != nil {
				resp, err = nil, panicked(info.FullMethod, r)
			}
		}()
		return handler(ctx, req)
	}
}

// RecoverStreamPanics is RecoverPanics for streams.
func RecoverStreamPanics() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = panicked(info.FullMethod, r)
			}
		}()
		return handler(srv, ss)
	}
}

func panicked(method string, r any) error {
	return masked(fmt.Errorf("panic in %s: %v\n%s", method, r, debug.Stack())).Err()
}
