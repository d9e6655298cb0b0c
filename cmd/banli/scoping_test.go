package main

import (
	"context"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// existing is the resource an ALREADY_EXISTS names in its ResourceInfo.
func existing(t *testing.T, err error) string {
	t.Helper()
	wantCode(t, err, codes.AlreadyExists, "")
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.ResourceInfo); ok {
			return ri.GetResourceName()
		}
	}
	return ""
}

// TestScopingOfSessionsUnitsAndProposers: a session is unique on its body,
// level, term and meeting, and an active unit on its parent and name; a
// second is ALREADY_EXISTS naming the first in ResourceInfo. An NPC
// suggestion comes from deputies or delegations, never from a party
// (#15, item 1).
func TestScopingOfSessionsUnitsAndProposers(t *testing.T) {
	f := newFixture(t)
	admin := as(f.adminKey)
	_, err := f.sessions.CreateSession(admin, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "又一个七届一次"}})
	if got := existing(t, err); got != f.session.GetName() {
		t.Errorf("the duplicate session names %q, want %s", got, f.session.GetName())
	}
	_, err = f.units.CreateUnit(admin, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: f.bureaus[0].GetDisplayName()}})
	if got := existing(t, err); got != f.unit(0) {
		t.Errorf("the duplicate unit names %q, want %s", got, f.unit(0))
	}
	// The same name under another parent is another unit.
	must(f.units.CreateUnit(admin, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "办公室", Parent: f.unit(0)}}))(t)
	must(f.units.CreateUnit(admin, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "办公室", Parent: f.unit(1)}}))(t)
	// A case number taken: the existing case is named to a caller who may
	// read it.
	p := f.receive(t)
	dup := f.receiveRequest(p.GetNumber())
	_, err = f.proposals.CreateProposal(office, dup)
	if got := existing(t, err); got != p.GetName() {
		t.Errorf("the taken number names %q, want %s", got, p.GetName())
	}

	npc := must(f.sessions.CreateSession(admin, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 16, Meeting: 1, Year: 2021, DisplayName: "市十六届人大一次会议"}}))(t)
	suggestion := func(proposers ...*banliv1.Proposer) *banliv1.CreateProposalRequest {
		return &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{Session: npc.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION,
			Number: "S1", Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于改善交通的建议", Content: "……", Proposers: proposers}}
	}
	_, err = f.proposals.CreateProposal(office, suggestion(
		&banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王代表"},
		&banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PARTY, DisplayName: "致公党市委会"}))
	wantCode(t, err, codes.InvalidArgument, "proposal.proposers[1].type")
	must(f.proposals.CreateProposal(office, suggestion(
		&banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_DELEGATION, DisplayName: "福田代表团"},
		&banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王代表"})))(t)
	cppcc := f.receiveRequest("D1")
	cppcc.Proposal.Proposers = []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_DELEGATION, DisplayName: "福田代表团"}}
	_, err = f.proposals.CreateProposal(office, cppcc)
	wantCode(t, err, codes.InvalidArgument, "proposal.proposers[0].type")
}

