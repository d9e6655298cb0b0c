package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

// office is the assigning office's context; units act as themselves.
var office = context.Background()

// fixture is a session with units, on a running server.
type fixture struct {
	*testServer
	session *banliv1.Session
	bureaus []*banliv1.Unit // the units the fixture made
	number  int
	// auditors counts the auditor accounts auditTrail made.
	auditors int
}

// legacyRating is a policy with the rating rules of sessions registered
// before raters could be chosen.
func legacyRating() *banliv1.SessionPolicy {
	return &banliv1.SessionPolicy{Raters: banliv1.Raters_RATERS_ANY_PROPOSER, OfficeVetsUnsatisfied: proto.Bool(false)}
}

func newFixture(t testing.TB, tweaks ...func(*server.Config)) *fixture {
	ts := startServer(t, tweaks...)
	f := &fixture{testServer: ts}
	// The fixture's session keeps the rating rules sessions had before
	// raters could be chosen (the first rating settles a part; an
	// unsatisfied one sends it back at once), which the tests of other
	// steps assume; TestEveryDeputyRates tests the defaults.
	f.session = must(ts.sessions.CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021,
		DisplayName: "市政协七届一次会议", Policy: legacyRating(),
	}}))(t)
	for _, name := range []string{"市数据局", "市财政局", "市发展改革委", "市教育局", "市卫生健康委", "市交通运输局"} {
		f.bureaus = append(f.bureaus, must(ts.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: name}}))(t))
	}
	return f
}

func (f *fixture) unit(i int) string { return f.bureaus[i].GetName() }

// receive creates a case with two proposers.
func (f *fixture) receive(t testing.TB) *banliv1.Proposal {
	t.Helper()
	f.number++
	return must(f.proposals.CreateProposal(context.Background(), &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: f.session.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL,
		Number: fmt.Sprintf("2021%04d", f.number), Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING,
		Title: "关于加快数字政府建设的提案", Content: "一、现状分析……\n二、建议……", Topics: []string{"数字政府"},
		Proposers: []*banliv1.Proposer{
			{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员", Phone: "13800000001"},
			{Type: banliv1.ProposerType_PROPOSER_TYPE_PARTY, DisplayName: "致公党市委会"},
		},
	}}))(t)
}

// cppccSession registers another session of the fixture's CPPCC, for
// another meeting, under policy (nil: the defaults).
func (f *fixture) cppccSession(t testing.TB, meeting int32, policy *banliv1.SessionPolicy) *banliv1.Session {
	t.Helper()
	return must(f.sessions.CreateSession(as(f.adminKey), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: meeting, Year: 2021,
		DisplayName: fmt.Sprintf("市政协七届%d次会议", meeting), Policy: policy,
	}}))(t)
}

// receiveIn creates a case like receive's, with its two proposers, in
// session under number.
func (f *fixture) receiveIn(t testing.TB, session *banliv1.Session, number string) *banliv1.Proposal {
	t.Helper()
	return must(f.proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: session.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: number,
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于加快数字政府建设的提案", Content: "一、现状分析……",
		Proposers: []*banliv1.Proposer{
			{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员", Phone: "13800000001"},
			{Type: banliv1.ProposerType_PROPOSER_TYPE_PARTY, DisplayName: "致公党市委会"},
		},
	}}))(t)
}

func (f *fixture) assign(t testing.TB, p *banliv1.Proposal, parts ...*banliv1.UnitAssignment) *banliv1.Proposal {
	t.Helper()
	return must(f.proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: parts}))(t)
}

func part(unit string, role banliv1.AssignmentRole) *banliv1.UnitAssignment {
	return &banliv1.UnitAssignment{Unit: unit, Role: role}
}

func (f *fixture) sign(t testing.TB, assignment string) *banliv1.Proposal {
	t.Helper()
	return must(f.proposals.SignAssignment(context.Background(), &banliv1.SignAssignmentRequest{Name: assignment, ResponsiblePerson: "李明", ResponsiblePhone: "0755-88000000"}))(t)
}

