package main

import (
	"fmt"
	"maps"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestLabels: GET /v1/labels (and ListLabels) gives the Chinese and
// English labels of every enum value, ledger views included, to anyone
// signed in (#16, item 1).
func TestLabels(t *testing.T) {
	f := newFixture(t)
	labels := banliv1.NewLabelServiceClient(f.conn)
	viewer := as(f.account(t, "label-viewer", banliv1.Role_ROLE_VIEWER, ""))
	all := must(labels.ListLabels(viewer, &banliv1.ListLabelsRequest{}))(t)
	want := map[string]string{
		"ASSIGNMENT_ROLE_LEAD": "主办", "ASSIGNMENT_ROLE_SPLIT": "分办", "ASSIGNMENT_ROLE_CO_HANDLING": "会办",
		"SATISFACTION_BASICALLY_SATISFIED": "基本满意", "REPLY_CATEGORY_A": "A类（已解决或基本解决）",
		"LEDGER_VIEW_RATINGS_NOT_RETURNED": "评价未返回", "DISCLOSURE_STATE_WITHHELD": "依法不予公开",
	}
	found := 0
	for _, e := range all.GetEnums() {
		for _, v := range e.GetValues() {
			if v.GetZh() == "" || v.GetEn() == "" {
				t.Errorf("%s %s has no label: %v", e.GetEnum(), v.GetValue(), v)
			}
			if zh, ok := want[v.GetValue()]; ok {
				found++
				if v.GetZh() != zh {
					t.Errorf("%s is %q, want %q", v.GetValue(), v.GetZh(), zh)
				}
			}
		}
	}
	if found != len(want) || len(all.GetEnums()) < 40 {
		t.Errorf("%d enums, %d of the %d values looked for", len(all.GetEnums()), found, len(want))
	}
	one := must(labels.ListLabels(viewer, &banliv1.ListLabelsRequest{Enum: "banli.v1.AssignmentRole"}))(t)
	if len(one.GetEnums()) != 1 || len(one.GetEnums()[0].GetValues()) != 3 || one.GetEnums()[0].GetValues()[0].GetEn() != "Lead" {
		t.Errorf("one enum: %v", one)
	}
	_, err := labels.ListLabels(viewer, &banliv1.ListLabelsRequest{Enum: "AssignmentRole"})
	wantCode(t, err, codes.InvalidArgument, "enum")
	code, body := f.restAs(t, f.officeKey(t), "GET", "/v1/labels?enum=banli.v1.Satisfaction", "")
	values, _ := body["enums"].([]any)
	if code != http.StatusOK || len(values) != 1 {
		t.Errorf("REST labels: %d %v", code, body)
	}
}

// TestListsCarryDisplayNames: a page of cases names its sessions, units
// and departments as people know them, over gRPC and REST, whichever view
// is asked for (#16, item 1).
func TestListsCarryDisplayNames(t *testing.T) {
	f := newFixture(t)
	dept := must(f.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "数据资源处", Parent: f.unit(0)}}))(t).GetName()
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	must(f.proposals.SignAssignment(office, &banliv1.SignAssignmentRequest{Name: p.Assignments[0].GetName(), Department: dept}))(t)
	want := map[string]string{
		f.session.GetName(): f.session.GetDisplayName(),
		f.unit(0):           f.bureaus[0].GetDisplayName(),
		f.unit(1):           f.bureaus[1].GetDisplayName(),
		dept:                "数据资源处",
	}
	for _, view := range []banliv1.ProposalView{banliv1.ProposalView_PROPOSAL_VIEW_BASIC, banliv1.ProposalView_PROPOSAL_VIEW_FULL} {
		got := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{View: view}))(t)
		names := map[string]string{}
		for _, n := range got.GetDisplayNames() {
			names[n.GetName()] = n.GetDisplayName()
		}
		if len(got.GetProposals()) != 1 || !maps.Equal(names, want) || len(got.GetDisplayNames()) != len(want) {
			t.Errorf("%s: %d cases, names %v, want %v", view, len(got.GetProposals()), got.GetDisplayNames(), want)
		}
	}
	code, out := f.rest(t, "GET", "/v1/proposals", nil)
	if code != http.StatusOK || !strings.Contains(fmt.Sprint(out["displayNames"]), "displayName:数据资源处 name:"+dept) || len(out["proposals"].([]any)) != 1 {
		t.Errorf("REST list: %d %v", code, out)
	}
}
