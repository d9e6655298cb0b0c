package main

import (
	"context"
	"testing"
	"time"

	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestCrossYearForAsLongAsItLasts: a B-class part of 2021 counts as
// cross-year (跨年度) in 2022, and again in 2023 while it stays on the
// register: the server carries it into each new year, with that year's
// progress report due on 31 March. Closing it stops the count; the years
// it was open keep it (#14, item 5).
func TestCrossYearForAsLongAsItLasts(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.ScheduledEvery = 20 * time.Millisecond })
	ctx := context.Background()
	sess := f.cppccSession(t, 6, nil)
	p := f.assign(t, f.receiveIn(t, sess, "X1"), part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	p = must(f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_B)))(t)
	followUp := func() *banliv1.FollowUp {
		return must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t).GetAssignments()[0].GetFollowUp()
	}
	if fu := followUp(); len(fu.GetCarriedYears()) != 1 || fu.GetCarriedYears()[0] != 2022 || fu.GetReportDeadline().GetDueDate() != "2022-03-31" {
		t.Fatalf("on the register: %v", fu)
	}
	crossYear := func(year int32) int64 {
		return must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Unit: f.unit(0), Year: year}))(t).GetCrossYearLeadParts()
	}
	listed := func(year int32) int {
		return len(must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{Year: year, Unit: f.unit(0)}))(t).GetProposals())
	}

	// 2022 comes and goes; 2023 begins with the part still open.
	f.clock.Set(time.Date(2023, 1, 3, 9, 0, 0, 0, time.FixedZone("CST", 8*3600)))
	waitFor(t, func() bool { return len(followUp().GetCarriedYears()) == 2 })
	if fu := followUp(); fu.GetCarriedYears()[1] != 2023 || fu.GetReportDeadline().GetDueDate() != "2023-03-31" {
		t.Fatalf("carried into 2023: %v", fu)
	}
	for _, year := range []int32{2022, 2023} {
		if crossYear(year) != 1 || listed(year) != 1 {
			t.Errorf("%d: %d cross-year parts, %d cases listed; want 1 and 1", year, crossYear(year), listed(year))
		}
	}
	// Closed in 2023: 2023 keeps it, 2024 does not get it.
	must(f.proposals.CloseFollowUp(office, &banliv1.CloseFollowUpRequest{Name: a, Note: "已办结"}))(t)
	f.clock.Set(time.Date(2024, 1, 2, 9, 0, 0, 0, time.FixedZone("CST", 8*3600)))
	time.Sleep(150 * time.Millisecond) // several rounds of the server's steps
	if fu := followUp(); len(fu.GetCarriedYears()) != 2 {
		t.Fatalf("a closed follow-up was carried on: %v", fu.GetCarriedYears())
	}
	if crossYear(2023) != 1 || crossYear(2024) != 0 || listed(2024) != 0 {
		t.Errorf("after closing: 2023 %d, 2024 %d cross-year parts; %d listed in 2024", crossYear(2023), crossYear(2024), listed(2024))
	}
}
