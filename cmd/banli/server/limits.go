package server

import (
	"log/slog"
	"net"
	"net/http"
	goruntime "runtime"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/banli/banli/service"
)

// Limits on what one client can hold open: connections, streams and idle
// time. Each is a file descriptor, memory and a goroutine for as long as the
// client keeps it, so none is left to the client's good will.
const (
	// DefaultMaxConnections stays well under the process's descriptor
	// limit, so that the data file, the logs and the gateway always have
	// room.
	DefaultMaxConnections       = 1024
	DefaultMaxConnectionsPerIP  = 128
	DefaultMaxStreamsPerAccount = 16
	DefaultIdleTimeout          = 2 * time.Minute

	// maxStreamsPerConnection is HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS
	// on the gRPC listener.
	maxStreamsPerConnection = 100
	// Reading a request's headers, or its whole body, may take this long.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	// handshakeTimeout bounds a TLS (or plaintext) handshake on gRPC.
	handshakeTimeout = 10 * time.Second
)

// withDefaults fills the limits a config left at zero (tests build config
// by hand).
func (cfg Config) withDefaults() Config {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.MaxConnections == 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	if cfg.MaxConnectionsPerIP == 0 {
		cfg.MaxConnectionsPerIP = DefaultMaxConnectionsPerIP
	}
	if cfg.MaxStreamsPerAccount == 0 {
		cfg.MaxStreamsPerAccount = DefaultMaxStreamsPerAccount
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = DefaultIdleTimeout
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = service.DefaultSendTimeout
	}
	return cfg
}

// grpcLimits are the gRPC server's options for the limits: streams per
// connection, the handshake, idle connections closed, dead peers found by
// pings, and pings a client may send (more often is a flood, and ends the
// connection).
func (cfg Config) grpcLimits() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.MaxConcurrentStreams(maxStreamsPerConnection),
		// Calls run on goroutines kept between calls, whose stacks have
		// grown already, rather than on a new one each whose stack grows
		// (and is copied) as the interceptors nest. Measured side by side
		// with the trace interceptor in place: a single client's
		// GetProposal p50 0.223 ms without workers, 0.182 ms with (0.176
		// ms before tracing; medians of 5). When all are busy a call gets
		// its own goroutine, as without them.
		grpc.NumStreamWorkers(uint32(4 * goruntime.GOMAXPROCS(0))),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			MaxConnectionIdle: cfg.IdleTimeout,
			Time:              time.Minute,
			Timeout:           20 * time.Second,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	}
}

// connectionLimit counts the connections both listeners hold, in all and
// per client address. A connection over either cap is closed as soon as it
// is accepted: the client hears at once, and those within the caps are not
// held up behind it.
type connectionLimit struct {
	max, perIP int

	mu    sync.Mutex
	total int
	byIP  map[string]int
}

func newConnectionLimit(max, perIP int) *connectionLimit {
	return &connectionLimit{max: max, perIP: perIP, byIP: map[string]int{}}
}

// wrap limits the connections lis accepts.
func (l *connectionLimit) wrap(lis net.Listener) net.Listener {
	return &limitedListener{Listener: lis, limit: l}
}

func (l *connectionLimit) take(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.byIP[ip] >= l.perIP {
		return false
	}
	l.total++
	l.byIP[ip]++
	return true
}

func (l *connectionLimit) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

type limitedListener struct {
	net.Listener
	limit *connectionLimit
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip, _, _ := net.SplitHostPort(conn.RemoteAddr().String())
		if !l.limit.take(ip) {
			conn.Close()
			continue
		}
		return &limitedConn{Conn: conn, release: sync.OnceFunc(func() { l.limit.release(ip) })}, nil
	}
}

// writeDeadlines gives every write of a REST answer sendTimeout to reach
// the client. A download (the ledger, a backup) is written in many writes
// with no overall limit, but a client that stops reading is cut off after
// one stalled write instead of holding a goroutine and a connection for as
// long as it likes.
func writeDeadlines(next http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&deadlineWriter{ResponseWriter: w, rc: http.NewResponseController(w), timeout: timeout}, r)
	})
}

type deadlineWriter struct {
	http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
}

func (d *deadlineWriter) Write(b []byte) (int, error) {
	d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.ResponseWriter.Write(b)
}

// Flush lets the gateway push each streamed chunk out as it comes.
func (d *deadlineWriter) Flush() {
	d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	d.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (d *deadlineWriter) Unwrap() http.ResponseWriter { return d.ResponseWriter }

type limitedConn struct {
	net.Conn
	release func()
}

func (c *limitedConn) Close() error {
	c.release()
	return c.Conn.Close()
}
