// Package gateway is Banli's REST gateway: grpc-gateway's mux over the
// gRPC server, reached in memory (Listen) so that every interceptor applies
// to REST calls too; the mark that tells that connection apart
// (ServerCredentials); and the JSON (restjson), decoding and codec it needs.
package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/grpc-ecosystem/grpc-gateway/v2/utilities"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	encodingproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/banli/banli/cmd/banli/gateway/restjson"
	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
)

// gatewayJSON encodes response messages with restjson, which writes what
// protojson (with the options New gives it) writes, several times faster; a page
// of cases in JSON was a third of the server's work for a REST call.
// Request bodies, and the few values that are not messages (a streamed
// chunk's wrapper), keep to runtime.JSONPb.
type gatewayJSON struct{ *runtime.JSONPb }

func (g gatewayJSON) Marshal(v any) ([]byte, error) {
	if m, ok := v.(proto.Message); ok {
		return restjson.Marshal(m)
	}
	return g.JSONPb.Marshal(v)
}

// NewDecoder reads a request body strictly: one JSON value and nothing
// after it but white space. runtime.JSONPb reads the first value and
// ignores the rest, so `{…}}{` would be taken as `{…}`.
// The body is read whole first (the HTTP listener caps it), so that a
// body that does not decode can be searched for the field at fault.
func (g gatewayJSON) NewDecoder(r io.Reader) runtime.Decoder {
	body, err := io.ReadAll(r)
	if err != nil {
		return failedDecoder{err}
	}
	return strictDecoder{g.JSONPb.NewDecoder(bytes.NewReader(body)).(runtime.DecoderWrapper), body}
}

type strictDecoder struct {
	runtime.DecoderWrapper
	body []byte
}

// failedDecoder answers the error the body's reading gave.
type failedDecoder struct{ err error }

func (d failedDecoder) Decode(any) error { return d.err }

// Decode decodes the body into v. A body that does not decode is not
// refused here, before the call: v is marked undecodable and the call goes
// on, so that the server signs the caller in and checks the access table
// first, then refuses the body with INVALID_ARGUMENT and audits it (see
// service.MarkUndecodable).
func (d strictDecoder) Decode(v any) error {
	err := d.DecoderWrapper.Decode(v)
	if err == nil {
		if _, after := d.Token(); after != io.EOF {
			err = errors.New("the body has more after its JSON value; send exactly one JSON object")
		}
	}
	m, isMessage := bodyMessage(v)
	if err == nil || errors.Is(err, io.EOF) || !isMessage {
		return err
	}
	if field, found := invalidUTF8Field(d.body, m.ProtoReflect().Descriptor()); found {
		service.AddUndecodableFieldMark(m, field, "is not valid UTF-8: send text as UTF-8 (not GBK or another encoding)")
		return nil
	}
	if field, found := unknownMember(d.body, m.ProtoReflect().Descriptor()); found {
		proto.Reset(m)
		service.AddUndecodableFieldMark(m, field, "is no field of the API: its JSON names are lowerCamelCase, as the OpenAPI document gives them")
		return nil
	}
	if why, found := syntaxError(d.body); found {
		service.MarkUndecodable(m, why)
		return nil
	}
	service.MarkUndecodable(m, err.Error())
	return nil
}

// bodyMessage is the message a body decodes into: the request (body
// "*"), or the field of it the route names (body "account"), which the
// gateway passes as a pointer to the field, *Account, not yet allocated.
func bodyMessage(v any) (proto.Message, bool) {
	if m, ok := v.(proto.Message); ok {
		return m, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Pointer {
		return nil, false
	}
	field := rv.Elem()
	if field.IsNil() {
		field.Set(reflect.New(field.Type().Elem()))
	}
	m, ok := field.Interface().(proto.Message)
	return m, ok
}

// backToBack writes a stream's messages back to back. Every streamed
// answer over REST is a download (google.api.HttpBody: a backup, a ledger,
// a file), whose chunks are one file; grpc-gateway would otherwise put a
// newline after each chunk, a byte in the middle of the file every MiB.
type backToBack struct{ *runtime.HTTPBodyMarshaler }

func (backToBack) Delimiter() []byte { return nil }

// markingQueryParser reads query parameters as the gateway does, but
// marks a request whose parameters do not parse instead of answering 400
// before the call (see strictDecoder.Decode).
type markingQueryParser struct{ runtime.DefaultQueryParser }

func (p *markingQueryParser) Parse(msg proto.Message, values url.Values, filter *utilities.DoubleArray) error {
	if err := p.DefaultQueryParser.Parse(msg, values, filter); err != nil {
		// Name the parameter that does not parse (?state=NOPE): each is
		// tried alone on a fresh request.
		for key, vals := range values {
			fresh := msg.ProtoReflect().New().Interface()
			if p.DefaultQueryParser.Parse(fresh, url.Values{key: vals}, filter) != nil {
				service.AddUndecodableFieldMark(msg, key, "not a value of the parameter: "+err.Error())
				return nil
			}
		}
		service.AddUndecodableMark(msg, "query parameters: "+err.Error())
		return nil
	}
	// A parameter that is no field of the request would be ignored, and a
	// misspelt filter (?sesion=) would answer every case: it is refused,
	// by its name.
	for key := range values {
		if !isQueryField(msg.ProtoReflect().Descriptor(), key) {
			service.AddUndecodableFieldMark(msg, key, fmt.Sprintf("not a query parameter of %s", msg.ProtoReflect().Descriptor().Name()))
			break
		}
	}
	return nil
}

// isQueryField reports whether key (a.b.c, each part the field's JSON or
// proto name) names a field of md.
func isQueryField(md protoreflect.MessageDescriptor, key string) bool {
	for _, part := range strings.Split(key, ".") {
		if md == nil {
			return false
		}
		fd := md.Fields().ByJSONName(part)
		if fd == nil {
			fd = md.Fields().ByName(protoreflect.Name(part))
		}
		if fd == nil {
			return false
		}
		md = nil
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			md = fd.Message()
		}
	}
	return true
}

