// Package dial is how Banli's command-line tools reach a server: the
// address and credential flags they share, and the connection they make.
// Tools talk to the server through its API only.
package dial

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Flags are how a command reaches a server and signs in.
type Flags struct {
	Addr      string
	TokenFile string
	CAFile    string
	CertFile  string
	KeyFile   string
}

// AddFlags registers -addr, -token-file, -ca, -cert and -key. The key
// itself is read from BANLI_TOKEN or a file, never from a flag, so that it
// does not show in the process list.
func AddFlags(fs *flag.FlagSet) *Flags {
	f := &Flags{}
	fs.StringVar(&f.Addr, "addr", EnvOr("BANLI_GRPC_ADDR", "127.0.0.1:50051"), "the server's gRPC address")
	fs.StringVar(&f.TokenFile, "token-file", EnvOr("BANLI_TOKEN_FILE", ""), "a file holding the API key (or set BANLI_TOKEN)")
	fs.StringVar(&f.CAFile, "ca", EnvOr("BANLI_CA", ""), "a PEM CA to verify the server's TLS certificate (TLS is off without it)")
	fs.StringVar(&f.CertFile, "cert", EnvOr("BANLI_CERT", ""), "a PEM client certificate to sign in with (needs -ca and -key)")
	fs.StringVar(&f.KeyFile, "key", EnvOr("BANLI_KEY", ""), "the client certificate's PEM private key")
	return f
}

// Dial connects to the server with the flags' credentials.
func (f *Flags) Dial(extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts, err := f.Options()
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(f.Addr, append(opts, extra...)...)
}

// Options are the dial options of the flags: transport and credentials.
func (f *Flags) Options() ([]grpc.DialOption, error) {
	opts, err := f.TransportOptions()
	if err != nil {
		return nil, err
	}
	key, err := f.Key()
	if err != nil {
		return nil, err
	}
	if key == "" && f.CertFile == "" {
		return nil, errors.New("no API key: set BANLI_TOKEN, or -token-file (or BANLI_TOKEN_FILE) to a file holding the key, readable by you only; or sign in with -ca, -cert and -key")
	}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(Bearer(key)))
	}
	return opts, nil
}

// TransportOptions are the transport alone: TLS with -ca, else plaintext.
func (f *Flags) TransportOptions() ([]grpc.DialOption, error) {
	transport := insecure.NewCredentials()
	if f.CAFile != "" {
		pool, err := CertPool(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("-ca: %w", err)
		}
		conf := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		if f.CertFile != "" || f.KeyFile != "" {
			cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("-cert/-key: %w", err)
			}
			conf.Certificates = []tls.Certificate{cert}
		}
		transport = credentials.NewTLS(conf)
	} else if f.CertFile != "" {
		return nil, errors.New("-cert needs -ca: a client certificate is sent over TLS only")
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(transport)}, nil
}

// Key is the API key from BANLI_TOKEN or -token-file, if either is set.
func (f *Flags) Key() (string, error) {
	if k := os.Getenv("BANLI_TOKEN"); k != "" {
		return strings.TrimSpace(k), nil
	}
	if f.TokenFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(f.TokenFile)
	if err != nil {
		return "", fmt.Errorf("-token-file: %w", err)
	}
	if st, err := os.Stat(f.TokenFile); err == nil && st.Mode().Perm()&0o077 != 0 {
		fmt.Fprintf(os.Stderr, "banli: warning: the key in %s is readable by others (mode %04o); chmod 600 %s\n", f.TokenFile, st.Mode().Perm(), f.TokenFile)
	}
	return strings.TrimSpace(string(b)), nil
}

// Parse parses args with fs, flags before, between or after the
// arguments (banli get -addr X NAME and banli get NAME -addr X alike), and
// returns the arguments. "--" ends the flags.
func Parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(args) > 0 && len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional, args = append(positional, rest[0]), rest[1:]
	}
}

// Bearer sends an API key with every call.
type Bearer string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity is false so that a key works over plaintext on
// loopback; the server refuses plaintext anywhere else.
func (b Bearer) RequireTransportSecurity() bool { return false }

// CertPool reads a PEM file of CA certificates.
func CertPool(file string) (*x509.CertPool, error) {
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

// EnvOr is the environment variable key, or def when it is not set.
func EnvOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}
