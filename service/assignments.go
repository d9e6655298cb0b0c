package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Assigning a case (交办) and the steps of a part before it is handled:
// signing for it (签收) and changing its unit (调整), and the frame every
// step on a part goes through.

// AssignProposal names units for a case.
func (s *Server) AssignProposal(ctx context.Context, req *banliv1.AssignProposalRequest) (*banliv1.Proposal, error) {
	if err := validateAssign(req); err != nil {
		return nil, err
	}
	id := idOf(req.GetName(), proposalsCollection)
	return updateProposal(ctx, s, banliv1.ProposalService_AssignProposal_FullMethodName, req, id, req.GetEtag(), StepAssign, func(c *caseChange) error {
		if err := checkCaseStep(StepAssign, guardInput{p: c.p, now: c.now, req: req, plan: req.GetAssignments()}); err != nil {
			return err
		}
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		var names []string
		for i, ua := range req.GetAssignments() {
			if err := c.checkActiveUnit(ua.GetUnit(), fmt.Sprintf("assignments[%d].unit", i)); err != nil {
				return err
			}
			c.p.Assignments = append(c.p.Assignments, c.newAssignment(ua.GetUnit(), ua.GetRole(), policy))
			names = append(names, ua.GetUnit()+" as "+roleName(ua.GetRole()))
		}
		c.details = "assigned " + strings.Join(names, ", ")
		return nil
	})
}

// checkActiveUnit refuses a unit the request names that does not exist or
// is deactivated.
func (c *caseChange) checkActiveUnit(unit, field string) error {
	u, err := c.unit(unit)
	if err != nil {
		return notFoundOr(err, unit, field)
	}
	if !u.GetActive() {
		return fmt.Errorf("%s: %s (%s) is deactivated: %w", field, unit, u.GetDisplayName(), ErrPrecondition)
	}
	return nil
}

// unit reads a unit, through the batch's memo when there is one.
func (c *caseChange) unit(name string) (*banliv1.Unit, error) {
	if c.batch != nil {
		if u, ok := c.batch.units[name]; ok {
			return u, nil
		}
	}
	u, err := c.tx.Unit(idOf(name, unitsCollection))
	if err == nil && c.batch != nil {
		c.batch.units[name] = u
	}
	return u, err
}

// workingDaysAfter and monthsAfter compute a deadline from now, through
// the batch's memo when there is one.
func (c *caseChange) workingDaysAfter(n int, event string) *banliv1.Deadline {
	return c.memoDeadline(fmt.Sprintf("%s w%d %s", c.clock.region, n, event), func() *banliv1.Deadline { return c.clock.workingDaysAfter(c.now, n, event) })
}

func (c *caseChange) monthsAfter(n int, event string) *banliv1.Deadline {
	return c.memoDeadline(fmt.Sprintf("%s m%d %s", c.clock.region, n, event), func() *banliv1.Deadline { return c.clock.monthsAfter(c.now, n, event) })
}

func (c *caseChange) memoDeadline(key string, compute func() *banliv1.Deadline) *banliv1.Deadline {
	if c.batch == nil {
		return compute()
	}
	d, ok := c.batch.deadlines[key]
	if !ok {
		d = compute()
		c.batch.deadlines[key] = d
	}
	// A copy: each case owns its deadlines.
	return proto.Clone(d).(*banliv1.Deadline)
}

// newAssignment starts a unit's part now, with its deadlines.
func (c *caseChange) newAssignment(unit string, role banliv1.AssignmentRole, policy *banliv1.SessionPolicy) *banliv1.Assignment {
	a := &banliv1.Assignment{
		Name:                 assignmentName(c.id, len(c.p.GetAssignments())+1),
		Unit:                 unit,
		Role:                 role,
		State:                aAssigned,
		AssignTime:           c.nowProto(),
		SignDeadline:         c.workingDaysAfter(int(policy.GetSignInWorkingDays()), "assignment"),
		ReassignmentDeadline: c.workingDaysAfter(int(policy.GetReassignmentWorkingDays()), "assignment"),
		Round:                1,
	}
	if role == coHandling {
		a.ResponseDeadline = c.monthsAfter(int(policy.GetOpinionMonths()), "assignment")
	} else {
		a.ResponseDeadline = capAt(c.monthsAfter(int(policy.GetReplyMonths()), "assignment"), fixedReplyDate(policy, c.p))
	}
	return a
}