// New builds the REST gateway. It dials the gRPC server with dial, through
// an in-memory listener, so every interceptor applies to REST calls too;
// requests it sends are at most maxMessageBytes. It
// passes on the caller's Authorization header, and adds the caller's
// address and verified client certificate, which the server believes from
// this connection only; a REST caller's own X-Banli-* metadata headers are
// dropped. The connection outlives the shutdown signal: in-flight REST
// calls finish over it.
func New(dial func(context.Context) (net.Conn, error), maxMessageBytes int) (*runtime.ServeMux, *grpc.ClientConn, error) {
	mux := runtime.NewServeMux(
		runtime.SetQueryParameterParser(&markingQueryParser{}),
		runtime.WithRoutingErrorHandler(routingErrors),
		// JSON uses lowerCamelCase field names and enum value names, the
		// protobuf JSON mapping; unknown fields are refused, not dropped.
		// (google.api.HttpBody responses, the backup download, pass through
		// as they are, with their own content type.)
		runtime.WithMarshalerOption(runtime.MIMEWildcard, backToBack{&runtime.HTTPBodyMarshaler{Marshaler: gatewayJSON{&runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}}}}),
		runtime.WithIncomingHeaderMatcher(func(key string) (string, bool) {
			switch lower := strings.ToLower(key); {
			case strings.HasPrefix(lower, "grpc-metadata-x-banli-"):
				return "", false
			case lower == "traceparent" || lower == "tracestate":
				// A REST caller's trace (W3C Trace Context) is the call's.
				return lower, true
			}
			return runtime.DefaultHeaderMatcher(key)
		}),
		runtime.WithMetadata(func(_ context.Context, r *http.Request) metadata.MD {
			md := metadata.Pairs(service.GatewaySourceHeader, r.RemoteAddr)
			if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.VerifiedChains[0]) > 0 {
				md.Set(service.GatewayClientCertHeader, r.TLS.VerifiedChains[0][0].Subject.CommonName)
			}
			return md
		}),
		// A rate-limited call says when to come back, and every call
		// which span of which trace it was, in HTTP's own words.
		runtime.WithOutgoingHeaderMatcher(func(key string) (string, bool) {
			switch key {
			case "retry-after", "traceparent", "tracestate":
				return key, true
			}
			return runtime.MetadataHeaderPrefix + key, true
		}),
	)
	answers := grpc.ForceCodecV2(newAnswerCodec())
	conn, err := grpc.NewClient("passthrough:///banli-gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dial(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(maxMessageBytes)),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(ctx, method, req, reply, cc, append(opts, answers)...)
		}),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("REST gateway: %w", err)
	}
	ctx := context.Background()
	for _, register := range []func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error{
		banliv1.RegisterSessionServiceHandler,
		banliv1.RegisterUnitServiceHandler,
		banliv1.RegisterLeaderServiceHandler,
		banliv1.RegisterLabelServiceHandler,
		banliv1.RegisterProposalServiceHandler,
		banliv1.RegisterEventServiceHandler,
		banliv1.RegisterCalendarServiceHandler,
		banliv1.RegisterSupervisionServiceHandler,
		banliv1.RegisterStatisticsServiceHandler,
		banliv1.RegisterBackupServiceHandler,
		banliv1.RegisterAuditServiceHandler,
		banliv1.RegisterReplicationServiceHandler,
		banliv1.RegisterImportServiceHandler,
		banliv1.RegisterAccountServiceHandler,
		banliv1.RegisterPublicationServiceHandler,
		banliv1.RegisterWebhookServiceHandler,
	} {
		if err := register(ctx, mux, conn); err != nil {
			conn.Close()
			return nil, nil, fmt.Errorf("REST gateway: %w", err)
		}
	}
	return mux, conn, nil
}

