// Package certs makes the TLS files a deployment needs, in the manner of
// CockroachDB's `cert create-ca`: a CA of its own, a server certificate
// for the names the server is reached by, and client certificates for
// systems that sign in by certificate (Account.certificate_common_name).
// Keys are ECDSA P-256, written readable by their owner only.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Lifetimes: the CA outlives the certificates it signs.
const (
	caLifetime   = 10 * 365 * 24 * time.Hour
	certLifetime = 2 * 365 * 24 * time.Hour
)

// Command is `banli certs init`.
func Command(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "init" {
		fmt.Fprintln(stderr, "usage: banli certs init -dir DIR [-hosts NAMES] [-clients NAMES]")
		return 2
	}
	fs := flag.NewFlagSet("banli certs init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "where to write ca.crt, ca.key, server.crt, server.key and the client pairs (required)")
	hosts := fs.String("hosts", "", "names and addresses the server is reached by, separated by commas, beside localhost and 127.0.0.1 (e.g. banli.example.gov.cn,10.0.0.5)")
	clients := fs.String("clients", "", "common names of client certificates to make, separated by commas (each signs in as the account with that certificate_common_name)")
	ifMissing := fs.Bool("if-missing", false, "do nothing, successfully, when the CA and the server certificate are there already (a container's first-start step)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() > 0 || *dir == "" {
		fmt.Fprintln(stderr, "usage: banli certs init -dir DIR [-hosts NAMES] [-clients NAMES]")
		return 2
	}
	if *ifMissing && exists(filepath.Join(*dir, "ca.crt")) && exists(filepath.Join(*dir, "server.crt")) && exists(filepath.Join(*dir, "server.key")) {
		fmt.Fprintln(stdout, "the certificates in", *dir, "are there already: left as they are")
		return 0
	}
	written, err := Init(*dir, split(*hosts), split(*clients))
	if err != nil {
		fmt.Fprintln(stderr, "banli certs init:", err)
		return 1
	}
	for _, f := range written {
		fmt.Fprintln(stdout, "wrote", f)
	}
	fmt.Fprintln(stdout, "serve with -tls-cert", filepath.Join(*dir, "server.crt"), "-tls-key", filepath.Join(*dir, "server.key"), "; clients verify with -ca", filepath.Join(*dir, "ca.crt"))
	return 0
}

func split(list string) []string {
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Init writes a CA, a server certificate for localhost, 127.0.0.1 and
// hosts, and a client certificate for each client name, into dir. It
// refuses to replace a file that is there: a new CA would orphan every
// certificate the old one signed.
func Init(dir string, hosts, clients []string) ([]string, error) {
	names := []string{"ca.crt", "ca.key", "server.crt", "server.key"}
	for _, c := range clients {
		if strings.ContainsAny(c, `/\`) || c == "." || c == ".." {
			return nil, fmt.Errorf("client name %q: want a plain common name", c)
		}
		names = append(names, "client-"+c+".crt", "client-"+c+".key")
	}
	for _, n := range names {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return nil, fmt.Errorf("%s exists already: remove it, or choose another -dir", filepath.Join(dir, n))
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	ca := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "Banli CA", Organization: []string{"Banli"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caLifetime),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true, MaxPathLenZero: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca, _ = x509.ParseCertificate(caDER)
	var written []string
	write := func(name string, der []byte, key *ecdsa.PrivateKey) error {
		if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der, 0o644); err != nil {
			return err
		}
		kb, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return err
		}
		if err := writePEM(filepath.Join(dir, name+".key"), "PRIVATE KEY", kb, 0o600); err != nil {
			return err
		}
		written = append(written, filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"))
		return nil
	}
	if err := write("ca", caDER, caKey); err != nil {
		return nil, err
	}
	leaf := func(cn string, usage x509.ExtKeyUsage, sans []string) ([]byte, *ecdsa.PrivateKey, error) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: []string{"Banli"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(certLifetime),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		}
		for _, s := range sans {
			if ip := net.ParseIP(s); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, s)
			}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		return der, key, err
	}
	sans := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
	cn := "localhost"
	if len(hosts) > 0 {
		cn = hosts[0]
	}
	der, key, err := leaf(cn, x509.ExtKeyUsageServerAuth, sans)
	if err != nil {
		return nil, err
	}
	if err := write("server", der, key); err != nil {
		return nil, err
	}
	for _, c := range clients {
		der, key, err := leaf(c, x509.ExtKeyUsageClientAuth, nil)
		if err != nil {
			return nil, err
		}
		if err := write("client-"+c, der, key); err != nil {
			return nil, err
		}
	}
	return written, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func writePEM(path, kind string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists already", path)
		}
		return err
	}
	if err := pem.Encode(f, &pem.Block{Type: kind, Bytes: der}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
