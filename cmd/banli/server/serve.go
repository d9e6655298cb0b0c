package server

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/banli/banli/cmd/banli/gateway"
	"github.com/banli/banli/cmd/banli/ui"
	"github.com/banli/banli/gen/openapi"
	"github.com/banli/banli/service"
	"github.com/banli/banli/store"
)

// maxMessageBytes caps a request on both listeners (the README says so).
const maxMessageBytes = 4 << 20

// maxUploadBytes caps a REST upload's body: the file limit (20 MiB, which
// the server applies) and a margin, so that the server, not the cap, says
// what was wrong.
const maxUploadBytes = 21 << 20

// maxFormBytes caps what the dashboard page's forms may post: a reply
// draft's text is the largest.
const maxFormBytes = 1 << 20

// Run serves until ctx ends, then shuts down gracefully: the REST
// gateway first, then gRPC, then the data file. It returns when the data
// file is closed.
func Run(ctx context.Context, cfg Config) error {
	cfg = cfg.withDefaults()
	log := cfg.Log
	// The service logs what it masks from callers (with the reference id
	// they are given) through slog's default logger.
	slog.SetDefault(log)
	tuneGC()
	tuneProcs()
	m := newMetrics()
	db, err := openBackend(cfg, m)
	if err != nil {
		return err
	}
	defer db.Close()
	files, err := openFiles(cfg.DataPath)
	if err != nil {
		return err
	}
	if mapped, ok := db.(store.MappedPages); ok {
		releaseCtx, stopReleasing := context.WithCancel(ctx)
		defer stopReleasing()
		go releaseMappedPages(releaseCtx, mapped, log)
	}

	tlsConf, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	if err := cfg.checkExposure(tlsConf != nil); err != nil {
		return err
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("gRPC listener: %w", err)
	}
	defer grpcLis.Close()
	httpLis, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("HTTP listener: %w", err)
	}
	defer httpLis.Close()
	connections := newConnectionLimit(cfg.MaxConnections, cfg.MaxConnectionsPerIP)
	grpcLis, httpLis = connections.wrap(grpcLis), connections.wrap(httpLis)
	// The REST gateway reaches the gRPC server in memory, never over the
	// network: that connection alone may pass on a REST caller's identity.
	gatewayLis := gateway.Listen()
	defer gatewayLis.Close()

	srv, err := service.New(db, service.Options{
		Now: cfg.Now, RateLimit: cfg.RateLimit, RateBurst: cfg.RateBurst, MaxStreamsPerAccount: cfg.MaxStreamsPerAccount,
		SendTimeout: cfg.SendTimeout, SpoolDir: filepath.Dir(cfg.DataPath), Files: files, PublicFeedOff: cfg.PublicFeedOff,
		WebhookAllow: cfg.WebhookAllow, WebhookRetryBase: cfg.WebhookRetryBase, WebhookRate: cfg.WebhookRate,
	})
	if err != nil {
		return err
	}
	// Sign-in and access come before the log, so that the log names the
	// caller; refused calls are in the audit trail and the metrics.
	// Panics are caught outermost; errors become statuses innermost, once
	// (service.ConvertErrors), so that every interceptor sees statuses.
	// Every error gets its message for people (service.LocalizeErrors)
	// just inside the metrics, outside everything that can refuse a call.
	// logRefusals, outside sign-in and the access table, logs the calls
	// they refuse, which never reach logCalls (which names the caller).
	// Each call's span begins first of all, and its answer names it
	// (tracing.go).
	traces, err := newTracing(ctx, cfg.OTLPEndpoint, cfg.Build)
	if err != nil {
		return err
	}
	defer traces.shutdown(5*time.Second, log)
	unary := []grpc.UnaryServerInterceptor{traces.unary, m.grpc.UnaryServerInterceptor(), service.LocalizeErrors(), logRefusals(log), service.RecoverPanics()}
	stream := []grpc.StreamServerInterceptor{traces.stream, m.grpc.StreamServerInterceptor(), service.LocalizeStreamErrors(), logStreamRefusals(log), service.RecoverStreamPanics()}
	if !cfg.WithoutAuth {
		unary = append(unary, srv.UnaryInterceptor())
		stream = append(stream, srv.StreamInterceptor())
	}
	unary = append(unary, logCalls(log))
	stream = append(stream, logStreams(log))
	if cfg.WithoutAuth {
		unary = append(unary, rejectMalformed)
	}
	unary = append(unary, service.ConvertErrors())
	stream = append(stream, service.ConvertStreamErrors())
	transport := insecure.NewCredentials()
	if tlsConf != nil {
		transport = credentials.NewTLS(tlsConf.Clone())
	}
	grpcServer := grpc.NewServer(append(cfg.grpcLimits(),
		grpc.Creds(gateway.ServerCredentials(transport)),
		grpc.MaxRecvMsgSize(maxMessageBytes),
		grpc.ForceServerCodecV2(newRequestCodec()),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
	)...)
	srv.Register(grpcServer)
	healthServer := health.NewServer()
	healthpb.RegisterHealthServer(grpcServer, healthServer)
	// Each service answers for itself, as gRPC health clients ask by
	// service name; "" answers for the server.
	for name := range grpcServer.GetServiceInfo() {
		healthServer.SetServingStatus(name, healthpb.HealthCheckResponse_SERVING)
	}
	reflection.Register(grpcServer)
	m.grpc.InitializeMetrics(grpcServer)
	m.watch(db, srv)
	m.build(cfg.Build)
	if cfg.DebugAddr != "" {
		debug := &http.Server{Addr: cfg.DebugAddr, Handler: pprofRoutes(), ReadHeaderTimeout: 10 * time.Second}
		go debug.ListenAndServe()
		defer debug.Close()
		log.Info("pprof serving", "addr", cfg.DebugAddr)
	}
	if cfg.Follow != "" {
		primary, err := cfg.FollowDial.Dial(grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256 << 20)))
		if err != nil {
			return fmt.Errorf("-follow: %w", err)
		}
		defer primary.Close()
		followCtx, stopFollowing := context.WithCancel(ctx)
		defer stopFollowing()
		go srv.Follow(followCtx, primary, cfg.Follow)()
		log.Info("standby: following the primary", "primary", cfg.Follow)
	} else if err := bootstrapAdmin(ctx, srv, cfg.DataPath, log); err != nil {
		return err
	}

	go runScheduledSteps(ctx, srv, cmp.Or(cfg.ScheduledEvery, time.Hour), log)
	// Deliveries stop before the data file closes: each writes where it
	// got to on its way out.
	deliveriesCtx, stopDeliveries := context.WithCancel(ctx)
	deliveriesDone := make(chan struct{})
	go func() { srv.DeliverWebhooks(deliveriesCtx); close(deliveriesDone) }()
	stopDelivering := sync.OnceFunc(func() { stopDeliveries(); <-deliveriesDone })
	defer stopDelivering()

	rest, gatewayConn, err := gateway.New(gatewayLis.DialContext, maxMessageBytes)
	if err != nil {
		return err
	}
	defer gatewayConn.Close()
	// The dashboard page is a client of the same in-memory connection.
	page, err := ui.New(gatewayLis.DialContext, cfg.Now)
	if err != nil {
		return err
	}
	defer page.Close()
	httpServer := &http.Server{
		Handler:           writeDeadlines(httpRoutes(rest, gateway.Uploads(rest, gatewayConn), gateway.Watches(rest, gatewayConn), page, healthServer, guardMetrics(srv, m.handler(), cfg.WithoutAuth)), cfg.SendTimeout),
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}

	errs := make(chan error, 2)
	go func() { errs <- grpcServer.Serve(grpcLis) }()
	go grpcServer.Serve(gatewayLis)
	go func() {
		var err error
		if tlsConf != nil {
			httpServer.TLSConfig = tlsConf.Clone()
			err = httpServer.ServeTLS(httpLis, "", "")
		} else {
			err = httpServer.Serve(httpLis)
		}
		if !errors.Is(err, http.ErrServerClosed) {
			errs <- err
		}
	}()
	log.Info("banli serving", "grpc", grpcLis.Addr().String(), "http", httpLis.Addr().String(), "tls", tlsConf != nil, "data", cfg.DataPath, "version", cfg.Build.Version, "commit", cfg.Build.ShortCommit())
	if cfg.Ready != nil {
		cfg.Ready(Listening{GRPCAddr: grpcLis.Addr().String(), HTTPAddr: httpLis.Addr().String(), Backend: db})
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: finishing in-flight calls", "timeout", cfg.ShutdownTimeout)
	case serveErr = <-errs:
		log.Error("listener failed; shutting down", "error", serveErr)
	}
	healthServer.Shutdown()
	if cfg.DrainDelay > 0 {
		// /readyz and gRPC health say NOT_SERVING while the listeners
		// still answer, so that a load balancer stops sending calls
		// before they close.
		log.Info("shutting down: not ready, still serving", "for", cfg.DrainDelay)
		time.Sleep(cfg.DrainDelay)
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// REST first: its in-flight calls are gRPC calls that must still be served.
	if err := httpServer.Shutdown(shutdownCtx); err != nil {
		httpServer.Close()
	}
	gatewayConn.Close()
	stopped := make(chan struct{})
	go func() { grpcServer.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-shutdownCtx.Done():
		grpcServer.Stop()
	}
	stopDelivering()
	if err := db.Close(); err != nil {
		return fmt.Errorf("close data file: %w", err)
	}
	log.Info("banli stopped")
	return serveErr
}