func (f *fixture) consult(t testing.TB, assignment string) *banliv1.Proposal {
	t.Helper()
	return must(f.proposals.RecordConsultation(context.Background(), &banliv1.RecordConsultationRequest{Name: assignment, Consultation: &banliv1.Consultation{
		Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT,
		Participants: []string{"王委员", "李明"}, Summary: "当面沟通办理思路，委员同意。",
	}}))(t)
}

func (f *fixture) reply(t testing.TB, assignment string) *banliv1.Proposal {
	t.Helper()
	return must(f.proposals.SubmitReply(context.Background(), load.ReplyRequest(assignment, banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
}

func (f *fixture) rate(t testing.TB, reply string, proposer int32, s banliv1.Satisfaction) *banliv1.Proposal {
	t.Helper()
	opinion := ""
	if s == banliv1.Satisfaction_SATISFACTION_UNSATISFIED {
		opinion = "答复未回应第二条建议。"
	}
	return must(f.proposals.RateReply(context.Background(), &banliv1.RateReplyRequest{Name: reply, ProposerId: proposer, Satisfaction: s, Opinion: opinion}))(t)
}

func wantState(t testing.TB, p *banliv1.Proposal, want banliv1.ProposalState) {
	t.Helper()
	if p.GetState() != want {
		t.Fatalf("%s is %s, want %s", p.GetName(), p.GetState(), want)
	}
}

func wantPart(t testing.TB, p *banliv1.Proposal, i int, want banliv1.AssignmentState) {
	t.Helper()
	if got := p.GetAssignments()[i].GetState(); got != want {
		t.Fatalf("%s is %s, want %s", p.GetAssignments()[i].GetName(), got, want)
	}
}

// TestLeadCaseWithTwoOpinions: a lead unit with two co-handling units,
// from received to rated and published, over gRPC.
func TestLeadCaseWithTwoOpinions(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
	p = f.assign(t, p, part(f.unit(0), roleLead), part(f.unit(1), roleCo), part(f.unit(2), roleCo))
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED)
	lead, co1, co2 := p.Assignments[0].GetName(), p.Assignments[1].GetName(), p.Assignments[2].GetName()
	if d := p.Assignments[0].GetSignDeadline(); d.GetDueDate() != "2021-03-08" || d.GetRule() != "5 working days after assignment" || d.GetRuleZh() != "交办后5个工作日" {
		t.Errorf("sign deadline %v", d)
	}
	if d := p.Assignments[0].GetResponseDeadline(); d.GetDueDate() != "2021-06-01" || d.GetRuleZh() != "交办后3个月" {
		t.Errorf("reply deadline %v, want 2021-06-01, 交办后3个月", d)
	}
	if d := p.Assignments[1].GetResponseDeadline(); d.GetDueDate() != "2021-04-01" {
		t.Errorf("opinion deadline %v, want 2021-04-01", d)
	}

	// Nothing before signing.
	_, err := f.proposals.RecordConsultation(office, &banliv1.RecordConsultationRequest{Name: lead, Consultation: &banliv1.Consultation{
		Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE, Summary: "x"}})
	wantCode(t, err, codes.FailedPrecondition, "")

	for _, a := range []string{lead, co1, co2} {
		f.sign(t, a)
	}
	p = f.consult(t, lead)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_CONSULTED)

	// The lead replies only after both opinions; co-handling units never
	// reply, and the lead never sends an opinion.
	_, err = f.proposals.SubmitReply(office, load.ReplyRequest(lead, banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = f.proposals.SubmitReply(office, load.ReplyRequest(co1, banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = f.proposals.SubmitOpinion(office, &banliv1.SubmitOpinionRequest{Name: lead, Opinion: &banliv1.Opinion{Text: "x", Signer: "y"}})
	wantCode(t, err, codes.FailedPrecondition, "")
	for _, co := range []string{co1, co2} {
		p = must(f.proposals.SubmitOpinion(context.Background(), &banliv1.SubmitOpinionRequest{Name: co, Opinion: &banliv1.Opinion{Text: "我局意见：……", Signer: "副局长"}}))(t)
	}
	wantPart(t, p, 1, banliv1.AssignmentState_ASSIGNMENT_STATE_OPINION_SUBMITTED)

	p = f.reply(t, lead)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_REPLIED)
	r := p.Assignments[0].GetReplies()[0]
	if r.GetName() != lead+"/replies/1" || r.GetDisclosureDeadline().GetDueDate() != "2021-03-29" {
		t.Errorf("reply %s, disclosure due %s", r.GetName(), r.GetDisclosureDeadline().GetDueDate())
	}

	// Co-handling opinions are not rated; a stranger cannot rate.
	_, err = f.proposals.RateReply(office, &banliv1.RateReplyRequest{Name: r.GetName(), ProposerId: 9, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED})
	wantCode(t, err, codes.InvalidArgument, "proposer_id")
	p = f.rate(t, r.GetName(), 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_RATED)
	_, err = f.proposals.RateReply(office, &banliv1.RateReplyRequest{Name: r.GetName(), ProposerId: 1, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED})
	wantCode(t, err, codes.FailedPrecondition, "")

	p = must(f.proposals.PublishReply(office, &banliv1.PublishReplyRequest{Name: r.GetName()}))(t)
	pub := p.Assignments[0].GetReplies()[0]
	if pub.GetDisclosureState() != banliv1.DisclosureState_DISCLOSURE_STATE_PUBLISHED || pub.GetPublishedText() != pub.GetText() {
		t.Errorf("published: %v", pub)
	}
	_, err = f.proposals.WithholdReply(office, &banliv1.WithholdReplyRequest{Name: r.GetName(), Reason: "x"})
	wantCode(t, err, codes.FailedPrecondition, "")

	// The history tells the whole story, in order, with the actor.
	evs := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName()}))(t)
	var actions []string
	for _, ev := range evs.GetEvents() {
		actions = append(actions, ev.GetAction())
	}
	want := []string{"CreateProposal", "AssignProposal", "SignAssignment", "SignAssignment", "SignAssignment", "RecordConsultation",
		"SubmitOpinion", "SubmitOpinion", "SubmitReply", "RateReply (satisfied or basically satisfied)", "PublishReply"}
	if !cmp.Equal(actions, want) {
		t.Errorf("history:\n got %v\nwant %v", actions, want)
	}
	last := evs.GetEvents()[len(evs.GetEvents())-1]
	if last.GetActor() != "accounts/test-office" || last.GetFromState() != "RATED" || !proto.Equal(last.GetProposal(), p) {
		t.Errorf("last event %v does not carry the case as it stands", last)
	}
}

// TestSplitCaseWithTwoReplies: two split units reply separately; the case
// is replied once both have.
func TestSplitCaseWithTwoReplies(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(3), roleSplit), part(f.unit(4), roleSplit))
	a, b := p.Assignments[0].GetName(), p.Assignments[1].GetName()
	for _, x := range []string{a, b} {
		f.sign(t, x)
	}
	f.consult(t, a)
	p = f.reply(t, a)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED) // b has not consulted
	p = f.consult(t, b)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_CONSULTED)
	p = f.reply(t, b)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_REPLIED)
	f.rate(t, a+"/replies/1", 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)
	p = f.rate(t, b+"/replies/1", 2, banliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_RATED)
	if n := len(p.Assignments[0].GetReplies()) + len(p.Assignments[1].GetReplies()); n != 2 {
		t.Errorf("%d replies, want 2", n)
	}
}

