package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	banliv1 "github.com/banli/banli/gen/banli/v1"
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
		recs := must(audit.ListAuditRecords(as(key), &banliv1.ListAuditRecordsRequest{AfterSequence: after, PageSize: 1000}))(t).GetRecords()
		out = append(out, recs...)
		// Each read is on the trail too: a short page is the end.
		if len(recs) < 1000 {
			return out
		}
		after = recs[len(recs)-1].GetSequence()
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
		if code != 200 || len(out) > 1 || out["events"] != nil || out["records"] != nil {
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
