package gateway

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/banli/banli/cmd/banli/gateway/restjson"
	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
)

// WatchPattern is the REST route of WatchEvents. grpc-gateway would send
// a stream as one download; a watch is a line of JSON per message, flushed
// as it comes, or Server-Sent Events for a browser's EventSource.
const WatchPattern = "/v1/events:watch"

// Watches serves WatchPattern: it calls WatchEvents over the gateway's
// connection, as the generated handlers do, so that the caller signs in,
// is checked against the access table and is audited the same way. The
// query parameters are WatchEventsRequest's. A request that accepts
// text/event-stream gets Server-Sent Events, whose Last-Event-ID resumes
// after that sequence; any other gets newline-delimited JSON. An error
// before the first message is an HTTP error as for any call; one after it
// is the stream's last message (an "error" line, or an "error" event).
func Watches(mux *runtime.ServeMux, conn *grpc.ClientConn) http.Handler {
	client := banliv1.NewEventServiceClient(conn)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, outbound := runtime.MarshalerForRequest(mux, r)
		ctx, err := runtime.AnnotateContext(r.Context(), mux, r, banliv1.EventService_WatchEvents_FullMethodName,
			runtime.WithHTTPPathPattern(WatchPattern))
		if err != nil {
			runtime.HTTPError(r.Context(), mux, outbound, w, r, err)
			return
		}
		req := &banliv1.WatchEventsRequest{}
		if err := runtime.PopulateQueryParameters(req, r.URL.Query(), utilities.NewDoubleArray(nil)); err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		events := strings.Contains(r.Header.Get("Accept"), "text/event-stream")
		if id := r.Header.Get("Last-Event-ID"); events && id != "" {
			if seq, err := strconv.ParseUint(id, 10, 64); err == nil && seq > req.GetAfterSequence() {
				req.AfterSequence = seq
			}
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := client.WatchEvents(ctx, req)
		if err == nil {
			err = started(stream)
		}
		if err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		if md, _ := stream.Header(); len(md.Get("traceparent")) > 0 {
			w.Header().Set("traceparent", md.Get("traceparent")[0]) // as every REST answer names its span
		}
		out := watchWriter{w: w, rc: http.NewResponseController(w), events: events}
		// A watch outlives the listener's read timeout, which would
		// otherwise end it: there is nothing more to read from the client.
		out.rc.SetReadDeadline(time.Time{})
		out.start()
		for {
			msg, err := stream.Recv()
			if err != nil {
				if ctx.Err() == nil {
					out.fail(err)
				}
				return
			}
			if out.send(msg) != nil {
				return // the client has gone
			}
		}
	})
}

// started waits for the watch's headers, which the server marks once the
// call is admitted: a call refused before (sign-in, access, validation)
// ends without the mark, and its status is the HTTP error.
func started(stream grpc.ServerStreamingClient[banliv1.WatchEventsResponse]) error {
	md, err := stream.Header()
	if err != nil {
		return err
	}
	if len(md.Get(service.WatchAdmittedHeader)) == 0 {
		_, err := stream.Recv()
		return err
	}
	return nil
}

// watchWriter writes a watch's messages as lines of JSON or as events.
type watchWriter struct {
	w      http.ResponseWriter
	rc     *http.ResponseController
	events bool
}

func (o watchWriter) start() {
	h := o.w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy in front must not hold the stream back
	if o.events {
		h.Set("Content-Type", "text/event-stream; charset=utf-8")
	} else {
		h.Set("Content-Type", "application/x-ndjson")
	}
	o.w.WriteHeader(http.StatusOK)
	o.rc.Flush()
}

func (o watchWriter) send(msg *banliv1.WatchEventsResponse) error {
	body, err := restjson.Marshal(msg)
	if err != nil {
		return err
	}
	switch {
	case !o.events:
		_, err = fmt.Fprintf(o.w, "{\"result\":%s}\n", body) // as grpc-gateway streams, and the OpenAPI document says
	case msg.GetEvent() != nil:
		_, err = fmt.Fprintf(o.w, "id: %d\nevent: event\ndata: %s\n\n", msg.GetEvent().GetSequence(), body)
	default:
		_, err = fmt.Fprintf(o.w, "event: heartbeat\ndata: %s\n\n", body)
	}
	if err == nil {
		err = o.rc.Flush()
	}
	return err
}

// fail ends the stream with its error, as the google.rpc.Status JSON of
// any REST error.
func (o watchWriter) fail(err error) {
	body, _ := protojson.Marshal(status.Convert(err).Proto())
	if o.events {
		fmt.Fprintf(o.w, "event: error\ndata: %s\n\n", body)
	} else {
		fmt.Fprintf(o.w, "{\"error\":%s}\n", body)
	}
	o.rc.Flush()
}
