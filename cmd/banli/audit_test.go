package main

import (
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestAuditTrail: every mutating call is recorded, accepted or refused,
// with its actor, method, target and outcome; the chain verifies; and a
// record changed or removed in the file is found by the endpoint's logic
// and by `banli audit verify`.
func TestAuditTrail(t *testing.T) {
	f := newFixture(t)
	auditorKey := f.account(t, "auditor-wang", banliv1.Role_ROLE_AUDITOR, "")
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	headKey := f.account(t, "head-zhao", banliv1.Role_ROLE_UNIT_HEAD, f.unit(0))
	_, err := f.proposals.SubmitReply(as(headKey), load.ReplyRequest(p.Assignments[0].GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.FailedPrecondition, "")

	audit := banliv1.NewAuditServiceClient(f.conn)
	recs := must(audit.ListAuditRecords(as(auditorKey), &banliv1.ListAuditRecordsRequest{PageSize: 1000}))(t).GetRecords()
	last := recs[len(recs)-1]
	if last.GetActor() != "accounts/head-zhao" || last.GetRole() != "ROLE_UNIT_HEAD" || last.GetOutcome() != "FailedPrecondition" ||
		last.GetTarget() != p.Assignments[0].GetName() || !strings.HasSuffix(last.GetMethod(), "/SubmitReply") || last.GetEventSequence() != 0 {
		t.Errorf("the refused reply is recorded as %v", last)
	}
	var assign *banliv1.AuditRecord
	for _, r := range recs {
		if strings.HasSuffix(r.GetMethod(), "/AssignProposal") {
			assign = r
		}
	}
	if assign.GetOutcome() != "OK" || assign.GetTarget() != p.GetName() || assign.GetEventSequence() == 0 ||
		assign.GetSource() == "" || assign.GetActor() != "accounts/test-office" || assign.GetRole() != "ROLE_OFFICE" {
		t.Errorf("the assignment is recorded as %v", assign)
	}
	if first := recs[0]; first.GetMethod() != "/banli.v1.AccountService/BootstrapAdmin" || first.GetTarget() != "accounts/admin" {
		t.Errorf("the first record is %v, want the first admin's creation", first)
	}
	// The auditor's own reading is on the trail too.
	n := uint64(len(recs)) + 1
	if v := must(audit.VerifyAudit(as(auditorKey), &banliv1.VerifyAuditRequest{}))(t); !v.GetIntact() || v.GetRecords() != n {
		t.Errorf("verify: %v, want %d records", v, n)
	}
	n++
	// REST reads it too (as an auditor account the test makes for it: two
	// records); no one else may.
	code, out := f.rest(t, "GET", "/v1/audit:verify", nil)
	if code != 200 || out["intact"] != true {
		t.Errorf("REST verify: %d %v", code, out)
	}
	n += 2
	_, err = audit.ListAuditRecords(as(f.adminKey), &banliv1.ListAuditRecordsRequest{})
	wantCode(t, err, codes.PermissionDenied, "")
	n++
	f.stop()

	var stdout, stderr strings.Builder
	if code := run([]string{"audit", "verify", "-data", f.dataPath}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), fmt.Sprintf("intact: %d records", n)) {
		t.Fatalf("verify an intact file: %d %q %q, want %d records", code, stdout.String(), stderr.String(), n)
	}

	// Someone with the file edits record 4's actor.
	var actor string
	tamper(t, f.dataPath, func(b *bolt.Bucket) {
		rec := &banliv1.AuditRecord{}
		proto.Unmarshal(b.Get(u64key(4)), rec)
		actor, rec.Actor = rec.Actor, "someone-else"
		raw, _ := proto.Marshal(rec)
		b.Put(u64key(4), raw)
	})
	stdout.Reset()
	if code := run([]string{"audit", "verify", "-data", f.dataPath}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), "BROKEN at record 4") {
		t.Errorf("verify after an edit: %d %q", code, stdout.String())
	}
	// Or removes the last record instead.
	tamper(t, f.dataPath, func(b *bolt.Bucket) {
		rec := &banliv1.AuditRecord{}
		proto.Unmarshal(b.Get(u64key(4)), rec)
		rec.Actor = actor
		raw, _ := proto.Marshal(rec)
		b.Put(u64key(4), raw) // put the edit back
		b.Delete(u64key(n))
	})
	stdout.Reset()
	if code := run([]string{"audit", "verify", "-data", f.dataPath}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), fmt.Sprintf("BROKEN at record %d", n)) {
		t.Errorf("verify after a removal: %d %q", code, stdout.String())
	}
}

func tamper(t *testing.T, path string, edit func(*bolt.Bucket)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { edit(tx.Bucket([]byte("audit"))); return nil }); err != nil {
		t.Fatal(err)
	}
}

func u64key(n uint64) []byte {
	b := make([]byte, 8)
	for i := 7; i >= 0; i-- {
		b[i] = byte(n)
		n >>= 8
	}
	return b
}

// TestDeniedReadsNameTheirTarget: a refused read of a case's history is
// recorded with the case it asked for (#15, item 5).
func TestDeniedReadsNameTheirTarget(t *testing.T) {
	f := newFixture(t)
	auditorKey := f.account(t, "auditor-li", banliv1.Role_ROLE_AUDITOR, "")
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	other := as(f.account(t, "other-unit-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(2)))
	_, err := f.events.ListProposalEvents(other, &banliv1.ListProposalEventsRequest{Parent: p.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	recs := must(banliv1.NewAuditServiceClient(f.conn).ListAuditRecords(as(auditorKey), &banliv1.ListAuditRecordsRequest{PageSize: 1000}))(t).GetRecords()
	for _, r := range recs {
		if strings.HasSuffix(r.GetMethod(), "/ListProposalEvents") && r.GetActor() == "accounts/other-unit-staff" {
			if r.GetTarget() != p.GetName() {
				t.Errorf("the denied history read names %q, want %s", r.GetTarget(), p.GetName())
			}
			return
		}
	}
	t.Fatal("the denied read is not on the trail")
}
