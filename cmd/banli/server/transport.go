package server

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	"github.com/banli/banli/cmd/banli/dial"
)

// Transport security: TLS on both listeners, client certificates, the
// in-process gateway connection, and how the CLI dials and signs in.

// tlsConfig is the server's TLS configuration, or nil without -tls-cert.
// With -client-ca, a client may present a certificate issued by that CA
// (and is then signed in as the account it maps to); a bearer key works
// either way.
func (cfg Config) tlsConfig() (*tls.Config, error) {
	if cfg.TLSCert == "" && cfg.TLSKey == "" {
		if cfg.ClientCA != "" {
			return nil, errors.New("-client-ca needs -tls-cert and -tls-key")
		}
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("-tls-cert/-tls-key: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if cfg.ClientCA != "" {
		pool, err := dial.CertPool(cfg.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("-client-ca: %w", err)
		}
		conf.ClientCAs, conf.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return conf, nil
}

// checkExposure refuses to serve beyond this machine without TLS: keys
// would cross the network in clear. pprof stays on loopback always.
func (cfg Config) checkExposure(tlsOn bool) error {
	if cfg.DebugAddr != "" && !isLoopback(cfg.DebugAddr) {
		return fmt.Errorf("-debug-addr %s is not a loopback address: profiles show the server's memory, so serve them on 127.0.0.1 only", cfg.DebugAddr)
	}
	if tlsOn {
		return nil
	}
	for _, l := range []struct{ flag, addr string }{{"-grpc-addr", cfg.GRPCAddr}, {"-http-addr", cfg.HTTPAddr}} {
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
