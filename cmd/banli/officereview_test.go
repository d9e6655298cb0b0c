package main

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestOfficeReviewsReplies: where the session asks (office_reviews_replies),
// a signed-off reply waits for the office: it is sent only once the office
// accepts it, and the office may return it for re-handling (退回重办) with a
// reason, which brings the part back to where it was. A reply under review
// is neither rated nor counted as replied (#13, item 2).
func TestOfficeReviewsReplies(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sess := f.cppccSession(t, 5, &banliv1.SessionPolicy{OfficeReviewsReplies: proto.Bool(true)})
	p := f.receiveIn(t, sess, "R1")
	p = f.assign(t, p, part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	stats := func() *banliv1.Statistics {
		return must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Session: sess.GetName()}))(t)
	}
	review := func(d banliv1.ReviewDecision, reason string) (*banliv1.Proposal, error) {
		return f.proposals.ReviewReply(ctx, &banliv1.ReviewReplyRequest{Name: a, Decision: d, Reason: reason})
	}

	_, err := review(banliv1.ReviewDecision_REVIEW_DECISION_ACCEPTED, "")
	wantCode(t, err, codes.FailedPrecondition, "") // nothing to review yet
	p = must(f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_B)))(t)
	part := p.GetAssignments()[0]
	if part.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_UNDER_REVIEW || part.GetPendingReply() == nil || len(part.GetReplies()) != 0 {
		t.Fatalf("after sign-off: %s, pending %v, replies %d", part.GetState(), part.GetPendingReply() != nil, len(part.GetReplies()))
	}
	if s := stats(); s.GetReply().GetNumerator() != 0 {
		t.Errorf("a reply under review counts as replied: %v", s.GetReply())
	}
	staff := as(f.account(t, "rev-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	_, err = f.proposals.ReviewReply(staff, &banliv1.ReviewReplyRequest{Name: a, Decision: banliv1.ReviewDecision_REVIEW_DECISION_ACCEPTED})
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = review(banliv1.ReviewDecision_REVIEW_DECISION_RETURNED, "")
	wantCode(t, err, codes.InvalidArgument, "reason")

	// Returned: the part is back where it was, and the reply is kept apart.
	p = must(review(banliv1.ReviewDecision_REVIEW_DECISION_RETURNED, "答复未回应第三条建议，请重新办理"))(t)
	part = p.GetAssignments()[0]
	if part.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_CONSULTED || part.GetPendingReply() != nil ||
		len(part.GetReturnedReplies()) != 1 || part.GetReturnedReplies()[0].GetOfficeReview().GetReason() == "" {
		t.Fatalf("after the return: %s, returned %v", part.GetState(), part.GetReturnedReplies())
	}

	// Sent again, and accepted: now it is the reply, and it counts.
	must(f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	p = must(review(banliv1.ReviewDecision_REVIEW_DECISION_ACCEPTED, ""))(t)
	part = p.GetAssignments()[0]
	if part.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_REPLIED || len(part.GetReplies()) != 1 ||
		part.GetReplies()[0].GetOfficeReview().GetDecision() != banliv1.ReviewDecision_REVIEW_DECISION_ACCEPTED ||
		part.GetReplies()[0].GetCategory() != banliv1.ReplyCategory_REPLY_CATEGORY_A {
		t.Fatalf("after acceptance: %s, replies %v", part.GetState(), part.GetReplies())
	}
	if p.GetState() != banliv1.ProposalState_PROPOSAL_STATE_REPLIED {
		t.Errorf("the case is %s", p.GetState())
	}
	if s := stats(); s.GetReply().GetNumerator() != 1 || s.GetCategoryA() != 1 || s.GetCategoryB() != 0 {
		t.Errorf("after acceptance: replied %v, A %d, B %d", s.GetReply(), s.GetCategoryA(), s.GetCategoryB())
	}
	f.rate(t, part.GetReplies()[0].GetName(), 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)
}
