package main

import (
	"testing"

	"google.golang.org/grpc/codes"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestUndoingAnAssignment: the office removes a part assigned by mistake
// (freely before sign-in, with a reason after) and swaps a wrongly named
// lead; each part keeps the correction in its history, deadlines follow
// the new roles, the statistics follow, and a refusal writes nothing
// (#14, item 3).
func TestUndoingAnAssignment(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead), part(f.unit(1), roleCo), part(f.unit(2), roleCo))
	leadPart, coPart, thirdPart := p.GetAssignments()[0], p.GetAssignments()[1], p.GetAssignments()[2]
	f.sign(t, coPart.GetName())
	remove := func(name, reason string) (*banliv1.Proposal, error) {
		return f.proposals.RemoveAssignment(office, &banliv1.RemoveAssignmentRequest{Name: name, Reason: reason})
	}
	changeRole := func(name string, role banliv1.AssignmentRole, reason string) (*banliv1.Proposal, error) {
		return f.proposals.ChangeAssignmentRole(office, &banliv1.ChangeAssignmentRoleRequest{Name: name, Role: role, Reason: reason})
	}
	leads := func(unit string) int64 {
		return must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Unit: unit, Year: 2021}))(t).GetLeadParts()
	}

	history := f.caseEvents(t, p)
	_, err := remove(leadPart.GetName(), "")
	wantCode(t, err, codes.FailedPrecondition, "") // co-handling units would be left without a lead
	_, err = remove(coPart.GetName(), "")
	wantCode(t, err, codes.InvalidArgument, "reason") // it signed
	_, err = changeRole(leadPart.GetName(), roleCo, "错误")
	wantCode(t, err, codes.FailedPrecondition, "") // no lead would be left
	_, err = changeRole(leadPart.GetName(), roleLead, "错误")
	wantCode(t, err, codes.InvalidArgument, "role")
	_, err = changeRole(coPart.GetName(), roleLead, "")
	wantCode(t, err, codes.InvalidArgument, "reason")
	staff := as(f.account(t, "undo-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	_, err = f.proposals.RemoveAssignment(staff, &banliv1.RemoveAssignmentRequest{Name: thirdPart.GetName()})
	wantCode(t, err, codes.PermissionDenied, "")
	if got := f.caseEvents(t, p); got != history {
		t.Fatalf("refused corrections wrote %d events", got-history)
	}

	// units/2 should have led: it takes the lead, units/1 becomes
	// co-handling, each with its new deadline.
	p = must(changeRole(coPart.GetName(), roleLead, "交办时主协办单位填反"))(t)
	if p.GetAssignments()[0].GetRole() != roleCo || p.GetAssignments()[1].GetRole() != roleLead {
		t.Fatalf("roles after the swap: %s, %s", p.GetAssignments()[0].GetRole(), p.GetAssignments()[1].GetRole())
	}
	if d := p.GetAssignments()[1].GetResponseDeadline(); d.GetMonths() != 3 || len(p.GetAssignments()[1].GetCorrections()) != 1 {
		t.Errorf("the new lead's deadline %v, corrections %v", d, p.GetAssignments()[1].GetCorrections())
	}
	if d := p.GetAssignments()[0].GetResponseDeadline(); d.GetMonths() != 1 {
		t.Errorf("the new co-handling part's deadline: %v", d)
	}
	if leads(f.unit(0)) != 0 || leads(f.unit(1)) != 1 {
		t.Errorf("lead parts after the swap: %d and %d", leads(f.unit(0)), leads(f.unit(1)))
	}

	// units/3 was never meant to be on the case: removed, freely.
	p = must(remove(thirdPart.GetName(), ""))(t)
	removed := p.GetAssignments()[2]
	if removed.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_REMOVED || removed.GetCorrections()[0].GetWhat() != "removed" || removed.GetCurrentDeadline() != nil {
		t.Fatalf("the removed part: %v", removed)
	}
	staffOf3 := as(f.account(t, "undo-staff-3", banliv1.Role_ROLE_UNIT_STAFF, f.unit(2)))
	_, err = f.proposals.GetProposal(staffOf3, &banliv1.GetProposalRequest{Name: p.GetName()})
	wantCode(t, err, codes.PermissionDenied, "") // no longer its case

	// Every part removed: the case is received again, and assigned anew.
	must(remove(p.GetAssignments()[0].GetName(), "重新交办"))(t)
	p = must(remove(p.GetAssignments()[1].GetName(), "重新交办"))(t)
	if p.GetState() != banliv1.ProposalState_PROPOSAL_STATE_RECEIVED {
		t.Fatalf("with every part removed: %s", p.GetState())
	}
	p = f.assign(t, p, part(f.unit(3), roleLead))
	if p.GetState() != banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED || leads(f.unit(3)) != 1 {
		t.Fatalf("assigned anew: %s, %d lead parts", p.GetState(), leads(f.unit(3)))
	}
}
