package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	encbinary "encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	bolt "go.etcd.io/bbolt"

	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// The tests in this file close holes a hostile caller with a valid account
// could reach: each one failed on the code before its fix.

// auditTrail reads the whole audit trail as a fresh auditor account.
func (f *fixture) auditTrail(t testing.TB) []*banliv1.AuditRecord {
	t.Helper()
	f.auditors++
	key := f.account(t, fmt.Sprintf("trail-reader-%d", f.auditors), banliv1.Role_ROLE_AUDITOR, "")
	audit := banliv1.NewAuditServiceClient(f.conn)
	var out []*banliv1.AuditRecord
	var after uint64
	for {
		page := must(audit.ListAuditRecords(as(key), &banliv1.ListAuditRecordsRequest{AfterSequence: after, PageSize: 1000}))(t)
		out = append(out, page.GetRecords()...)
		if len(page.GetRecords()) > 0 {
			after = page.GetRecords()[len(page.GetRecords())-1].GetSequence()
		}
		// The head when the page was read is the end.
		if after >= page.GetHeadSequence() {
			return out
		}
	}
}

// lastAudit is the last record of method on the trail, or nil.
func lastAudit(recs []*banliv1.AuditRecord, method string) *banliv1.AuditRecord {
	for i := len(recs) - 1; i >= 0; i-- {
		if strings.HasSuffix(recs[i].GetMethod(), method) {
			return recs[i]
		}
	}
	return nil
}

// errorInfo is the ErrorInfo detail of err, if any.
func errorInfo(err error) *errdetails.ErrorInfo {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// TestFailedSignInNamesTheClaimedAccount: a wrong key for an account is
// audited under the account the key claims.
func TestFailedSignInNamesTheClaimedAccount(t *testing.T) {
	f := newFixture(t)
	key := f.account(t, "li", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0))
	forged := key[:len(key)-4] + "AAAA"
	if forged == key {
		forged = key[:len(key)-4] + "BBBB"
	}
	_, err := f.proposals.GetProposal(as(forged), &banliv1.GetProposalRequest{Name: "proposals/1"})
	wantCode(t, err, codes.Unauthenticated, "")
	rec := lastAudit(f.auditTrail(t), "/GetProposal")
	if rec.GetActor() != "accounts/li" || rec.GetOutcome() != "Unauthenticated" {
		t.Errorf("the failed sign-in is audited as %v", rec)
	}
}

// TestSequencesDoNotWrap: the largest sequence reads nothing after it
// instead of wrapping to the start.
func TestSequencesDoNotWrap(t *testing.T) {
	f := newFixture(t)
	f.receive(t)
	auditor := f.account(t, "auditor", banliv1.Role_ROLE_AUDITOR, "")
	for _, path := range []string{"/v1/events?afterSequence=18446744073709551615", "/v1/audit?afterSequence=18446744073709551615"} {
		key := f.adminKey
		if strings.HasPrefix(path, "/v1/audit") {
			key = auditor
		}
		code, out := f.restAs(t, key, "GET", path, "")
		delete(out, "latestSequence")
		delete(out, "headSequence")
		if next, ok := out["nextAfterSequence"]; ok && next != "18446744073709551615" {
			t.Errorf("%s: the next cursor is %v", path, next)
		}
		delete(out, "nextAfterSequence")
		if code != 200 || len(out) > 0 {
			t.Errorf("%s: %d %v, want nothing after the last sequence", path, code, out)
		}
	}
}

// TestStrictJSON: a body with anything after its JSON value is refused.
func TestStrictJSON(t *testing.T) {
	f := newFixture(t)
	body := `{"displayName":"市审计局"}}{`
	code, out := f.restAs(t, f.adminKey, "POST", "/v1/units", body)
	if code != 400 {
		t.Fatalf("trailing data: %d %v, want 400", code, out)
	}
	units := must(f.units.ListUnits(context.Background(), &banliv1.ListUnitsRequest{}))(t)
	for _, u := range units.GetUnits() {
		if u.GetDisplayName() == "市审计局" {
			t.Errorf("a body with trailing data made %v", u)
		}
	}
}

// TestOfflineAuditVerifyNeedsAFile: verifying a data file that is missing
// or empty fails, and creates nothing.
func TestOfflineAuditVerifyNeedsAFile(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{missing, empty} {
		var stdout, stderr strings.Builder
		if code := run([]string{"audit", "verify", "-data", path}, &stdout, &stderr); code == 0 {
			t.Errorf("verify %s: rc 0, %q", path, stdout.String())
		}
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("verifying a missing file made it: %v", err)
	}
	if fi, _ := os.Stat(empty); fi.Size() != 0 {
		t.Errorf("verifying an empty file wrote %d bytes into it", fi.Size())
	}
}

