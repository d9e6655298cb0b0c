package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
	"github.com/banli/banli/store"
)

// testServer is the real banli server on loopback ports, with clients.
type testServer struct {
	addrs     listening
	dataPath  string
	conn      *grpc.ClientConn
	sessions  banliv1.SessionServiceClient
	units     banliv1.UnitServiceClient
	proposals banliv1.ProposalServiceClient
	events    banliv1.EventServiceClient
	clock     *fakeClock
	stop      func()
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

// startServer runs serve on 127.0.0.1:0 with a fresh data file and a clock
// that starts at Monday 1 March 2021, 09:00 China time; tweaks adjust the
// configuration first.
func startServer(t testing.TB, tweaks ...func(*config)) *testServer {
	t.Helper()
	clock := &fakeClock{now: time.Date(2021, 3, 1, 9, 0, 0, 0, time.FixedZone("CST", 8*3600))}
	cfg := config{
		dataPath:        filepath.Join(t.TempDir(), "banli.db"),
		grpcAddr:        "127.0.0.1:0",
		httpAddr:        "127.0.0.1:0",
		shutdownTimeout: 5 * time.Second,
		lockTimeout:     time.Second,
		now:             clock.Now,
	}
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan listening, 1)
	done := make(chan error, 1)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	go func() { done <- serve(ctx, cfg, log, ready) }()
	var addrs listening
	select {
	case addrs = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v", err)
	}
	conn, err := grpc.NewClient(addrs.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{
		addrs: addrs, dataPath: cfg.dataPath, conn: conn, clock: clock,
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
			// Whatever the test did, the indexes must agree with the records.
			db, err := store.Open(cfg.dataPath, store.Options{})
			if err != nil {
				t.Errorf("reopen after the test: %v", err)
				return
			}
			defer db.Close()
			if err := db.View(func(r *store.Reader) error { return r.CheckIndexes() }); err != nil {
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

// ctx names the actor, as every caller should.
func actorCtx(actor string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "x-banli-actor", actor)
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

// rest sends a JSON request to the REST gateway and decodes the answer.
func (ts *testServer) rest(t testing.TB, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		b, ok := body.(string)
		if !ok {
			raw, err := json.Marshal(body)
			if err != nil {
				t.Fatal(err)
			}
			b = string(raw)
		}
		reader = bytes.NewReader([]byte(b))
	}
	req, err := http.NewRequest(method, "http://"+ts.addrs.httpAddr+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Banli-Actor", "rest-test")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if len(raw) > 0 && json.Unmarshal(raw, &out) != nil {
		out = map[string]any{"raw": string(raw)}
	}
	return resp.StatusCode, out
}
