package service

import (
	"context"
	"crypto/sha256"
	"strconv"
	"strings"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// ActorHeader is the gRPC metadata key (and HTTP header) that names who is
// calling, until authentication arrives.
const ActorHeader = "x-banli-actor"

// anonymous is the actor of a call that names none.
const anonymous = "anonymous"

// Actor names the caller of ctx for logs: the x-banli-actor value, or
// "anonymous".
func Actor(ctx context.Context) string {
	actor, _ := actorFrom(ctx)
	return actor
}

// actorFrom returns the caller's name from the request metadata.
func actorFrom(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(ActorHeader)
	if len(values) == 0 || values[0] == "" {
		return anonymous, nil
	}
	return values[0], validateActor(values[0])
}

// validateActor checks an actor name: gRPC metadata carries only printable
// ASCII, so it is an account name like "office-zhang", at most 128 long.
func validateActor(actor string) error {
	if len(actor) > maxRequestIDLen || strings.IndexFunc(actor, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return invalidField(ActorHeader, "must be printable ASCII (an account name like office-zhang), at most %d characters", maxRequestIDLen)
	}
	return nil
}

// CheckActorHeader validates an x-banli-actor value arriving by another
// transport (the REST gateway), before it is lost on the way to gRPC. It
// returns the status to answer with, or nil.
func CheckActorHeader(actor string) *status.Status {
	if err := validateActor(actor); err != nil {
		return status.Convert(toStatus(err))
	}
	return nil
}

// mutatingRequest is what every mutating request message has.
type mutatingRequest interface {
	proto.Message
	GetRequestId() string
}

// idempotency describes req for store.Write: its method, its request_id
// and a hash of everything else in it, so that a retry can be told from a
// different request reusing the id. replay receives a stored answer.
func idempotency(method string, req mutatingRequest, replay proto.Message) store.Request {
	if req.GetRequestId() == "" {
		return store.Request{}
	}
	body := proto.Clone(req)
	m := body.ProtoReflect()
	m.Clear(m.Descriptor().Fields().ByName("request_id"))
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	return store.Request{Method: method, ID: req.GetRequestId(), Hash: sha256.Sum256(b), Replay: replay}
}

// checkEtag compares the caller's etag, if any, with the resource's.
func checkEtag(given, current, resource string) error {
	if given != "" && given != current {
		return &etagError{resource: resource, given: given, current: current}
	}
	return nil
}

type etagError struct{ resource, given, current string }

func (e *etagError) Error() string {
	return "etag " + strconv.Quote(e.given) + " is stale: " + e.resource + " has changed (now " + strconv.Quote(e.current) + "); read it again"
}

func (e *etagError) Unwrap() error { return ErrEtagMismatch }

// nextEtag is the etag of the revision after current. Etags are decimal
// revision numbers; clients must treat them as opaque.
func nextEtag(current string) string {
	rev, _ := strconv.ParseUint(current, 10, 64)
	return strconv.FormatUint(rev+1, 10)
}

// newEvent starts the event of a change made now by actor.
func newEvent(ctx context.Context, now *timestamppb.Timestamp, step Step, target, from, to, details string) *banliv1.Event {
	return &banliv1.Event{
		Time:      now,
		Actor:     Actor(ctx),
		Action:    string(step),
		Target:    target,
		FromState: from,
		ToState:   to,
		Details:   details,
	}
}