// exportCSV downloads the ledger as CSV over REST, signed in with key.
func (f *fixture) exportCSV(t testing.TB, key string) string {
	t.Helper()
	code, body := f.restRaw(t, key, "GET", "/v1/ledger:export?format=EXPORT_FORMAT_CSV", "")
	if code != 200 {
		t.Fatalf("export: %d %s", code, body)
	}
	return body
}

// TestExportHoldsOnlyWhatTheCallerMayRead: a viewer, who may not read a
// case, exports the ledger without its content and its proposers' names
// and contact details; the office's export has them.
func TestExportHoldsOnlyWhatTheCallerMayRead(t *testing.T) {
	f := newFixture(t)
	f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	viewer := f.account(t, "dashboard", banliv1.Role_ROLE_VIEWER, "")
	private := []string{"一、现状分析", "13800000001", "王委员", "致公党市委会"}
	got := f.exportCSV(t, viewer)
	for _, s := range private {
		if strings.Contains(got, s) {
			t.Errorf("the viewer's export holds %q:\n%s", s, got)
		}
	}
	if !strings.Contains(got, "关于加快数字政府建设的提案") || !strings.Contains(got, "市数据局") {
		t.Errorf("the viewer's export lacks the ledger itself:\n%s", got)
	}
	all := f.exportCSV(t, f.officeKey(t))
	for _, s := range private {
		if !strings.Contains(all, s) {
			t.Errorf("the office's export lacks %q", s)
		}
	}
}

// TestSpreadsheetAndTextGuards: an exported cell that starts with a TAB,
// CR or LF before a formula is guarded too; one-line fields refuse
// bidirectional controls, separators, zero-width characters and BOMs,
// and multi-line fields refuse the bidirectional controls.
func TestSpreadsheetAndTextGuards(t *testing.T) {
	f := newFixture(t)
	for _, title := range []string{"\t=1+1", "\r=1+1", "\n=1+1"} {
		req := f.receiveRequest("G" + fmt.Sprint(len(title)+int(title[0])))
		req.Proposal.Title = "提案" // a title is one line; the guard is tested on a multi-line cell
		req.Proposal.Content = title
		must(f.proposals.CreateProposal(office, req))(t)
	}
	got := f.exportCSV(t, f.officeKey(t))
	for _, cell := range []string{"\t=1+1", "\r=1+1", "\n=1+1"} {
		if strings.Contains(got, ","+cell) || strings.Contains(got, `,"`+cell) {
			t.Errorf("the cell %q went out unguarded:\n%q", cell, got)
		}
	}
	for _, bad := range []string{"\u202e", "\u2066", "\u2028", "\u2029", "\u200b", "\u200d", "\u2060", "\ufeff"} {
		req := f.receiveRequest("B1")
		req.Proposal.Title = "关于" + bad + "的提案"
		_, err := f.proposals.CreateProposal(office, req)
		wantCode(t, err, codes.InvalidArgument, "proposal.title")
	}
	for _, bad := range []string{"\u202e", "\u2067", "\u200f"} {
		req := f.receiveRequest("B2")
		req.Proposal.Content = "一、" + bad + "二、"
		_, err := f.proposals.CreateProposal(office, req)
		wantCode(t, err, codes.InvalidArgument, "proposal.content")
	}
	// Zero-width joiners belong in multi-line text (emoji, some scripts).
	req := f.receiveRequest("B3")
	req.Proposal.Content = "一、\u200d二、"
	must(f.proposals.CreateProposal(office, req))(t)
}

// TestMetricsNeedAKey: /metrics names units and counts cases, so only an
// admin or a ROLE_MONITOR account reads it; refusals are audited.
func TestMetricsNeedAKey(t *testing.T) {
	f := newFixture(t)
	staff := f.account(t, "li", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0))
	monitor := f.account(t, "prometheus", banliv1.Role_ROLE_MONITOR, "")
	for key, want := range map[string]int{"": 401, staff: 403, monitor: 200, f.adminKey: 200} {
		code, body := f.restRaw(t, key, "GET", "/metrics", "")
		if code != want || (want != 200 && strings.Contains(body, "banli_")) {
			t.Errorf("scrape: %d %.80q, want %d", code, body, want)
		}
	}
	refused := map[string]string{}
	for _, rec := range f.auditTrail(t) {
		if rec.GetMethod() == "GET /metrics" {
			refused[rec.GetActor()] = rec.GetOutcome()
		}
	}
	if refused["accounts/li"] != "PermissionDenied" || refused["unknown"] != "Unauthenticated" {
		t.Errorf("the scrapes are audited as %v", refused)
	}
	// The monitor may do nothing else.
	_, err := f.units.ListUnits(as(monitor), &banliv1.ListUnitsRequest{})
	wantCode(t, err, codes.PermissionDenied, "")
}

