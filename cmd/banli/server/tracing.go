package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"

	"github.com/banli/banli/cmd/banli/build"
	"github.com/banli/banli/service"
)

// Every call is a span of a W3C trace (Trace Context): the caller's, when
// its traceparent (gRPC metadata, or the REST header the gateway passes
// on) names one, or a new one. The answer's traceparent names the
// server's span, and the call's log line its trace id, so that a caller's
// report, the log and a trace viewer meet on one id. With -otlp-endpoint
// the spans go to an OpenTelemetry collector over OTLP/gRPC; without, the
// ids are made and nothing is recorded. A span carries the method, the
// code and the peer, never a request's content.

// traceContext is the one propagation format: W3C traceparent and
// tracestate.
var traceContext = propagation.TraceContext{}

// tracing is the server's tracer provider and the gRPC stats handler
// that makes a span of each call.
type tracing struct {
	provider *sdktrace.TracerProvider
	handler  stats.Handler
}

func newTracing(ctx context.Context, endpoint string, b build.Info) (*tracing, error) {
	res := resource.NewSchemaless(
		attribute.String("service.name", "banli"),
		attribute.String("service.version", b.Version),
	)
	opts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if endpoint == "" {
		// Ids for the answer and the log; no span is recorded.
		opts = append(opts, sdktrace.WithSampler(sdktrace.NeverSample()))
	} else {
		// http:// is plaintext, https:// TLS; OTEL_EXPORTER_OTLP_HEADERS
		// and the other OTEL_ variables apply. The sampler is the SDK's
		// default, the caller's decision or every call, unless
		// OTEL_TRACES_SAMPLER says otherwise.
		exporter, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpointURL(endpoint))
		if err != nil {
			return nil, fmt.Errorf("-otlp-endpoint: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exporter))
	}
	provider := sdktrace.NewTracerProvider(opts...)
	return &tracing{
		provider: provider,
		handler: otelgrpc.NewServerHandler(
			otelgrpc.WithTracerProvider(provider),
			otelgrpc.WithPropagators(traceContext),
			// The metrics are Prometheus's (metrics.go).
			otelgrpc.WithMeterProvider(metricnoop.NewMeterProvider()),
		),
	}, nil
}

// shutdown sends the spans not yet exported, for at most timeout.
func (tr *tracing) shutdown(timeout time.Duration, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := tr.provider.Shutdown(ctx); err != nil {
		log.Warn("traces not exported at shutdown", "error", err)
	}
}

// answerTrace sets the answer's traceparent to the server's span, before
// anything can refuse the call, so that a refusal names it too, and names
// the caller's address on the span (a REST caller's own, not the
// gateway's).
func answerTrace(ctx context.Context, setHeader func(metadata.MD) error) {
	span := trace.SpanFromContext(ctx)
	if !span.SpanContext().IsValid() {
		return
	}
	if span.IsRecording() {
		span.SetAttributes(attribute.String("client.address", service.Source(ctx)))
	}
	carrier := propagation.MapCarrier{}
	traceContext.Inject(ctx, carrier)
	md := metadata.MD{}
	for k, v := range carrier {
		md.Set(k, v)
	}
	setHeader(md)
}

func answerTraces(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	answerTrace(ctx, func(md metadata.MD) error { return grpc.SetHeader(ctx, md) })
	return handler(ctx, req)
}

func answerStreamTraces(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	answerTrace(ss.Context(), ss.SetHeader)
	return handler(srv, ss)
}

// traceID is the call's trace id for its log line, "" if it has none.
func traceID(ctx context.Context) string {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}
