package main

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestListChangedSince: a platform back from an outage lists what changed
// since the last update it holds, and nothing else, page by page (#17,
// item 4).
func TestListChangedSince(t *testing.T) {
	f := newFixture(t)
	platform := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	var cases []*banliv1.Proposal
	for _, number := range []string{"C1", "C2", "C3", "C4", "C5"} {
		cases = append(cases, must(f.proposals.CreateProposal(as(platform), f.receiveRequest(number)))(t))
	}
	held := cases[4].GetUpdateTime() // the platform's last news
	f.clock.Set(held.AsTime().Add(time.Hour))
	f.assign(t, cases[1], part(f.unit(0), roleLead))
	f.assign(t, cases[3], part(f.unit(0), roleLead))
	other := f.receive(t) // changed too, but not the platform's

	changed := func(ctx context.Context, req *banliv1.ListProposalsRequest) []string {
		t.Helper()
		var names []string
		for pages := 0; ; pages++ {
			resp := must(f.proposals.ListProposals(ctx, req))(t)
			for _, p := range resp.GetProposals() {
				names = append(names, p.GetName())
			}
			if resp.GetNextPageToken() == "" {
				return names
			}
			if pages > 10 {
				t.Fatal("no end of pages")
			}
			req.PageToken = resp.GetNextPageToken()
		}
	}
	got := changed(as(platform), &banliv1.ListProposalsRequest{UpdatedAfter: held, PageSize: 1})
	if want := []string{cases[1].GetName(), cases[3].GetName()}; !slices.Equal(got, want) {
		t.Errorf("the platform's changes since %v: %v, want %v", held.AsTime(), got, want)
	}
	got = changed(office, &banliv1.ListProposalsRequest{UpdatedAfter: held})
	if want := []string{cases[1].GetName(), cases[3].GetName(), other.GetName()}; !slices.Equal(got, want) {
		t.Errorf("the office's changes: %v, want %v", got, want)
	}
	if got := changed(office, &banliv1.ListProposalsRequest{UpdatedAfter: timestamppb.New(time.Now().Add(24 * time.Hour * 365 * 10))}); len(got) != 0 {
		t.Errorf("changes after a moment to come: %v", got)
	}
	_, err := f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{UpdatedAfter: &timestamppb.Timestamp{Nanos: -1}})
	wantCode(t, err, codes.InvalidArgument, "updated_after")

	// In the order they last changed: each case once, at its latest change.
	f.clock.Set(held.AsTime().Add(2 * time.Hour))
	f.sign(t, cases[1].GetName()+"/assignments/1")
	byUpdate := &banliv1.ListProposalsRequest{UpdatedAfter: held, OrderBy: "update_time", PageSize: 1}
	if got, want := changed(as(platform), byUpdate), []string{cases[3].GetName(), cases[1].GetName()}; !slices.Equal(got, want) {
		t.Errorf("the platform's changes in update order: %v, want %v", got, want)
	}
	all := changed(office, &banliv1.ListProposalsRequest{OrderBy: "update_time", PageSize: 2})
	if want := []string{cases[0].GetName(), cases[2].GetName(), cases[4].GetName(), cases[3].GetName(), other.GetName(), cases[1].GetName()}; !slices.Equal(all, want) {
		t.Errorf("every case in update order: %v, want %v", all, want)
	}
	_, err = f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{OrderBy: "title"})
	wantCode(t, err, codes.InvalidArgument, "order_by")
	code, out := f.rest(t, "GET", "/v1/proposals?updatedAfter="+held.AsTime().Format(time.RFC3339Nano), nil)
	if list, _ := out["proposals"].([]any); code != 200 || len(list) != 3 {
		t.Errorf("REST changes since: %d %v", code, out)
	}
}
