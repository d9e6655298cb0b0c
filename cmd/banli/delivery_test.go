package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestDeliveryIsRecordedPerProposer: the replying unit records how its
// letter reached each proposer (送达) and whom it copied (抄送): the office
// and the co-handling units. Each proposer is delivered to once; a time the
// unit states is never before the reply, nor in the future; a copy goes to
// the office or a co-handling unit of the case; each refusal writes
// nothing (#13, item 2).
func TestDeliveryIsRecordedPerProposer(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	lead, co := p.GetAssignments()[0].GetName(), p.GetAssignments()[1].GetName()
	f.sign(t, lead)
	f.sign(t, co)
	must(f.proposals.SubmitOpinion(ctx, &banliv1.SubmitOpinionRequest{Name: co, Opinion: &banliv1.Opinion{Text: "同意主办单位意见", Signer: "王处长"}}))(t)
	f.consult(t, lead)
	f.clock.Advance(24 * time.Hour)
	// The lead's reply cites the co-handling opinion it took in, and only
	// a co-handling part's sent opinion can be cited.
	req := load.ReplyRequest(lead, banliv1.ReplyCategory_REPLY_CATEGORY_A)
	req.Reply.CitedOpinions = []string{lead}
	_, err := f.proposals.SubmitReply(ctx, req)
	wantCode(t, err, codes.InvalidArgument, "reply.cited_opinions[0]")
	req.Reply.CitedOpinions = []string{co}
	p = must(f.proposals.SubmitReply(ctx, req))(t)
	reply := p.GetAssignments()[0].GetReplies()[0]
	if !slices.Equal(reply.GetCitedOpinions(), []string{co}) {
		t.Errorf("cited opinions: %v", reply.GetCitedOpinions())
	}
	f.clock.Advance(48 * time.Hour)

	deliver := func(ctx context.Context, req *banliv1.RecordDeliveryRequest) (*banliv1.Proposal, error) {
		req.Name = reply.GetName()
		return f.proposals.RecordDelivery(ctx, req)
	}
	byPost := banliv1.DeliveryChannel_DELIVERY_CHANNEL_POST
	history := f.caseEvents(t, p)
	otherStaff := as(f.account(t, "other-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(2)))
	for _, bad := range []struct {
		name  string
		ctx   context.Context
		req   *banliv1.RecordDeliveryRequest
		code  codes.Code
		field string
	}{
		{"another unit", otherStaff, &banliv1.RecordDeliveryRequest{ProposerIds: []int32{1}, Channel: byPost}, codes.PermissionDenied, ""},
		{"no channel", ctx, &banliv1.RecordDeliveryRequest{ProposerIds: []int32{1}}, codes.InvalidArgument, "channel"},
		{"no such proposer", ctx, &banliv1.RecordDeliveryRequest{ProposerIds: []int32{9}, Channel: byPost}, codes.InvalidArgument, "proposer_ids[0]"},
		{"before the reply", ctx, &banliv1.RecordDeliveryRequest{ProposerIds: []int32{1}, Channel: byPost, Time: timestamppb.New(reply.GetRecordTime().AsTime().Add(-time.Hour))}, codes.InvalidArgument, "time"},
		{"in the future", ctx, &banliv1.RecordDeliveryRequest{ProposerIds: []int32{1}, Channel: byPost, Time: timestamppb.New(f.clock.Now().Add(48 * time.Hour))}, codes.InvalidArgument, "time"},
		{"a copy to a unit not on the case", ctx, &banliv1.RecordDeliveryRequest{Channel: byPost, CopyTo: []string{f.unit(2)}}, codes.InvalidArgument, "copy_to[0]"},
		{"nothing to record", ctx, &banliv1.RecordDeliveryRequest{Channel: byPost}, codes.InvalidArgument, "proposer_ids"},
	} {
		_, err := deliver(bad.ctx, bad.req)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, bad.code, bad.field) })
	}
	if got := f.caseEvents(t, p); got != history {
		t.Fatalf("refused deliveries wrote %d events", got-history)
	}

	// By post to the first proposer yesterday, copied to the office and the
	// co-handling unit.
	yesterday := f.clock.Now().Add(-24 * time.Hour)
	p = must(deliver(ctx, &banliv1.RecordDeliveryRequest{ProposerIds: []int32{1}, Channel: byPost, Time: timestamppb.New(yesterday),
		Note: "挂号信 XA123", CopyTo: []string{"office", f.unit(1)}}))(t)
	r := p.GetAssignments()[0].GetReplies()[0]
	if len(r.GetDeliveries()) != 1 {
		t.Fatalf("deliveries %v", r.GetDeliveries())
	}
	d := r.GetDeliveries()[0]
	if d.GetProposerId() != 1 || d.GetChannel() != byPost || !d.GetTime().AsTime().Equal(yesterday) ||
		!d.GetRecordTime().AsTime().Equal(f.clock.Now()) || d.GetRecordedBy() == "" || d.GetNote() != "挂号信 XA123" {
		t.Errorf("the delivery: %v", d)
	}
	if len(r.GetCopies()) != 2 || r.GetCopies()[0].GetRecipient() != "office" || r.GetCopies()[1].GetRecipient() != f.unit(1) {
		t.Errorf("the copies: %v", r.GetCopies())
	}
	_, err = deliver(ctx, &banliv1.RecordDeliveryRequest{ProposerIds: []int32{1}, Channel: byPost})
	wantCode(t, err, codes.FailedPrecondition, "")

	_, err = deliver(ctx, &banliv1.RecordDeliveryRequest{Channel: byPost, CopyTo: []string{"office"}})
	wantCode(t, err, codes.FailedPrecondition, "")

	// The rest through the platform: every proposer not yet delivered to.
	p = must(deliver(ctx, &banliv1.RecordDeliveryRequest{Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_PLATFORM, AllProposers: true}))(t)
	r = p.GetAssignments()[0].GetReplies()[0]
	if len(r.GetDeliveries()) != 2 || r.GetDeliveries()[1].GetProposerId() != 2 {
		t.Fatalf("deliveries after the second call: %v", r.GetDeliveries())
	}
	_, err = deliver(ctx, &banliv1.RecordDeliveryRequest{Channel: byPost, AllProposers: true})
	wantCode(t, err, codes.FailedPrecondition, "")
	events := must(f.events.ListProposalEvents(ctx, &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 1000}))(t).GetEvents()
	if last := events[len(events)-1]; last.GetAction() != "RecordDelivery" {
		t.Errorf("the history's last step is %q", last.GetAction())
	}
}