// releaseMappedPages keeps the file's mapped pages from piling up in the
// process's resident memory (store.MappedPages): every five seconds it
// lets them go, back to the page cache they are read from.
func releaseMappedPages(ctx context.Context, db store.MappedPages, log *slog.Logger) {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := db.ReleaseMappedPages(); err != nil {
				log.Warn("release mapped pages", "err", err)
			}
		}
	}
}

// runScheduledSteps takes the steps the server takes by itself, now and
// then every interval, until ctx ends: it closes the rating periods that
// have ended, marks the publications whose period ended as overdue,
// carries the open follow-ups into a new year, announces the parts whose
// deadline passed (as events, for webhooks), and finishes
// any deadline recompute a crash or a restart cut off. A standby
// takes none; once promoted, it does.
func runScheduledSteps(ctx context.Context, srv *service.Server, every time.Duration, log *slog.Logger) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, step := range []struct {
			what string
			run  func(context.Context) (int, error)
		}{
			{"closed rating periods with ratings not returned", srv.CloseRatingPeriods},
			{"marked publications overdue", srv.ClosePublicationPeriods},
			{"carried follow-ups into the new year", srv.CarryOverFollowUps},
			{"recomputed deadlines (a policy amended or a calendar loaded)", srv.RunRecomputes},
			{"announced parts overdue", srv.NoticeOverdue},
		} {
			n, err := step.run(ctx)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn(step.what, "err", err, "parts", n)
			case n > 0:
				log.Info(step.what, "parts", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// refuseLargeBodies answers a body larger than max with HTTP 413, as HTTP
// clients expect (gRPC says RESOURCE_EXHAUSTED for the same): one declared
// larger before reading it, and one sent in chunks, without a length, once
// it has run past max (it is read here, at most max bytes of it, and
// handed on as read).
func refuseLargeBodies(next http.Handler, max int64) http.Handler {
	tooLarge := func(w http.ResponseWriter, size string) {
		gateway.WriteStatus(w, http.StatusRequestEntityTooLarge, codes.ResourceExhausted,
			fmt.Sprintf("the body is %s bytes, more than the %d a request may carry", size, max))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.ContentLength > max:
			tooLarge(w, strconv.FormatInt(r.ContentLength, 10))
			return
		case r.ContentLength < 0 && r.Body != nil && r.Body != http.NoBody:
			body, err := io.ReadAll(io.LimitReader(r.Body, max+1))
			if err != nil {
				gateway.WriteStatus(w, http.StatusBadRequest, codes.InvalidArgument, "the body could not be read: "+err.Error())
				return
			}
			if int64(len(body)) > max {
				tooLarge(w, "more than "+strconv.FormatInt(max, 10))
				return
			}
			r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
		}
		next.ServeHTTP(w, r)
	})
}

