// Package server runs Banli: it opens the data file, wires the service
// behind its interceptors, and serves gRPC and the REST gateway until told
// to stop. Run is the one way in; cmd/banli fills its Config from flags, and
// the end-to-end tests fill it by hand.
package server

import (
	"log/slog"
	"time"

	"github.com/banli/banli/cmd/banli/build"
	"github.com/banli/banli/cmd/banli/dial"
	"github.com/banli/banli/service/webhook"
	"github.com/banli/banli/store"
)

// Config is everything Run needs. The zero value of a limit takes its
// default; the rest the caller sets (the flags document each).
type Config struct {
	// DataPath is the data file, created with its directory if missing.
	DataPath string
	// ScheduledEvery is how often the server takes its own steps: it
	// closes the rating periods that have ended, carries open follow-ups
	// into a new year and finishes pending deadline recomputes
	// (service.CloseRatingPeriods, CarryOverFollowUps, RunRecomputes); it
	// also does when it starts. 0 means an hour.
	ScheduledEvery time.Duration
	// AuditKey is the audit key file's path; "" is audit.key beside the data.
	AuditKey string
	// GRPCAddr and HTTPAddr are where gRPC and REST listen (port 0: any).
	GRPCAddr string
	HTTPAddr string
	// Log receives the call log and the server's own lines.
	Log *slog.Logger
	// Build is the binary's build, for the log and the metrics.
	Build build.Info
	// OTLPEndpoint, if set, is the OpenTelemetry collector the calls'
	// spans are exported to over OTLP/gRPC (-otlp-endpoint); see
	// tracing.go.
	OTLPEndpoint string

	ShutdownTimeout time.Duration
	// DrainDelay is how long the server answers NOT_SERVING (/readyz 503)
	// after SIGTERM before its listeners close (-drain-delay).
	DrainDelay  time.Duration
	LockTimeout time.Duration
	// Follow, if set, runs a standby of the primary at this gRPC address,
	// dialled with FollowDial's credentials.
	Follow     string
	FollowDial dial.Flags
	// DebugAddr serves pprof there when set (loopback only).
	DebugAddr string
	// TLS on both listeners, and the CA of client certificates.
	TLSCert, TLSKey, ClientCA string
	// RateLimit is calls per second per account (0: none), with bursts of
	// RateBurst.
	RateLimit float64
	RateBurst int
	// Connection and stream limits (see limits.go).
	MaxConnections       int
	MaxConnectionsPerIP  int
	MaxStreamsPerAccount int
	IdleTimeout          time.Duration
	SendTimeout          time.Duration
	// PublicFeedOff turns the public disclosure feed off (-public-feed=false).
	PublicFeedOff bool
	// WebhookAllow is the URL prefixes webhooks may post to
	// (-webhook-allow); empty, webhooks cannot be made.
	WebhookAllow webhook.AllowList
	// WebhookRetryBase is the wait after a delivery's first failure; 0 is
	// the service's default. Only tests set it.
	WebhookRetryBase time.Duration
	// WebhookRate caps the posts a second of all webhooks together
	// (-webhook-rate); 0 is the service's default.
	WebhookRate float64

	// Now is the service's clock; nil is the wall clock. Only tests set it.
	Now func() time.Time
	// WithoutAuth serves with no sign-in or access rules. No flag sets it:
	// only the benchmark that measures what authentication costs does.
	WithoutAuth bool
	// Ready, if set, hears where Run listens once both listeners accept.
	Ready func(Listening)
}

// Listening is where a running server listens (useful with port 0), and
// its backend, for in-process tests that check what it holds open.
type Listening struct {
	GRPCAddr string
	HTTPAddr string
	Backend  store.Backend
}