// answerCodec is the gateway's codec for unary calls. It leaves Banli's
// answers undecoded, their bytes kept as the message's unknown fields:
// the gateway only turns them into JSON, and restjson writes JSON straight
// from the bytes, with no Go values made in between. Streamed answers
// (downloads, exports) are decoded as usual, since the gateway wraps each
// one before encoding it.
type answerCodec struct{ encoding.CodecV2 }

func newAnswerCodec() answerCodec {
	return answerCodec{encoding.GetCodecV2(encodingproto.Name)}
}

func (c answerCodec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(proto.Message)
	if !ok || m.ProtoReflect().Descriptor().ParentFile().Package() != "banli.v1" {
		return c.CodecV2.Unmarshal(data, v)
	}
	proto.Reset(m)
	m.ProtoReflect().SetUnknown(data.Materialize())
	return nil
}

// ServerCredentials are the gRPC server's transport credentials: network
// clients go through network's (TLS, or plaintext on loopback), and the
// gateway's in-memory connection gets a mark, which makes it the only one
// trusted to pass on a REST caller's certificate and address.
func ServerCredentials(network credentials.TransportCredentials) credentials.TransportCredentials {
	return serverCredentials{network}
}

type serverCredentials struct {
	credentials.TransportCredentials
}

func (c serverCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if conn.LocalAddr().Network() == gatewayNetwork {
		return conn, service.GatewayAuthInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.PrivacyAndIntegrity}}, nil
	}
	return c.TransportCredentials.ServerHandshake(conn)
}

func (c serverCredentials) Clone() credentials.TransportCredentials {
	return serverCredentials{c.TransportCredentials.Clone()}
}

// gatewayNetwork is the network name of bufconn's in-memory connections,
// which only this process can open.
const gatewayNetwork = "bufconn"

// Listen makes the in-memory listener the gRPC server serves the gateway
// on: REST never crosses the network to reach gRPC.
func Listen() *bufconn.Listener { return bufconn.Listen(1 << 20) }

// UploadPattern is the REST route of UploadFile, which grpc-gateway cannot
// map (a file is not JSON): the raw bytes are the body.
const UploadPattern = "/v1/proposals/{proposal}/files:upload"

// uploadChunk is what each streamed message carries of a REST upload.
const uploadChunk = 512 << 10

// Uploads serves UploadPattern: it streams the body to UploadFile over the
// gateway's connection, as the generated handlers do for the other
// routes, so that the caller signs in, is checked against the access
// table and is audited the same way. The file name, and the optional
// SHA-256, etag and request id, are query parameters; the media type is
// Content-Type (application/octet-stream means "not known") and the size
// is Content-Length.
func Uploads(mux *runtime.ServeMux, conn *grpc.ClientConn) http.Handler {
	client := banliv1.NewProposalServiceClient(conn)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, outbound := runtime.MarshalerForRequest(mux, r)
		ctx, err := runtime.AnnotateContext(r.Context(), mux, r, banliv1.ProposalService_UploadFile_FullMethodName,
			runtime.WithHTTPPathPattern(UploadPattern))
		if err != nil {
			runtime.HTTPError(r.Context(), mux, outbound, w, r, err)
			return
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		answer, err := upload(ctx, client, r)
		if err != nil {
			runtime.HTTPError(ctx, mux, outbound, w, r, err)
			return
		}
		runtime.ForwardResponseMessage(ctx, mux, outbound, w, r, answer)
	})
}

func upload(ctx context.Context, client banliv1.ProposalServiceClient, r *http.Request) (*banliv1.Attachment, error) {
	q := r.URL.Query()
	head := &banliv1.FileUpload{
		Parent:    "proposals/" + r.PathValue("proposal"),
		FileName:  q.Get("file_name"),
		Sha256:    q.Get("sha256"),
		Etag:      q.Get("etag"),
		RequestId: q.Get("request_id"),
	}
	if t := r.Header.Get("Content-Type"); t != "application/octet-stream" {
		head.MediaType = t
	}
	if r.ContentLength > 0 {
		head.SizeBytes = r.ContentLength
	}
	stream, err := client.UploadFile(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&banliv1.UploadFileRequest{Part: &banliv1.UploadFileRequest_Upload{Upload: head}}); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	buf := make([]byte, uploadChunk)
	for {
		n, readErr := io.ReadFull(r.Body, buf)
		if n > 0 {
			chunk := &banliv1.UploadFileRequest{Part: &banliv1.UploadFileRequest_Chunk{Chunk: append([]byte(nil), buf[:n]...)}}
			if err := stream.Send(chunk); err != nil {
				break // the server has answered already; CloseAndRecv says how
			}
		}
		if readErr != nil {
			// The body's end, or a body cut short: either way the server
			// judges what arrived against the size declared.
			break
		}
	}
	return stream.CloseAndRecv()
}