// TestUnknownFieldsAreRefused: a request with a field the API does not
// define, at any depth, or a known field sent with the wrong wire type, is
// refused naming the field number, and nothing is stored.
func TestUnknownFieldsAreRefused(t *testing.T) {
	f := newFixture(t)
	good := must(proto.Marshal(f.receiveRequest("U-1")))(t)
	// Proposers are field 10 of Proposal, inside field 1 of the request;
	// a proposer's type is field 2, its display_name field 3.
	proposer := protowire.AppendTag(nil, 3, protowire.BytesType)
	proposer = protowire.AppendString(proposer, "王委员")
	proposer = protowire.AppendTag(proposer, 2, protowire.VarintType)
	proposer = protowire.AppendVarint(proposer, 1)
	withUnknown := protowire.AppendTag(slices.Clone(proposer), 999, protowire.BytesType)
	withUnknown = protowire.AppendBytes(withUnknown, bytes.Repeat([]byte("x"), 1<<20))
	// display_name (3) sent as a varint.
	wrongType := protowire.AppendTag(slices.Clone(proposer), 3, protowire.VarintType)
	wrongType = protowire.AppendVarint(wrongType, 7)
	for name, bad := range map[string][]byte{"unknown field": withUnknown, "wrong wire type": wrongType} {
		msg := &banliv1.CreateProposalRequest{}
		if err := proto.Unmarshal(good, msg); err != nil {
			t.Fatal(err)
		}
		msg.Proposal.Number = "U-" + strings.ReplaceAll(name, " ", "-")
		// Append one more proposer, by hand, inside the proposal.
		inner := must(proto.Marshal(msg.Proposal))(t)
		inner = protowire.AppendTag(inner, 10, protowire.BytesType)
		inner = protowire.AppendBytes(inner, bad)
		raw := protowire.AppendTag(nil, 1, protowire.BytesType)
		raw = protowire.AppendBytes(raw, inner)
		var out []byte
		err := f.conn.Invoke(context.Background(), "/banli.v1.ProposalService/CreateProposal", &raw, &out, grpc.ForceCodecV2(rawCodec{}))
		wantCode(t, err, codes.InvalidArgument, "proposal.proposers[1]")
		if !strings.Contains(status.Convert(err).Message(), "field") {
			t.Errorf("%s: the refusal does not name the field: %v", name, err)
		}
	}
	list := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{}))(t)
	if len(list.GetProposals()) != 0 {
		t.Errorf("a request with unknown fields stored %d cases", len(list.GetProposals()))
	}
}

// TestUndecodableRESTBodiesAreCheckedAndAudited: a REST call whose body
// cannot be decoded is signed in and checked against the access table
// first, like any call, so a caller who may not make it is refused and
// audited as such; one who may hears what is wrong with the body, and
// that is audited too.
func TestUndecodableRESTBodiesAreCheckedAndAudited(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	staff := f.account(t, "li", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0))
	for _, body := range []string{`{"assignments":[{"unit":1}]}`, `{"bogus":true}`, `{"assignments":`} {
		code, out := f.restAs(t, staff, "POST", "/v1/"+p.GetName()+":assign", body)
		if code != 403 {
			t.Errorf("staff assigning with %s: %d %v, want 403", body, code, out)
		}
		code, out = f.restAs(t, "", "POST", "/v1/"+p.GetName()+":assign", body)
		if code != 401 {
			t.Errorf("no key, assigning with %s: %d %v, want 401", body, code, out)
		}
		code, out = f.restAs(t, f.officeKey(t), "POST", "/v1/"+p.GetName()+":assign", body)
		if code != 400 {
			t.Errorf("the office assigning with %s: %d %v, want 400", body, code, out)
		}
	}
	// Query parameters that do not parse are refused the same way, after
	// the access check.
	if code, out := f.restAs(t, staff, "GET", "/v1/audit?afterSequence=abc", ""); code != 403 {
		t.Errorf("staff reading the audit trail with a bad query: %d %v, want 403", code, out)
	}
	auditor := f.account(t, "auditor", banliv1.Role_ROLE_AUDITOR, "")
	if code, out := f.restAs(t, auditor, "GET", "/v1/audit?afterSequence=abc", ""); code != 400 {
		t.Errorf("the auditor with a bad query: %d %v, want 400", code, out)
	}
	// The path's case is kept for the access check: another unit's staff
	// is refused the case, the office hears what is wrong with the query.
	if code, out := f.restAs(t, staff, "GET", "/v1/"+p.GetName()+"/events?pageSize=x", ""); code != 403 {
		t.Errorf("staff reading another's case's history with a bad query: %d %v, want 403", code, out)
	}
	if code, out := f.restAs(t, f.officeKey(t), "GET", "/v1/"+p.GetName()+"/events?pageSize=x", ""); code != 400 || !strings.Contains(fmt.Sprint(out), "field:pageSize") {
		t.Errorf("the office with a bad query: %d %v, want 400 naming the parameter", code, out)
	}
	var denied, invalid, unauthenticated int
	for _, rec := range f.auditTrail(t) {
		if !strings.HasSuffix(rec.GetMethod(), "/AssignProposal") {
			continue
		}
		switch {
		case rec.GetActor() == "accounts/li" && rec.GetOutcome() == "PermissionDenied":
			denied++
		case rec.GetActor() == "accounts/test-office" && rec.GetOutcome() == "InvalidArgument":
			invalid++
		case rec.GetOutcome() == "Unauthenticated":
			unauthenticated++
		}
	}
	if denied != 3 || invalid != 3 || unauthenticated != 3 {
		t.Errorf("audited %d denied, %d invalid and %d unauthenticated calls, want 3 of each", denied, invalid, unauthenticated)
	}
}

