package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/banli/banli/cmd/banli/dial"
	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// testPKI is a CA with a server certificate for 127.0.0.1 and a client
// certificate, written as PEM files.
type testPKI struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
}

func newTestPKI(t *testing.T, clientCN string) testPKI {
	t.Helper()
	dir := t.TempDir()
	caKey := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Banli test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER := must(x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey))(t)
	ca := must(x509.ParseCertificate(caDER))(t)
	write := func(name, kind string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	issue := func(name string, serial int64, tmpl *x509.Certificate) (string, string) {
		key := must(ecdsa.GenerateKey(elliptic.P256(), rand.Reader))(t)
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		der := must(x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey))(t)
		keyDER := must(x509.MarshalECPrivateKey(key))(t)
		return write(name+".crt", "CERTIFICATE", der), write(name+".key", "EC PRIVATE KEY", keyDER)
	}
	p := testPKI{caFile: write("ca.crt", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = issue("server", 2, &x509.Certificate{
		Subject: pkix.Name{CommonName: "banli"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	})
	p.clientCert, p.clientKey = issue("client", 3, &x509.Certificate{
		Subject: pkix.Name{CommonName: clientCN}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature,
	})
	return p
}

// TestAuthorizationEndToEndOverTLS: over TLS on both listeners, each party
// reaches only its own part, a reply needs the head, a proposer rates only
// its own cases, a revoked key stops at once, and a client certificate
// signs a system in.
func TestAuthorizationEndToEndOverTLS(t *testing.T) {
	pki := newTestPKI(t, "npc-platform.example")
	ts := startServer(t, func(c *server.Config) {
		c.TLSCert, c.TLSKey, c.ClientCA = pki.serverCert, pki.serverKey, pki.caFile
	})
	f := &fixture{testServer: ts}
	f.session = must(ts.sessions.CreateSession(context.Background(), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "s"}}))(t)
	for _, name := range []string{"市数据局", "市财政局", "市教育局"} {
		f.bureaus = append(f.bureaus, must(ts.units.CreateUnit(context.Background(), &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: name}}))(t))
	}
	leadStaff := f.account(t, "lead-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0))
	leadHead := f.account(t, "lead-head", banliv1.Role_ROLE_UNIT_HEAD, f.unit(0))
	coStaff := f.account(t, "co-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(1))
	coHead := f.account(t, "co-head", banliv1.Role_ROLE_UNIT_HEAD, f.unit(1))
	otherStaff := f.account(t, "other-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(2))
	platform := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	otherPlatform := f.account(t, "other-platform", banliv1.Role_ROLE_PROPOSER, "")
	accounts := banliv1.NewAccountServiceClient(ts.conn)
	must(accounts.CreateAccount(as(ts.adminKey), &banliv1.CreateAccountRequest{AccountId: "npc-platform", Account: &banliv1.Account{
		DisplayName: "NPC submission platform", Role: banliv1.Role_ROLE_PROPOSER, CertificateCommonName: "npc-platform.example"}}))(t)

	in := &banliv1.Proposal{
		Session: f.session.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: "1",
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "t", Content: "c",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员"}},
	}
	p := must(ts.proposals.CreateProposal(as(platform), &banliv1.CreateProposalRequest{Proposal: in}))(t)
	if p.GetSubmitter() != "accounts/platform" {
		t.Errorf("submitter %q", p.GetSubmitter())
	}
	p = f.assign(t, p, part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	lead, co := p.Assignments[0].GetName(), p.Assignments[1].GetName()

	// A unit cannot read or touch another unit's case.
	_, err := ts.proposals.GetProposal(as(otherStaff), &banliv1.GetProposalRequest{Name: p.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = ts.proposals.SignAssignment(as(coStaff), &banliv1.SignAssignmentRequest{Name: lead})
	wantCode(t, err, codes.PermissionDenied, "")
	if got := must(ts.proposals.ListProposals(as(otherStaff), &banliv1.ListProposalsRequest{}))(t).GetProposals(); len(got) != 0 {
		t.Errorf("another unit lists %d cases", len(got))
	}
	_, err = ts.proposals.ListProposals(as(otherStaff), &banliv1.ListProposalsRequest{Unit: f.unit(0)})
	wantCode(t, err, codes.PermissionDenied, "")
	must(ts.proposals.SignAssignment(as(leadStaff), &banliv1.SignAssignmentRequest{Name: lead, ResponsiblePerson: "李明"}))(t)
	must(ts.proposals.SignAssignment(as(coStaff), &banliv1.SignAssignmentRequest{Name: co}))(t)
	must(ts.proposals.RecordConsultation(as(leadStaff), &banliv1.RecordConsultationRequest{Name: lead, Consultation: &banliv1.Consultation{
		Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT, Summary: "面商"}}))(t)
	must(ts.proposals.SubmitOpinion(as(coStaff), &banliv1.SubmitOpinionRequest{Name: co, Opinion: &banliv1.Opinion{Text: "同意", Signer: "王处长"}}))(t)

	// Co-handling units cannot reply; staff cannot send a reply without the
	// head's sign-off; the head can.
	reply := load.ReplyRequest(lead, banliv1.ReplyCategory_REPLY_CATEGORY_A)
	_, err = ts.proposals.SubmitReply(as(coHead), reply)
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = ts.proposals.SubmitReply(as(coHead), load.ReplyRequest(co, banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = ts.proposals.SubmitReply(as(leadStaff), reply)
	wantCode(t, err, codes.PermissionDenied, "")
	p = must(ts.proposals.SubmitReply(as(leadHead), reply))(t)
	if by := p.Assignments[0].GetReplies()[0].GetSignedOffBy(); by != "accounts/lead-head" {
		t.Errorf("signed off by %q", by)
	}

	// A proposer rates only its own case.
	rate := &banliv1.RateReplyRequest{Name: lead + "/replies/1", ProposerId: 1, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED}
	_, err = ts.proposals.RateReply(as(otherPlatform), rate)
	wantCode(t, err, codes.PermissionDenied, "")
	must(ts.proposals.RateReply(as(platform), rate))(t)
	if got := must(ts.proposals.ListProposals(as(otherPlatform), &banliv1.ListProposalsRequest{}))(t).GetProposals(); len(got) != 0 {
		t.Errorf("another proposer lists %d cases", len(got))
	}

	// A disabled account and a rotated key stop working at once.
	must(accounts.DisableAccount(as(ts.adminKey), &banliv1.DisableAccountRequest{Name: "accounts/other-staff"}))(t)
	_, err = ts.proposals.ListProposals(as(otherStaff), &banliv1.ListProposalsRequest{})
	wantCode(t, err, codes.Unauthenticated, "")
	rotated := must(accounts.RotateAccountKey(as(ts.adminKey), &banliv1.RotateAccountKeyRequest{Name: "accounts/lead-staff"}))(t)
	_, err = ts.proposals.GetProposal(as(leadStaff), &banliv1.GetProposalRequest{Name: p.GetName()})
	wantCode(t, err, codes.Unauthenticated, "")
	must(ts.proposals.GetProposal(as(rotated.GetKey()), &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	if strings.Contains(err.Error(), leadStaff[len(leadStaff)-10:]) {
		t.Errorf("the error repeats the key: %v", err)
	}
	if listed := must(accounts.ListAccounts(as(ts.adminKey), &banliv1.ListAccountsRequest{}))(t); len(listed.GetAccounts()[0].GetKeySha256()) != 0 {
		t.Error("ListAccounts shows a key hash")
	}

	// A client certificate signs the platform in, over gRPC and over REST.
	cert := must(tls.LoadX509KeyPair(pki.clientCert, pki.clientKey))(t)
	pool := must(dial.CertPool(pki.caFile))(t)
	mtls := must(grpc.NewClient(ts.addrs.GRPCAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		RootCAs: pool, Certificates: []tls.Certificate{cert}}))))(t)
	defer mtls.Close()
	me := must(banliv1.NewAccountServiceClient(mtls).GetCaller(context.Background(), &banliv1.GetCallerRequest{}))(t)
	if me.GetName() != "accounts/npc-platform" {
		t.Errorf("the certificate signs in as %v", me)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	resp := must(client.Get("https://" + ts.addrs.HTTPAddr + "/v1/accounts:caller"))(t)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var caller map[string]any
	json.Unmarshal(body, &caller)
	if resp.StatusCode != 200 || caller["name"] != "accounts/npc-platform" {
		t.Errorf("REST with a certificate: %d %s", resp.StatusCode, body)
	}
	// The dashboard page signs the certificate in too, behind a Secure
	// cookie that holds only with that certificate.
	jar, _ := cookiejar.New(nil)
	noFollow := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	browser := &http.Client{Jar: jar, CheckRedirect: noFollow, Transport: client.Transport}
	resp = must(browser.Get("https://" + ts.addrs.HTTPAddr + "/ui/login"))(t)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "使用客户端证书登录（npc-platform.example）") {
		t.Errorf("the sign-in page does not offer the certificate:\n%s", body)
	}
	resp = must(browser.PostForm("https://"+ts.addrs.HTTPAddr+"/ui/login", url.Values{"token": {hidden(string(body), "token")}, "method": {"certificate"}}))(t)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !slices.ContainsFunc(resp.Header.Values("Set-Cookie"), func(c string) bool {
		return strings.HasPrefix(c, "banli_session=") && strings.Contains(c, "Secure")
	}) {
		t.Errorf("certificate sign-in on the page: %d %v", resp.StatusCode, resp.Header.Values("Set-Cookie"))
	}
	resp = must(browser.Get("https://" + ts.addrs.HTTPAddr + "/ui/"))(t)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "NPC submission platform") {
		t.Errorf("the page signed in by certificate: %d", resp.StatusCode)
	}
	withoutCert := &http.Client{Jar: jar, CheckRedirect: noFollow, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp = must(withoutCert.Get("https://" + ts.addrs.HTTPAddr + "/ui/"))(t)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the certificate's session cookie without the certificate: %d, want a redirect to sign in", resp.StatusCode)
	}

	// A REST caller cannot claim a certificate through headers.
	req, _ := http.NewRequest("GET", "https://"+ts.addrs.HTTPAddr+"/v1/accounts:caller", nil)
	req.Header.Set("Grpc-Metadata-X-Banli-Gateway-Client-Cn", "npc-platform.example")
	plain := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp = must(plain.Do(req))(t)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged certificate header: HTTP %d, want 401", resp.StatusCode)
	}
}

// TestRateLimitAndExposure: an identity over its rate gets
// RESOURCE_EXHAUSTED, and HTTP 429 with Retry-After; a server asked to
// listen beyond loopback without TLS refuses to start.
func TestRateLimitAndExposure(t *testing.T) {
	ts := startServer(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 1, 3 })
	callerOf := banliv1.NewAccountServiceClient(ts.conn)
	var err error
	for range 4 {
		_, err = callerOf.GetCaller(as(ts.adminKey), &banliv1.GetCallerRequest{})
	}
	wantCode(t, err, codes.ResourceExhausted, "")
	req, _ := http.NewRequest("GET", "http://"+ts.addrs.HTTPAddr+"/v1/accounts:caller", nil)
	req.Header.Set("Authorization", "Bearer "+ts.adminKey)
	resp := must(http.DefaultClient.Do(req))(t)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("REST over the limit: HTTP %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	cfg := server.Config{DataPath: filepath.Join(t.TempDir(), "banli.db"), GRPCAddr: "0.0.0.0:0", HTTPAddr: "127.0.0.1:0", LockTimeout: time.Second}
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	err = server.Run(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "-tls-cert") {
		t.Errorf("plaintext on 0.0.0.0: %v", err)
	}
}
