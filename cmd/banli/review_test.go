package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestKeyCaseRepliesAfterACollectiveReview: a collective review (集体评议)
// is a record (date, participants, conclusion), not a date field; a key
// case's reply waits for one of its round where the session asks, which
// is the default (#13, item 2).
func TestKeyCaseRepliesAfterACollectiveReview(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	p = must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: p.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)
	a := p.GetAssignments()[0]
	f.sign(t, a.GetName())
	f.consult(t, a.GetName())
	f.clock.Advance(24 * time.Hour)

	_, err := f.proposals.SubmitReply(ctx, load.ReplyRequest(a.GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.FailedPrecondition, "")

	assigned := a.GetAssignTime().AsTime().In(time.FixedZone("CST", 8*3600))
	review := func(date string, participants ...string) *banliv1.RecordCollectiveReviewRequest {
		return &banliv1.RecordCollectiveReviewRequest{Name: a.GetName(), Review: &banliv1.CollectiveReview{
			Date: date, Participants: participants, Conclusion: "同意答复意见，按A类答复",
		}}
	}
	for _, bad := range []struct {
		name  string
		req   *banliv1.RecordCollectiveReviewRequest
		field string
	}{
		{"before the assignment", review(assigned.AddDate(0, 0, -1).Format(time.DateOnly), "张局长"), "review.date"},
		{"in the future", review(f.clock.Now().AddDate(0, 0, 3).Format(time.DateOnly), "张局长"), "review.date"},
		{"nobody took part", review(f.clock.Now().Format(time.DateOnly)), "review.participants"},
		{"not a date", review("昨天", "张局长"), "review.date"},
	} {
		_, err := f.proposals.RecordCollectiveReview(ctx, bad.req)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, codes.InvalidArgument, bad.field) })
	}
	today := f.clock.Now().Format(time.DateOnly)
	p = must(f.proposals.RecordCollectiveReview(ctx, review(today, "张局长", "李处长", "王科长")))(t)
	got := p.GetAssignments()[0].GetCollectiveReviews()
	if len(got) != 1 || got[0].GetRound() != 1 || got[0].GetDate() != today || len(got[0].GetParticipants()) != 3 || got[0].GetRecordedBy() == "" {
		t.Fatalf("reviews: %v", got)
	}
	p = must(f.proposals.SubmitReply(ctx, load.ReplyRequest(a.GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	if r := p.GetAssignments()[0].GetReplies()[0]; r.GetCollectiveReviewDate() != today {
		t.Errorf("the reply's collective_review_date %q, want the review's %s", r.GetCollectiveReviewDate(), today)
	}

	// A session that does not ask: its key cases reply without one.
	policy := &banliv1.SessionPolicy{CollectiveReviewForKeyCases: proto.Bool(false)}
	sess := f.cppccSession(t, 2, policy)
	if sess.GetPolicy().CollectiveReviewForKeyCases == nil || sess.GetPolicy().GetCollectiveReviewForKeyCases() {
		t.Fatalf("the session's policy %v", sess.GetPolicy())
	}
	q := f.assign(t, f.receiveIn(t, sess, "K2"), part(f.unit(0), roleLead))
	must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: q.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)
	f.sign(t, q.GetAssignments()[0].GetName())
	f.consult(t, q.GetAssignments()[0].GetName())
	must(f.proposals.SubmitReply(ctx, load.ReplyRequest(q.GetAssignments()[0].GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
}
