package main

import (
	"context"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestReplyDraftsToSignOff: staff draft the reply, the head returns a
// draft with a comment, staff revise, and the head signs the latest draft
// off, which sends it. Every version is kept with its author and time, and
// each move is in the history (#13, item 2).
func TestReplyDraftsToSignOff(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	lead, co := p.GetAssignments()[0].GetName(), p.GetAssignments()[1].GetName()
	f.sign(t, lead)
	f.sign(t, co)
	staff := as(f.account(t, "lead-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	head := as(f.account(t, "lead-head", banliv1.Role_ROLE_UNIT_HEAD, f.unit(0)))
	otherStaff := as(f.account(t, "co-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(1)))

	draft := func(text string) *banliv1.Reply {
		r := load.ReplyRequest(lead, banliv1.ReplyCategory_REPLY_CATEGORY_A).GetReply()
		r.Text = text
		return r
	}
	history := f.caseEvents(t, p)
	for _, bad := range []struct {
		name  string
		ctx   context.Context
		req   *banliv1.SaveReplyDraftRequest
		code  codes.Code
		field string
	}{
		{"another unit's part", otherStaff, &banliv1.SaveReplyDraftRequest{Name: lead, Reply: draft("初稿")}, codes.PermissionDenied, ""},
		{"a co-handling part drafts no reply", otherStaff, &banliv1.SaveReplyDraftRequest{Name: co, Reply: draft("初稿")}, codes.FailedPrecondition, ""},
		{"a text too long", staff, &banliv1.SaveReplyDraftRequest{Name: lead, Reply: draft(strings.Repeat("长", 100_001))}, codes.InvalidArgument, "reply.text"},
		{"no draft", staff, &banliv1.SaveReplyDraftRequest{Name: lead}, codes.InvalidArgument, "reply"},
	} {
		_, err := f.proposals.SaveReplyDraft(bad.ctx, bad.req)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, bad.code, bad.field) })
	}
	if got := f.caseEvents(t, p); got != history {
		t.Fatalf("refused drafts wrote %d events", got-history)
	}

	p = must(f.proposals.SaveReplyDraft(staff, &banliv1.SaveReplyDraftRequest{Name: lead, Reply: draft("答复初稿")}))(t)
	_, err := f.proposals.ReturnReplyDraft(staff, &banliv1.ReturnReplyDraftRequest{Name: lead, Version: 1, Comment: "再改改"})
	wantCode(t, err, codes.PermissionDenied, "")
	p = must(f.proposals.ReturnReplyDraft(head, &banliv1.ReturnReplyDraftRequest{Name: lead, Version: 1, Comment: "第二条的答复不具体，请补充办理措施"}))(t)
	_, err = f.proposals.ReturnReplyDraft(head, &banliv1.ReturnReplyDraftRequest{Name: lead, Version: 1, Comment: "again"})
	wantCode(t, err, codes.FailedPrecondition, "")
	p = must(f.proposals.SaveReplyDraft(staff, &banliv1.SaveReplyDraftRequest{Name: lead, Reply: draft("答复修改稿：补充了第二条的办理措施")}))(t)
	drafts := p.GetAssignments()[0].GetDrafts()
	if len(drafts) != 2 || drafts[0].GetState() != banliv1.DraftState_DRAFT_STATE_RETURNED || drafts[0].GetReturnComment() == "" ||
		drafts[1].GetVersion() != 2 || drafts[1].GetState() != banliv1.DraftState_DRAFT_STATE_OPEN || drafts[1].GetAuthor() != "accounts/lead-staff" {
		t.Fatalf("drafts: %v", drafts)
	}

	// The head signs off: a returned version cannot be sent; the latest can.
	f.consult(t, lead)
	must(f.proposals.SubmitOpinion(ctx, &banliv1.SubmitOpinionRequest{Name: co, Opinion: &banliv1.Opinion{Text: "同意", Signer: "王处长"}}))(t)
	_, err = f.proposals.SubmitReply(head, &banliv1.SubmitReplyRequest{Name: lead, DraftVersion: 1})
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = f.proposals.SubmitReply(head, &banliv1.SubmitReplyRequest{Name: lead, DraftVersion: 2, Reply: draft("另一稿")})
	wantCode(t, err, codes.InvalidArgument, "reply")
	p = must(f.proposals.SubmitReply(head, &banliv1.SubmitReplyRequest{Name: lead, DraftVersion: 2}))(t)
	a := p.GetAssignments()[0]
	if a.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_REPLIED || a.GetReplies()[0].GetText() != "答复修改稿：补充了第二条的办理措施" ||
		a.GetReplies()[0].GetSignedOffBy() != "accounts/lead-head" || a.GetDrafts()[1].GetState() != banliv1.DraftState_DRAFT_STATE_SIGNED_OFF {
		t.Fatalf("after sign-off: state %s, reply %q by %s, draft %s", a.GetState(), a.GetReplies()[0].GetText(), a.GetReplies()[0].GetSignedOffBy(), a.GetDrafts()[1].GetState())
	}
	var steps []string
	for _, ev := range must(f.events.ListProposalEvents(ctx, &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 1000}))(t).GetEvents() {
		steps = append(steps, ev.GetAction())
	}
	want := "SaveReplyDraft ReturnReplyDraft SaveReplyDraft"
	if !strings.Contains(strings.Join(steps, " "), want) {
		t.Errorf("the history %v lacks %s", steps, want)
	}
}

// TestProposersReadWhatWasSentThem: a proposer (its submission platform)
// reads its case without the unit's working papers: the drafts, a reply
// signed off but not yet sent, the replies the office returned. Every
// answer that carries the case is narrowed the same way: the case, a
// list's full view, its history, the answer to a step (access.go).
func TestProposersReadWhatWasSentThem(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	platform := as(f.account(t, "drafts-platform", banliv1.Role_ROLE_PROPOSER, ""))
	req := f.receiveRequest("W1")
	req.Proposal.Proposers = append(req.Proposal.Proposers, &banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "李委员"})
	p := must(f.proposals.CreateProposal(platform, req))(t)
	p = f.assign(t, p, part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	must(f.proposals.SaveReplyDraft(ctx, &banliv1.SaveReplyDraftRequest{Name: a, Reply: load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A).GetReply()}))(t)
	p = must(f.proposals.SubmitReply(ctx, &banliv1.SubmitReplyRequest{Name: a, DraftVersion: 1}))(t)
	if len(p.GetAssignments()[0].GetDrafts()) != 1 {
		t.Fatal("the unit does not read its own draft")
	}
	reply := p.GetAssignments()[0].GetReplies()[0].GetName()

	noPapers := func(where string, c *banliv1.Proposal) {
		t.Helper()
		for _, part := range c.GetAssignments() {
			if len(part.GetDrafts()) > 0 || part.GetPendingReply() != nil || len(part.GetReturnedReplies()) > 0 {
				t.Errorf("%s shows the proposer the unit's working papers: %v", where, part)
			}
		}
	}
	noWorking := func(where string, c *banliv1.Proposal) {
		t.Helper()
		noPapers(where, c)
		if len(c.GetAssignments()) != 1 || len(c.GetAssignments()[0].GetReplies()) != 1 {
			t.Errorf("%s hides the reply that was sent", where)
		}
	}
	noWorking("GetProposal", must(f.proposals.GetProposal(platform, &banliv1.GetProposalRequest{Name: p.GetName()}))(t))
	list := must(f.proposals.ListProposals(platform, &banliv1.ListProposalsRequest{View: banliv1.ProposalView_PROPOSAL_VIEW_FULL}))(t)
	if len(list.GetProposals()) != 1 {
		t.Fatalf("the proposer lists %d cases", len(list.GetProposals()))
	}
	noWorking("ListProposals (full)", list.GetProposals()[0])
	for _, ev := range must(f.events.ListProposalEvents(platform, &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 100}))(t).GetEvents() {
		noPapers("the history", ev.GetProposal())
	}
	noWorking("RateReply's answer", must(f.proposals.RateReply(platform, &banliv1.RateReplyRequest{Name: reply, ProposerId: 1, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED}))(t))
}
