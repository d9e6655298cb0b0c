package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

var (
	buildOnce sync.Once
	builtPath string
	buildErr  error
)

// binary builds banli once per test run and returns its path.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "banli-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtPath = filepath.Join(dir, "banli")
		// -buildvcs=auto: the commit stamped, as a release build has it.
		if out, err := exec.Command("go", "build", "-buildvcs=auto", "-o", builtPath, ".").CombinedOutput(); err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtPath
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return "build: " + e.err.Error() + "\n" + e.out }

// process is a banli serve child process.
type process struct {
	cmd      *exec.Cmd
	grpcAddr string
	httpAddr string
	logDone  chan struct{}
	log      []string
	data     string
}

var servingLine = regexp.MustCompile(`msg="banli serving" grpc=(\S+) http=(\S+)`)

// startProcess runs `banli serve` on data with free loopback ports and
// waits until it says where it listens.
func startProcess(t *testing.T, data string, env ...string) *process {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Env = append(os.Environ(), append([]string{"BANLI_DATA=" + data, "BANLI_GRPC_ADDR=127.0.0.1:0", "BANLI_HTTP_ADDR=127.0.0.1:0", "BANLI_RATE_LIMIT=0", "BANLI_DRAIN_DELAY=0"}, env...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{cmd: cmd, logDone: make(chan struct{})}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := bufio.NewScanner(stderr)
	for p.grpcAddr == "" && lines.Scan() {
		p.log = append(p.log, lines.Text())
		if m := servingLine.FindStringSubmatch(lines.Text()); m != nil {
			p.grpcAddr, p.httpAddr = m[1], m[2]
		}
	}
	if p.grpcAddr == "" {
		t.Fatalf("the server never said where it listens:\n%v", p.log)
	}
	go func() {
		for lines.Scan() {
			p.log = append(p.log, lines.Text())
		}
		io.Copy(io.Discard, stderr)
		close(p.logDone)
	}()
	p.data = data
	return p
}

// dial connects to the process through an acting client signed in with
// the admin key the first start wrote.
func (p *process) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, _ := p.dialActing(t)
	return conn
}

// dialActing is dial, with the acting client, for the keys it makes.
func (p *process) dialActing(t *testing.T) (*grpc.ClientConn, *load.ActingClient) {
	t.Helper()
	acting := load.NewActingClient(readAdminKey(t, p.data), "test")
	conn, err := grpc.NewClient(p.grpcAddr, append(acting.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	acting.Attach(conn)
	return conn, acting
}

// TestVersionNamesTheBuild: `banli version` and `banli --version` name
// the version and the commit the binary was built from (where Go stamps
// one: a checkout with git), and the Go it was built with.
func TestVersionNamesTheBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	line := regexp.MustCompile(`^banli \S+ \(commit ([0-9a-f]{12}(\+changes)?|unknown)(, \S+)?, go1\.\S+\)\n$`)
	for _, arg := range []string{"version", "--version", "-version"} {
		out, err := exec.Command(binary(t), arg).Output()
		if err != nil || !line.Match(out) {
			t.Errorf("banli %s: %q, %v", arg, out, err)
		}
		// Where Go stamped the build (a checkout, git at hand), the commit
		// is this checkout's.
		if m := line.FindSubmatch(out); m != nil && string(m[1]) != "unknown" {
			head, err := exec.Command("git", "rev-parse", "HEAD").Output()
			if err == nil && !strings.HasPrefix(string(head), strings.TrimSuffix(string(m[1]), "+changes")) {
				t.Errorf("banli %s names commit %s; the checkout is at %s", arg, m[1], head)
			}
		}
	}
}

// TestLogsNeverGoQuiet: a call refused at sign-in, one the access table
// refuses, a stream, and a REST call each leave a line, the REST call's
// with the client's own address, every latency in a unit people read.
func TestLogsNeverGoQuiet(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	p := startProcess(t, filepath.Join(t.TempDir(), "banli.db"))
	conn := p.dial(t)
	adminKey := readAdminKey(t, p.data)
	must(banliv1.NewSessionServiceClient(conn).ListSessions(office, &banliv1.ListSessionsRequest{}))(t)
	bad, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_, err = banliv1.NewSessionServiceClient(bad).ListSessions(as("banli_nobody_wrong"), &banliv1.ListSessionsRequest{})
	wantCode(t, err, codes.Unauthenticated, "")
	auditor := must(banliv1.NewAccountServiceClient(bad).CreateAccount(as(adminKey), &banliv1.CreateAccountRequest{
		AccountId: "auditor", Account: &banliv1.Account{DisplayName: "审计", Role: banliv1.Role_ROLE_AUDITOR}}))(t)
	auditorKey := auditor.GetKey()
	_, err = banliv1.NewSessionServiceClient(bad).CreateSession(as(auditorKey), &banliv1.CreateSessionRequest{})
	wantCode(t, err, codes.PermissionDenied, "")
	stream, err := banliv1.NewEventServiceClient(conn).WatchEvents(office, &banliv1.WatchEventsRequest{HeartbeatSeconds: 1})
	if err != nil {
		t.Fatal(err)
	}
	stream.Recv()
	conn.Close()
	// A REST call in a caller's trace (W3C Trace Context): the server
	// answers with its own span in the same trace, and logs the trace.
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest("GET", "http://"+p.httpAddr+"/v1/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if echoed := resp.Header.Get("traceparent"); !strings.HasPrefix(echoed, "00-"+traceID+"-") || strings.Contains(echoed, "00f067aa0ba902b7") {
		t.Errorf("traceparent answered %q, want the server's span in trace %s", echoed, traceID)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	<-p.logDone
	find := func(what string, parts ...string) string {
		t.Helper()
		for _, line := range p.log {
			if !strings.Contains(line, "msg=rpc") {
				continue
			}
			all := true
			for _, part := range parts {
				all = all && strings.Contains(line, part)
			}
			if all {
				return line
			}
		}
		t.Errorf("no log line of %s (%q)", what, parts)
		return ""
	}
	find("a failed sign-in", "method=/banli.v1.SessionService/ListSessions", "code=Unauthenticated")
	find("a refusal by the access table, naming who was refused", "method=/banli.v1.SessionService/CreateSession", "code=PermissionDenied", "actor=accounts/auditor")
	find("a stream", "method=/banli.v1.EventService/WatchEvents")
	rest := find("a REST call", "method=/banli.v1.SessionService/ListSessions", "code=OK", "actor=accounts/admin", "peer=127.0.0.1:", "trace_id="+traceID)
	if strings.Contains(rest, "bufconn") || strings.Contains(rest, "pipe") {
		t.Errorf("the REST call names the gateway, not its client: %s", rest)
	}
	latency := regexp.MustCompile(` latency=[0-9.]+(ns|µs|ms|s) `)
	traced := regexp.MustCompile(` trace_id=[0-9a-f]{32}( |$)`)
	for _, line := range p.log {
		if strings.Contains(line, "msg=rpc") && !latency.MatchString(line) {
			t.Errorf("a latency people cannot read: %s", line)
		}
		if strings.Contains(line, "msg=rpc") && !traced.MatchString(line) {
			t.Errorf("a call with no trace id: %s", line)
		}
	}
}

// TestDrainSaysNotReadyFirst: gRPC health answers for each service; on
// SIGTERM /readyz turns 503 while the server still answers, and the
// listeners close after -drain-delay.
func TestDrainSaysNotReadyFirst(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	p := startProcess(t, filepath.Join(t.TempDir(), "banli.db"), "BANLI_DRAIN_DELAY=2s")
	conn := p.dial(t)
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	for _, service := range []string{"", "banli.v1.ProposalService", "banli.v1.WebhookService"} {
		if got, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{Service: service}); err != nil || got.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health of %q: %v, %v", service, got, err)
		}
	}
	ready := func() int {
		resp, err := http.Get("http://" + p.httpAddr + "/readyz")
		if err != nil {
			return 0 // refused: the listener is closed
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := ready(); code != http.StatusOK {
		t.Fatalf("/readyz before: %d", code)
	}
	start := time.Now()
	p.cmd.Process.Signal(syscall.SIGTERM)
	saw503 := false
	for time.Since(start) < 10*time.Second {
		code := ready()
		if code == http.StatusServiceUnavailable {
			saw503 = true
		}
		if code == 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !saw503 || time.Since(start) < 1500*time.Millisecond {
		t.Errorf("/readyz said 503: %v; the listener closed after %s, want about 2 s", saw503, time.Since(start))
	}
	p.cmd.Wait()
}

// TestTheContainersPath runs the README's Docker path with the binary and
// the image's environment (no Docker engine here): certificates made into
// the volume, the server on 0.0.0.0 with TLS, banli health as the
// HEALTHCHECK runs it, the first admin's key read with banli admin-key,
// and a call over HTTPS verified with the CA.
func TestTheContainersPath(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	volume := t.TempDir()
	tlsDir := filepath.Join(volume, "tls")
	banli := func(env []string, args ...string) (string, string, int) {
		t.Helper()
		cmd := exec.Command(binary(t), args...)
		cmd.Env = append(os.Environ(), env...)
		var out, errs strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errs
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), errs.String(), code
	}
	if out, errs, code := banli(nil, "certs", "init", "-dir", tlsDir, "-hosts", "banli.example.test", "-clients", "platform"); code != 0 {
		t.Fatalf("certs init: %d %s %s", code, out, errs)
	}
	for name, mode := range map[string]os.FileMode{"ca.key": 0o600, "server.key": 0o600, "client-platform.key": 0o600, "server.crt": 0o644} {
		if st, err := os.Stat(filepath.Join(tlsDir, name)); err != nil || st.Mode().Perm() != mode {
			t.Errorf("%s: %v, %v; want mode %04o", name, st, err, mode)
		}
	}
	if _, errs, code := banli(nil, "certs", "init", "-dir", tlsDir); code != 1 || !strings.Contains(errs, "exists already") {
		t.Errorf("a second certs init: %d %s; want it to refuse to replace the CA", code, errs)
	}
	if out, errs, code := banli(nil, "certs", "init", "-dir", tlsDir, "-if-missing"); code != 0 || !strings.Contains(out, "left as they are") {
		t.Errorf("certs init -if-missing, as compose runs it on every start: %d %s %s", code, out, errs)
	}
	image := []string{ // the Dockerfile's ENV, the volume at volume
		"BANLI_DATA=" + filepath.Join(volume, "banli.db"), "BANLI_GRPC_ADDR=0.0.0.0:0", "BANLI_HTTP_ADDR=0.0.0.0:0",
		"BANLI_TLS_CERT=" + filepath.Join(tlsDir, "server.crt"), "BANLI_TLS_KEY=" + filepath.Join(tlsDir, "server.key"),
		"BANLI_CA=" + filepath.Join(tlsDir, "ca.crt"),
	}
	p := startProcess(t, filepath.Join(volume, "banli.db"), image...)
	port := func(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
	if out, errs, code := banli(image, "health", "-addr", "127.0.0.1:"+port(p.grpcAddr)); code != 0 || strings.TrimSpace(out) != "SERVING" {
		t.Errorf("banli health: %d %q %s", code, out, errs)
	}
	if _, _, code := banli(nil, "health", "-addr", "127.0.0.1:"+port(p.grpcAddr), "-timeout", "1s"); code != 1 {
		t.Errorf("banli health in plaintext against TLS: exit %d, want 1", code)
	}
	key, errs, code := banli(image, "admin-key", "-remove")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, "banli_admin_") {
		t.Fatalf("banli admin-key: %d %q %s", code, key, errs)
	}
	if _, err := os.Stat(filepath.Join(volume, "admin.key")); !os.IsNotExist(err) {
		t.Errorf("admin-key -remove left the file: %v", err)
	}
	pem, _ := os.ReadFile(filepath.Join(tlsDir, "ca.crt"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest("GET", "https://localhost:"+port(p.httpAddr)+"/v1/sessions", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v1/sessions over HTTPS: %d", resp.StatusCode)
	}
}
