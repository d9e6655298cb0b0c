package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/banli/banli/service"
)

// Transport security: TLS on both listeners, client certificates, the
// in-process gateway connection, and how the CLI dials and signs in.

// tlsConfig is the server's TLS configuration, or nil without -tls-cert.
// With -client-ca, a client may present a certificate issued by that CA
// (and is then signed in as the account it maps to); a bearer key works
// either way.
func (cfg config) tlsConfig() (*tls.Config, error) {
	if cfg.tlsCert == "" && cfg.tlsKey == "" {
		if cfg.clientCA != "" {
			return nil, errors.New("-client-ca needs -tls-cert and -tls-key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.tlsCert, cfg.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.clientCA != "" {
		pool, err := certPool(cfg.clientCA)
		if err != nil {
			return nil, fmt.Errorf("-client-ca: %w", err)
		}
		conf.ClientCAs, conf.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return conf, nil
}

func certPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// checkExposure refuses to serve beyond this machine without TLS: keys
// would cross the network in clear. pprof stays on loopback always.
func (cfg config) checkExposure(tlsOn bool) error {
	if cfg.debugAddr != "" && !isLoopback(cfg.debugAddr) {
		return fmt.Errorf("-debug-addr %s is not a loopback address: profiles show the server's memory, so serve them on 127.0.0.1 only", cfg.debugAddr)
	}
	if tlsOn {
		return nil
	}
	for _, l := range []struct{ flag, addr string }{{"-grpc-addr", cfg.grpcAddr}, {"-http-addr", cfg.httpAddr}} {
		if !isLoopback(l.addr) {
			return fmt.Errorf("refusing to listen on %s (%s) without TLS: API keys would cross the network in clear. "+
				"Set -tls-cert and -tls-key (BANLI_TLS_CERT, BANLI_TLS_KEY), and -client-ca to accept client certificates; "+
				"or listen on 127.0.0.1", l.addr, l.flag)
		}
	}
	return nil
}

// isLoopback reports whether a listen address stays on this machine. An
// empty host or 0.0.0.0 listens everywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serverCredentials are the gRPC server's transport credentials: TLS (or
// plaintext on loopback) for network clients, and a mark for the
// in-process gateway connection, which is the only one trusted to pass on a
// REST caller's certificate and address.
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

// clientFlags are how a CLI command reaches a server and signs in.
type clientFlags struct {
	addr      string
	tokenFile string
	caFile    string
	certFile  string
	keyFile   string
}

// addClientFlags registers -addr, -token-file, -ca, -cert and -key. The key
// itself is read from BANLI_TOKEN or a file, never from a flag, so that it
// does not show in the process list.
func addClientFlags(fs *flag.FlagSet) *clientFlags {
	f := &clientFlags{}
	fs.StringVar(&f.addr, "addr", envOr("BANLI_GRPC_ADDR", "127.0.0.1:50051"), "the server's gRPC address")
	fs.StringVar(&f.tokenFile, "token-file", envOr("BANLI_TOKEN_FILE", ""), "a file holding the API key (or set BANLI_TOKEN)")
	fs.StringVar(&f.caFile, "ca", envOr("BANLI_CA", ""), "a PEM CA to verify the server's TLS certificate (TLS is off without it)")
	fs.StringVar(&f.certFile, "cert", envOr("BANLI_CERT", ""), "a PEM client certificate to sign in with (needs -ca and -key)")
	fs.StringVar(&f.keyFile, "key", envOr("BANLI_KEY", ""), "the client certificate's PEM private key")
	return f
}

// dial connects to the server with the flags' credentials.
func (f *clientFlags) dial(extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts, err := f.dialOptions()
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(f.addr, append(opts, extra...)...)
}

// dialActing connects with an admin key through an actingClient, which
// signs each call in as a role fit for it (the load tools).
func (f *clientFlags) dialActing(prefix string, extra ...grpc.DialOption) (*grpc.ClientConn, *actingClient, error) {
	key, err := f.key()
	if err != nil {
		return nil, nil, err
	}
	if key == "" {
		return nil, nil, errNoAdminKey
	}
	opts, err := f.transportOptions()
	if err != nil {
		return nil, nil, err
	}
	acting := newActingClient(key, prefix)
	conn, err := grpc.NewClient(f.addr, append(append(opts, acting.dialOptions()...), extra...)...)
	if err != nil {
		return nil, nil, err
	}
	acting.attach(conn)
	return conn, acting, nil
}

func (f *clientFlags) dialOptions() ([]grpc.DialOption, error) {
	opts, err := f.transportOptions()
	if err != nil {
		return nil, err
	}
	key, err := f.key()
	if err != nil {
		return nil, err
	}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(key)))
	}
	return opts, nil
}

func (f *clientFlags) transportOptions() ([]grpc.DialOption, error) {
	transport := insecure.NewCredentials()
	if f.caFile != "" {
		pool, err := certPool(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if f.certFile != "" || f.keyFile != "" {
			cert, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
			if err != nil {
				return nil, fmt.Errorf("-cert/-key: %w", err)
			}
			conf.Certificates = []tls.Certificate{cert}
		}
		transport = credentials.NewTLS(conf)
	} else if f.certFile != "" {
		return nil, errors.New("-cert needs -ca: a client certificate is sent over TLS only")
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(transport)}, nil
}

// key is the API key from BANLI_TOKEN or -token-file, if either is set.
func (f *clientFlags) key() (string, error) {
	if k := os.Getenv("BANLI_TOKEN"); k != "" {
		return strings.TrimSpace(k), nil
	}
	if f.tokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(f.tokenFile)
	if err != nil {
		return "", fmt.Errorf("-token-file: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// bearer sends an API key with every call.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so that a key works over plaintext on
// loopback; the server refuses plaintext anywhere else.
func (b bearer) RequireTransportSecurity() bool { return false }