// TestOfficeBoundToABody: a CPPCC proposal committee's office account acts
// on CPPCC sessions and cases only: an NPC suggestion is refused to it as
// another's case is, with the field named, whether it assigns, reads,
// registers or imports; its lists, ledgers, exports and figures cover its
// body's sessions alone, and a level narrows them further. An office with
// no body spans both (#15, item 1).
func TestOfficeBoundToABody(t *testing.T) {
	f := newFixture(t)
	admin := as(f.adminKey)
	accounts := banliv1.NewAccountServiceClient(f.conn)
	bound := func(id string, body banliv1.Body, level banliv1.Level) string {
		made := must(accounts.CreateAccount(admin, &banliv1.CreateAccountRequest{AccountId: id,
			Account: &banliv1.Account{DisplayName: id, Role: banliv1.Role_ROLE_OFFICE, Body: body, Level: level}}))(t)
		return made.GetKey()
	}
	_, err := accounts.CreateAccount(admin, &banliv1.CreateAccountRequest{AccountId: "viewer-npc",
		Account: &banliv1.Account{DisplayName: "x", Role: banliv1.Role_ROLE_VIEWER, Body: banliv1.Body_BODY_NPC}})
	wantCode(t, err, codes.InvalidArgument, "account.body")
	_, err = accounts.CreateAccount(admin, &banliv1.CreateAccountRequest{AccountId: "office-city",
		Account: &banliv1.Account{DisplayName: "x", Role: banliv1.Role_ROLE_OFFICE, Level: banliv1.Level_LEVEL_CITY}})
	wantCode(t, err, codes.InvalidArgument, "account.level")

	cppccKey := bound("cppcc-office", banliv1.Body_BODY_CPPCC, 0)
	cppccOffice := as(cppccKey)
	districtOffice := as(bound("district-cppcc", banliv1.Body_BODY_CPPCC, banliv1.Level_LEVEL_DISTRICT))
	joint := as(f.officeKey(t)) // no body: both

	npc := must(f.sessions.CreateSession(admin, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 16, Meeting: 1, Year: 2021, DisplayName: "市十六届人大一次会议"}}))(t)
	suggestionReq := &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{Session: npc.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION,
		Number: "S1", Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于改善交通的建议", Content: "……",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "李代表"}}}}
	_, err = f.proposals.CreateProposal(cppccOffice, suggestionReq)
	wantDeniedField(t, err, "proposal.session")
	suggestion := must(f.proposals.CreateProposal(joint, suggestionReq))(t)
	proposal := f.receive(t) // the fixture's CPPCC session
	must(f.proposals.AssignProposal(cppccOffice, &banliv1.AssignProposalRequest{Name: proposal.GetName(), Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleLead)}}))(t)

	// Every call naming the NPC case is refused, as another's would be.
	_, err = f.proposals.AssignProposal(cppccOffice, &banliv1.AssignProposalRequest{Name: suggestion.GetName(), Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleLead)}})
	wantDeniedField(t, err, "name")
	_, err = f.proposals.GetProposal(cppccOffice, &banliv1.GetProposalRequest{Name: suggestion.GetName()})
	wantDeniedField(t, err, "name")
	_, err = f.events.ListProposalEvents(cppccOffice, &banliv1.ListProposalEventsRequest{Parent: suggestion.GetName()})
	wantDeniedField(t, err, "parent")
	_, err = f.proposals.MergeProposals(cppccOffice, &banliv1.MergeProposalsRequest{Name: proposal.GetName(), Sources: []string{suggestion.GetName()}})
	wantDeniedField(t, err, "sources[0]")
	_, err = f.proposals.GetProposalByNumber(cppccOffice, &banliv1.GetProposalByNumberRequest{Session: npc.GetName(), Number: "S1"})
	wantDeniedField(t, err, "session")
	_, _, err = f.downloadFile(cppccOffice, suggestion.GetName()+"/files/1")
	wantDeniedField(t, err, "name")
	// Reference data stays everyone's: the other body's session is read.
	must(f.sessions.GetSession(cppccOffice, &banliv1.GetSessionRequest{Name: npc.GetName()}))(t)
	imports := banliv1.NewImportServiceClient(f.conn)
	row := &banliv1.ImportRow{Row: 1, Proposal: proto.Clone(suggestionReq.GetProposal()).(*banliv1.Proposal)}
	row.Proposal.Number = "S2"
	_, err = imports.BulkImportProposals(cppccOffice, &banliv1.BulkImportProposalsRequest{Batch: &banliv1.ImportProposalsRequest{Rows: []*banliv1.ImportRow{row}}})
	wantDeniedField(t, err, "batch.rows[0].proposal.session")

	// Lists, ledgers, exports and figures are its body's.
	names := func(ctx context.Context, req *banliv1.ListProposalsRequest) []string {
		var out []string
		for _, p := range must(f.proposals.ListProposals(ctx, req))(t).GetProposals() {
			out = append(out, p.GetName())
		}
		return out
	}
	if got := names(cppccOffice, &banliv1.ListProposalsRequest{}); len(got) != 1 || got[0] != proposal.GetName() {
		t.Errorf("the CPPCC office lists %v, want only %s", got, proposal.GetName())
	}
	if got := names(joint, &banliv1.ListProposalsRequest{}); len(got) != 2 {
		t.Errorf("the joint office lists %v, want both cases", got)
	}
	if got := names(districtOffice, &banliv1.ListProposalsRequest{}); len(got) != 0 {
		t.Errorf("the district CPPCC office lists the city's cases: %v", got)
	}
	_, err = f.proposals.ListProposals(cppccOffice, &banliv1.ListProposalsRequest{Session: npc.GetName()})
	wantDeniedField(t, err, "session")
	must(f.proposals.AssignProposal(joint, &banliv1.AssignProposalRequest{Name: suggestion.GetName(), Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleLead)}}))(t)
	ledger := must(f.supervision().ListLedgerEntries(cppccOffice, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_AWAITING_SIGN_IN}))(t)
	if len(ledger.GetEntries()) != 1 || ledger.GetEntries()[0].GetProposal() != proposal.GetName() {
		t.Errorf("the CPPCC office's ledger: %v", ledger.GetEntries())
	} else if e := ledger.GetEntries()[0]; e.GetUnitDisplayName() != "市数据局" || e.GetSessionDisplayName() != "市政协七届一次会议" {
		t.Errorf("a ledger entry's names: unit %q, session %q", e.GetUnitDisplayName(), e.GetSessionDisplayName())
	}
	due := must(f.supervision().ListLedgerEntries(cppccOffice, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_DUE_SOON, WithinWorkingDays: 60}))(t)
	for _, e := range due.GetEntries() {
		if e.GetProposal() == suggestion.GetName() {
			t.Errorf("the CPPCC office's due-soon view has the NPC case")
		}
	}
	for ctx, want := range map[context.Context]int64{cppccOffice: 1, joint: 2, districtOffice: 0} {
		st := must(f.statistics().GetStatistics(ctx, &banliv1.GetStatisticsRequest{Year: 2021}))(t)
		if st.GetCases() != want || st.GetNpcSuggestionParts() != 0 && want == 1 {
			t.Errorf("the office's figures count %d cases (%d NPC parts), want %d", st.GetCases(), st.GetNpcSuggestionParts(), want)
		}
	}
	csv := f.exportCSV(t, cppccKey)
	if strings.Contains(csv, "关于改善交通的建议") || !strings.Contains(csv, proposal.GetTitle()) {
		t.Errorf("the CPPCC office's export:\n%s", csv)
	}
}