// TestReassignment: a unit asks for a change; the office refuses once, then
// a second case's change is approved and the new unit takes over.
func TestReassignment(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.Assignments[0].GetName()
	p = must(f.proposals.RequestReassignment(context.Background(), &banliv1.RequestReassignmentRequest{Name: a, Reason: "不属于我局职责", SuggestedUnit: f.unit(5)}))(t)
	wantPart(t, p, 0, banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNMENT_REQUESTED)
	_, err := f.proposals.SignAssignment(office, &banliv1.SignAssignmentRequest{Name: a})
	wantCode(t, err, codes.FailedPrecondition, "")

	// Approving needs a unit that is not on the case already.
	_, err = f.proposals.DecideReassignment(office, &banliv1.DecideReassignmentRequest{Name: a, Decision: banliv1.Decision_DECISION_APPROVED, NewUnit: f.unit(0)})
	wantCode(t, err, codes.FailedPrecondition, "")
	p = must(f.proposals.DecideReassignment(office, &banliv1.DecideReassignmentRequest{Name: a, Decision: banliv1.Decision_DECISION_APPROVED, NewUnit: f.unit(5), Note: "同意调整"}))(t)
	wantPart(t, p, 0, banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED)
	wantPart(t, p, 1, banliv1.AssignmentState_ASSIGNMENT_STATE_ASSIGNED)
	next := p.Assignments[1]
	if next.GetUnit() != f.unit(5) || next.GetRole() != roleLead || next.GetReassignedFrom() != a || p.Assignments[0].GetReassignedTo() != next.GetName() {
		t.Errorf("new part %v", next)
	}
	if rr := p.Assignments[0].GetReassignmentRequests(); len(rr) != 1 || rr[0].GetDecision() != banliv1.Decision_DECISION_APPROVED {
		t.Errorf("request history %v", rr)
	}
	// The old unit no longer lists the case; the new one does.
	for unit, want := range map[string]int{f.unit(0): 0, f.unit(5): 1} {
		list := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{Unit: unit}))(t)
		if len(list.GetProposals()) != want {
			t.Errorf("%s lists %d cases, want %d", unit, len(list.GetProposals()), want)
		}
	}

	// Refusal: the unit keeps the part. After the window, asking is refused.
	q := f.assign(t, f.receive(t), part(f.unit(1), roleLead))
	b := q.Assignments[0].GetName()
	must(f.proposals.RequestReassignment(context.Background(), &banliv1.RequestReassignmentRequest{Name: b, Reason: "x"}))(t)
	q = must(f.proposals.DecideReassignment(office, &banliv1.DecideReassignmentRequest{Name: b, Decision: banliv1.Decision_DECISION_REFUSED}))(t)
	wantPart(t, q, 0, banliv1.AssignmentState_ASSIGNMENT_STATE_ASSIGNED)
	f.clock.Advance(8 * 24 * time.Hour)
	_, err = f.proposals.RequestReassignment(context.Background(), &banliv1.RequestReassignmentRequest{Name: b, Reason: "再次申请"})
	wantCode(t, err, codes.FailedPrecondition, "")
}