// assignmentStep is the frame of every step on one assignment: it finds the
// assignment, asks the lifecycle table, lets apply fill in the step's data
// and moves the assignment to its next state.
func assignmentStep(ctx context.Context, s *Server, method string, req mutatingRequest, ref assignmentRef, etag string, step Step,
	apply func(c *caseChange, a *banliv1.Assignment) error,
) (*banliv1.Proposal, error) {
	return updateProposal(ctx, s, method, req, ref.proposal, etag, step, func(c *caseChange) error {
		a, err := c.assignment(ref.assignment)
		if err != nil {
			return err
		}
		return c.moveAssignment(a, step, req, func() error { return apply(c, a) })
	})
}

// assignment returns the numbered assignment of the case.
func (c *caseChange) assignment(n int) (*banliv1.Assignment, error) {
	if n < 1 || n > len(c.p.GetAssignments()) {
		return nil, resourceNotFound(assignmentName(c.id, n), "")
	}
	return c.p.GetAssignments()[n-1], nil
}

// moveAssignment checks step against the lifecycle table, its states and
// its guards, runs apply and moves a to the step's destination, noting the
// move in the event.
func (c *caseChange) moveAssignment(a *banliv1.Assignment, step Step, req proto.Message, apply func() error) error {
	to, err := checkAssignmentStep(step, c.p.GetState(), a)
	if err != nil {
		return err
	}
	if len(guardsOf(step)) > 0 {
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		caller, _ := CallerFrom(c.ctx)
		if err := checkGuards(step, guardInput{p: c.p, a: a, caller: caller, policy: policy, now: c.now, req: req}); err != nil {
			return err
		}
	}
	from := a.GetState()
	if err := apply(); err != nil {
		return err
	}
	a.State = to
	c.step = step
	c.target = a.GetName()
	move := fmt.Sprintf("%s: %s -> %s", a.GetName(), trimEnum(from.String(), "ASSIGNMENT_STATE_"), trimEnum(to.String(), "ASSIGNMENT_STATE_"))
	if c.details == "" {
		c.details = move
	} else {
		c.details = move + "; " + c.details
	}
	return nil
}

// SignAssignment records that a unit signed for its part.
func (s *Server) SignAssignment(ctx context.Context, req *banliv1.SignAssignmentRequest) (*banliv1.Proposal, error) {
	ref, err := validateSign(req)
	if err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_SignAssignment_FullMethodName, req, ref, req.GetEtag(), StepSign, func(c *caseChange, a *banliv1.Assignment) error {
		if dep := req.GetDepartment(); dep != "" {
			if err := c.checkDepartment(a, dep); err != nil {
				return err
			}
		}
		a.SignTime = c.nowProto()
		a.Department = req.GetDepartment()
		a.ResponsiblePerson = req.GetResponsiblePerson()
		a.ResponsiblePhone = req.GetResponsiblePhone()
		return c.setHandler(a, req.GetHandler())
	})
}

