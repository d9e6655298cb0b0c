package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
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

// TestUnreturnedRatingsAreCountedApart: when a reply's rating period ends
// with ratings missing, the server closes it (CloseRatingPeriod, by
// itself): the part is rated by the ratings returned, and those missing
// are counted apart (the default), or as satisfied where the session says
// so; a session that waits keeps waiting. The statistics count them (#13,
// item 3).
func TestUnreturnedRatingsAreCountedApart(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.ScheduledEvery = 20 * time.Millisecond })
	ctx := context.Background()
	policy := func(u banliv1.UnreturnedRatings) *banliv1.SessionPolicy {
		return &banliv1.SessionPolicy{UnreturnedRatings: u}
	}
	apart := f.cppccSession(t, 6, nil)
	satisfied := f.cppccSession(t, 7, policy(banliv1.UnreturnedRatings_UNRETURNED_RATINGS_SATISFIED))
	waiting := f.cppccSession(t, 8, policy(banliv1.UnreturnedRatings_UNRETURNED_RATINGS_WAIT))
	if got := apart.GetPolicy().GetUnreturnedRatings(); got != banliv1.UnreturnedRatings_UNRETURNED_RATINGS_COUNTED_APART {
		t.Fatalf("the default: %v", got)
	}
	// One case in each: replied, delivered to both proposers; only the
	// first case gets a rating, from one of its two proposers.
	var replies []string
	var deadline time.Time
	for i, sess := range []*banliv1.Session{apart, satisfied, waiting} {
		p := f.assign(t, f.receiveIn(t, sess, fmt.Sprintf("U%d", i)), part(f.unit(0), roleLead))
		a := p.GetAssignments()[0].GetName()
		f.sign(t, a)
		f.consult(t, a)
		reply := f.reply(t, a).GetAssignments()[0].GetReplies()[0].GetName()
		p = must(f.proposals.RecordDelivery(ctx, &banliv1.RecordDeliveryRequest{Name: reply, AllProposers: true, Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_PLATFORM}))(t)
		deadline = p.GetAssignments()[0].GetReplies()[0].GetRatingDeadline().GetDueTime().AsTime()
		replies = append(replies, reply)
	}
	f.rate(t, replies[0], 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)
	stats := func(sess *banliv1.Session) *banliv1.Statistics {
		return must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Session: sess.GetName()}))(t)
	}
	partOf := func(reply string) *banliv1.Assignment {
		p := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: strings.Join(strings.Split(reply, "/")[:2], "/")}))(t)
		return p.GetAssignments()[0]
	}
	// Within the period nothing is closed.
	time.Sleep(100 * time.Millisecond)
	if got := partOf(replies[0]).GetState(); got != banliv1.AssignmentState_ASSIGNMENT_STATE_REPLIED {
		t.Fatalf("within the period: %s", got)
	}

	f.clock.Set(deadline.Add(time.Hour))
	waitFor(t, func() bool { return partOf(replies[1]).GetState() == banliv1.AssignmentState_ASSIGNMENT_STATE_RATED })
	for i, want := range []struct {
		state     banliv1.AssignmentState
		missing   int32
		countedAs banliv1.UnreturnedRatings
	}{
		{banliv1.AssignmentState_ASSIGNMENT_STATE_RATED, 1, banliv1.UnreturnedRatings_UNRETURNED_RATINGS_COUNTED_APART},
		{banliv1.AssignmentState_ASSIGNMENT_STATE_RATED, 2, banliv1.UnreturnedRatings_UNRETURNED_RATINGS_SATISFIED},
		{banliv1.AssignmentState_ASSIGNMENT_STATE_REPLIED, 0, 0},
	} {
		a := partOf(replies[i])
		closed := a.GetReplies()[0].GetRatingPeriodClose()
		if a.GetState() != want.state || closed.GetRatingsNotReturned() != want.missing || closed.GetCountedAs() != want.countedAs {
			t.Errorf("case %d: %s, closed %v; want %s with %d not returned, counted %s", i, a.GetState(), closed, want.state, want.missing, want.countedAs)
		}
	}
	// The figures: counted apart, the case is satisfied by its one rating
	// and one rating is not returned; counted as satisfied, the case none
	// rated is satisfied, two ratings not returned.
	for _, c := range []struct {
		sess                             *banliv1.Session
		satisfied, parts, missing, rated int64
	}{
		{apart, 1, 1, 1, 1},
		{satisfied, 1, 1, 2, 1},
		{waiting, 0, 0, 0, 0},
	} {
		s := stats(c.sess)
		if s.GetSatisfied() != c.satisfied || s.GetPartsWithRatingsNotReturned() != c.parts || s.GetRatingsNotReturned() != c.missing || s.GetSatisfaction().GetDenominator() != c.rated {
			t.Errorf("%s: satisfied %d, not returned %d parts / %d ratings, satisfaction %v", c.sess.GetDisplayName(),
				s.GetSatisfied(), s.GetPartsWithRatingsNotReturned(), s.GetRatingsNotReturned(), s.GetSatisfaction())
		}
	}
	// The history says the server did it.
	events := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: strings.Join(strings.Split(replies[0], "/")[:2], "/"), PageSize: 100}))(t).GetEvents()
	last := events[len(events)-1]
	if last.GetActor() != "server" || last.GetAction() != "CloseRatingPeriod (ratings not returned)" {
		t.Errorf("the last event: %s by %s", last.GetAction(), last.GetActor())
	}
	// A late rating finds the period closed.
	_, err := f.proposals.RateReply(ctx, &banliv1.RateReplyRequest{Name: replies[0], ProposerId: 2, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED})
	wantCode(t, err, codes.FailedPrecondition, "")
}