// TestUnsatisfiedRatingOpensASecondRound.
func TestUnsatisfiedRatingOpensASecondRound(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.Assignments[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	f.reply(t, a)
	f.clock.Advance(30 * 24 * time.Hour)
	p = f.rate(t, a+"/replies/1", 1, banliv1.Satisfaction_SATISFACTION_UNSATISFIED)
	wantPart(t, p, 0, banliv1.AssignmentState_ASSIGNMENT_STATE_REHANDLING)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_CONSULTED)
	if got := p.Assignments[0]; got.GetRound() != 2 || got.GetResponseDeadline().GetRule() != "1 month after the unsatisfied rating" || got.GetResponseDeadline().GetDueDate() != "2021-04-30" { // 31 March + 1 month: the last day of April
		t.Errorf("round %d, deadline %v", got.GetRound(), got.GetResponseDeadline())
	}
	// The old reply can no longer be rated; the new round's reply can.
	_, err := f.proposals.RateReply(office, &banliv1.RateReplyRequest{Name: a + "/replies/1", ProposerId: 2, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED})
	wantCode(t, err, codes.FailedPrecondition, "")
	p = f.consult(t, a)
	p = f.reply(t, a)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_REPLIED)
	p = f.rate(t, a+"/replies/2", 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_RATED)
	// A later unsatisfied rating by the co-signer reopens it again.
	p = f.rate(t, a+"/replies/2", 2, banliv1.Satisfaction_SATISFACTION_UNSATISFIED)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_CONSULTED)
	if p.Assignments[0].GetRound() != 3 {
		t.Errorf("round %d, want 3", p.Assignments[0].GetRound())
	}
}