// tuneGC trades memory for CPU unless GOGC is set: the live heap is small
// (records live in bbolt's mmap, not the Go heap) while every call
// allocates, so collecting at 4x the live heap instead of 2x saves about a
// quarter of the CPU under load at a few tens of MB of heap. A soft memory
// limit keeps a large live heap from growing 5x.
func tuneGC() {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	debug.SetGCPercent(400)
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(1 << 30)
	}
}

// tuneProcs runs twice as many Ps (goroutine slots) as CPUs unless
// GOMAXPROCS is set. Calls block in system calls (fdatasync on every
// commit, socket reads and writes on both listeners and the gateway's
// in-memory hop), and a thread blocked there keeps its P until the runtime
// takes it back. With one P per CPU, the REST load mix on the 2-core test
// machine left 12% of the CPU idle while calls queued; with two per CPU
// the same mix used all of it and ran 24% faster, at less CPU per call.
// The README's performance section has the figures.
func tuneProcs() {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return
	}
	goruntime.GOMAXPROCS(2 * goruntime.NumCPU())
}

// httpRoutes serves the gateway under /v1/, the dashboard page under
// /ui/, the OpenAPI documents (3.0, and the Swagger 2.0 it is made from),
// the Prometheus metrics and the probes.
func httpRoutes(rest, uploads, watches, page http.Handler, healthServer *health.Server, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(ui.Prefix, http.MaxBytesHandler(page, maxFormBytes))
	mux.Handle("GET /{$}", http.RedirectHandler(ui.Prefix, http.StatusFound))
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/v1/", refuseLargeBodies(http.MaxBytesHandler(rest, maxMessageBytes), maxMessageBytes))
	// An upload streams to the server, which refuses it past the file
	// limit; the cap here only stops a body that never ends.
	mux.Handle("POST "+gateway.UploadPattern, http.MaxBytesHandler(uploads, maxUploadBytes))
	mux.Handle("GET "+gateway.WatchPattern, watches)
	mux.Handle("GET "+gateway.PublicRepliesPattern, gateway.PublicReplies(rest))
	mux.Handle("GET "+gateway.PublicAtomPattern, gateway.PublicReplies(rest))
	for path, doc := range map[string][]byte{"/openapi.json": openapi.JSON, "/openapi-v2.json": openapi.Swagger} {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(doc)
		})
	}
	// Liveness: the process answers. Readiness: it is serving (not shutting
	// down).
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		resp, err := healthServer.Check(r.Context(), &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}

