package main

import (
	"context"
	"net/http"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestOfficeCorrectsACategory: the office corrects the category a unit gave
// its reply (DOMAIN.md: "The office may correct a category"), with a
// reason; the correction is kept on the reply and in the history, and the
// statistics follow it. No one else may, and a correction to the same
// category, or without a reason, writes nothing (#13, item 2).
func TestOfficeCorrectsACategory(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	p = must(f.proposals.SubmitReply(context.Background(), load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_B)))(t)
	reply := p.GetAssignments()[0].GetReplies()[0].GetName()
	stats := func() *banliv1.Statistics {
		return must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Session: f.session.GetName()}))(t)
	}
	if s := stats(); s.GetCategoryB() != 1 || s.GetCategoryA() != 0 {
		t.Fatalf("before: A %d, B %d", s.GetCategoryA(), s.GetCategoryB())
	}
	correct := func(ctx context.Context, category banliv1.ReplyCategory, reason string) (*banliv1.Proposal, error) {
		return f.proposals.CorrectReplyCategory(ctx, &banliv1.CorrectReplyCategoryRequest{Name: reply, Category: category, Reason: reason})
	}
	history := f.caseEvents(t, p)

	staff := as(f.account(t, "corr-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	_, err := correct(staff, banliv1.ReplyCategory_REPLY_CATEGORY_A, "单位自行更正")
	wantCode(t, err, codes.PermissionDenied, "")
	_, err = correct(office, banliv1.ReplyCategory_REPLY_CATEGORY_A, "")
	wantCode(t, err, codes.InvalidArgument, "reason")
	_, err = correct(office, banliv1.ReplyCategory_REPLY_CATEGORY_UNSPECIFIED, "核实")
	wantCode(t, err, codes.InvalidArgument, "category")
	_, err = correct(office, banliv1.ReplyCategory_REPLY_CATEGORY_B, "核实")
	wantCode(t, err, codes.FailedPrecondition, "")
	if got := f.caseEvents(t, p); got != history {
		t.Fatalf("refused corrections wrote %d events", got-history)
	}

	p = must(correct(office, banliv1.ReplyCategory_REPLY_CATEGORY_A, "经核实，所提问题已解决"))(t)
	r := p.GetAssignments()[0].GetReplies()[0]
	if r.GetCategory() != banliv1.ReplyCategory_REPLY_CATEGORY_A {
		t.Fatalf("category %s after the correction", r.GetCategory())
	}
	if len(r.GetCategoryCorrections()) != 1 {
		t.Fatalf("corrections: %v", r.GetCategoryCorrections())
	}
	c := r.GetCategoryCorrections()[0]
	if c.GetFrom() != banliv1.ReplyCategory_REPLY_CATEGORY_B || c.GetTo() != banliv1.ReplyCategory_REPLY_CATEGORY_A ||
		c.GetReason() != "经核实，所提问题已解决" || c.GetCorrectedBy() == "" || !c.GetCorrectTime().AsTime().Equal(f.clock.Now()) {
		t.Errorf("the correction: %v", c)
	}
	if s := stats(); s.GetCategoryB() != 0 || s.GetCategoryA() != 1 {
		t.Errorf("after: A %d, B %d; the statistics do not follow the correction", s.GetCategoryA(), s.GetCategoryB())
	}
	events := must(f.events.ListProposalEvents(context.Background(), &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 1000}))(t).GetEvents()
	if last := events[len(events)-1]; last.GetAction() != "CorrectReplyCategory" {
		t.Errorf("the history's last step is %q", last.GetAction())
	}

	// Over REST, as the office, back to B.
	code, body := f.restAs(t, f.officeKey(t), http.MethodPost, "/v1/"+reply+":correctCategory", `{"category":"REPLY_CATEGORY_B","reason":"复核后改回"}`)
	if code != http.StatusOK {
		t.Fatalf("REST: %d %v", code, body)
	}
	if s := stats(); s.GetCategoryB() != 1 || s.GetCategoryA() != 0 {
		t.Errorf("after the REST correction: A %d, B %d", s.GetCategoryA(), s.GetCategoryB())
	}
}