// TestRepliesNotDelivered: the ledger lists the replied parts whose reply
// has not reached every proposer yet (未送达), until it has.
func TestRepliesNotDelivered(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	notDelivered := func() []string {
		t.Helper()
		var names []string
		for _, e := range must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_NOT_DELIVERED}))(t).GetEntries() {
			names = append(names, e.GetAssignment())
		}
		return names
	}
	if got := notDelivered(); len(got) != 0 {
		t.Fatalf("before the reply: %v", got)
	}
	p = must(f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	reply := p.GetAssignments()[0].GetReplies()[0].GetName()
	must(f.proposals.RecordDelivery(ctx, &banliv1.RecordDeliveryRequest{Name: reply, ProposerIds: []int32{1}, Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_POST}))(t)
	if got := notDelivered(); !slices.Equal(got, []string{a}) {
		t.Fatalf("delivered to one of two: %v", got)
	}
	if att := must(f.supervision().GetAttention(office, &banliv1.GetAttentionRequest{}))(t); len(att.GetNotDelivered()) != 1 {
		t.Errorf("attention shows %d parts not delivered", len(att.GetNotDelivered()))
	}
	must(f.proposals.RecordDelivery(ctx, &banliv1.RecordDeliveryRequest{Name: reply, AllProposers: true, Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_PLATFORM}))(t)
	if got := notDelivered(); len(got) != 0 {
		t.Errorf("delivered to both: %v", got)
	}
}