// TestDisabledAccountsStreamNoMore: an account disabled while its import
// stream is open writes nothing more on it; the next batch is refused as
// a failed sign-in.
func TestDisabledAccountsStreamNoMore(t *testing.T) {
	f := newFixture(t)
	platform := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	stream := must(banliv1.NewImportServiceClient(f.conn).ImportProposals(as(platform)))(t)
	batch := func(n string) *banliv1.ImportProposalsRequest {
		return &banliv1.ImportProposalsRequest{Rows: []*banliv1.ImportRow{importRow(f, 1, n)}}
	}
	if err := stream.Send(batch("D1")); err != nil {
		t.Fatal(err)
	}
	if resp := must(stream.Recv())(t); resp.GetCreated() != 1 {
		t.Fatalf("first batch: %v", outcomes(resp))
	}
	must(banliv1.NewAccountServiceClient(f.conn).DisableAccount(as(f.adminKey), &banliv1.DisableAccountRequest{Name: "accounts/platform"}))(t)
	stream.Send(batch("D2"))
	_, err := stream.Recv()
	wantCode(t, err, codes.Unauthenticated, "")
	list := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{}))(t)
	if len(list.GetProposals()) != 1 {
		t.Errorf("%d cases after the account was disabled, want 1", len(list.GetProposals()))
	}
}

// TestStreamsAndConnectionsAreBounded: one account holds a bounded number
// of streams at once; a stream's messages are charged to the rate limit
// one by one; idle connections are closed.
func TestStreamsAndConnectionsAreBounded(t *testing.T) {
	f := newFixture(t, func(c *server.Config) {
		c.MaxStreamsPerAccount = 4
		c.IdleTimeout = 300 * time.Millisecond
		c.MaxConnectionsPerIP = 8
	})
	platform := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	imports := banliv1.NewImportServiceClient(f.conn)
	ctx, cancel := context.WithCancel(as(platform))
	defer cancel()
	var open []banliv1.ImportService_ImportProposalsClient
	var refused error
	for range 10 {
		s, err := imports.ImportProposals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		s.Send(&banliv1.ImportProposalsRequest{Rows: []*banliv1.ImportRow{importRow(f, 1, fmt.Sprintf("S%d", len(open)))}})
		if _, err := s.Recv(); err != nil {
			refused = err
			break
		}
		open = append(open, s)
	}
	if len(open) != 4 || status.Code(refused) != codes.ResourceExhausted {
		t.Errorf("%d streams open, then %v; want 4, then RESOURCE_EXHAUSTED", len(open), refused)
	}
	cancel()

	// A keep-alive HTTP connection left idle after a request is closed by
	// the server.
	conn, err := net.Dial("tcp", f.addrs.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: banli\r\n\r\n")
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz on a raw connection: %v", err)
	}
	rest := make([]byte, 1)
	if _, err := conn.Read(rest); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("an idle HTTP connection is still open after 5 s: %v", err)
	}

	// One address holds at most 8 connections (the test's own gRPC
	// connection may be one, unless the idle timeout closed it): the next
	// is closed as soon as it is accepted.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	closed := 0
	for range 12 {
		c, err := net.Dial("tcp", f.addrs.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if _, err := c.Read(rest); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			closed++
		}
	}
	if closed != 4 && closed != 5 {
		t.Errorf("%d of 12 new connections were closed at once, want 4 or 5 (8 per address)", closed)
	}
}

// TestStreamMessagesAreRateLimited: each message of a stream takes a
// token, so a long import stream is held to the account's rate.
func TestStreamMessagesAreRateLimited(t *testing.T) {
	// The fixture's own setup and accounts are made within the burst.
	f := newFixture(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 0.01, 20 })
	platform := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	stream := must(banliv1.NewImportServiceClient(f.conn).ImportProposals(as(platform)))(t)
	var err error
	sent := 0
	for sent < 40 {
		stream.Send(&banliv1.ImportProposalsRequest{Rows: []*banliv1.ImportRow{importRow(f, 1, fmt.Sprintf("R%d", sent))}})
		if _, err = stream.Recv(); err != nil {
			break
		}
		sent++
	}
	if sent != 19 || status.Code(err) != codes.ResourceExhausted {
		t.Errorf("%d batches went through, then %v; want the burst, then RESOURCE_EXHAUSTED", sent, err)
	}
}

