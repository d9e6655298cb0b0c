package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/banli/banli/cmd/banli/dial"
	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/gen/openapi"
	"github.com/banli/banli/service"
	"github.com/banli/banli/service/webhook"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

// testServer is the real banli server on loopback ports, with clients.
type testServer struct {
	addrs     server.Listening
	dataPath  string
	conn      *grpc.ClientConn
	sessions  banliv1.SessionServiceClient
	units     banliv1.UnitServiceClient
	proposals banliv1.ProposalServiceClient
	events    banliv1.EventServiceClient
	clock     *fakeClock
	stop      func()
	// adminKey is the first admin's key, from admin.key.
	adminKey string
	// acting signs each call of conn in as a party that may make it.
	acting *load.ActingClient
	// damaged is set by a test that broke the data file on purpose: stop
	// then skips its checks of the indexes and counters.
	damaged bool
}

// fakeClock is the injected time: tests move it instead of waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// openDataFile opens a bbolt data file as the server does, for tests that
// look inside one.
func openDataFile(path string, opts boltstore.Options) (*boltstore.DB, error) {
	opts.Index = service.ProposalIndex
	return boltstore.Open(path, opts)
}

// startServer runs the server (server.Run) on 127.0.0.1:0 with a fresh data file and a clock
// that starts at Monday 1 March 2021, 09:00 China time; tweaks adjust the
// configuration first.
func startServer(t testing.TB, tweaks ...func(*server.Config)) *testServer {
	t.Helper()
	return startServerActing(t, nil, tweaks...)
}

// startStandby runs a standby of primary. Accounts come from the primary,
// so calls to the standby sign in with the primary's acting client.
func startStandby(t testing.TB, primary *testServer) *testServer {
	t.Helper()
	keyFile := filepath.Join(filepath.Dir(primary.dataPath), "admin.key")
	return startServerActing(t, primary.acting, func(c *server.Config) {
		c.Follow = primary.addrs.GRPCAddr
		c.FollowDial = dial.Flags{Addr: c.Follow, TokenFile: keyFile}
	})
}