// guardMetrics lets only the roles the access table names for
// service.MetricsRoute (an admin or a ROLE_MONITOR account, by its key as
// a bearer token) read the metrics: they name units and count cases.
func guardMetrics(srv *service.Server, metrics http.Handler, open bool) http.Handler {
	if open {
		return metrics
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := srv.AdmitHTTP(r.Context(), service.MetricsRoute, r.Header.Get("Authorization"), r.RemoteAddr)
		if err != nil {
			st := status.Convert(err)
			if st.Code() == codes.Unauthenticated {
				w.Header().Set("WWW-Authenticate", `Bearer realm="banli"`)
			}
			http.Error(w, st.Message(), runtime.HTTPStatusFromCode(st.Code()))
			return
		}
		metrics.ServeHTTP(w, r)
	})
}

// pprofRoutes serves Go's profiles, for the -debug-addr listener only.
func pprofRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// logCalls logs every unary call: method, code, latency and actor.
func logCalls(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := handler(ctx, req)
		logCall(ctx, log, info.FullMethod, start, err, service.Actor(ctx))
		return resp, err
	}
}

// loggedKey marks a call's context with whether logCall wrote its line.
type loggedKey struct{}

// logRefusals logs the calls refused before logCalls saw them (at sign-in,
// by the rate limit or the access table), so that no call goes unlogged.
func logRefusals(log *slog.Logger) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		logged := new(bool)
		start := time.Now()
		ctx, note := service.WithCallNote(ctx)
		resp, err := handler(context.WithValue(ctx, loggedKey{}, logged), req)
		if !*logged {
			logCall(ctx, log, info.FullMethod, start, err, note.Actor)
		}
		return resp, err
	}
}