// TestSidePaths: refusal at filing, withdrawal, merging and key cases.
func TestSidePaths(t *testing.T) {
	f := newFixture(t)
	refused := must(f.proposals.RefuseFiling(office, &banliv1.RefuseFilingRequest{Name: f.receive(t).GetName(), Reason: banliv1.NotFiledReason_NOT_FILED_REASON_PERSONAL_MATTER}))(t)
	wantState(t, refused, banliv1.ProposalState_PROPOSAL_STATE_NOT_FILED)
	_, err := f.proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: refused.GetName(), Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleLead)}})
	wantCode(t, err, codes.FailedPrecondition, "")

	withdrawn := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	withdrawn = must(f.proposals.WithdrawProposal(office, &banliv1.WithdrawProposalRequest{Name: withdrawn.GetName(), Reason: "提案人撤回"}))(t)
	wantState(t, withdrawn, banliv1.ProposalState_PROPOSAL_STATE_WITHDRAWN)
	_, err = f.proposals.SignAssignment(office, &banliv1.SignAssignmentRequest{Name: withdrawn.Assignments[0].GetName()})
	wantCode(t, err, codes.FailedPrecondition, "")

	target, src1, src2 := f.receive(t), f.receive(t), f.receive(t)
	target = must(f.proposals.MergeProposals(office, &banliv1.MergeProposalsRequest{Name: target.GetName(), Sources: []string{src1.GetName(), src2.GetName()}}))(t)
	if len(target.GetProposers()) != 6 || target.GetProposers()[5].GetId() != 6 || target.GetProposers()[5].GetMergedFrom() != src2.GetName() {
		t.Errorf("merged proposers %v", target.GetProposers())
	}
	src := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: src1.GetName()}))(t)
	wantState(t, src, banliv1.ProposalState_PROPOSAL_STATE_MERGED)
	if src.GetMergedInto() != target.GetName() {
		t.Errorf("merged into %q", src.GetMergedInto())
	}
	// A merged-in proposer rates the reply of the case that stayed.
	target = f.assign(t, target, part(f.unit(0), roleLead))
	a := target.Assignments[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	f.reply(t, a)
	wantState(t, f.rate(t, a+"/replies/1", 5, banliv1.Satisfaction_SATISFACTION_SATISFIED), banliv1.ProposalState_PROPOSAL_STATE_RATED)

	key := must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: target.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)
	if !key.GetKey() || key.GetSupervisingLeader() != "陈副市长" {
		t.Errorf("key %v", key)
	}
	keyed := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{Key: proto.Bool(true)}))(t)
	if len(keyed.GetProposals()) != 1 || keyed.GetProposals()[0].GetName() != target.GetName() {
		t.Errorf("key cases %v", keyed.GetProposals())
	}
}

// TestErrorsOverGRPC: each kind of refusal gets its code, and leaves the
// case exactly as it was.
func TestErrorsOverGRPC(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)

	_, err := f.proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: f.session.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: p.GetNumber(),
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "重复", Content: "x",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "某"}},
	}})
	wantCode(t, err, codes.AlreadyExists, "")

	_, err = f.proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: "sessions/abc", Title: " 有空格", Proposers: []*banliv1.Proposer{{DisplayName: "x", Phone: "abc"}},
	}})
	for _, field := range []string{"proposal.session", "proposal.kind", "proposal.number", "proposal.title", "proposal.content", "proposal.proposers[0].type", "proposal.proposers[0].phone"} {
		wantCode(t, err, codes.InvalidArgument, field)
	}

	_, err = f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: "proposals/999"})
	wantCode(t, err, codes.NotFound, "")
	_, err = f.proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: "sessions/77", Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: "1",
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "t", Content: "c",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "某"}},
	}})
	wantCode(t, err, codes.NotFound, "")
	_, err = f.proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{part("units/99", roleLead)}})
	wantCode(t, err, codes.NotFound, "")

	_, err = f.proposals.SignAssignment(office, &banliv1.SignAssignmentRequest{Name: p.GetName() + "/assignments/1"})
	wantCode(t, err, codes.NotFound, "")
	_, err = f.proposals.RefuseFiling(office, &banliv1.RefuseFilingRequest{Name: p.GetName(), Reason: banliv1.NotFiledReason_NOT_FILED_REASON_OTHER})
	wantCode(t, err, codes.InvalidArgument, "note")

	_, err = f.proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: p.GetName(), Etag: "999", Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleLead)}})
	wantCode(t, err, codes.Aborted, "")
	// A co-handling unit without a lead, or a lead with a split, is refused.
	_, err = f.proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleCo)}})
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = f.proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleLead), part(f.unit(1), roleSplit)}})
	wantCode(t, err, codes.FailedPrecondition, "")

	// None of the refusals changed the case or wrote an event.
	now := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	if diff := cmp.Diff(p, now, protocmp.Transform()); diff != "" {
		t.Errorf("refused calls changed the case:\n%s", diff)
	}
	evs := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName()}))(t)
	if len(evs.GetEvents()) != 1 {
		t.Errorf("%d events, want only the creation", len(evs.GetEvents()))
	}
	// The etag that was current still works.
	must(f.proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: p.GetName(), Etag: p.GetEtag(), Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleLead)}}))(t)
}

