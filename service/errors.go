package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/banli/banli/store"
)

// errorDomain names Banli in google.rpc.ErrorInfo.
const errorDomain = "banli.v1"

// Sentinel errors of the domain. Every error the service returns wraps one
// of these (or one of store's); toStatus maps them to gRPC codes.
var (
	// ErrInvalidArgument: the request itself is malformed.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrInvalidTransition: the step is not allowed in the current state.
	ErrInvalidTransition = errors.New("step not allowed in the current state")
	// ErrPrecondition: the step is allowed in this state but a rule of the
	// case or policy refuses it (a deadline passed, an opinion is missing).
	ErrPrecondition = errors.New("precondition failed")
	// ErrEtagMismatch: the caller's etag is stale.
	ErrEtagMismatch = errors.New("etag mismatch")
	// ErrAlreadyExists: the resource to create exists already.
	ErrAlreadyExists = errors.New("already exists")
	// ErrNotFound: a named resource does not exist.
	ErrNotFound = store.ErrNotFound
	// ErrUnauthenticated: the call carries no valid credential.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrPermissionDenied: the caller may not make this call.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrSlowReader: a streaming client stopped reading, and the stream
	// was ended rather than held open for it.
	ErrSlowReader = errors.New("the client stopped reading")
	// ErrUnimplemented: this server's storage backend cannot do it.
	ErrUnimplemented = errors.New("not available with this storage backend")
)

// FieldViolation names one bad field of a request, by its path in the
// request message (proto field names, e.g. "proposal.proposers[2].phone").
type FieldViolation struct {
	Field       string
	Description string
}

// ValidationError lists every problem found in a request.
type ValidationError struct {
	Violations []FieldViolation
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Violations))
	for i, v := range e.Violations {
		parts[i] = v.Field + ": " + v.Description
	}
	return "invalid request: " + strings.Join(parts, "; ")
}

func (e *ValidationError) Unwrap() error { return ErrInvalidArgument }

// invalidField is a ValidationError for one field.
func invalidField(field, format string, args ...any) error {
	return &ValidationError{Violations: []FieldViolation{{Field: field, Description: fmt.Sprintf(format, args...)}}}
}

// TransitionError says which step was refused, where the resource stands
// and which steps that state allows.
type TransitionError struct {
	Step     Step
	Resource string
	State    string
	Allowed  []Step
}

