package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestDepartmentsAndHandlers: a part the unit delegates to a department
// (处室) is that department's to see and to work on, and its handler (the
// person responsible, as an account) finds it under "my cases"; another
// department of the same unit does not reach it; the unit re-delegates it,
// and the history records each move (#13, item 1).
func TestDepartmentsAndHandlers(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	bureau := f.unit(0)
	dept := must(f.units.CreateUnit(ctx, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "数字政府处", Parent: bureau}}))(t).GetName()
	other := must(f.units.CreateUnit(ctx, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "办公室", Parent: bureau}}))(t).GetName()
	bureauStaff := as(f.account(t, "bureau-staff", banliv1.Role_ROLE_UNIT_STAFF, bureau))
	deptStaff := as(f.account(t, "dept-staff", banliv1.Role_ROLE_UNIT_STAFF, dept))
	otherStaff := as(f.account(t, "other-staff", banliv1.Role_ROLE_UNIT_STAFF, other))
	f.account(t, "li-ming", banliv1.Role_ROLE_UNIT_STAFF, dept)
	f.account(t, "outsider", banliv1.Role_ROLE_UNIT_STAFF, f.unit(1))
	handler := "accounts/li-ming"

	p := f.assign(t, f.receive(t), part(bureau, roleLead))
	a := p.GetAssignments()[0].GetName()

	// Only an account of the part's unit (or a department of it) handles it.
	_, err := f.proposals.SignAssignment(bureauStaff, &banliv1.SignAssignmentRequest{Name: a, Department: dept, Handler: "accounts/outsider"})
	wantCode(t, err, codes.InvalidArgument, "handler")
	p = must(f.proposals.SignAssignment(bureauStaff, &banliv1.SignAssignmentRequest{Name: a, Department: dept, Handler: handler, ResponsiblePhone: "0755-88000001"}))(t)
	if got := p.GetAssignments()[0]; got.GetDepartment() != dept || got.GetHandler() != handler || got.GetResponsiblePerson() != "li-ming" {
		t.Fatalf("after sign-in: department %q, handler %q, person %q", got.GetDepartment(), got.GetHandler(), got.GetResponsiblePerson())
	}
	// The history says it in Chinese, with the names (#16, item 1).
	history := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName()}))(t).GetEvents()
	var said []string
	for _, ev := range history {
		said = append(said, ev.GetDescriptionZh())
	}
	if want := []string{"收到案件", "交办：市数据局（主办）", "市数据局 签收；责任处室：数字政府处；经办人：li-ming"}; !slices.Equal(said, want) {
		t.Errorf("the history in Chinese:\n got %q\nwant %q", said, want)
	}

	// The department reaches the part; another department does not.
	must(f.proposals.GetProposal(deptStaff, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	_, err = f.proposals.GetProposal(otherStaff, &banliv1.GetProposalRequest{Name: p.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	must(f.proposals.RecordConsultation(deptStaff, consultation(a)))(t)
	_, err = f.proposals.RecordConsultation(otherStaff, consultation(a))
	wantCode(t, err, codes.PermissionDenied, "")

	// The department lists it among its cases; the handler under "my cases".
	listed := func(ctx context.Context, req *banliv1.ListProposalsRequest) []string {
		t.Helper()
		var names []string
		for _, c := range must(f.proposals.ListProposals(ctx, req))(t).GetProposals() {
			names = append(names, c.GetName())
		}
		return names
	}
	if got := listed(deptStaff, &banliv1.ListProposalsRequest{}); !slices.Contains(got, p.GetName()) {
		t.Errorf("the department's list %v lacks %s", got, p.GetName())
	}
	if got := listed(otherStaff, &banliv1.ListProposalsRequest{}); len(got) != 0 {
		t.Errorf("another department lists %v", got)
	}
	if got := listed(office, &banliv1.ListProposalsRequest{Handler: handler}); !slices.Equal(got, []string{p.GetName()}) {
		t.Errorf("the office's list of %s's cases: %v", handler, got)
	}
	if got := listed(office, &banliv1.ListProposalsRequest{Handler: "accounts/outsider"}); len(got) != 0 {
		t.Errorf("the outsider handles %v", got)
	}
	f.clock.Advance(40 * 24 * time.Hour) // the reply falls due within 60 working days
	dueSoon := func(ctx context.Context, req *banliv1.ListLedgerEntriesRequest) int {
		t.Helper()
		req.View, req.WithinWorkingDays = banliv1.LedgerView_LEDGER_VIEW_DUE_SOON, 60
		return len(must(f.supervision().ListLedgerEntries(ctx, req))(t).GetEntries())
	}
	if n := dueSoon(deptStaff, &banliv1.ListLedgerEntriesRequest{}); n != 1 {
		t.Errorf("the department's due-soon ledger has %d entries, want 1", n)
	}
	if n := dueSoon(otherStaff, &banliv1.ListLedgerEntriesRequest{}); n != 0 {
		t.Errorf("another department's due-soon ledger has %d entries", n)
	}
	if n := dueSoon(office, &banliv1.ListLedgerEntriesRequest{Handler: handler}); n != 1 {
		t.Errorf("%s's due-soon ledger has %d entries, want 1", handler, n)
	}
	stats := must(f.statistics().GetStatistics(deptStaff, &banliv1.GetStatisticsRequest{Year: 2021}))(t)
	if stats.GetUnit() != dept || stats.GetLeadParts() != 1 {
		t.Errorf("the department's statistics: unit %q, %d lead parts", stats.GetUnit(), stats.GetLeadParts())
	}

	// A department works on what is delegated to it; delegating is the unit's.
	_, err = f.proposals.DelegateAssignment(deptStaff, &banliv1.DelegateAssignmentRequest{Name: a, Department: other, Reason: "转办"})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = f.proposals.DelegateAssignment(bureauStaff, &banliv1.DelegateAssignmentRequest{Name: a, Department: f.unit(1), Reason: "转办"})
	wantCode(t, err, codes.InvalidArgument, "department")
	p = must(f.proposals.DelegateAssignment(bureauStaff, &banliv1.DelegateAssignmentRequest{Name: a, Department: other, Reason: "职责调整，转办公室办理"}))(t)
	if got := p.GetAssignments()[0]; got.GetDepartment() != other || got.GetHandler() != "" {
		t.Fatalf("after delegation: department %q, handler %q (a handler of the old department does not follow)", got.GetDepartment(), got.GetHandler())
	}
	_, err = f.proposals.GetProposal(deptStaff, &banliv1.GetProposalRequest{Name: p.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	must(f.proposals.GetProposal(otherStaff, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	if got := listed(office, &banliv1.ListProposalsRequest{Handler: handler}); len(got) != 0 {
		t.Errorf("the old handler still has %v", got)
	}
	events := must(f.events.ListProposalEvents(ctx, &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 1000}))(t).GetEvents()
	if last := events[len(events)-1]; last.GetAction() != "DelegateAssignment" {
		t.Errorf("the history's last step is %q", last.GetAction())
	}
}

func consultation(assignment string) *banliv1.RecordConsultationRequest {
	return &banliv1.RecordConsultationRequest{Name: assignment, Consultation: &banliv1.Consultation{
		Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE,
		Participants: []string{"王委员"}, Summary: "电话沟通办理思路。",
	}}
}
