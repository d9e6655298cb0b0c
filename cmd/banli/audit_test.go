package main

import (
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestAuditTrail: every mutating call is recorded, accepted or refused,
// with its actor, method, target and outcome; the chain verifies; and a
// record changed or removed in the file is found by the endpoint's logic
// and by `banli audit verify`.
func TestAuditTrail(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	_, err := f.proposals.SubmitReply(actorCtx("clerk-li"), replyRequest(p.Assignments[0].GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.FailedPrecondition, "")

	audit := banliv1.NewAuditServiceClient(f.conn)
	recs := must(audit.ListAuditRecords(office, &banliv1.ListAuditRecordsRequest{PageSize: 1000}))(t).GetRecords()
	last := recs[len(recs)-1]
	if last.GetActor() != "clerk-li" || last.GetOutcome() != "FailedPrecondition" || last.GetTarget() != p.Assignments[0].GetName() ||
		!strings.HasSuffix(last.GetMethod(), "/SubmitReply") || last.GetEventSequence() != 0 {
		t.Errorf("the refused reply is recorded as %v", last)
	}
	assign := recs[len(recs)-2]
	if assign.GetOutcome() != "OK" || assign.GetTarget() != p.GetName() || assign.GetEventSequence() == 0 || assign.GetSource() == "" {
		t.Errorf("the assignment is recorded as %v", assign)
	}
	// 1 session, 6 units, the case, its assignment, the refused reply.
	if len(recs) != 10 {
		t.Errorf("%d records, want 10", len(recs))
	}
	if v := must(audit.VerifyAudit(office, &banliv1.VerifyAuditRequest{}))(t); !v.GetIntact() || v.GetRecords() != 10 {
		t.Errorf("verify: %v", v)
	}
	// REST reads it too.
	if code, out := f.rest(t, "GET", "/v1/audit:verify", nil); code != 200 || out["intact"] != true {
		t.Errorf("REST verify: %d %v", code, out)
	}
	f.stop()

	var stdout, stderr strings.Builder
	if code := run([]string{"audit", "verify", "-data", f.dataPath}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "intact: 10 records") {
		t.Fatalf("verify an intact file: %d %q %q", code, stdout.String(), stderr.String())
	}

	// Someone with the file edits record 4's actor.
	tamper(t, f.dataPath, func(b *bolt.Bucket) {
		rec := &banliv1.AuditRecord{}
		proto.Unmarshal(b.Get(u64key(4)), rec)
		rec.Actor = "someone-else"
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
		rec.Actor = "office"
		raw, _ := proto.Marshal(rec)
		b.Put(u64key(4), raw) // put the edit back
		b.Delete(u64key(10))
	})
	stdout.Reset()
	if code := run([]string{"audit", "verify", "-data", f.dataPath}, &stdout, &stderr); code != 1 || !strings.Contains(stdout.String(), "BROKEN at record 10") {
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