// DelegateAssignment hands a part to another department or person (转办).
func (s *Server) DelegateAssignment(ctx context.Context, req *banliv1.DelegateAssignmentRequest) (*banliv1.Proposal, error) {
	ref, err := validateDelegate(req)
	if err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_DelegateAssignment_FullMethodName, req, ref, req.GetEtag(), StepDelegate, func(c *caseChange, a *banliv1.Assignment) error {
		var moves []string
		if dep := req.GetDepartment(); dep != "" && dep != a.GetDepartment() {
			if err := c.checkDepartment(a, dep); err != nil {
				return err
			}
			moves = append(moves, fmt.Sprintf("department %s -> %s", cmp.Or(a.GetDepartment(), "none"), dep))
			a.Department = dep
			if req.GetHandler() == "" && a.GetHandler() != "" {
				// The handler was the old department's: the new one names its own.
				moves = append(moves, "handler "+a.GetHandler()+" -> none")
				a.Handler, a.ResponsiblePerson, a.ResponsiblePhone = "", "", ""
			}
		}
		if h := req.GetHandler(); h != "" && h != a.GetHandler() {
			moves = append(moves, fmt.Sprintf("handler %s -> %s", cmp.Or(a.GetHandler(), "none"), h))
			a.ResponsiblePerson = ""
		}
		if p := req.GetResponsiblePerson(); p != "" {
			a.ResponsiblePerson = p
		}
		if ph := req.GetResponsiblePhone(); ph != "" {
			a.ResponsiblePhone = ph
		}
		if err := c.setHandler(a, cmp.Or(req.GetHandler(), a.GetHandler())); err != nil {
			return err
		}
		if len(moves) == 0 {
			return fmt.Errorf("%s is with that department and handler already: %w", a.GetName(), ErrPrecondition)
		}
		c.details = strings.Join(moves, ", ") + ": " + req.GetReason()
		return nil
	})
}

// setHandler names the account responsible for a part: an active unit
// staff or head account of the part's unit, or of its department (or a
// unit within it). The responsible person defaults to its display name.
func (c *caseChange) setHandler(a *banliv1.Assignment, handler string) error {
	if handler == "" {
		return nil
	}
	acc, err := c.tx.Account(strings.TrimPrefix(handler, accountsPrefix))
	if errors.Is(err, store.ErrNotFound) {
		return invalidField("handler", "there is no account %s", handler)
	}
	if err != nil {
		return err
	}
	if acc.GetRole() != unitStaff && acc.GetRole() != unitHead {
		return invalidField("handler", "%s is not a unit's staff or head", handler)
	}
	if !acc.GetActive() {
		return invalidField("handler", "%s is disabled", handler)
	}
	scope := a.GetUnit()
	if a.GetDepartment() != "" {
		scope = a.GetDepartment()
	}
	if acc.GetUnit() != a.GetUnit() && !inUnit(c.tx, scope, acc.GetUnit()) {
		return invalidField("handler", "%s acts for %s, not for %s", handler, acc.GetUnit(), scope)
	}
	a.Handler = handler
	if a.GetResponsiblePerson() == "" {
		a.ResponsiblePerson = acc.GetDisplayName()
	}
	return nil
}

// checkDepartment accepts a department (or a department of a department)
// of the assigned unit.
func (c *caseChange) checkDepartment(a *banliv1.Assignment, department string) error {
	name := department
	for depth := 0; depth < 8; depth++ {
		u, err := c.tx.Unit(idOf(name, unitsCollection))
		if err != nil {
			return notFoundOr(err, name, "department")
		}
		if u.GetParent() == a.GetUnit() {
			return nil
		}
		if u.GetParent() == "" {
			break
		}
		name = u.GetParent()
	}
	return invalidField("department", "%s is not a department of %s", department, a.GetUnit())
}

// RequestReassignment records a unit's request for a change of unit.
func (s *Server) RequestReassignment(ctx context.Context, req *banliv1.RequestReassignmentRequest) (*banliv1.Proposal, error) {
	ref, err := validateRequestReassignment(req)
	if err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_RequestReassignment_FullMethodName, req, ref, req.GetEtag(), StepRequestReassignment, func(c *caseChange, a *banliv1.Assignment) error {
		if su := req.GetSuggestedUnit(); su != "" {
			if _, err := c.tx.Unit(idOf(su, unitsCollection)); err != nil {
				return notFoundOr(err, su, "suggested_unit")
			}
		}
		a.ReassignmentRequests = append(a.ReassignmentRequests, &banliv1.ReassignmentRequest{
			Reason:        req.GetReason(),
			SuggestedUnit: req.GetSuggestedUnit(),
			RequestTime:   c.nowProto(),
		})
		c.details = "reason: " + req.GetReason()
		return nil
	})
}