// wantDeniedField checks that err is PERMISSION_DENIED for one field of
// the request, which its ErrorInfo names.
func wantDeniedField(t testing.TB, err error, field string) {
	t.Helper()
	wantCode(t, err, codes.PermissionDenied, "")
	if got := errorInfo(err).GetMetadata()["field"]; got != field {
		t.Fatalf("the refusal names field %q, want %q (%v)", got, field, err)
	}
}

// TestMergedProposersRateThroughTheirOwnAccounts: when the office merges
// one platform's case into another's (并案), the platform that submitted
// the merged case reads the case that stays, lists it, and rates its reply
// for the proposers it submitted, not for the others'; the other platform
// rates for its own (#15, item 1).
func TestMergedProposersRateThroughTheirOwnAccounts(t *testing.T) {
	f := newFixture(t)
	platformA := as(f.account(t, "platform-a", banliv1.Role_ROLE_PROPOSER, ""))
	platformB := as(f.account(t, "platform-b", banliv1.Role_ROLE_PROPOSER, ""))
	submit := func(ctx context.Context, number string) *banliv1.Proposal {
		req := f.receiveRequest(number)
		return must(f.proposals.CreateProposal(ctx, req))(t)
	}
	target, merged := submit(platformA, "M1"), submit(platformB, "M2")
	target = must(f.proposals.MergeProposals(office, &banliv1.MergeProposalsRequest{Name: target.GetName(), Sources: []string{merged.GetName()}}))(t)
	var fromB []int32
	for _, pr := range target.GetProposers() {
		if pr.GetSubmitter() == "accounts/platform-b" {
			fromB = append(fromB, pr.GetId())
		}
	}
	if len(fromB) != len(merged.GetProposers()) {
		t.Fatalf("the proposers platform B submitted: %v of %v", fromB, target.GetProposers())
	}
	target = f.assign(t, target, part(f.unit(0), roleLead))
	a := target.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	reply := f.reply(t, a).GetAssignments()[0].GetReplies()[0].GetName()

	// Platform B reads and lists the case its own was merged into.
	must(f.proposals.GetProposal(platformB, &banliv1.GetProposalRequest{Name: target.GetName()}))(t)
	listed := must(f.proposals.ListProposals(platformB, &banliv1.ListProposalsRequest{}))(t).GetProposals()
	var names []string
	for _, p := range listed {
		names = append(names, p.GetName())
	}
	if !slices.Contains(names, target.GetName()) {
		t.Errorf("platform B lists %v, without the case it was merged into", names)
	}
	rate := func(ctx context.Context, id int32) error {
		_, err := f.proposals.RateReply(ctx, &banliv1.RateReplyRequest{Name: reply, ProposerId: id, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED})
		return err
	}
	wantDeniedField(t, rate(platformB, 1), "proposer_id") // platform A's first proposer
	wantDeniedField(t, rate(platformA, fromB[0]), "proposer_id")
	if err := rate(platformB, fromB[0]); err != nil {
		t.Fatalf("platform B rates for its proposer: %v", err)
	}
	if err := rate(platformA, 1); err != nil {
		t.Fatalf("platform A rates for its proposer: %v", err)
	}
	// A third platform reaches neither.
	other := as(f.account(t, "platform-c", banliv1.Role_ROLE_PROPOSER, ""))
	_, err := f.proposals.GetProposal(other, &banliv1.GetProposalRequest{Name: target.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
}

// TestProposerSubmitterIsTheServers: Proposer.submitter is output only. A
// platform that sends another platform's account there gives it no reach
// into the case; the office's correction of the proposers keeps what the
// server recorded (#15, item 1).
func TestProposerSubmitterIsTheServers(t *testing.T) {
	f := newFixture(t)
	platformA := as(f.account(t, "forging-a", banliv1.Role_ROLE_PROPOSER, ""))
	platformB := as(f.account(t, "forged-b", banliv1.Role_ROLE_PROPOSER, ""))
	req := f.receiveRequest("F1")
	req.Proposal.Proposers[0].Submitter = "accounts/forged-b"
	p := must(f.proposals.CreateProposal(platformA, req))(t)
	if got := p.GetProposers()[0].GetSubmitter(); got != "" {
		t.Errorf("the stored proposer names submitter %q", got)
	}
	_, err := f.proposals.GetProposal(platformB, &banliv1.GetProposalRequest{Name: p.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")

	// Merged in, the proposer's submitter is the server's; an office's
	// correction of the list keeps it, and cannot make one up.
	merged := must(f.proposals.CreateProposal(platformB, f.receiveRequest("F2")))(t)
	p = must(f.proposals.MergeProposals(office, &banliv1.MergeProposalsRequest{Name: p.GetName(), Sources: []string{merged.GetName()}}))(t)
	proposers := p.GetProposers()
	proposers[0].Submitter = "accounts/forged-b"
	proposers[1].Submitter = ""
	p = must(f.proposals.UpdateProposal(office, &banliv1.UpdateProposalRequest{Proposal: &banliv1.Proposal{Name: p.GetName(), Proposers: proposers},
		UpdateMask: mask("proposers"), Etag: p.GetEtag()}))(t)
	if a, b := p.GetProposers()[0].GetSubmitter(), p.GetProposers()[1].GetSubmitter(); a != "" || b != "accounts/forged-b" {
		t.Errorf("after the correction: submitters %q and %q, want \"\" and accounts/forged-b", a, b)
	}
}