// TestRequestIDReplay: a retried request returns the first answer and
// changes nothing; the same id with another body is refused.
func TestRequestIDReplay(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	req := &banliv1.AssignProposalRequest{Name: p.GetName(), RequestId: "assign-1", Assignments: []*banliv1.UnitAssignment{part(f.unit(0), roleLead)}}
	first := must(f.proposals.AssignProposal(office, req))(t)
	f.clock.Advance(time.Hour)
	again := must(f.proposals.AssignProposal(office, req))(t)
	if diff := cmp.Diff(first, again, protocmp.Transform()); diff != "" {
		t.Errorf("replay answered differently:\n%s", diff)
	}
	other := proto.Clone(req).(*banliv1.AssignProposalRequest)
	other.Assignments[0].Unit = f.unit(1)
	_, err := f.proposals.AssignProposal(office, other)
	wantCode(t, err, codes.InvalidArgument, "request_id")
	evs := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName()}))(t)
	if len(evs.GetEvents()) != 2 || evs.GetEvents()[1].GetRequestId() != "assign-1" {
		t.Errorf("events %v", evs.GetEvents())
	}
}

// TestGlobalEventStreamRebuildsState: replaying the stream's snapshots
// gives every case exactly as the API returns it.
func TestGlobalEventStreamRebuildsState(t *testing.T) {
	f := newFixture(t)
	for range 3 {
		p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
		f.sign(t, p.Assignments[0].GetName())
	}
	rebuilt := map[string]*banliv1.Proposal{}
	var after uint64
	for {
		page := must(f.events.ListEvents(as(f.adminKey), &banliv1.ListEventsRequest{AfterSequence: after, PageSize: 4}))(t) // the whole history
		if len(page.GetEvents()) == 0 {
			break
		}
		for _, ev := range page.GetEvents() {
			if ev.GetSequence() != after+1 {
				t.Fatalf("sequence %d after %d", ev.GetSequence(), after)
			}
			after = ev.GetSequence()
			if p := ev.GetProposal(); p != nil {
				rebuilt[p.GetName()] = p
			}
		}
	}
	list := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{View: banliv1.ProposalView_PROPOSAL_VIEW_FULL}))(t)
	if len(list.GetProposals()) != len(rebuilt) {
		t.Fatalf("%d cases, %d rebuilt", len(list.GetProposals()), len(rebuilt))
	}
	for _, p := range list.GetProposals() {
		if diff := cmp.Diff(p, rebuilt[p.GetName()], protocmp.Transform()); diff != "" {
			t.Errorf("%s rebuilt differently:\n%s", p.GetName(), diff)
		}
	}
	// A list's default view (AIP-157) leaves out the content and the
	// history: enough for a ledger, light to send.
	basic := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{}))(t).GetProposals()[0]
	if basic.GetContent() != "" || basic.GetProposers()[0].GetPhone() != "" || basic.GetAssignments()[0].GetState() == 0 || basic.GetAssignments()[0].GetCurrentDeadline() == nil {
		t.Errorf("basic view: %v", basic)
	}
}

