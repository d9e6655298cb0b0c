package service

import (
	"context"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/banli/banli/service/i18n"
)

// Errors speak to developers in status.message, in English (AIP-193), and
// to people in a google.rpc.LocalizedMessage in the caller's language: the
// Accept-Language header over REST, or accept-language gRPC metadata;
// Chinese by default. The messages are service/i18n's.

// callerLanguage is the language the caller asked for.
func callerLanguage(ctx context.Context) i18n.Language {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, key := range []string{"accept-language", "grpcgateway-accept-language"} {
		if v := md.Get(key); len(v) > 0 {
			return i18n.Negotiate(strings.Join(v, ","))
		}
	}
	return i18n.Chinese
}

// LocalizeErrors adds the LocalizedMessage to a unary call's error. It
// sits outside every other interceptor but the metrics, so that refusals
// at sign-in, by the access table and by the rate limit, and panics, get
// one too.
func LocalizeErrors() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		return resp, localized(ctx, err)
	}
}

// LocalizeStreamErrors is LocalizeErrors for streams.
func LocalizeStreamErrors() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return localized(ss.Context(), handler(srv, ss))
	}
}

// localized is err, a status, with a LocalizedMessage added (unless it
// has one).
func localized(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	st := status.Convert(toStatus(err))
	for _, d := range st.Details() {
		if _, ok := d.(*errdetails.LocalizedMessage); ok {
			return st.Err()
		}
	}
	lang := callerLanguage(ctx)
	text := localizedText(lang, st)
	return withDetails(localizeViolations(st, lang), &errdetails.LocalizedMessage{Locale: string(lang), Message: text}).Err()
}

// localizeViolations gives each field violation of st its description
// in lang too (BadRequest.FieldViolation.localized_message).
func localizeViolations(st *status.Status, lang i18n.Language) *status.Status {
	p := st.Proto()
	for i, detail := range p.GetDetails() {
		br := &errdetails.BadRequest{}
		if detail.MessageIs(br) && detail.UnmarshalTo(br) == nil {
			for _, v := range br.GetFieldViolations() {
				v.LocalizedMessage = &errdetails.LocalizedMessage{Locale: string(lang), Message: i18n.Violation(lang, v.GetDescription())}
			}
			if any, err := anypb.New(br); err == nil {
				p.Details[i] = any
			}
		}
	}
	return status.FromProto(p)
}

// localizedText says what went wrong, for people, from what the status
// carries: its code, its ErrorInfo reason and the fields and resources its
// details name.
func localizedText(lang i18n.Language, st *status.Status) string {
	var (
		fields   []string
		resource string
		info     *errdetails.ErrorInfo
	)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		case *errdetails.ResourceInfo:
			resource = d.GetResourceName()
		case *errdetails.ErrorInfo:
			info = d
		}
	}
	switch st.Code() {
	case codes.InvalidArgument:
		if len(fields) == 1 && fields[0] == "request_id" && strings.Contains(st.Message(), "request") {
			return i18n.Message(lang, "request_reused")
		}
		if len(fields) > 0 {
			return i18n.Message(lang, "invalid_argument", strings.Join(fields, "、"))
		}
		return i18n.Message(lang, "invalid_argument_plain")
	case codes.NotFound:
		if resource != "" {
			return i18n.Message(lang, "not_found", resource)
		}
		return i18n.Message(lang, "not_found_plain")
	case codes.AlreadyExists:
		if resource != "" {
			return i18n.Message(lang, "already_exists", resource)
		}
		return i18n.Message(lang, "already_exists_plain")
	case codes.PermissionDenied:
		if field := info.GetMetadata()["field"]; field != "" {
			return i18n.Message(lang, "permission_denied", field)
		}
		return i18n.Message(lang, "permission_denied_any")
	case codes.Unauthenticated:
		return i18n.Message(lang, "unauthenticated")
	case codes.FailedPrecondition:
		switch info.GetReason() {
		case "INVALID_TRANSITION":
			return i18n.Message(lang, "invalid_transition", info.GetMetadata()["resource"])
		case "STANDBY":
			return i18n.Message(lang, "standby")
		case "CASE_LIMIT":
			return i18n.Message(lang, "case_limit", info.GetMetadata()["resource"])
		case "PRECONDITION":
			return i18n.Message(lang, "precondition")
		}
		return i18n.Message(lang, "failed_precondition")
	case codes.Aborted:
		return i18n.Message(lang, "aborted")
	case codes.ResourceExhausted:
		return i18n.Message(lang, "resource_exhausted")
	case codes.Unavailable:
		if ref := info.GetMetadata()["ref"]; ref != "" {
			return i18n.Message(lang, "unavailable_ref", ref)
		}
		return i18n.Message(lang, "unavailable")
	case codes.Unimplemented:
		return i18n.Message(lang, "unimplemented")
	case codes.DeadlineExceeded:
		return i18n.Message(lang, "deadline_exceeded")
	case codes.Canceled:
		return i18n.Message(lang, "canceled")
	}
	return i18n.Message(lang, "unknown")
}
