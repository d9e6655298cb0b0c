package main

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestCoHandlingUnitsCountersignTheLeadsDraft: where the session asks
// (countersign_lead_reply), every co-handling unit agrees to the lead's
// draft, or returns it with a comment, before the lead's head signs it off
// (会签). A unit that is not co-handling the case cannot countersign, and
// a countersign off the latest draft is refused (#13, item 2).
func TestCoHandlingUnitsCountersignTheLeadsDraft(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sess := f.cppccSession(t, 3, &banliv1.SessionPolicy{CountersignLeadReply: proto.Bool(true)})
	p := f.receiveIn(t, sess, "C1")
	p = f.assign(t, p, part(f.unit(0), roleLead), part(f.unit(1), roleCo), part(f.unit(2), roleCo))
	lead, co1, co2 := p.GetAssignments()[0].GetName(), p.GetAssignments()[1].GetName(), p.GetAssignments()[2].GetName()
	for _, a := range []string{lead, co1, co2} {
		f.sign(t, a)
	}
	for _, a := range []string{co1, co2} {
		must(f.proposals.SubmitOpinion(ctx, &banliv1.SubmitOpinionRequest{Name: a, Opinion: &banliv1.Opinion{Text: "会办意见", Signer: "王处长"}}))(t)
	}
	f.consult(t, lead)
	draft := load.ReplyRequest(lead, banliv1.ReplyCategory_REPLY_CATEGORY_A).GetReply()
	must(f.proposals.SaveReplyDraft(ctx, &banliv1.SaveReplyDraftRequest{Name: lead, Reply: draft}))(t)

	agree := banliv1.CountersignDecision_COUNTERSIGN_DECISION_AGREED
	countersign := func(ctx context.Context, co string, version int32, d banliv1.CountersignDecision, comment string) (*banliv1.Proposal, error) {
		return f.proposals.CountersignReply(ctx, &banliv1.CountersignReplyRequest{Name: co, DraftVersion: version, Decision: d, Comment: comment})
	}
	// The lead's head cannot sign off before every co-handling unit agreed.
	_, err := f.proposals.SubmitReply(ctx, &banliv1.SubmitReplyRequest{Name: lead, DraftVersion: 1})
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = f.proposals.SubmitReply(ctx, load.ReplyRequest(lead, banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.FailedPrecondition, "") // a reply without a countersigned draft

	// The lead unit is no co-handling unit; an unknown version is refused.
	_, err = countersign(ctx, lead, 1, agree, "")
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = countersign(ctx, co1, 2, agree, "")
	wantCode(t, err, codes.FailedPrecondition, "")
	_, err = countersign(ctx, co1, 1, banliv1.CountersignDecision_COUNTERSIGN_DECISION_RETURNED, "")
	wantCode(t, err, codes.InvalidArgument, "comment")

	// One agrees, the other returns it: a new version, agreed by both.
	must(countersign(ctx, co1, 1, agree, ""))(t)
	_, err = countersign(ctx, co1, 1, agree, "")
	wantCode(t, err, codes.FailedPrecondition, "") // once per unit
	p = must(countersign(ctx, co2, 1, banliv1.CountersignDecision_COUNTERSIGN_DECISION_RETURNED, "请写明我局承担的工作"))(t)
	if d := p.GetAssignments()[0].GetDrafts()[0]; d.GetState() != banliv1.DraftState_DRAFT_STATE_RETURNED || len(d.GetCountersigns()) != 2 {
		t.Fatalf("after a return: %v", d)
	}
	draft.Text += "（已写明会办单位承担的工作）"
	must(f.proposals.SaveReplyDraft(ctx, &banliv1.SaveReplyDraftRequest{Name: lead, Reply: draft}))(t)
	_, err = countersign(ctx, co1, 1, agree, "")
	wantCode(t, err, codes.FailedPrecondition, "") // not the latest
	must(countersign(ctx, co1, 2, agree, ""))(t)
	_, err = f.proposals.SubmitReply(ctx, &banliv1.SubmitReplyRequest{Name: lead, DraftVersion: 2})
	wantCode(t, err, codes.FailedPrecondition, "") // co2 has not agreed yet
	must(countersign(ctx, co2, 2, agree, "同意"))(t)
	p = must(f.proposals.SubmitReply(ctx, &banliv1.SubmitReplyRequest{Name: lead, DraftVersion: 2}))(t)
	if p.GetAssignments()[0].GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_REPLIED {
		t.Fatalf("the lead part is %s", p.GetAssignments()[0].GetState())
	}
}
