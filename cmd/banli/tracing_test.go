package main

import (
	"context"
	"encoding/hex"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// collector is an OTLP/gRPC trace receiver on loopback: what an
// OpenTelemetry Collector is to the server.
type collector struct {
	collectortrace.UnimplementedTraceServiceServer
	addr  string
	mu    sync.Mutex
	spans []*tracepb.Span
}

func startCollector(t *testing.T) *collector {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{addr: lis.Addr().String()}
	s := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(s, c)
	go s.Serve(lis)
	t.Cleanup(s.Stop)
	return c
}

func (c *collector) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			c.spans = append(c.spans, ss.GetSpans()...)
		}
	}
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

func (c *collector) spansOf(traceID string) []*tracepb.Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range c.spans {
		if hex.EncodeToString(s.GetTraceId()) == traceID {
			out = append(out, s)
		}
	}
	return out
}

// TestTracesGoToTheCollector: with -otlp-endpoint, every call is a server
// span exported over OTLP, in the caller's trace when its traceparent
// names one (gRPC metadata or the REST header), and the answer names the
// server's span so that the caller can find it. The spans carry the
// method and the code, never a request's content.
func TestTracesGoToTheCollector(t *testing.T) {
	col := startCollector(t)
	ts := startServer(t, func(c *server.Config) { c.OTLPEndpoint = "http://" + col.addr })

	const grpcTrace, restTrace, parent = "0af7651916cd43dd8448eb211c80319c", "4bf92f3577b34da6a3ce929d0e0e4736", "b7ad6b7169203331"
	ctx := metadata.AppendToOutgoingContext(as(ts.officeKey(t)), "traceparent", "00-"+grpcTrace+"-"+parent+"-01")
	var header metadata.MD
	if _, err := banliv1.NewSessionServiceClient(ts.conn).ListSessions(ctx, &banliv1.ListSessionsRequest{}, grpc.Header(&header)); err != nil {
		t.Fatal(err)
	}
	if got := header.Get("traceparent"); len(got) != 1 || !strings.HasPrefix(got[0], "00-"+grpcTrace+"-") || strings.Contains(got[0], parent) {
		t.Errorf("gRPC answered traceparent %q, want the server's span in %s", got, grpcTrace)
	}
	// get makes a REST GET in the trace traceparent names (none if empty)
	// and returns its status and the traceparent it answered.
	get := func(path, traceparent string) (int, string) {
		req, _ := http.NewRequest("GET", "http://"+ts.addrs.HTTPAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+ts.officeKey(t))
		if traceparent != "" {
			req.Header.Set("traceparent", traceparent)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("traceparent")
	}
	inREST := "00-" + restTrace + "-" + parent + "-01"
	if status, got := get("/v1/proposals/99", inREST); status != http.StatusNotFound || !strings.HasPrefix(got, "00-"+restTrace+"-") {
		t.Errorf("REST answered %d with traceparent %q, want 404 in %s", status, got, restTrace)
	}
	// A watch over REST (the gateway's own handler) names its span too.
	if status, got := get("/v1/events:watch", inREST); status != http.StatusOK || !strings.HasPrefix(got, "00-"+restTrace+"-") {
		t.Errorf("a watch answered %d with traceparent %q, want 200 in %s", status, got, restTrace)
	}
	// A call with no trace starts one.
	if _, got := get("/v1/sessions", ""); len(got) != 55 || !strings.HasPrefix(got, "00-") || strings.Contains(got, restTrace) {
		t.Errorf("a call with no trace answered traceparent %q, want a new one", got)
	}

	ts.stop() // the exporter sends what it holds as the server stops
	for _, c := range []struct{ trace, name, code string }{
		{grpcTrace, "banli.v1.SessionService/ListSessions", "OK"},
		{restTrace, "banli.v1.ProposalService/GetProposal", "NOT_FOUND"},
	} {
		spans := slices.DeleteFunc(col.spansOf(c.trace), func(s *tracepb.Span) bool { return s.GetName() == "banli.v1.EventService/WatchEvents" })
		if len(spans) != 1 {
			t.Errorf("trace %s: %d spans exported, want 1 (%v)", c.trace, len(spans), spans)
			continue
		}
		s := spans[0]
		if s.GetName() != c.name || s.GetKind() != tracepb.Span_SPAN_KIND_SERVER || hex.EncodeToString(s.GetParentSpanId()) != parent {
			t.Errorf("trace %s: span %q kind %v parent %x, want %q, a server span, parent %s", c.trace, s.GetName(), s.GetKind(), s.GetParentSpanId(), c.name, parent)
		}
		attrs := map[string]string{}
		for _, a := range s.GetAttributes() {
			attrs[a.GetKey()] = a.GetValue().GetStringValue()
			if strings.Contains(a.GetValue().String(), "banli_") {
				t.Errorf("a span carries a key: %v", a)
			}
		}
		if attrs["rpc.response.status_code"] != c.code || !strings.HasPrefix(attrs["client.address"], "127.0.0.1:") {
			t.Errorf("trace %s: attributes %v, want the code %s and the caller's address", c.trace, attrs, c.code)
		}
	}
}
