package main

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestSupervisionActivitiesOfKeyCases: the office records what its leaders
// do about a key case (督办: a meeting, an inspection, an instruction, a
// progress report), with date, participants and summary; the case keeps
// them, and the key-case ledger shows each case's latest. A case that is
// not key has none (#13, item 4).
func TestSupervisionActivitiesOfKeyCases(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	activity := func(kind banliv1.SupervisionKind, date string) *banliv1.RecordSupervisionRequest {
		return &banliv1.RecordSupervisionRequest{Name: p.GetName(), Activity: &banliv1.SupervisionActivity{
			Kind: kind, Date: date, Leader: "陈副市长", Participants: []string{"陈副市长", "市数据局张局长"}, Summary: "现场督办，要求年底前完成",
		}}
	}
	today := f.clock.Now().Format(time.DateOnly)
	_, err := f.proposals.RecordSupervision(office, activity(banliv1.SupervisionKind_SUPERVISION_KIND_INSPECTION, today))
	wantCode(t, err, codes.FailedPrecondition, "") // not a key case
	must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: p.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)

	for _, bad := range []struct {
		name  string
		req   *banliv1.RecordSupervisionRequest
		field string
	}{
		{"no kind", activity(0, today), "activity.kind"},
		{"in the future", activity(banliv1.SupervisionKind_SUPERVISION_KIND_MEETING, f.clock.Now().AddDate(0, 0, 2).Format(time.DateOnly)), "activity.date"},
		{"no summary", &banliv1.RecordSupervisionRequest{Name: p.GetName(), Activity: &banliv1.SupervisionActivity{Kind: banliv1.SupervisionKind_SUPERVISION_KIND_MEETING, Date: today}}, "activity.summary"},
	} {
		_, err := f.proposals.RecordSupervision(office, bad.req)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, codes.InvalidArgument, bad.field) })
	}
	staff := as(f.account(t, "sup-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	_, err = f.proposals.RecordSupervision(staff, activity(banliv1.SupervisionKind_SUPERVISION_KIND_MEETING, today))
	wantCode(t, err, codes.PermissionDenied, "")

	must(f.proposals.RecordSupervision(office, activity(banliv1.SupervisionKind_SUPERVISION_KIND_MEETING, today)))(t)
	f.clock.Advance(10 * 24 * time.Hour)
	later := f.clock.Now().Format(time.DateOnly)
	p = must(f.proposals.RecordSupervision(office, activity(banliv1.SupervisionKind_SUPERVISION_KIND_INSPECTION, later)))(t)
	if got := p.GetSupervisionActivities(); len(got) != 2 || got[1].GetKind() != banliv1.SupervisionKind_SUPERVISION_KIND_INSPECTION || got[1].GetRecordedBy() == "" {
		t.Fatalf("activities: %v", got)
	}
	entries := must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_KEY_CASES}))(t).GetEntries()
	if len(entries) != 1 || entries[0].GetLastSupervision().GetDate() != later {
		t.Fatalf("the key-case ledger: %v", entries)
	}
}