// DecideReassignment approves or refuses a change of unit.
func (s *Server) DecideReassignment(ctx context.Context, req *banliv1.DecideReassignmentRequest) (*banliv1.Proposal, error) {
	ref, err := validateDecideReassignment(req)
	if err != nil {
		return nil, err
	}
	approve := req.GetDecision() == banliv1.Decision_DECISION_APPROVED
	step := StepRefuseReassignment
	if approve {
		step = StepApproveReassignment
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_DecideReassignment_FullMethodName, req, ref, req.GetEtag(), step, func(c *caseChange, a *banliv1.Assignment) error {
		open := a.GetReassignmentRequests()[len(a.GetReassignmentRequests())-1]
		open.Decision = req.GetDecision()
		open.DecisionNote = req.GetNote()
		open.DecideTime = c.nowProto()
		if !approve {
			c.details = "refused"
			return nil
		}
		if err := c.checkActiveUnit(req.GetNewUnit(), "new_unit"); err != nil {
			return err
		}
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		next := c.newAssignment(req.GetNewUnit(), a.GetRole(), policy)
		next.ReassignedFrom = a.GetName()
		a.ReassignedTo = next.GetName()
		c.p.Assignments = append(c.p.Assignments, next)
		c.details = "moved to " + req.GetNewUnit() + " as " + next.GetName()
		return nil
	})
}

func validateAssign(r *banliv1.AssignProposalRequest) error {
	v := &violations{}
	v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	if len(r.GetAssignments()) == 0 {
		v.add("assignments", "required: at least one unit")
	}
	v.unitAssignments(r.GetAssignments())
	return v.err()
}

// unitAssignments checks a list of units to assign: each named once, each
// with a role, one lead at most.
func (v *violations) unitAssignments(list []*banliv1.UnitAssignment) {
	switch n := len(list); {
	case n == 0:
	case n > maxAssignments:
		v.add("assignments", "at most %d units at once", maxAssignments)
	default:
		seen := map[string]bool{}
		leads := 0
		for i, a := range list {
			f := fmt.Sprintf("assignments[%d]", i)
			v.unitID(f+".unit", a.GetUnit())
			v.enum(f+".role", a.GetRole(), true)
			if seen[a.GetUnit()] {
				v.add(f+".unit", "%s is named twice", a.GetUnit())
			}
			seen[a.GetUnit()] = true
			if a.GetRole() == lead {
				leads++
			}
		}
		if leads > 1 {
			v.add("assignments", "a case has one lead unit; %d were named", leads)
		}
	}
}

func validateSign(r *banliv1.SignAssignmentRequest) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	if r.GetDepartment() != "" {
		v.unitID("department", r.GetDepartment())
	}
	v.line("responsible_person", r.GetResponsiblePerson(), maxPersonLen, false)
	v.phone("responsible_phone", r.GetResponsiblePhone(), false)
	if r.GetHandler() != "" {
		v.accountID("handler", r.GetHandler())
	}
	return ref, v.err()
}

func validateDelegate(r *banliv1.DelegateAssignmentRequest) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	if r.GetDepartment() == "" && r.GetHandler() == "" {
		v.add("department", "required, or a handler")
	}
	if r.GetDepartment() != "" {
		v.unitID("department", r.GetDepartment())
	}
	if r.GetHandler() != "" {
		v.accountID("handler", r.GetHandler())
	}
	v.line("responsible_person", r.GetResponsiblePerson(), maxPersonLen, false)
	v.phone("responsible_phone", r.GetResponsiblePhone(), false)
	v.paragraph("reason", r.GetReason(), maxNoteLen, true)
	return ref, v.err()
}

