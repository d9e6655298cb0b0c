package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/banli/banli/cmd/banli/cli"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestReorganisation: seed 001's 机构改革 end to end. A unit is renamed
// (its old name kept) and then merged into a new one: its open parts, its
// department and its accounts go over in one decision, each move on its
// case; its rated part and the figures it made stay behind, and the new
// unit's figures include them on request (#14, item 2).
func TestReorganisation(t *testing.T) {
	f := newFixture(t)
	admin := as(f.adminKey)
	ctx := context.Background()
	old := f.bureaus[0]
	old = must(f.units.UpdateUnit(admin, &banliv1.UpdateUnitRequest{Unit: &banliv1.Unit{Name: old.GetName(), DisplayName: "市政务服务数据管理局"},
		UpdateMask: mask("display_name"), Etag: old.GetEtag()}))(t)
	if !slices.Equal(old.GetFormerNames(), []string{"市数据局"}) {
		t.Fatalf("former names: %v", old.GetFormerNames())
	}
	// Found by its old name too.
	if found := must(f.units.ListUnits(office, &banliv1.ListUnitsRequest{NameContains: "数据局"}))(t).GetUnits(); len(found) != 1 || found[0].GetName() != old.GetName() {
		t.Fatalf("searching 数据局: %v", found)
	}
	dept := must(f.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "数据资源处", Parent: old.GetName()}}))(t)
	successor := must(f.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "市大数据资源管理中心"}}))(t)
	must(f.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "综合处", Parent: successor.GetName()}}))(t)
	staffKey := f.account(t, "reorg-staff", banliv1.Role_ROLE_UNIT_STAFF, old.GetName())

	// p1: rated (closed) with the old unit; p2: signed, open; p3: the old
	// unit co-handles, open.
	p1 := f.assign(t, f.receive(t), part(old.GetName(), roleLead))
	a1 := p1.GetAssignments()[0].GetName()
	f.sign(t, a1)
	f.consult(t, a1)
	f.reply(t, a1)
	f.rate(t, a1+"/replies/1", 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)
	p2 := f.assign(t, f.receive(t), part(old.GetName(), roleLead))
	f.sign(t, p2.GetAssignments()[0].GetName())
	p3 := f.assign(t, f.receive(t), part(f.unit(1), roleLead), part(old.GetName(), roleCo))
	stats := func(unit string, with bool) *banliv1.Statistics {
		return must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Unit: unit, Year: 2021, IncludePredecessors: with}))(t)
	}
	if s := stats(old.GetName(), false); s.GetLeadParts() != 2 || s.GetCoHandlingParts() != 1 || s.GetSatisfied() != 1 {
		t.Fatalf("before: %d lead, %d co-handling, %d satisfied", s.GetLeadParts(), s.GetCoHandlingParts(), s.GetSatisfied())
	}

	merge := func(req *banliv1.MergeUnitRequest) (*banliv1.Unit, error) { return f.units.MergeUnit(admin, req) }
	moveAccounts := banliv1.MergedUnitAccounts_MERGED_UNIT_ACCOUNTS_MOVE
	for _, bad := range []struct {
		name  string
		req   *banliv1.MergeUnitRequest
		code  codes.Code
		field string
	}{
		{"into itself", &banliv1.MergeUnitRequest{Name: old.GetName(), Into: old.GetName(), Accounts: moveAccounts, Reason: "x"}, codes.InvalidArgument, "into"},
		{"into its own department", &banliv1.MergeUnitRequest{Name: old.GetName(), Into: dept.GetName(), Accounts: moveAccounts, Reason: "x"}, codes.InvalidArgument, "into"},
		{"no choice for the accounts", &banliv1.MergeUnitRequest{Name: old.GetName(), Into: successor.GetName(), Reason: "x"}, codes.InvalidArgument, "accounts"},
		{"no reason", &banliv1.MergeUnitRequest{Name: old.GetName(), Into: successor.GetName(), Accounts: moveAccounts}, codes.InvalidArgument, "reason"},
		{"into no unit", &banliv1.MergeUnitRequest{Name: old.GetName(), Into: "units/99", Accounts: moveAccounts, Reason: "x"}, codes.NotFound, "into"},
	} {
		_, err := merge(bad.req)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, bad.code, bad.field) })
	}
	_, err := f.units.MergeUnit(as(f.officeKey(t)), &banliv1.MergeUnitRequest{Name: old.GetName(), Into: successor.GetName(), Accounts: moveAccounts, Reason: "x"})
	wantCode(t, err, codes.PermissionDenied, "")

	merged := must(merge(&banliv1.MergeUnitRequest{Name: old.GetName(), Into: successor.GetName(), Accounts: moveAccounts, Reason: "市委机构改革方案（2021）"}))(t)
	if merged.GetActive() || merged.GetMergedInto() != successor.GetName() {
		t.Fatalf("the merged unit: %v", merged)
	}
	if got := must(f.units.GetUnit(office, &banliv1.GetUnitRequest{Name: successor.GetName()}))(t); !slices.Equal(got.GetPredecessors(), []string{old.GetName()}) {
		t.Fatalf("the successor's predecessors: %v", got.GetPredecessors())
	}
	if got := must(f.units.GetUnit(office, &banliv1.GetUnitRequest{Name: dept.GetName()}))(t); got.GetParent() != successor.GetName() {
		t.Fatalf("the department's parent: %s", got.GetParent())
	}
	unitOf := func(p *banliv1.Proposal, n int) *banliv1.Assignment {
		return must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t).GetAssignments()[n]
	}
	if a := unitOf(p1, 0); a.GetUnit() != old.GetName() {
		t.Errorf("the rated part moved to %s", a.GetUnit())
	}
	for _, a := range []*banliv1.Assignment{unitOf(p2, 0), unitOf(p3, 1)} {
		if a.GetUnit() != successor.GetName() || len(a.GetCorrections()) != 1 {
			t.Errorf("%s: unit %s, corrections %v", a.GetName(), a.GetUnit(), a.GetCorrections())
		}
	}
	// The old unit's staff now act for the successor: they reach the moved
	// part, not the closed one.
	acct := must(banliv1.NewAccountServiceClient(f.conn).GetAccount(admin, &banliv1.GetAccountRequest{Name: "accounts/reorg-staff"}))(t)
	if acct.GetUnit() != successor.GetName() || !acct.GetActive() {
		t.Fatalf("the moved account: %v", acct)
	}
	must(f.proposals.GetProposal(as(staffKey), &banliv1.GetProposalRequest{Name: p2.GetName()}))(t)
	_, err = f.proposals.GetProposal(as(staffKey), &banliv1.GetProposalRequest{Name: p1.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	// Figures: the closed part stays with the old unit.
	if s := stats(old.GetName(), false); s.GetLeadParts() != 1 || s.GetCoHandlingParts() != 0 || s.GetSatisfied() != 1 {
		t.Errorf("the old unit after: %d lead, %d co-handling, %d satisfied", s.GetLeadParts(), s.GetCoHandlingParts(), s.GetSatisfied())
	}
	if s := stats(successor.GetName(), false); s.GetLeadParts() != 1 || s.GetCoHandlingParts() != 1 {
		t.Errorf("the successor: %d lead, %d co-handling", s.GetLeadParts(), s.GetCoHandlingParts())
	}
	if s := stats(successor.GetName(), true); s.GetLeadParts() != 2 || s.GetCoHandlingParts() != 1 || s.GetSatisfaction().GetRate() != 1 {
		t.Errorf("the successor with its predecessor: %d lead, %d co-handling, satisfaction %v", s.GetLeadParts(), s.GetCoHandlingParts(), s.GetSatisfaction())
	}
	// A spreadsheet written before the reorganisation still imports: its
	// old unit name is the successor's now.
	sheetFile := filepath.Join(t.TempDir(), "cases.csv")
	os.WriteFile(sheetFile, []byte("届次,案号,案由,内容,提案人,主办单位,提出时间\n"+
		"市政协七届一次会议,R-1,关于政务数据共享的提案,建议……,王委员,市数据局,大会期间\n"), 0o600)
	var out, errs strings.Builder
	if code := cli.ImportCommand([]string{"-addr", f.addrs.GRPCAddr, "-token-file", f.clientAs(t, f.officeKey(t)).TokenFile, sheetFile}, &out, &errs); code != 0 {
		t.Fatalf("import naming the old unit: exit %d: %s%s", code, out.String(), errs.String())
	}
	imported := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{Unit: successor.GetName()}))(t).GetProposals()
	if len(imported) != 3 { // p2 and p3 moved, and the imported one
		t.Errorf("the successor's cases after the import: %d", len(imported))
	}
	// Nothing new goes to the merged unit.
	_, err = f.proposals.AssignProposal(ctx, &banliv1.AssignProposalRequest{Name: f.receive(t).GetName(), Assignments: []*banliv1.UnitAssignment{part(old.GetName(), roleLead)}})
	wantCode(t, err, codes.FailedPrecondition, "")
}
