package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestKeyCasesWithTheirLeaders: leaders are records. The office registers
// them once and names them on key cases, as the leader who leads the
// handling (领办) and those who supervise (领衔督办); activities name them
// too. A leader signs in to read its own key cases, their history and
// the key-case ledger, and nothing else; the office lists key cases by
// leader. Every bad request names its field and writes nothing (#13,
// item 4).
func TestKeyCasesWithTheirLeaders(t *testing.T) {
	f := newFixture(t)
	leaders := banliv1.NewLeaderServiceClient(f.conn)
	register := func(l *banliv1.Leader) (*banliv1.Leader, error) {
		return leaders.CreateLeader(office, &banliv1.CreateLeaderRequest{Leader: l})
	}
	wang := must(register(&banliv1.Leader{DisplayName: "王某", Title: "市政协副主席", Body: banliv1.LeaderBody_LEADER_BODY_CPPCC}))(t)
	zhang := must(register(&banliv1.Leader{DisplayName: "张某", Title: "局长", Body: banliv1.LeaderBody_LEADER_BODY_UNIT, Unit: f.unit(0)}))(t)
	li := must(register(&banliv1.Leader{DisplayName: "李某", Title: "副市长", Body: banliv1.LeaderBody_LEADER_BODY_GOVERNMENT}))(t)
	for _, bad := range []struct {
		name  string
		l     *banliv1.Leader
		code  codes.Code
		field string
	}{
		{"the same leader again", &banliv1.Leader{DisplayName: "王某", Title: "市政协副主席", Body: banliv1.LeaderBody_LEADER_BODY_CPPCC}, codes.AlreadyExists, ""},
		{"a unit's head without the unit", &banliv1.Leader{DisplayName: "赵某", Title: "局长", Body: banliv1.LeaderBody_LEADER_BODY_UNIT}, codes.InvalidArgument, "leader.unit"},
		{"a unit for a CPPCC leader", &banliv1.Leader{DisplayName: "赵某", Title: "主席", Body: banliv1.LeaderBody_LEADER_BODY_CPPCC, Unit: f.unit(0)}, codes.InvalidArgument, "leader.unit"},
		{"no title", &banliv1.Leader{DisplayName: "赵某", Body: banliv1.LeaderBody_LEADER_BODY_CPPCC}, codes.InvalidArgument, "leader.title"},
		{"no body", &banliv1.Leader{DisplayName: "赵某", Title: "主席"}, codes.InvalidArgument, "leader.body"},
	} {
		_, err := register(bad.l)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, bad.code, bad.field) })
	}
	if all := must(leaders.ListLeaders(office, &banliv1.ListLeadersRequest{}))(t).GetLeaders(); len(all) != 3 {
		t.Fatalf("%d leaders registered, want 3", len(all))
	}

	// Accounts of leaders.
	accounts := banliv1.NewAccountServiceClient(f.conn)
	_, err := accounts.CreateAccount(as(f.adminKey), &banliv1.CreateAccountRequest{AccountId: "leader-none", Account: &banliv1.Account{DisplayName: "x", Role: banliv1.Role_ROLE_LEADER}})
	wantCode(t, err, codes.InvalidArgument, "account.leader")
	_, err = accounts.CreateAccount(as(f.adminKey), &banliv1.CreateAccountRequest{AccountId: "leader-ghost", Account: &banliv1.Account{DisplayName: "x", Role: banliv1.Role_ROLE_LEADER, Leader: "leaders/99"}})
	wantCode(t, err, codes.NotFound, "account.leader")
	_, err = accounts.CreateAccount(as(f.adminKey), &banliv1.CreateAccountRequest{AccountId: "staff-leader", Account: &banliv1.Account{DisplayName: "x", Role: banliv1.Role_ROLE_UNIT_STAFF, Unit: f.unit(0), Leader: wang.GetName()}})
	wantCode(t, err, codes.InvalidArgument, "account.leader")
	asWang := as(f.leaderAccount(t, "leader-wang", wang.GetName()))

	// Three cases: p1 is led by 张 and supervised by 王, p2 supervised by
	// 李, p3 is not a key case.
	p1 := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	p2 := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	p3 := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	mark := func(p *banliv1.Proposal, leaders ...*banliv1.KeyCaseLeader) (*banliv1.Proposal, error) {
		return f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: p.GetName(), Key: true, Leaders: leaders})
	}
	supervising := func(l *banliv1.Leader) *banliv1.KeyCaseLeader {
		return &banliv1.KeyCaseLeader{Leader: l.GetName(), Role: banliv1.KeyCaseRole_KEY_CASE_ROLE_SUPERVISING}
	}
	handling := func(l *banliv1.Leader) *banliv1.KeyCaseLeader {
		return &banliv1.KeyCaseLeader{Leader: l.GetName(), Role: banliv1.KeyCaseRole_KEY_CASE_ROLE_HANDLING}
	}
	history := f.caseEvents(t, p1)
	for _, bad := range []struct {
		name    string
		leaders []*banliv1.KeyCaseLeader
		code    codes.Code
		field   string
	}{
		{"no supervising leader", []*banliv1.KeyCaseLeader{handling(zhang)}, codes.InvalidArgument, "leaders"},
		{"two leading the handling", []*banliv1.KeyCaseLeader{supervising(wang), handling(zhang), handling(li)}, codes.InvalidArgument, "leaders"},
		{"a leader twice", []*banliv1.KeyCaseLeader{supervising(wang), handling(wang)}, codes.InvalidArgument, "leaders[1].leader"},
		{"a leader not registered", []*banliv1.KeyCaseLeader{{Leader: "leaders/99", Role: banliv1.KeyCaseRole_KEY_CASE_ROLE_SUPERVISING}}, codes.NotFound, "leaders[0].leader"},
		{"no role", []*banliv1.KeyCaseLeader{{Leader: wang.GetName()}}, codes.InvalidArgument, "leaders[0].role"},
	} {
		_, err := mark(p1, bad.leaders...)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, bad.code, bad.field) })
	}
	_, err = f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: p1.GetName(), Key: true, SupervisingLeader: "王某副主席", Leaders: []*banliv1.KeyCaseLeader{supervising(wang)}})
	wantCode(t, err, codes.InvalidArgument, "supervising_leader")
	if got := f.caseEvents(t, p1); got != history {
		t.Fatalf("refused markings wrote %d events", got-history)
	}
	p1 = must(mark(p1, supervising(wang), handling(zhang)))(t)
	must(mark(p2, supervising(li)))(t)
	want := []*banliv1.KeyCaseLeader{
		{Leader: wang.GetName(), Role: banliv1.KeyCaseRole_KEY_CASE_ROLE_SUPERVISING, DisplayName: "市政协副主席 王某"},
		{Leader: zhang.GetName(), Role: banliv1.KeyCaseRole_KEY_CASE_ROLE_HANDLING, DisplayName: "局长 张某"},
	}
	if !slices.EqualFunc(p1.GetKeyLeaders(), want, func(a, b *banliv1.KeyCaseLeader) bool {
		return a.GetLeader() == b.GetLeader() && a.GetRole() == b.GetRole() && a.GetDisplayName() == b.GetDisplayName()
	}) || p1.GetSupervisingLeader() != "市政协副主席 王某" {
		t.Fatalf("key leaders %v, supervising %q", p1.GetKeyLeaders(), p1.GetSupervisingLeader())
	}

	// Activities name a leader of the case.
	today := f.clock.Now().Format(time.DateOnly)
	activity := func(by *banliv1.Leader) *banliv1.RecordSupervisionRequest {
		return &banliv1.RecordSupervisionRequest{Name: p1.GetName(), Activity: &banliv1.SupervisionActivity{
			Kind: banliv1.SupervisionKind_SUPERVISION_KIND_INSPECTION, Date: today, ByLeader: by.GetName(), Summary: "现场督办"}}
	}
	_, err = f.proposals.RecordSupervision(office, activity(li))
	wantCode(t, err, codes.InvalidArgument, "activity.by_leader")
	p1 = must(f.proposals.RecordSupervision(office, activity(wang)))(t)
	if act := p1.GetSupervisionActivities()[0]; act.GetLeader() != "市政协副主席 王某" || act.GetByLeader() != wang.GetName() {
		t.Fatalf("the activity: %v", act)
	}

	// 王 reads its key case and nothing else, and takes no step.
	must(f.proposals.GetProposal(asWang, &banliv1.GetProposalRequest{Name: p1.GetName()}))(t)
	for _, p := range []*banliv1.Proposal{p2, p3} {
		_, err := f.proposals.GetProposal(asWang, &banliv1.GetProposalRequest{Name: p.GetName()})
		wantCode(t, err, codes.PermissionDenied, "")
	}
	listed := must(f.proposals.ListProposals(asWang, &banliv1.ListProposalsRequest{}))(t).GetProposals()
	if len(listed) != 1 || listed[0].GetName() != p1.GetName() {
		t.Fatalf("the leader lists %d cases", len(listed))
	}
	_, err = f.proposals.ListProposals(asWang, &banliv1.ListProposalsRequest{Leader: li.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	must(f.events.ListProposalEvents(asWang, &banliv1.ListProposalEventsRequest{Parent: p1.GetName()}))(t)
	_, err = f.proposals.RecordSupervision(asWang, activity(wang))
	wantCode(t, err, codes.PermissionDenied, "")
	ledger := func(ctx context.Context, leader string) []string {
		var names []string
		for _, e := range must(f.supervision().ListLedgerEntries(ctx, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_KEY_CASES, Leader: leader}))(t).GetEntries() {
			names = append(names, e.GetProposal())
			if e.GetProposal() == p1.GetName() && (len(e.GetKeyLeaders()) != 2 || e.GetLastSupervision().GetByLeader() != wang.GetName()) {
				t.Errorf("the ledger's entry: leaders %v, last activity %v", e.GetKeyLeaders(), e.GetLastSupervision())
			}
		}
		return names
	}
	if got := ledger(asWang, ""); !slices.Equal(got, []string{p1.GetName()}) {
		t.Errorf("the leader's key-case ledger: %v", got)
	}
	_, err = f.supervision().ListLedgerEntries(asWang, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_OVERDUE})
	wantCode(t, err, codes.PermissionDenied, "") // ErrorInfo names the field: view

	// The office: key cases by leader.
	if got := ledger(office, li.GetName()); !slices.Equal(got, []string{p2.GetName()}) {
		t.Errorf("李's key cases in the ledger: %v", got)
	}
	if got := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{Leader: zhang.GetName()}))(t).GetProposals(); len(got) != 1 || got[0].GetName() != p1.GetName() {
		t.Errorf("张's key cases: %d", len(got))
	}
	// Unmarked, the case is no longer the leader's.
	must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: p1.GetName(), Key: false}))(t)
	_, err = f.proposals.GetProposal(asWang, &banliv1.GetProposalRequest{Name: p1.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")

	// A standby holds the leaders.
	standby := startStandby(t, f.testServer)
	waitFor(t, func() bool {
		_, err := banliv1.NewLeaderServiceClient(standby.conn).GetLeader(office, &banliv1.GetLeaderRequest{Name: li.GetName()})
		return err == nil
	})
}