// logStreamRefusals is logRefusals for streams.
func logStreamRefusals(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		logged := new(bool)
		start := time.Now()
		ctx, note := service.WithCallNote(ss.Context())
		err := handler(srv, &streamWithContext{ss, context.WithValue(ctx, loggedKey{}, logged)})
		if !*logged {
			logCall(ctx, log, info.FullMethod, start, err, note.Actor)
		}
		return err
	}
}

// streamWithContext is a stream whose context carries more.
type streamWithContext struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *streamWithContext) Context() context.Context { return s.ctx }

// logStreams logs every stream when it ends, as logCalls logs a call.
func logStreams(log *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		start := time.Now()
		err := handler(srv, ss)
		logCall(ss.Context(), log, info.FullMethod, start, err, service.Actor(ss.Context()))
		return err
	}
}

// logCall writes a call's log line; a failure inside the server is an
// error, the rest information.
func logCall(ctx context.Context, log *slog.Logger, method string, start time.Time, err error, actor string) {
	if actor == "" {
		actor = service.Actor(ctx) // refused before sign-in: anonymous
	}
	logged, marked := ctx.Value(loggedKey{}).(*bool)
	if marked {
		*logged = true
	}
	st := status.Convert(err)
	level := slog.LevelInfo
	switch code := st.Code(); {
	case code == codes.Internal || code == codes.Unknown || code == codes.Unavailable:
		level = slog.LevelError
	case code == codes.ResourceExhausted && !marked:
		// Refused by the rate limit before the call: a flood's lines
		// would drown the log (the metrics count them), as they would
		// the audit trail.
		level = slog.LevelDebug
	}
	if !log.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", method),
		slog.String("code", st.Code().String()),
		// A duration people read (1.234ms), in text and JSON alike.
		slog.String("latency", time.Since(start).Round(time.Microsecond).String()),
		slog.String("actor", actor),
	}
	if src := service.Source(ctx); src != "" {
		attrs = append(attrs, slog.String("peer", src)) // a REST caller's own address, not the gateway's
	}
	if id := traceID(ctx); id != "" {
		attrs = append(attrs, slog.String("trace_id", id))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", st.Message()))
	}
	log.LogAttrs(ctx, level, "rpc", attrs...)
}

// bootstrapAdmin creates the first admin account when the data file has no
// accounts, and writes its key to admin.key beside the data file (readable
// by this user only). The key is never logged.
func bootstrapAdmin(ctx context.Context, srv *service.Server, dataPath string, log *slog.Logger) error {
	path := filepath.Join(filepath.Dir(dataPath), "admin.key")
	created, err := srv.BootstrapAdmin(ctx, func(key string) error {
		return os.WriteFile(path, []byte(key+"\n"), 0o600)
	})
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("create the first admin account: %w", err)
	}
	if created {
		log.Warn("created the first admin account, accounts/admin: its API key is in the key file; "+
			"keep it safe, then delete the file", "key_file", path)
	}
	return nil
}