// TestRestartKeepsEverything: the server stops gracefully and a new one on
// the same file serves the same data with consistent indexes.
func TestRestartKeepsEverything(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	f.stop()
	db, err := openDataFile(f.dataPath, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(r store.Reader) error {
		got, err := r.Proposal(1)
		if err != nil {
			return err
		}
		if !proto.Equal(got, p) {
			return fmt.Errorf("stored %v, answered %v", got, p)
		}
		return r.CheckIndexes()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLockedDataFile: a second server on the same file says so at once.
func TestLockedDataFile(t *testing.T) {
	ts := startServer(t)
	cfg := server.Config{DataPath: ts.dataPath, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0", LockTimeout: 100 * time.Millisecond}
	start := time.Now()
	cfg.Log = slog.New(slog.DiscardHandler)
	err := server.Run(t.Context(), cfg)
	if !errors.Is(err, store.ErrLocked) || time.Since(start) > 5*time.Second {
		t.Fatalf("second server: %v after %s, want ErrLocked at once", err, time.Since(start))
	}
	var stderr strings.Builder
	if code := run([]string{"serve", "-data", ts.dataPath, "-lock-timeout", "100ms", "-grpc-addr", "127.0.0.1:0", "-http-addr", "127.0.0.1:0"}, io.Discard, &stderr); code != 1 || !strings.Contains(stderr.String(), "locked by another process") {
		t.Errorf("banli serve on a locked file: exit %d, %q", code, stderr.String())
	}
}

// TestSessionPolicy: a session's policy changes the rules of its cases.
func TestSessionPolicy(t *testing.T) {
	f := newFixture(t)
	no := false
	relaxed := must(f.sessions.CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_DISTRICT, Term: 3, Meeting: 2, Year: 2021, DisplayName: "区政协三届二次会议",
		Policy: &banliv1.SessionPolicy{ConsultBeforeReply: &no, ReplyCategories: banliv1.ReplyCategorySet_REPLY_CATEGORY_SET_A_TO_C, ReplyMonths: proto.Int32(2)},
	}}))(t)
	if p := relaxed.GetPolicy(); p.GetSignInWorkingDays() != 5 || p.GetReplyMonths() != 2 || p.GetConsultBeforeReply() || !p.GetOpinionsBeforeLeadReply() {
		t.Errorf("policy in force %v: omitted fields must take the defaults", p)
	}
	f.session = relaxed
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.Assignments[0]
	if !strings.HasPrefix(a.GetResponseDeadline().GetRule(), "2 months after assignment") {
		t.Errorf("reply deadline %v", a.GetResponseDeadline())
	}
	f.sign(t, a.GetName())
	// No consultation needed here, but category D is not accepted.
	_, err := f.proposals.SubmitReply(office, load.ReplyRequest(a.GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_D))
	wantCode(t, err, codes.InvalidArgument, "reply.category")
	p = must(f.proposals.SubmitReply(office, load.ReplyRequest(a.GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_C)))(t)
	wantState(t, p, banliv1.ProposalState_PROPOSAL_STATE_REPLIED)

	_, err = f.sessions.CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 1, Meeting: 1, Year: 2021, DisplayName: "x",
		Policy: &banliv1.SessionPolicy{ReplyMonths: proto.Int32(7), ReplyMaxMonths: proto.Int32(6)},
	}})
	wantCode(t, err, codes.InvalidArgument, "session.policy.reply_max_months")
	// An NPC session takes suggestions, not CPPCC proposals.
	npc := must(f.sessions.CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 6, Meeting: 7, Year: 2021, DisplayName: "市六届人大七次会议"}}))(t)
	f.session = npc
	_, err = f.proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: npc.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: "1",
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "t", Content: "c",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "某"}},
	}})
	wantCode(t, err, codes.InvalidArgument, "proposal.kind")
}