// TestSlowReadersHoldNothing: a caller that opens the ledger export or the
// backup download and never reads it holds no read transaction (which
// would keep the file from growing its map and hold up writes), writes go
// on at their pace meanwhile, and the stalled download is cut off. The
// downloads are some 25 MB, more than the sockets and the gateway buffer.
func TestSlowReadersHoldNothing(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.SendTimeout = 3 * time.Second })
	content := strings.Repeat("建议加快数字政府建设。", 2000) // 20,000 characters, 60 KB
	created := 0
	create := func() error {
		created++
		req := f.receiveRequest(fmt.Sprintf("L%d", created))
		req.Proposal.Content = content
		_, err := f.proposals.CreateProposal(office, req)
		return err
	}
	start := time.Now()
	for range 400 {
		if err := create(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("no reader: 400 writes of 60 KB at %.0f/s", 400/time.Since(start).Seconds())
	staff := f.account(t, "li", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0))
	for _, p := range must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{PageSize: 1000}))(t).GetProposals() {
		f.assign(t, p, part(f.unit(0), roleLead))
	}
	for _, c := range []struct{ key, path string }{
		{f.officeKey(t), "/v1/ledger:export?format=EXPORT_FORMAT_CSV"},
		{staff, "/v1/ledger:export?format=EXPORT_FORMAT_CSV"},
		{f.adminKey, "/v1/backup"},
	} {
		conn, err := net.Dial("tcp", f.addrs.HTTPAddr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: banli\r\nConnection: close\r\nAuthorization: Bearer %s\r\n\r\n", c.path, c.key)
		// The download has started (its status line is in: a backup is
		// first spooled, in a read transaction that lasts as long as the
		// disk takes), and its reader reads no more. Well before the send
		// timeout, no transaction is open on its behalf.
		body := bufio.NewReader(conn)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		if line, err := body.ReadString('\n'); err != nil || !strings.HasPrefix(line, "HTTP/1.1 200") {
			t.Fatalf("%s: the download did not start: %q, %v", c.path, line, err)
		}
		conn.SetReadDeadline(time.Time{})
		time.Sleep(200 * time.Millisecond)
		deadline := time.Now().Add(time.Second)
		for f.addrs.Backend.(store.ReadTransactions).OpenReadTransactions() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: a read transaction is open while its reader does not read", c.path)
			}
			time.Sleep(10 * time.Millisecond)
		}
		start := time.Now()
		for range 50 {
			if err := create(); err != nil {
				t.Fatalf("a write while %s stalls: %v", c.path, err)
			}
		}
		t.Logf("%s stalled: 50 writes of 60 KB at %.0f/s", c.path, 50/time.Since(start).Seconds())
		// The server gives up on a reader stalled past the send timeout: the
		// download ends short.
		time.Sleep(4 * time.Second)
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		n, err := io.Copy(io.Discard, body)
		if errors.Is(err, os.ErrDeadlineExceeded) || n > 20<<20 {
			t.Errorf("%s: the stalled download was not cut off: %d bytes, %v", c.path, n, err)
		}
		conn.Close()
	}
}

// TestCasesAreBounded: a case cannot grow past its limits, however many
// calls within the field limits a unit makes: the call that would pass
// one is refused before it writes, every call that committed was
// answered OK, and the case stays readable over gRPC and REST.
func TestCasesAreBounded(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleSplit), part(f.unit(1), roleSplit))
	lead, other := p.GetAssignments()[0].GetName(), p.GetAssignments()[1].GetName()
	f.sign(t, lead)
	f.sign(t, other)
	participants := make([]string, 50)
	for i := range participants {
		participants[i] = strings.Repeat("参", 49) + fmt.Sprint(i%10)
	}
	big := &banliv1.Consultation{
		Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_DURING, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT,
		Participants: participants, Summary: strings.Repeat("沟通", 2500),
	}
	var refused error
	recorded := 0
	for recorded < 133 {
		_, err := f.proposals.RecordConsultation(context.Background(), &banliv1.RecordConsultationRequest{Name: lead, Consultation: big})
		if err != nil {
			refused = err
			break
		}
		recorded++
	}
	if status.Code(refused) != codes.FailedPrecondition || errorInfo(refused).GetReason() != "CASE_LIMIT" {
		t.Fatalf("after %d consultations of 22 KB: %v, want FAILED_PRECONDITION (CASE_LIMIT)", recorded, refused)
	}
	got := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	if n := len(got.GetAssignments()[0].GetConsultations()); n != recorded {
		t.Errorf("%d consultations stored, %d answered OK", n, recorded)
	}
	if size := proto.Size(got); size > 1<<20 {
		t.Errorf("the case is %d bytes, over 1 MiB", size)
	}
	if code, out := f.restAs(t, f.officeKey(t), "GET", "/v1/"+p.GetName(), ""); code != 200 {
		t.Errorf("REST read of the full case: %d %.200v", code, out)
	}
	if code, out := f.restAs(t, f.officeKey(t), "GET", "/v1/"+p.GetName()+"/events?pageSize=1000", ""); code != 200 {
		t.Errorf("REST read of the case's history: %d %.200v", code, out)
	}
	// A count limit holds too, for small entries on the other part.
	small := &banliv1.Consultation{Phase: big.GetPhase(), Channel: big.GetChannel(), Summary: "电话沟通"}
	for i := 0; ; i++ {
		_, err := f.proposals.RecordConsultation(context.Background(), &banliv1.RecordConsultationRequest{Name: other, Consultation: small})
		if err != nil {
			if i != 100 || errorInfo(err).GetReason() != "CASE_LIMIT" {
				t.Errorf("consultation %d of a part refused with %v, want the 101st, CASE_LIMIT", i+1, err)
			}
			break
		}
	}
}