func startServerActing(t testing.TB, acting *load.ActingClient, tweaks ...func(*server.Config)) *testServer {
	t.Helper()
	clock := &fakeClock{now: time.Date(2021, 3, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))}
	cfg := server.Config{
		DataPath:        filepath.Join(t.TempDir(), "banli.db"),
		GRPCAddr:        "127.0.0.1:0",
		HTTPAddr:        "127.0.0.1:0",
		ShutdownTimeout: 5 * time.Second,
		LockTimeout:     time.Second,
		Now:             clock.Now,
		// Tests call as fast as they can; the limit has its own test.
		RateLimit: 0,
		// A host that never answers (there is no such name): the matrix's
		// webhook, which nothing waits on. Tests of deliveries allow their
		// own receiver.
		WebhookAllow: mustAllow("https://platform.example.test/"),
	}
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan server.Listening, 1)
	done := make(chan error, 1)
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg.Ready = func(l server.Listening) { ready <- l }
	go func() { done <- server.Run(ctx, cfg) }()
	var addrs server.Listening
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	var adminKey string
	if acting == nil {
		adminKey = readAdminKey(t, cfg.DataPath)
		acting = load.NewActingClient(adminKey, "test")
	} else {
		adminKey = acting.AdminKey()
	}
	transport := insecure.NewCredentials()
	if cfg.TLSCert != "" {
		// The tests' one CA signs the server's certificate and the clients'.
		transport = credentials.NewTLS(&tls.Config{RootCAs: must(dial.CertPool(cfg.ClientCA))(t)})
	}
	conn, err := grpc.NewClient(addrs.GRPCAddr, append(acting.DialOptions(), grpc.WithTransportCredentials(transport))...)
	if err != nil {
		t.Fatal(err)
	}
	if !acting.Attached() {
		acting.Attach(conn)
	}
	ts := &testServer{
		addrs: addrs, dataPath: cfg.DataPath, conn: conn, clock: clock, adminKey: adminKey, acting: acting,
		sessions:  banliv1.NewSessionServiceClient(conn),
		units:     banliv1.NewUnitServiceClient(conn),
		proposals: banliv1.NewProposalServiceClient(conn),
		events:    banliv1.NewEventServiceClient(conn),
	}
	var once sync.Once
	ts.stop = func() {
		once.Do(func() {
			conn.Close()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("serve returned %v", err)
			}
			if ts.damaged {
				return
			}
			// Whatever the test did, the indexes must agree with the records.
			db, err := openDataFile(cfg.DataPath, boltstore.Options{})
			if err != nil {
				t.Errorf("reopen after the test: %v", err)
				return
			}
			defer db.Close()
			if err := db.View(func(r store.Reader) error { return r.CheckIndexes() }); err != nil {
				t.Errorf("after the test: %v", err)
			}
			// And the statistics counters must equal a recount of the cases.
			if err := db.View(service.CheckStatistics); err != nil {
				t.Errorf("after the test: %v", err)
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

// readAdminKey reads the key a new server wrote beside its data file.
func readAdminKey(t testing.TB, dataPath string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(filepath.Dir(dataPath), "admin.key"))
	if err != nil {
		t.Fatalf("the first start wrote no admin key: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// as returns a context that signs calls in with key, overriding the
// acting client's choice.
func as(key string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+key)
}

// account creates an account (as the admin) and returns its key.
func (ts *testServer) account(t testing.TB, id string, role banliv1.Role, unit string) string {
	t.Helper()
	made, err := banliv1.NewAccountServiceClient(ts.conn).CreateAccount(as(ts.adminKey), &banliv1.CreateAccountRequest{
		AccountId: id, Account: &banliv1.Account{DisplayName: id, Role: role, Unit: unit},
	})
	if err != nil {
		t.Fatalf("create account %s: %v", id, err)
	}
	return made.GetKey()
}

// leaderAccount creates a leader's account (as the admin) and returns its
// key.
func (ts *testServer) leaderAccount(t testing.TB, id, leader string) string {
	t.Helper()
	made, err := banliv1.NewAccountServiceClient(ts.conn).CreateAccount(as(ts.adminKey), &banliv1.CreateAccountRequest{
		AccountId: id, Account: &banliv1.Account{DisplayName: id, Role: banliv1.Role_ROLE_LEADER, Leader: leader},
	})
	if err != nil {
		t.Fatalf("create account %s: %v", id, err)
	}
	return made.GetKey()
}

// must takes a call's two results and returns a check that fails the test
// on the error and otherwise gives the value: must(client.Get(ctx, req))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// wantCode checks a gRPC error's code and, for INVALID_ARGUMENT, that a
// field violation names field.
func wantCode(t testing.TB, err error, code codes.Code, field string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v (%s), want %v", st.Code(), st.Message(), code)
	}
	if field == "" {
		return
	}
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				if v.GetField() == field {
					return
				}
			}
		}
	}
	t.Fatalf("no field violation names %q in %v", field, st.Details())
}

// rest sends a JSON request to the REST gateway, signed in as a party
// the method allows, and decodes the answer.
func (ts *testServer) rest(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	text, ok := body.(string)
	if !ok && body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		text = string(raw)
	}
	rpc, msg := restMethod(t, method, path)
	key, err := ts.acting.KeyFor(context.Background(), rpc, msg)
	if err != nil {
		key = ts.officeKey(t) // a part that does not exist: no unit to act for
	}
	return ts.restAs(t, key, method, path, text)
}

// restAs sends a raw body (none if empty) to the REST gateway signed in
// with key (none if empty), and decodes the JSON answer.
func (ts *testServer) restAs(t testing.TB, key, method, path, body string) (int, map[string]any) {
	t.Helper()
	code, raw := ts.restRaw(t, key, method, path, body)
	var out map[string]any
	if len(raw) > 0 && json.Unmarshal([]byte(raw), &out) != nil {
		out = map[string]any{"raw": raw}
	}
	return code, out
}

