package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestRatingsNotReturned: a reply delivered to every proposer waits for
// their ratings for rating_working_days (default 15); after that the
// ledger lists the part under "ratings not returned", and the attention
// page shows it, until the last rating comes in (#13, item 3).
func TestRatingsNotReturned(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sess := f.cppccSession(t, 6, nil)
	if n := sess.GetPolicy().GetRatingWorkingDays(); n != 15 {
		t.Fatalf("rating_working_days %d, want the default 15", n)
	}
	p := f.receiveIn(t, sess, "T1")
	p = f.assign(t, p, part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	p = must(f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	reply := p.GetAssignments()[0].GetReplies()[0].GetName()
	if d := p.GetAssignments()[0].GetReplies()[0].GetRatingDeadline(); d != nil {
		t.Fatalf("a rating deadline before delivery: %v", d)
	}
	// Delivered to one, then to the other: the period runs from the last.
	must(f.proposals.RecordDelivery(ctx, &banliv1.RecordDeliveryRequest{Name: reply, ProposerIds: []int32{1}, Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_POST}))(t)
	f.clock.Advance(24 * time.Hour)
	p = must(f.proposals.RecordDelivery(ctx, &banliv1.RecordDeliveryRequest{Name: reply, AllProposers: true, Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_PLATFORM}))(t)
	deadline := p.GetAssignments()[0].GetReplies()[0].GetRatingDeadline()
	if deadline == nil || !deadline.GetDueTime().AsTime().After(f.clock.Now().AddDate(0, 0, 20)) {
		t.Fatalf("the rating deadline %v is not 15 working days after %s", deadline, f.clock.Now())
	}
	f.rate(t, reply, 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)

	notReturned := func() []string {
		t.Helper()
		var names []string
		for _, e := range must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_RATINGS_NOT_RETURNED}))(t).GetEntries() {
			names = append(names, e.GetAssignment())
		}
		return names
	}
	if got := notReturned(); len(got) != 0 {
		t.Fatalf("within the period: %v", got)
	}
	f.clock.Set(deadline.GetDueTime().AsTime().Add(time.Hour))
	if got := notReturned(); !slices.Equal(got, []string{a}) {
		t.Fatalf("after the period: %v, want %s", got, a)
	}
	att := must(f.supervision().GetAttention(office, &banliv1.GetAttentionRequest{}))(t)
	if len(att.GetRatingsNotReturned()) != 1 {
		t.Errorf("attention shows %d parts with ratings not returned", len(att.GetRatingsNotReturned()))
	}
	f.rate(t, reply, 2, banliv1.Satisfaction_SATISFACTION_SATISFIED)
	if got := notReturned(); len(got) != 0 {
		t.Errorf("after the last rating: %v", got)
	}
}