// TestAuditChainIsKeyed: someone who can write the data file, but not
// read the audit key, cannot forge a record and recompute the chain after
// it, cut records off the end and move the head, or wipe the trail; and an
// auditor's anchor finds a trail replaced by an older copy.
func TestAuditChainIsKeyed(t *testing.T) {
	f := newFixture(t)
	for range 30 {
		f.receive(t)
	}
	auditor := f.account(t, "auditor", banliv1.Role_ROLE_AUDITOR, "")
	audit := banliv1.NewAuditServiceClient(f.conn)
	first := must(audit.VerifyAudit(as(auditor), &banliv1.VerifyAuditRequest{}))(t)
	if !first.GetIntact() || first.GetHeadSequence() == 0 || len(first.GetHeadHash()) != 32 {
		t.Fatalf("verify: %v", first)
	}
	anchor := fmt.Sprintf("%d:%x", first.GetHeadSequence(), first.GetHeadHash())
	// An anchor that the trail does not hold is refused.
	wrong := must(audit.VerifyAudit(as(auditor), &banliv1.VerifyAuditRequest{AnchorSequence: 3, AnchorHash: make([]byte, 32)}))(t)
	if wrong.GetIntact() {
		t.Errorf("a wrong anchor verifies: %v", wrong)
	}
	officeKey := f.officeKey(t)
	older := filepath.Join(t.TempDir(), "older.db")
	copyFile(t, f.dataPath, older, func() { f.stop() })
	// The trail goes on after the copy; its head is the auditor's anchor now.
	restarted := startServerOn(t, f.dataPath)
	for i := range 5 {
		must(restarted.proposals.CreateProposal(as(officeKey), f.receiveRequest(fmt.Sprintf("AFTER%d", i))))(t)
	}
	later := must(banliv1.NewAuditServiceClient(restarted.conn).VerifyAudit(as(auditor), &banliv1.VerifyAuditRequest{}))(t)
	newAnchor := fmt.Sprintf("%d:%x", later.GetHeadSequence(), later.GetHeadHash())
	restarted.stop()

	verify := func(path string, extra ...string) (int, string) {
		var stdout, stderr strings.Builder
		args := append([]string{"audit", "verify", "-data", path, "-audit-key", filepath.Join(filepath.Dir(f.dataPath), "audit.key")}, extra...)
		code := run(args, &stdout, &stderr)
		return code, stdout.String() + stderr.String()
	}
	if code, out := verify(f.dataPath, "-anchor", anchor); code != 0 {
		t.Fatalf("the untouched file with the first anchor: %d %s", code, out)
	}
	if code, out := verify(older, "-anchor", newAnchor); code != 1 || !strings.Contains(out, "cut off") {
		t.Errorf("an older copy against the newer anchor: %d %s", code, out)
	}

	attacks := map[string]func(b *bolt.Bucket, meta *bolt.Bucket){
		"forge record 20 and recompute the chain after it": func(b, meta *bolt.Bucket) {
			var prev []byte
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				rec := &banliv1.AuditRecord{}
				proto.Unmarshal(v, rec)
				if rec.GetSequence() == 20 {
					rec.Actor = "accounts/someone-else"
				}
				if rec.GetSequence() >= 20 {
					rec.PreviousHash, rec.Hash = prev, nil
					raw, _ := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
					sum := sha256.Sum256(append(slices.Clone(prev), raw...))
					rec.Hash = sum[:]
					out, _ := proto.Marshal(rec)
					b.Put(k, out)
				}
				prev = rec.GetHash()
				meta.Put([]byte("audit_head"), append(slices.Clone(k), prev...))
			}
		},
		"cut the last 10 records and move the head": func(b, meta *bolt.Bucket) {
			k, _ := b.Cursor().Last()
			last := encbinary.BigEndian.Uint64(k)
			for seq := last - 9; seq <= last; seq++ {
				b.Delete(u64key(seq))
			}
			rec := &banliv1.AuditRecord{}
			proto.Unmarshal(b.Get(u64key(last-10)), rec)
			meta.Put([]byte("audit_head"), append(u64key(last-10), rec.GetHash()...))
		},
		"delete every record": func(b, meta *bolt.Bucket) {
			var keys [][]byte
			b.ForEach(func(k, _ []byte) error { keys = append(keys, slices.Clone(k)); return nil })
			for _, k := range keys {
				b.Delete(k)
			}
			meta.Delete([]byte("audit_head"))
		},
	}
	for name, attack := range attacks {
		copyPath := filepath.Join(t.TempDir(), "banli.db")
		copyFile(t, f.dataPath, copyPath, nil)
		db, err := bolt.Open(copyPath, 0o600, nil)
		if err != nil {
			t.Fatal(err)
		}
		db.Update(func(tx *bolt.Tx) error { attack(tx.Bucket([]byte("audit")), tx.Bucket([]byte("meta"))); return nil })
		db.Close()
		if code, out := verify(copyPath); code != 1 || !strings.Contains(out, "BROKEN") {
			t.Errorf("%s: verify says %d %s", name, code, out)
		}
	}
	// Without its key, a trail is not verified at all.
	var stdout, stderr strings.Builder
	if code := run([]string{"audit", "verify", "-data", f.dataPath, "-audit-key", filepath.Join(t.TempDir(), "none.key")}, &stdout, &stderr); code != 1 {
		t.Errorf("verify without the key: %d %s", code, stdout.String())
	}
}

