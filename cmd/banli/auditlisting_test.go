package main

import (
	"strings"
	"testing"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestAuditListingReachesItsEnd: a listing of the audit trail says where
// the trail's head was when each page was read, so an auditor reading
// page by page knows it has reached the end; its own reading is recorded
// once for the whole listing, not once a page, and a new listing is
// recorded again (#15, item 5).
func TestAuditListingReachesItsEnd(t *testing.T) {
	f := newFixture(t)
	for range 5 {
		f.receive(t)
	}
	key := f.account(t, "auditor-pages", banliv1.Role_ROLE_AUDITOR, "")
	audit := banliv1.NewAuditServiceClient(f.conn)
	read := func() (records []*banliv1.AuditRecord, pages int) {
		var after uint64
		for {
			page := must(audit.ListAuditRecords(as(key), &banliv1.ListAuditRecordsRequest{AfterSequence: after, PageSize: 3}))(t)
			pages++
			records = append(records, page.GetRecords()...)
			if n := len(page.GetRecords()); n > 0 {
				after = page.GetRecords()[n-1].GetSequence()
			}
			if after >= page.GetHeadSequence() {
				return records, pages
			}
			if pages > 1000 {
				t.Fatalf("the listing never reaches its end: after %d, head %d", after, page.GetHeadSequence())
			}
		}
	}
	ownReads := func(records []*banliv1.AuditRecord) int {
		n := 0
		for _, r := range records {
			if r.GetActor() == "accounts/auditor-pages" && strings.HasSuffix(r.GetMethod(), "/ListAuditRecords") {
				n++
			}
		}
		return n
	}
	first, pages := read()
	if pages < 3 {
		t.Fatalf("a listing of %d records in %d pages: the test wants several pages", len(first), pages)
	}
	// A listing reads up to the head, its own record included: one for
	// all its pages, and one more for each listing after.
	if got := ownReads(first); got != 1 {
		t.Errorf("a listing of %d pages left %d records of its reading, want 1", pages, got)
	}
	second, _ := read()
	if got := ownReads(second); got != 2 {
		t.Errorf("two listings left %d records, want 2", got)
	}
	third, _ := read()
	for _, r := range third {
		if strings.HasSuffix(r.GetMethod(), "/ListAuditRecords") && r.GetTarget() != "audit" {
			t.Errorf("a listing's record names no target: %v", r)
		}
	}
}
