package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// prismEnv names a prism binary other than scripts/contract's.
const prismEnv = "BANLI_PRISM"

// prism finds Stoplight's prism, which scripts/contract/install puts in
// scripts/contract/node_modules. Without it a test skips, saying how to
// run it, except under CI=true, where it is a failure.
func prism(t *testing.T) string {
	t.Helper()
	if path := os.Getenv(prismEnv); path != "" {
		return path
	}
	path, err := filepath.Abs("../../scripts/contract/node_modules/.bin/prism")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no prism: .ci/run installs it with scripts/contract/install, and under CI=true the contract test must run")
	}
	t.Skip("no prism here: run scripts/contract/install (npm) to check the API against its OpenAPI document")
	return ""
}

// prismProxy is prism proxy --errors in front of a server: it checks each
// request and each answer against the OpenAPI document, and answers a
// violation with a 500 of its own instead of the server's answer.
type prismProxy struct {
	base string
	mu   sync.Mutex
	log  bytes.Buffer
}

func startPrism(t *testing.T, upstream string) *prismProxy {
	t.Helper()
	bin := prism(t)
	port := freePort(t)
	cmd := exec.Command(bin, "proxy", "--errors", "--host", "127.0.0.1", "--port", port,
		"../../gen/openapi/banli.openapi.json", upstream)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	p := &prismProxy{base: "http://127.0.0.1:" + port}
	listening := make(chan struct{})
	go func() {
		lines := bufio.NewScanner(out)
		lines.Buffer(make([]byte, 1<<20), 1<<20)
		for lines.Scan() {
			p.mu.Lock()
			p.log.WriteString(lines.Text() + "\n")
			p.mu.Unlock()
			if strings.Contains(lines.Text(), "Prism is listening") {
				close(listening)
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(2 * time.Minute):
		t.Fatalf("prism did not start:\n%s", p.output())
	}
	return p
}

func (p *prismProxy) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.log.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// TestTheAPIKeepsItsContract sends the README's worked example, then the
// answers the example never meets (each error status, the downloads, an
// upload, the public feed in both forms, the probes, the metrics), through
// prism proxy --errors: every request and every answer must be what
// gen/openapi/banli.openapi.json declares.
func TestTheAPIKeepsItsContract(t *testing.T) {
	ts := startServer(t)
	proxy := startPrism(t, "http://"+ts.addrs.HTTPAddr)
	checkReadmeExampleOutput(t, runReadmeExample(t, proxy.base, ts.adminKey))

	office := ts.account(t, "office-contract", banliv1.Role_ROLE_OFFICE, "")
	_, unit := ts.restAs(t, ts.adminKey, "GET", "/v1/units/2", "")
	pdf := fakePDF(4096, 1)
	big := `{"body":"BODY_CPPCC","level":"LEVEL_CITY","term":7,"meeting":2,"year":2022,"displayName":"` +
		strings.Repeat("长", 2<<20) + `"}`
	calls := []struct {
		name, key, method, path, contentType string
		body                                 []byte
		want                                 int
		wantType                             string
	}{
		{name: "liveness", method: "GET", path: "/healthz", want: 200, wantType: "text/plain"},
		{name: "readiness", method: "GET", path: "/readyz", want: 200, wantType: "text/plain"},
		{name: "the document", method: "GET", path: "/openapi.json", want: 200, wantType: "application/json"},
		{name: "the Swagger 2.0 document", method: "GET", path: "/openapi-v2.json", want: 200, wantType: "application/json"},
		{name: "metrics", key: ts.adminKey, method: "GET", path: "/metrics", want: 200, wantType: "text/plain"},
		{name: "metrics without a key", method: "GET", path: "/metrics", want: 401},
		{name: "no key", method: "GET", path: "/v1/proposals/1", want: 401},
		{name: "a role the access table refuses", key: ts.adminKey, method: "GET", path: "/v1/proposals/1", want: 403},
		{name: "a case that does not exist", key: office, method: "GET", path: "/v1/proposals/99", want: 404},
		{name: "a field out of range", key: ts.adminKey, method: "POST", path: "/v1/sessions", contentType: "application/json",
			body: []byte(`{"body":"BODY_CPPCC","level":"LEVEL_CITY","term":-1,"meeting":1,"year":2021,"displayName":"x"}`), want: 400},
		{name: "an id taken", key: ts.adminKey, method: "POST", path: "/v1/accounts?accountId=office-contract", contentType: "application/json",
			body: []byte(`{"displayName":"again","role":"ROLE_OFFICE"}`), want: 409},
		{name: "a body too large", key: ts.adminKey, method: "POST", path: "/v1/sessions", contentType: "application/json",
			body: []byte(big), want: 413},
		{name: "a partial update", key: ts.adminKey, method: "PATCH", path: "/v1/units/2?etag=" + fmt.Sprint(unit["etag"]), contentType: "application/json",
			body: []byte(`{"displayName":"市财政局（新）"}`), want: 200, wantType: "application/json"},
		{name: "the ledger as CSV", key: office, method: "GET", path: "/v1/ledger:export?format=EXPORT_FORMAT_CSV", want: 200, wantType: "text/csv"},
		{name: "the ledger as XLSX", key: office, method: "GET", path: "/v1/ledger:export", want: 200,
			wantType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
		{name: "a backup", key: ts.adminKey, method: "GET", path: "/v1/backup", want: 200, wantType: "application/x-tar"},
		{name: "an upload", key: office, method: "POST", path: "/v1/proposals/1/files:upload?file_name=letter.pdf", contentType: "application/pdf",
			body: pdf, want: 200, wantType: "application/json"},
		{name: "its download", key: office, method: "GET", path: "/v1/proposals/1/files/1:download", want: 200, wantType: "application/pdf"},
		{name: "the public feed", method: "GET", path: "/v1/public/replies", want: 200, wantType: "application/json"},
		{name: "the public feed as Atom", method: "GET", path: "/v1/public/replies.atom", want: 200, wantType: "application/atom+xml"},
	}
	for _, c := range calls {
		status, header, body := proxy.call(t, c.key, c.method, c.path, c.contentType, c.body)
		if status != c.want || !strings.HasPrefix(header.Get("Content-Type"), c.wantType) {
			t.Errorf("%s: %s %s answered %d %s through prism, want %d %s:\n%.600s", c.name, c.method, c.path,
				status, header.Get("Content-Type"), c.want, c.wantType, body)
		}
	}
	// The public feed's limit per address (20 at once, then 10 a second):
	// the refusal is declared too.
	limited := false
	for range 40 {
		status, header, body := proxy.call(t, "", "GET", "/v1/public/replies", "", nil)
		if status == http.StatusTooManyRequests {
			limited = header.Get("Retry-After") != ""
			if !limited {
				t.Errorf("429 without Retry-After: %s", body)
			}
			break
		}
		if status != http.StatusOK {
			t.Fatalf("the public feed answered %d through prism: %s", status, body)
		}
	}
	if !limited {
		t.Error("40 calls at once to the public feed were never limited")
	}
	if t.Failed() {
		t.Logf("prism's log:\n%s", proxy.output())
	}
	if strings.Contains(proxy.output(), "Violation") {
		t.Errorf("prism logged violations:\n%s", proxy.output())
	}
}

// call makes one call through the proxy and returns its answer.
func (p *prismProxy) call(t *testing.T, key, method, path, contentType string, body []byte) (int, http.Header, []byte) {
	t.Helper()
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, p.base+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, answer
}