func (e *TransitionError) Error() string {
	allowed := "none"
	if len(e.Allowed) > 0 {
		names := make([]string, len(e.Allowed))
		for i, s := range e.Allowed {
			names[i] = string(s)
		}
		allowed = strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s is not allowed: %s is %s; steps allowed from %s: %s", e.Step, e.Resource, e.State, e.State, allowed)
}

func (e *TransitionError) Unwrap() error { return ErrInvalidTransition }

// notFound wraps ErrNotFound with the resource's name.
type notFoundError struct {
	resource string
	field    string
}

func (e *notFoundError) Error() string {
	if e.field != "" {
		return fmt.Sprintf("%s: %s does not exist", e.field, e.resource)
	}
	return e.resource + " does not exist"
}

func (e *notFoundError) Unwrap() error { return ErrNotFound }

// notFoundOr is resourceNotFound when err says the record is not there,
// and err itself otherwise: a read that failed (a storage error) is not a
// resource that does not exist, and is answered as the failure it is.
func notFoundOr(err error, name, field string) error {
	if errors.Is(err, store.ErrNotFound) {
		return resourceNotFound(name, field)
	}
	return err
}

// resourceNotFound reports that name (given in field, if not the request's
// own name) does not exist.
func resourceNotFound(name, field string) error {
	return &notFoundError{resource: name, field: field}
}

// toStatus maps an error to a gRPC status with google.rpc details. It is
// the one place where domain errors become codes.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	var (
		st     *status.Status
		ve     *ValidationError
		te     *TransitionError
		nf     *notFoundError
		ae     *existsError
		rl     *rateLimitError
		behind *watcherBehind
		sl     *streamLimitError
		cl     *caseLimitError
	)
	switch {
	case errors.As(err, &ve):
		st = status.New(codes.InvalidArgument, err.Error())
		br := &errdetails.BadRequest{}
		for _, v := range ve.Violations {
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		}
		st = withDetails(st, br)
	case errors.Is(err, store.ErrRequestReused):
		st = withDetails(status.New(codes.InvalidArgument, err.Error()), &errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{
				Field: "request_id", Description: "already used for a different request; use a new request_id",
			}},
		})
	case errors.As(err, &te):
		st = withDetails(status.New(codes.FailedPrecondition, err.Error()),
			&errdetails.ErrorInfo{Reason: "INVALID_TRANSITION", Domain: errorDomain, Metadata: map[string]string{
				"step": string(te.Step), "resource": te.Resource, "state": te.State, "allowed": joinSteps(te.Allowed),
			}},
			&errdetails.PreconditionFailure{Violations: []*errdetails.PreconditionFailure_Violation{{
				Type: "STATE", Subject: te.Resource, Description: err.Error(),
			}}})
	case errors.Is(err, ErrStandby):
		st = withDetails(status.New(codes.FailedPrecondition, err.Error()),
			&errdetails.ErrorInfo{Reason: "STANDBY", Domain: errorDomain})
	case errors.As(err, &cl):
		st = withDetails(status.New(codes.FailedPrecondition, err.Error()),
			&errdetails.ErrorInfo{Reason: "CASE_LIMIT", Domain: errorDomain, Metadata: map[string]string{
				"resource": cl.resource, "limit": cl.what, "max": strconv.Itoa(cl.max),
			}})
	case errors.Is(err, ErrPrecondition):
		st = withDetails(status.New(codes.FailedPrecondition, err.Error()),
			&errdetails.ErrorInfo{Reason: "PRECONDITION", Domain: errorDomain})
	case errors.As(err, &nf):
		details := []protoadapt.MessageV1{&errdetails.ResourceInfo{ResourceType: collectionOf(nf.resource), ResourceName: nf.resource, Description: "does not exist"}}
		if nf.field != "" {
			// A request naming a resource in one of its fields is told
			// which field, as a malformed one is.
			details = append(details, &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: nf.field, Description: nf.resource + " does not exist"}}})
		}
		st = withDetails(status.New(codes.NotFound, err.Error()), details...)
	case errors.Is(err, ErrNotFound):
		st = status.New(codes.NotFound, err.Error())
	case errors.Is(err, ErrEtagMismatch):
		st = withDetails(status.New(codes.Aborted, err.Error()),
			&errdetails.ErrorInfo{Reason: "ETAG_MISMATCH", Domain: errorDomain})
	case errors.As(err, &ae):
		st = withDetails(status.New(codes.AlreadyExists, err.Error()),
			&errdetails.ErrorInfo{Reason: "ALREADY_EXISTS", Domain: errorDomain},
			&errdetails.ResourceInfo{ResourceType: collectionOf(ae.resource), ResourceName: ae.resource, Description: "exists already"})
	case errors.Is(err, ErrAlreadyExists):
		st = withDetails(status.New(codes.AlreadyExists, err.Error()),
			&errdetails.ErrorInfo{Reason: "ALREADY_EXISTS", Domain: errorDomain})
	case errors.Is(err, ErrUnauthenticated):
		st = withDetails(status.New(codes.Unauthenticated, err.Error()),
			&errdetails.ErrorInfo{Reason: "UNAUTHENTICATED", Domain: errorDomain})
	case errors.Is(err, ErrPermissionDenied):
		info := &errdetails.ErrorInfo{Reason: "PERMISSION_DENIED", Domain: errorDomain}
		if fd := (*fieldDenial)(nil); errors.As(err, &fd) {
			info.Metadata = map[string]string{"field": fd.field}
		}
		st = withDetails(status.New(codes.PermissionDenied, err.Error()), info)
	case errors.As(err, &sl):
		st = withDetails(status.New(codes.ResourceExhausted, err.Error()),
			&errdetails.ErrorInfo{Reason: "TOO_MANY_STREAMS", Domain: errorDomain})
	case errors.As(err, &rl):
		st = withDetails(status.New(codes.ResourceExhausted, err.Error()),
			&errdetails.ErrorInfo{Reason: "RATE_LIMITED", Domain: errorDomain},
			&errdetails.RetryInfo{RetryDelay: durationpb.New(rl.retryAfter)})
	case errors.As(err, &behind):
		st = withDetails(status.New(codes.ResourceExhausted, err.Error()),
			&errdetails.ErrorInfo{Reason: "WATCHER_TOO_SLOW", Domain: errorDomain,
				Metadata: map[string]string{"resume_after_sequence": strconv.FormatUint(behind.resumeAfter, 10)}})
	case errors.Is(err, ErrSlowReader):
		st = status.New(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, ErrUnimplemented):
		st = status.New(codes.Unimplemented, err.Error())
	case errors.Is(err, context.Canceled):
		st = status.New(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		st = status.New(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, store.ErrClosed):
		st = status.New(codes.Unavailable, "the server is shutting down")
	default:
		st = masked(err)
	}
	return st.Err()
}

// masked answers a failure that is not the caller's (the disk is full, a
// file cannot be read, a record does not decode): UNAVAILABLE, since a
// retry may well succeed once an operator has acted, with a reference id
// and nothing else. The log line carries the full error and the same id,
// so the caller's report leads to it; the error itself (paths, system
// messages) is not the caller's to read.
func masked(err error) *status.Status {
	ref := make([]byte, 6)
	rand.Read(ref) // never fails (crypto/rand)
	id := hex.EncodeToString(ref)
	slog.Error("call failed inside the server", "ref", id, "error", err)
	return withDetails(status.New(codes.Unavailable, "the server could not complete the call (ref "+id+"); try again later, "+
		"and give the operators this reference if it persists"),
		&errdetails.ErrorInfo{Reason: "INTERNAL", Domain: errorDomain, Metadata: map[string]string{"ref": id}})
}

func withDetails(st *status.Status, details ...protoadapt.MessageV1) *status.Status {
	if with, err := st.WithDetails(details...); err == nil {
		return with
	}
	return st
}

func joinSteps(steps []Step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = string(s)
	}
	return strings.Join(names, ",")
}

// collectionOf returns "proposals" for "proposals/7/assignments/2"'s owner
// type: the collection of the last id.
func collectionOf(name string) string {
	parts := strings.Split(name, "/")
	if len(parts) >= 2 {
		return parts[len(parts)-2]
	}
	return name
}

// existsError refuses to make what exists already, naming the existing
// resource (in ResourceInfo) for a caller who may know of it.
type existsError struct {
	resource string
	what     string
}

func (e *existsError) Error() string { return e.what + ": " + e.resource + " exists already" }
func (e *existsError) Unwrap() error { return ErrAlreadyExists }
