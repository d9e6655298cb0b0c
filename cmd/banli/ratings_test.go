package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestEveryDeputyRates: by default every proposer rates, and a part is
// rated when all have: with 11 deputies on one suggestion the first
// rating does not settle it. An unsatisfied rating goes to the office
// (office_vets_unsatisfied), which sends the part back for a new round,
// whose reply needs a new consultation first, or explains and closes it
// (#13, item 3).
func TestEveryDeputyRates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sess := must(f.sessions.CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "市七届人大一次会议",
	}}))(t)
	if got := sess.GetPolicy(); got.GetRaters() != banliv1.Raters_RATERS_EVERY_PROPOSER || !got.GetOfficeVetsUnsatisfied() {
		t.Fatalf("the default policy: raters %s, office vets %v", got.GetRaters(), got.GetOfficeVetsUnsatisfied())
	}
	newCase := func(number string, deputies int) *banliv1.Proposal {
		var proposers []*banliv1.Proposer
		for i := range deputies {
			proposers = append(proposers, &banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: fmt.Sprintf("代表%d", i+1)})
		}
		p := must(f.proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
			Session: sess.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION, Number: number,
			Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于加强社区养老服务的建议", Content: "建议……", Proposers: proposers,
		}}))(t)
		p = f.assign(t, p, part(f.unit(0), roleLead))
		f.sign(t, p.GetAssignments()[0].GetName())
		f.consult(t, p.GetAssignments()[0].GetName())
		return must(f.proposals.SubmitReply(ctx, load.ReplyRequest(p.GetAssignments()[0].GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	}
	satisfied, unsatisfied := banliv1.Satisfaction_SATISFACTION_SATISFIED, banliv1.Satisfaction_SATISFACTION_UNSATISFIED
	rate := func(ctx context.Context, reply string, proposer int32, s banliv1.Satisfaction) *banliv1.Proposal {
		t.Helper()
		req := &banliv1.RateReplyRequest{Name: reply, ProposerId: proposer, Satisfaction: s}
		if s == unsatisfied {
			req.Opinion = "答复未回应我的建议"
		}
		return must(f.proposals.RateReply(ctx, req))(t)
	}
	partOf := func(p *banliv1.Proposal) *banliv1.Assignment { return p.GetAssignments()[0] }

	p := newCase("N1", 11)
	a := partOf(p).GetName()
	reply := partOf(p).GetReplies()[0].GetName()
	if n := partOf(p).GetReplies()[0].GetRatingsExpected(); n != 11 {
		t.Fatalf("ratings expected %d, want 11", n)
	}
	for id := int32(1); id <= 10; id++ {
		p = rate(ctx, reply, id, satisfied)
	}
	if got := partOf(p); got.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_REPLIED || len(got.GetReplies()[0].GetRatings()) != 10 {
		t.Fatalf("after 10 of 11 ratings: %s with %d ratings", got.GetState(), len(got.GetReplies()[0].GetRatings()))
	}
	// The eleventh is unsatisfied: the office decides.
	p = rate(ctx, reply, 11, unsatisfied)
	if got := partOf(p).GetState(); got != banliv1.AssignmentState_ASSIGNMENT_STATE_UNSATISFIED {
		t.Fatalf("after an unsatisfied rating: %s", got)
	}
	if r := partOf(p).GetReplies()[0].GetRatings()[0]; r.GetSource() != banliv1.RatingSource_RATING_SOURCE_PAPER_FORM || r.GetEnteredBy() == "" {
		t.Errorf("a rating the office entered: source %s, entered by %q", r.GetSource(), r.GetEnteredBy())
	}
	decide := func(d banliv1.UnsatisfiedDecision, reason string) (*banliv1.Proposal, error) {
		return f.proposals.DecideUnsatisfied(ctx, &banliv1.DecideUnsatisfiedRequest{Name: reply, Decision: d, Reason: reason})
	}
	_, err := decide(banliv1.UnsatisfiedDecision_UNSATISFIED_DECISION_REHANDLE, "")
	wantCode(t, err, codes.InvalidArgument, "reason")
	p = must(decide(banliv1.UnsatisfiedDecision_UNSATISFIED_DECISION_REHANDLE, "代表意见合理，重新办理"))(t)
	if got := partOf(p); got.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_REHANDLING || got.GetRound() != 2 {
		t.Fatalf("after re-handling: %s, round %d", got.GetState(), got.GetRound())
	}
	// The new round's reply needs a new consultation first.
	f.clock.Advance(24 * time.Hour)
	_, err = f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.FailedPrecondition, "")
	f.consult(t, a)
	p = must(f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	second := partOf(p).GetReplies()[1].GetName()
	for id := int32(1); id <= 11; id++ {
		p = rate(ctx, second, id, satisfied)
	}
	if got := partOf(p).GetState(); got != banliv1.AssignmentState_ASSIGNMENT_STATE_RATED {
		t.Fatalf("after all 11 rated round 2: %s", got)
	}

	// Another case: the office explains and closes.
	q := newCase("N2", 2)
	qr := partOf(q).GetReplies()[0].GetName()
	rate(ctx, qr, 1, unsatisfied)
	q = must(f.proposals.DecideUnsatisfied(ctx, &banliv1.DecideUnsatisfiedRequest{Name: qr, Decision: banliv1.UnsatisfiedDecision_UNSATISFIED_DECISION_CLOSE, Reason: "受条件限制，已向代表说明"}))(t)
	if got := partOf(q); got.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_RATED || got.GetReplies()[0].GetUnsatisfiedDecision().GetReason() == "" {
		t.Fatalf("after closing: %s, %v", got.GetState(), got.GetReplies()[0].GetUnsatisfiedDecision())
	}

	// A session where the first proposer rates for all.
	first := must(f.sessions.CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 2, Year: 2021, DisplayName: "市七届人大二次会议",
		Policy: &banliv1.SessionPolicy{Raters: banliv1.Raters_RATERS_FIRST_FOR_ALL, OfficeVetsUnsatisfied: proto.Bool(false)},
	}}))(t)
	sess = first
	r := newCase("N3", 3)
	rr := partOf(r).GetReplies()[0].GetName()
	_, err = f.proposals.RateReply(ctx, &banliv1.RateReplyRequest{Name: rr, ProposerId: 2, Satisfaction: satisfied})
	wantCode(t, err, codes.InvalidArgument, "proposer_id")
	if got := partOf(rate(ctx, rr, 1, satisfied)).GetState(); got != banliv1.AssignmentState_ASSIGNMENT_STATE_RATED {
		t.Fatalf("the first proposer rated for all: %s", got)
	}
}