// copyFile copies a data file, after stop (if any) has released it.
func copyFile(t testing.TB, from, to string, stop func()) {
	t.Helper()
	if stop != nil {
		stop()
	}
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// startServerOn starts a server on an existing data file (its admin.key
// and audit.key beside it).
func startServerOn(t testing.TB, dataPath string) *testServer {
	t.Helper()
	return startServer(t, func(c *server.Config) { c.DataPath = dataPath })
}

// smallDisk mounts a tmpfs of size bytes for a test's data file: a disk
// that fills. It needs root (CI runs as root); elsewhere the test skips,
// saying so, except under CI=true.
func smallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	os.Mkdir(dir, 0o700)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount a small tmpfs: %v %s (CI runs as root and must run this test)", err, out)
		}
		t.Skipf("needs root to mount a small tmpfs (run as root, or CI=true .ci/run): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestDiskFull: a write that the disk cannot take is answered UNAVAILABLE
// with a masked message (no path, no system error), writes nothing, and
// its audit record is kept until the disk has room again.
func TestDiskFull(t *testing.T) {
	disk := smallDisk(t, 40<<20)
	f := newFixture(t, func(c *server.Config) { c.DataPath = filepath.Join(disk, "banli.db") })
	// Room to free later.
	filler := filepath.Join(disk, "filler")
	if err := os.WriteFile(filler, make([]byte, 8<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	content := strings.Repeat("建议", 20000)
	var refused []error
	created := 0
	for i := 0; len(refused) < 3 && i < 1000; i++ {
		req := f.receiveRequest(fmt.Sprintf("F%d", i))
		req.Proposal.Content = content
		if _, err := f.proposals.CreateProposal(office, req); err != nil {
			refused = append(refused, err)
			continue
		}
		created++
	}
	if len(refused) < 3 {
		t.Fatalf("the disk never filled (%d cases)", created)
	}
	for _, err := range refused {
		st := status.Convert(err)
		if st.Code() != codes.Unavailable || strings.Contains(st.Message(), disk) || strings.Contains(st.Message(), "space") || !strings.Contains(st.Message(), "ref ") {
			t.Errorf("a write on a full disk: %v, want UNAVAILABLE, masked, with a reference", err)
		}
	}
	os.Remove(filler)
	// The disk has room again: the refused calls' records come in first.
	list := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{PageSize: 1000}))(t)
	if len(list.GetProposals()) != created {
		t.Errorf("%d cases stored, %d answered OK", len(list.GetProposals()), created)
	}
	unavailable := 0
	for _, rec := range f.auditTrail(t) {
		if strings.HasSuffix(rec.GetMethod(), "/CreateProposal") && rec.GetOutcome() == "Unavailable" {
			unavailable++
		}
	}
	if unavailable != len(refused) {
		t.Errorf("%d refused writes audited, want %d", unavailable, len(refused))
	}
}

// TestStreamFloodStaysBounded: one account opening import streams as
// fast as it can, and never closing those it gets, holds at most its cap
// of them; the rest are refused at once, and the server's memory stays
// flat. CI makes 2,000 attempts; BANLI_STREAM_FLOOD=50000 makes the
// issue's 50,000.
func TestStreamFloodStaysBounded(t *testing.T) {
	attempts := 2000
	if n, err := strconv.Atoi(os.Getenv("BANLI_STREAM_FLOOD")); err == nil && n > 0 {
		attempts = n
	}
	f := newFixture(t, func(c *server.Config) { c.RateLimit, c.RateBurst = 500, 1000 })
	platform := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	imports := banliv1.NewImportServiceClient(f.conn)
	ctx, cancel := context.WithCancel(as(platform))
	defer cancel()
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	before := heap()
	start := time.Now()
	held, refused := 0, 0
	for range attempts {
		s, err := imports.ImportProposals(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A stream is admitted or refused on its first message.
		s.Send(&banliv1.ImportProposalsRequest{Rows: []*banliv1.ImportRow{importRow(f, 1, "X")}})
		if _, err := s.Recv(); err != nil {
			refused++
			continue
		}
		held++ // kept open, never closed
	}
	after := heap()
	t.Logf("%d stream attempts in %s: %d held open, %d refused; heap in use %d MB before, %d MB after",
		attempts, time.Since(start).Round(time.Millisecond), held, refused, before>>20, after>>20)
	if held > server.DefaultMaxStreamsPerAccount {
		t.Errorf("one account holds %d streams, over its cap of %d", held, server.DefaultMaxStreamsPerAccount)
	}
	if after > before+64<<20 {
		t.Errorf("the heap grew from %d to %d MB", before>>20, after>>20)
	}
}

// TestEveryRefusedMutationIsAudited: a mutating call refused for its
// content (before it reaches a decision) is on the trail like one refused
// by a rule, and each once.
func TestEveryRefusedMutationIsAudited(t *testing.T) {
	f := newFixture(t)
	req := f.receiveRequest("V1")
	req.Proposal.Title = ""
	_, err := f.proposals.CreateProposal(office, req)
	wantCode(t, err, codes.InvalidArgument, "proposal.title")
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	staff := as(f.account(t, "li", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	lead := p.GetAssignments()[0].GetName()
	must(f.proposals.SignAssignment(staff, &banliv1.SignAssignmentRequest{Name: lead}))(t)
	_, err = f.proposals.SignAssignment(staff, &banliv1.SignAssignmentRequest{Name: lead})
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = f.proposals.RecordConsultation(staff, &banliv1.RecordConsultationRequest{Name: lead, Consultation: &banliv1.Consultation{}})
	wantCode(t, err, codes.InvalidArgument, "")
	refused := map[string]int{}
	for _, rec := range f.auditTrail(t) {
		if rec.GetOutcome() != "OK" {
			refused[rec.GetMethod()[strings.LastIndex(rec.GetMethod(), "/")+1:]+" "+rec.GetOutcome()]++
		}
	}
	want := map[string]int{"CreateProposal InvalidArgument": 1, "SignAssignment FailedPrecondition": 1, "RecordConsultation InvalidArgument": 1}
	for k, n := range want {
		if refused[k] != n {
			t.Errorf("the trail's refusals are %v, want %v", refused, want)
			break
		}
	}
}

// TestStorageFailureIsNotNotFound: a record that cannot be read is a
// failure of the server, answered UNAVAILABLE with a reference, never
// NOT_FOUND as if the case did not exist.
func TestStorageFailureIsNotNotFound(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	officeKey := f.officeKey(t)
	f.stop()
	db, err := bolt.Open(f.dataPath, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("proposals")).Put(u64key(1), []byte{0xff, 0xff, 0xff})
	})
	db.Close()
	ts := startServerOn(t, f.dataPath)
	ts.damaged = true
	_, err = ts.proposals.GetProposal(as(officeKey), &banliv1.GetProposalRequest{Name: p.GetName()})
	if st := status.Convert(err); st.Code() != codes.Unavailable || !strings.Contains(st.Message(), "ref ") {
		t.Errorf("reading a damaged case: %v, want UNAVAILABLE with a reference", err)
	}
	_, err = ts.events.ListProposalEvents(as(officeKey), &banliv1.ListProposalEventsRequest{Parent: p.GetName()})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("the damaged case's history: %v, want UNAVAILABLE", err)
	}
}

// TestMissingAuditKeyRefusesToStart: a data file whose trail is keyed does
// not start under a new key (a trail nobody could verify); its key file is
// left as it was (absent), and the server says which file to put back.
func TestMissingAuditKeyRefusesToStart(t *testing.T) {
	f := newFixture(t)
	f.receive(t)
	f.stop()
	keyFile := filepath.Join(filepath.Dir(f.dataPath), "audit.key")
	if err := os.Remove(keyFile); err != nil {
		t.Fatal(err)
	}
	cfg := server.Config{DataPath: f.dataPath, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", LockTimeout: time.Second, ShutdownTimeout: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a server that starts stops then
	defer cancel()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	err := server.Run(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), keyFile) {
		t.Fatalf("serve without the audit key: %v, want a refusal naming %s", err, keyFile)
	}
	if _, statErr := os.Stat(keyFile); !os.IsNotExist(statErr) {
		t.Errorf("a refused start left a new key file: %v", statErr)
	}
}
