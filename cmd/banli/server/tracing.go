package server

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	rpccode "google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/banli/banli/cmd/banli/build"
	"github.com/banli/banli/service"
)

// Every call is a span of a W3C trace (Trace Context): the caller's, when
// its traceparent (gRPC metadata, or the REST header the gateway passes
// on) names one, or a new one. The answer's traceparent names the
// server's span, and the call's log line its trace id, so that a caller's
// report, the log and a trace viewer meet on one id. With -otlp-endpoint
// the spans go to an OpenTelemetry collector over OTLP/gRPC; without, the
// ids are made and nothing else is done. A span carries the method, the
// code and the caller's address, never a request's content.
//
// The interceptors are ours, not otelgrpc's stats handler: with tracing
// off, that handler's work on every call (a span, attribute sets, a
// context per event) cost a single client's GetProposal about a quarter
// of its latency; an id in the context costs next to nothing.

// traceContext is the one propagation format: W3C traceparent and
// tracestate.
var traceContext = propagation.TraceContext{}

// tracing starts each call's span: a recorded one through provider when
// spans are exported, otherwise only its ids.
type tracing struct {
	provider *sdktrace.TracerProvider // nil: nothing is exported
	tracer   trace.Tracer
}

func newTracing(ctx context.Context, endpoint string, b build.Info) (*tracing, error) {
	if endpoint == "" {
		return &tracing{}, nil
	}
	// http:// is plaintext, https:// TLS; OTEL_EXPORTER_OTLP_HEADERS and
	// the other OTEL_ variables apply. The sampler is the SDK's default
	// (the caller's decision, or every call), unless OTEL_TRACES_SAMPLER
	// says otherwise.
	exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("-otlp-endpoint: %w", err)
	}
	provider := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", "banli"),
			attribute.String("service.version", b.Version),
		)),
	)
	return &tracing{provider: provider, tracer: provider.Tracer("github.com/banli/banli")}, nil
}

// shutdown sends the spans not yet exported, for at most timeout.
func (tr *tracing) shutdown(timeout time.Duration, log *slog.Logger) {
	if tr.provider == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tr.provider.Shutdown(ctx); err != nil {
		log.Warn("traces not exported at shutdown", "error", err)
	}
}

// start begins the call's span, in the caller's trace if it names one.
func (tr *tracing) start(ctx context.Context, method string) (context.Context, trace.Span) {
	md, _ := metadata.FromIncomingContext(ctx)
	parent := trace.SpanContextFromContext(traceContext.Extract(ctx, metadataCarrier(md)))
	if tr.provider == nil {
		sc := trace.SpanContextConfig{TraceID: parent.TraceID(), SpanID: randomSpanID(), TraceFlags: parent.TraceFlags(), TraceState: parent.TraceState()}
		if !parent.IsValid() {
			sc.TraceID, sc.TraceFlags = randomTraceID(), 0
		}
		return trace.ContextWithSpanContext(ctx, trace.NewSpanContext(sc)), nil
	}
	if parent.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	}
	return tr.tracer.Start(ctx, strings.TrimPrefix(method, "/"),
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("rpc.system.name", "grpc"),
			attribute.String("rpc.method", strings.TrimPrefix(method, "/")),
			attribute.String("client.address", service.Source(ctx)),
		))
}

// end ends span (if recorded) with the call's outcome. A failure inside
// the server is the span's error; a refusal (a wrong request, a denied
// one) is the caller's, and stays in the code.
func end(span trace.Span, err error) {
	if span == nil {
		return
	}
	code := status.Code(err)
	span.SetAttributes(attribute.String("rpc.response.status_code", rpccode.Code_name[int32(code)]))
	switch code {
	case grpccodes.Internal, grpccodes.Unknown, grpccodes.Unavailable, grpccodes.DataLoss, grpccodes.DeadlineExceeded:
		span.SetStatus(codes.Error, status.Convert(err).Message())
	}
	span.End()
}

// answer sets the answer's traceparent to the server's span, before
// anything can refuse the call, so that a refusal names it too.
func answer(ctx context.Context, setHeader func(metadata.MD) error) {
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return
	}
	md := metadata.MD{}
	for k, v := range carrier {
		md.Set(k, v)
	}
	setHeader(md)
}

// unary is the outermost interceptor of unary calls.
func (tr *tracing) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, span := tr.start(ctx, info.FullMethod)
	answer(ctx, func(md metadata.MD) error { return grpc.SetHeader(ctx, md) })
	resp, err := handler(ctx, req)
	end(span, err)
	return resp, err
}

// stream is the outermost interceptor of streams.
func (tr *tracing) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, span := tr.start(ss.Context(), info.FullMethod)
	answer(ctx, ss.SetHeader)
	err := handler(srv, &streamWithContext{ss, ctx})
	end(span, err)
	return err
}

// traceID is the call's trace id for its log line, "" if it has none.
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

// metadataCarrier reads the caller's traceparent and tracestate from its
// gRPC metadata.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// Ids need not be secret, only unlikely to meet: math/rand/v2's
// generator (ChaCha8, seeded by the runtime) is enough, and does not
// lock.
func randomTraceID() trace.TraceID {
	var id trace.TraceID
	for id == (trace.TraceID{}) {
		hi, lo := rand.Uint64(), rand.Uint64()
		for i := range 8 {
			id[i], id[8+i] = byte(hi>>(56-8*i)), byte(lo>>(56-8*i))
		}
	}
	return id
}

func randomSpanID() trace.SpanID {
	var id trace.SpanID
	for id == (trace.SpanID{}) {
		v := rand.Uint64()
		for i := range 8 {
			id[i] = byte(v >> (56 - 8*i))
		}
	}
	return id
}