// restRaw sends a REST call signed in with key (none if empty) and
// returns its status and body.
func (ts *testServer) restRaw(t testing.TB, key, method, path, body string) (int, string) {
	t.Helper()
	var reader io.Reader
	if body != "" {
		reader = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, "http://"+ts.addrs.HTTPAddr+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") == "application/x-ndjson" {
		// A watch never ends: read it until it has caught up (its first
		// heartbeat).
		var read strings.Builder
		lines := bufio.NewScanner(resp.Body)
		lines.Buffer(nil, 16<<20)
		for lines.Scan() {
			read.WriteString(lines.Text() + "\n")
			if strings.HasPrefix(lines.Text(), `{"result":{"heartbeat"`) {
				break
			}
		}
		return resp.StatusCode, read.String()
	}
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// restRoutes maps the OpenAPI document's paths to gRPC methods, so that a
// REST test can sign in as a party the method allows.
var restRoutes = sync.OnceValue(func() []apiRoute {
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(openapi.JSON, &doc); err != nil {
		panic(err)
	}
	var routes []apiRoute
	for path, verbs := range doc.Paths {
		pattern := regexp.QuoteMeta(path)
		pattern = regexp.MustCompile(`\\\{[^}]*\\\}`).ReplaceAllString(pattern, `[^/:]+`)
		for verb, op := range verbs {
			service, rpc, _ := strings.Cut(op.OperationID, "_")
			rpc = strings.TrimRight(rpc, "0123456789") // an additional binding's: GetYearSummary2
			if _, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName("banli.v1." + service + "." + rpc)); err != nil {
				continue // a route with no method of its own: a probe, the Atom feed
			}
			routes = append(routes, apiRoute{
				verb: strings.ToUpper(verb), template: path, re: regexp.MustCompile("^" + pattern + "$"),
				method: "/banli.v1." + service + "/" + rpc,
			})
		}
	}
	return routes
})

type apiRoute struct {
	verb string
	// template is the OpenAPI path, e.g. /v1/proposals/{proposal}:assign.
	template string
	re       *regexp.Regexp
	method   string
}

// restMethod finds the gRPC method of a REST call, and a request message
// carrying the resource name the path gives.
func restMethod(t testing.TB, verb, path string) (string, proto.Message) {
	t.Helper()
	bare, _, _ := strings.Cut(path, "?")
	for _, r := range restRoutes() {
		if r.verb != verb || !r.re.MatchString(bare) {
			continue
		}
		desc, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(strings.ReplaceAll(strings.TrimPrefix(r.method, "/"), "/", ".")))
		if err != nil {
			t.Fatalf("%s: %v", r.method, err)
		}
		in, err := protoregistry.GlobalTypes.FindMessageByName(desc.(protoreflect.MethodDescriptor).Input().FullName())
		if err != nil {
			t.Fatal(err)
		}
		msg := in.New()
		if fd := msg.Descriptor().Fields().ByName("name"); fd != nil {
			name, _, _ := strings.Cut(strings.TrimPrefix(bare, "/v1/"), ":")
			msg.Set(fd, protoreflect.ValueOfString(name))
		}
		return r.method, msg.Interface()
	}
	return "", nil // not an API route: any key will do
}

// clientAs is the CLI's connection flags for this server, signed in with
// key (written to a file, as an operator would keep it).
func (ts *testServer) clientAs(t testing.TB, key string) *dial.Flags {
	t.Helper()
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &dial.Flags{Addr: ts.addrs.GRPCAddr, TokenFile: file}
}

// officeKey is the key of the office account the acting client uses.
func (ts *testServer) officeKey(t testing.TB) string {
	t.Helper()
	key, err := ts.acting.Key(context.Background(), "office", banliv1.Role_ROLE_OFFICE, "")
	if err != nil {
		t.Fatal(err)
	}
	return key
}

const (
	roleLead  = banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD
	roleSplit = banliv1.AssignmentRole_ASSIGNMENT_ROLE_SPLIT
	roleCo    = banliv1.AssignmentRole_ASSIGNMENT_ROLE_CO_HANDLING
)

func mustAllow(list string) webhook.AllowList {
	a, err := webhook.ParseAllowList(list)
	if err != nil {
		panic(err)
	}
	return a
}
