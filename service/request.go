package service

import (
	"context"
	"crypto/sha256"
	"strconv"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/i18n"
	"github.com/banli/banli/store"
)

// mutatingRequest is what every mutating request message has.
type mutatingRequest interface {
	proto.Message
	GetRequestId() string
}

// idempotency describes req for store.Write: the caller's account, its
// method, its request_id and a hash of everything else in it, so that a
// retry can be told from a different request reusing the id. A request id
// is the caller's own (AIP-155): another account's same id is another
// request. replay receives a stored answer.
func idempotency(ctx context.Context, method string, req mutatingRequest, replay proto.Message) store.Request {
	if req.GetRequestId() == "" {
		return store.Request{}
	}
	body := proto.Clone(req)
	m := body.ProtoReflect()
	m.Clear(m.Descriptor().Fields().ByName("request_id"))
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	return store.Request{Account: Actor(ctx), Method: method, ID: req.GetRequestId(), Hash: sha256.Sum256(b), Replay: replay}
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
	ev := &banliv1.Event{
		Time:      now,
		Actor:     Actor(ctx),
		Action:    string(step),
		Target:    target,
		FromState: from,
		ToState:   to,
		Details:   details,
		// Changes of cases say more (describeCaseZH); the rest say what
		// was done.
		DescriptionZh: i18n.Action(i18n.Chinese, string(step)),
	}
	if m := migrationOf(ctx); m != nil {
		ev.Migrated, ev.RecordTime = true, timestamppb.New(m.recorded)
	}
	return ev
}