func validateRequestReassignment(r *banliv1.RequestReassignmentRequest) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("reason", r.GetReason(), maxNoteLen, true)
	if r.GetSuggestedUnit() != "" {
		v.unitID("suggested_unit", r.GetSuggestedUnit())
	}
	return ref, v.err()
}

func validateDecideReassignment(r *banliv1.DecideReassignmentRequest) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.enum("decision", r.GetDecision(), true)
	switch {
	case r.GetDecision() == banliv1.Decision_DECISION_APPROVED:
		v.unitID("new_unit", r.GetNewUnit())
	case r.GetNewUnit() != "":
		v.add("new_unit", "only with an approval")
	}
	v.paragraph("note", r.GetNote(), maxNoteLen, false)
	return ref, v.err()
}

// RemoveAssignment removes a part assigned by mistake.
func (s *Server) RemoveAssignment(ctx context.Context, req *banliv1.RemoveAssignmentRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	ref := v.assignmentRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	v.paragraph("reason", req.GetReason(), maxNoteLen, false)
	if err := v.err(); err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_RemoveAssignment_FullMethodName, req, ref, req.GetEtag(), StepRemovePart, func(c *caseChange, a *banliv1.Assignment) error {
		a.Corrections = append(a.Corrections, &banliv1.PartCorrection{What: "removed", Reason: req.GetReason(), CorrectedBy: callerAccount(c.ctx), CorrectTime: c.nowProto()})
		a.CurrentDeadline = nil
		c.details = fmt.Sprintf("%s removed from %s", a.GetUnit(), c.p.GetName())
		if req.GetReason() != "" {
			c.details += ": " + req.GetReason()
		}
		return nil
	})
}

// ChangeAssignmentRole changes a part between lead and co-handling.
func (s *Server) ChangeAssignmentRole(ctx context.Context, req *banliv1.ChangeAssignmentRoleRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	ref := v.assignmentRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	v.enum("role", req.GetRole(), true)
	v.paragraph("reason", req.GetReason(), maxNoteLen, true)
	if err := v.err(); err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_ChangeAssignmentRole_FullMethodName, req, ref, req.GetEtag(), StepChangeRole, func(c *caseChange, a *banliv1.Assignment) error {
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		// A new lead takes the present lead's place (the guard checked it
		// may); both parts say so.
		var details []string
		if req.GetRole() == lead {
			if present := presentLead(c.p, a); present != nil {
				details = append(details, c.changeRole(present, coHandling, policy, req.GetReason()))
			}
		}
		details = append(details, c.changeRole(a, req.GetRole(), policy, req.GetReason()))
		c.details = strings.Join(details, "; ") + ": " + req.GetReason()
		return nil
	})
}

// changeRole gives part a a new role, with the new role's deadline counted
// from when it was assigned (an opinion within opinion_months, a reply
// within reply_months), and records the correction.
func (c *caseChange) changeRole(a *banliv1.Assignment, to banliv1.AssignmentRole, policy *banliv1.SessionPolicy, reason string) string {
	from := a.GetRole()
	a.Role = to
	months := policy.GetReplyMonths()
	if to == coHandling {
		months = policy.GetOpinionMonths()
	}
	a.ResponseDeadline = c.clock.monthsAfter(a.GetAssignTime().AsTime(), int(months), "assignment")
	if to != coHandling {
		a.ResponseDeadline = capAt(a.ResponseDeadline, fixedReplyDate(policy, c.p))
	}
	what := fmt.Sprintf("role %s → %s", trimEnum(from.String(), "ASSIGNMENT_ROLE_"), trimEnum(to.String(), "ASSIGNMENT_ROLE_"))
	a.Corrections = append(a.Corrections, &banliv1.PartCorrection{What: what, Reason: reason, CorrectedBy: callerAccount(c.ctx), CorrectTime: c.nowProto()})
	return fmt.Sprintf("%s: %s, due %s", a.GetName(), what, a.GetResponseDeadline().GetDueDate())
}
