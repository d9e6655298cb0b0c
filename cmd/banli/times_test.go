package main

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestStatedTimesCannotGameOnTime: a time a unit states (when it consulted,
// the date of its letter) is never in the future and never before the step
// it follows; and whether a reply was on time is judged on when Banli
// received it, so a late reply dated back counts as late (#13, item 5).
func TestStatedTimesCannotGameOnTime(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	p = f.assign(t, p, part(f.unit(0), roleLead))
	a := p.GetAssignments()[0]
	assigned := a.GetAssignTime().AsTime()
	f.sign(t, a.GetName())

	// A consultation before the part was assigned did not happen.
	before := f.caseEvents(t, p)
	_, err := f.proposals.RecordConsultation(context.Background(), &banliv1.RecordConsultationRequest{Name: a.GetName(), Consultation: &banliv1.Consultation{
		Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE,
		Summary: "电话沟通。", Time: timestamppb.New(assigned.Add(-time.Hour)),
	}})
	wantCode(t, err, codes.InvalidArgument, "consultation.time")
	f.consult(t, a.GetName())

	// A reply dated 2019, on a case assigned in 2021.
	req := load.ReplyRequest(a.GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_A)
	req.Reply.ReplyTime = timestamppb.New(time.Date(2019, 6, 1, 10, 0, 0, 0, time.UTC))
	_, err = f.proposals.SubmitReply(context.Background(), req)
	wantCode(t, err, codes.InvalidArgument, "reply.reply_time")
	if after := f.caseEvents(t, p); after != before+1 {
		t.Fatalf("refused calls wrote events: %d before, %d after (one consultation between)", before, after)
	}

	// Four months later, long past the three months the reply had, the
	// unit sends it dated back to a day before the deadline.
	f.clock.Advance(120 * 24 * time.Hour)
	received := f.clock.Now()
	due := a.GetResponseDeadline().GetDueTime().AsTime()
	req = load.ReplyRequest(a.GetName(), banliv1.ReplyCategory_REPLY_CATEGORY_A)
	req.Reply.ReplyTime = timestamppb.New(due.Add(-24 * time.Hour))
	p = must(f.proposals.SubmitReply(context.Background(), req))(t)
	r := p.GetAssignments()[0].GetReplies()[0]
	if r.GetOnTime() {
		t.Errorf("a reply received on %s, due on %s, dated back to %s, counts as on time", received, due, r.GetReplyTime().AsTime())
	}
	if !r.GetRecordTime().AsTime().Equal(received) {
		t.Errorf("record_time %v, want the server's clock %v", r.GetRecordTime().AsTime(), received)
	}
	if !r.GetReplyTime().AsTime().Equal(due.Add(-24 * time.Hour)) {
		t.Errorf("the letter's stated date %v is not kept", r.GetReplyTime().AsTime())
	}
	stats := must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Session: f.session.GetName()}))(t)
	if got := stats.GetOnTimeReply(); got.GetNumerator() != 0 || got.GetDenominator() != 1 {
		t.Errorf("on-time replies %d of %d, want 0 of 1", got.GetNumerator(), got.GetDenominator())
	}
}

// caseEvents is the number of events in p's history.
func (f *fixture) caseEvents(t testing.TB, p *banliv1.Proposal) int {
	t.Helper()
	return len(must(f.events.ListProposalEvents(context.Background(), &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 1000}))(t).GetEvents())
}