// TestUnits: departments, deactivation, and what they allow.
func TestUnits(t *testing.T) {
	f := newFixture(t)
	dept := must(f.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "数字政府处", Parent: f.unit(0)}}))(t)
	other := must(f.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "预算处", Parent: f.unit(1)}}))(t)
	children := must(f.units.ListUnits(office, &banliv1.ListUnitsRequest{Parent: f.unit(0)}))(t)
	if len(children.GetUnits()) != 1 || children.GetUnits()[0].GetName() != dept.GetName() {
		t.Errorf("departments of %s: %v", f.unit(0), children.GetUnits())
	}

	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.Assignments[0].GetName()
	_, err := f.proposals.SignAssignment(office, &banliv1.SignAssignmentRequest{Name: a, Department: other.GetName()})
	wantCode(t, err, codes.InvalidArgument, "department")
	p = must(f.proposals.SignAssignment(office, &banliv1.SignAssignmentRequest{Name: a, Department: dept.GetName(), ResponsiblePerson: "李明"}))(t)
	if p.Assignments[0].GetDepartment() != dept.GetName() {
		t.Errorf("department %q", p.Assignments[0].GetDepartment())
	}

	gone := must(f.units.DeactivateUnit(office, &banliv1.DeactivateUnitRequest{Name: f.unit(4), Etag: f.bureaus[4].GetEtag()}))(t)
	if gone.GetActive() || gone.GetDeactivateTime() == nil {
		t.Errorf("deactivated unit %v", gone)
	}
	_, err = f.units.DeactivateUnit(office, &banliv1.DeactivateUnitRequest{Name: f.unit(4)})
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = f.proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: f.receive(t).GetName(), Assignments: []*banliv1.UnitAssignment{part(f.unit(4), roleLead)}})
	wantCode(t, err, codes.FailedPrecondition, "")
	active := must(f.units.ListUnits(office, &banliv1.ListUnitsRequest{}))(t)
	all := must(f.units.ListUnits(office, &banliv1.ListUnitsRequest{ShowInactive: true}))(t)
	if len(all.GetUnits()) != len(active.GetUnits())+1 {
		t.Errorf("%d units listed with inactive ones, %d without", len(all.GetUnits()), len(active.GetUnits()))
	}
	// Still readable: old cases point at it.
	must(f.units.GetUnit(office, &banliv1.GetUnitRequest{Name: f.unit(4)}))(t)
}

// TestPaging walks every list by pages of 2 and checks the token is tied
// to its filters.
func TestPaging(t *testing.T) {
	f := newFixture(t)
	for range 5 {
		f.receive(t)
	}
	var names []string
	req := &banliv1.ListProposalsRequest{Session: f.session.GetName(), PageSize: 2}
	for {
		resp := must(f.proposals.ListProposals(office, req))(t)
		for _, p := range resp.GetProposals() {
			names = append(names, p.GetName())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
		f.receive(t) // arrivals between pages are listed once, at the end
	}
	// 5 at the start, and one more after each of the first three pages.
	if len(names) != 8 || names[0] != "proposals/1" || names[7] != "proposals/8" {
		t.Errorf("paged through %v", names)
	}
	req.State = banliv1.ProposalState_PROPOSAL_STATE_RATED
	_, err := f.proposals.ListProposals(office, req)
	wantCode(t, err, codes.InvalidArgument, "page_token")

	units := must(f.units.ListUnits(office, &banliv1.ListUnitsRequest{PageSize: 4}))(t)
	rest := must(f.units.ListUnits(office, &banliv1.ListUnitsRequest{PageSize: 4, PageToken: units.GetNextPageToken()}))(t)
	if len(units.GetUnits()) != 4 || len(rest.GetUnits()) != 2 || rest.GetNextPageToken() != "" {
		t.Errorf("unit pages of %d and %d", len(units.GetUnits()), len(rest.GetUnits()))
	}
	evs := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: "proposals/1", PageSize: 1}))(t)
	if len(evs.GetEvents()) != 1 || evs.GetNextPageToken() != "" {
		t.Errorf("one event of a new case, no next page: %v", evs)
	}
}
