package service

import (
	"context"
	"fmt"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

func validateRequestExtension(r *banliv1.RequestExtensionRequest) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("reason", r.GetReason(), maxNoteLen, true)
	if r.GetRequestedDueDate() == "" {
		v.add("requested_due_date", "required")
	}
	v.date("requested_due_date", r.GetRequestedDueDate())
	return ref, v.err()
}

func validateDecideExtension(r *banliv1.DecideExtensionRequest) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.enum("decision", r.GetDecision(), true)
	v.date("approved_due_date", r.GetApprovedDueDate())
	if r.GetApprovedDueDate() != "" && r.GetDecision() != banliv1.Decision_DECISION_APPROVED {
		v.add("approved_due_date", "only with an approval")
	}
	v.paragraph("note", r.GetNote(), maxNoteLen, false)
	return ref, v.err()
}

// pendingExtension returns the extension request awaiting a decision.
func pendingExtension(a *banliv1.Assignment) *banliv1.ExtensionRequest {
	if n := len(a.GetExtensionRequests()); n > 0 && a.GetExtensionRequests()[n-1].GetDecision() == banliv1.Decision_DECISION_UNSPECIFIED {
		return a.GetExtensionRequests()[n-1]
	}
	return nil
}

// checkExtensionDate enforces the session's cap on a new reply due date:
// later than the current one, and no later than reply_max_months after
// assignment (DOMAIN.md: "3 months …; with approval up to 6 months").
func (c *caseChange) checkExtensionDate(a *banliv1.Assignment, field, date string) (time.Time, error) {
	due, _ := time.ParseInLocation(time.DateOnly, date, chinaTime)
	policy, err := c.sessionPolicy()
	if err != nil {
		return due, err
	}
	limit := c.clock.monthsAfter(a.GetAssignTime().AsTime(), int(policy.GetReplyMaxMonths()), "assignment")
	switch {
	case date <= a.GetResponseDeadline().GetDueDate():
		return due, invalidField(field, "%s is not after the current due date %s", date, a.GetResponseDeadline().GetDueDate())
	case date > limit.GetDueDate():
		return due, invalidField(field, "the session allows at most %d months after assignment: %s", policy.GetReplyMaxMonths(), limit.GetDueDate())
	}
	return due, nil
}

// RequestExtension records a unit's request for more time.
func (s *Server) RequestExtension(ctx context.Context, req *banliv1.RequestExtensionRequest) (*banliv1.Proposal, error) {
	ref, err := validateRequestExtension(req)
	if err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_RequestExtension_FullMethodName, req, ref, req.GetEtag(), StepRequestExtension, func(c *caseChange, a *banliv1.Assignment) error {
		if _, err := c.checkExtensionDate(a, "requested_due_date", req.GetRequestedDueDate()); err != nil {
			return err
		}
		a.ExtensionRequests = append(a.ExtensionRequests, &banliv1.ExtensionRequest{
			Reason:           req.GetReason(),
			RequestedDueDate: req.GetRequestedDueDate(),
			RequestTime:      c.nowProto(),
		})
		c.details = fmt.Sprintf("asks to reply by %s: %s", req.GetRequestedDueDate(), req.GetReason())
		return nil
	})
}

// DecideExtension approves or refuses a pending extension.
func (s *Server) DecideExtension(ctx context.Context, req *banliv1.DecideExtensionRequest) (*banliv1.Proposal, error) {
	ref, err := validateDecideExtension(req)
	if err != nil {
		return nil, err
	}
	approve := req.GetDecision() == banliv1.Decision_DECISION_APPROVED
	step := StepRefuseExtension
	if approve {
		step = StepApproveExtension
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_DecideExtension_FullMethodName, req, ref, req.GetEtag(), step, func(c *caseChange, a *banliv1.Assignment) error {
		pending := pendingExtension(a) // the table's guard found one
		pending.Decision = req.GetDecision()
		pending.DecisionNote = req.GetNote()
		pending.DecideTime = c.nowProto()
		if !approve {
			c.details = "extension refused"
			return nil
		}
		date := req.GetApprovedDueDate()
		if date == "" {
			date = pending.GetRequestedDueDate()
		}
		due, err := c.checkExtensionDate(a, "approved_due_date", date)
		if err != nil {
			return err
		}
		pending.ApprovedDueDate = date
		from := a.GetResponseDeadline().GetDueDate()
		a.ResponseDeadline = c.clock.onDate(due, fmt.Sprintf("extended from %s to %s on approval", from, date))
		c.details = fmt.Sprintf("reply due %s, extended from %s", date, from)
		return nil
	})
}

func validateReminder(r *banliv1.RecordReminderRequest) error {
	v := &violations{}
	id := v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	if r.GetAssignment() != "" {
		if ref := v.assignmentRef("assignment", r.GetAssignment()); ref.proposal != 0 && ref.proposal != id {
			v.add("assignment", "%s is not an assignment of %s", r.GetAssignment(), r.GetName())
		}
	}
	v.paragraph("message", r.GetMessage(), maxNoteLen, true)
	return v.err()
}

// RecordReminder records the office's reminder (催办) on a case.
func (s *Server) RecordReminder(ctx context.Context, req *banliv1.RecordReminderRequest) (*banliv1.Proposal, error) {
	if err := validateReminder(req); err != nil {
		return nil, err
	}
	return updateProposal(ctx, s, banliv1.ProposalService_RecordReminder_FullMethodName, req, idOf(req.GetName(), proposalsCollection), req.GetEtag(), StepRemind, func(c *caseChange) error {
		if err := checkProposalStep(StepRemind, c.p.GetName(), c.p.GetState()); err != nil {
			return err
		}
		if req.GetAssignment() != "" {
			ref := (&violations{}).assignmentRef("assignment", req.GetAssignment())
			if _, err := c.assignment(ref.assignment); err != nil {
				return err
			}
			c.target = req.GetAssignment()
		}
		r := &banliv1.Reminder{
			Id:         int32(len(c.p.GetReminders()) + 1),
			Assignment: req.GetAssignment(),
			Message:    req.GetMessage(),
			Sender:     Actor(ctx),
			Time:       c.nowProto(),
		}
		c.p.Reminders = append(c.p.Reminders, r)
		c.details = "reminder: " + r.GetMessage()
		return nil
	})
}

func validateReportFollowUp(r *banliv1.ReportFollowUpRequest) error {
	v := &violations{}
	v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("text", r.GetText(), maxReplyLen, true)
	return v.err()
}

// followUpStep is the frame of a step on a part's follow-up.
func followUpStep(ctx context.Context, s *Server, method string, req mutatingRequest, name, etag string, step Step,
	apply func(c *caseChange, f *banliv1.FollowUp),
) (*banliv1.Proposal, error) {
	ref := (&violations{}).assignmentRef("name", name)
	return updateProposal(ctx, s, method, req, ref.proposal, etag, step, func(c *caseChange) error {
		a, err := c.assignment(ref.assignment)
		if err != nil {
			return err
		}
		to, err := followUpMachine.check(step, a.GetName(), a.GetFollowUp().GetState())
		if err != nil {
			return err
		}
		apply(c, a.GetFollowUp())
		a.FollowUp.State = to
		c.target = a.GetName()
		return nil
	})
}

// ReportFollowUp files a progress report, or the final reply, on a
// carried-over part.
func (s *Server) ReportFollowUp(ctx context.Context, req *banliv1.ReportFollowUpRequest) (*banliv1.Proposal, error) {
	if err := validateReportFollowUp(req); err != nil {
		return nil, err
	}
	step := StepReportProgress
	if req.GetFinal() {
		step = StepReportSolved
	}
	return followUpStep(ctx, s, banliv1.ProposalService_ReportFollowUp_FullMethodName, req, req.GetName(), req.GetEtag(), step, func(c *caseChange, f *banliv1.FollowUp) {
		f.Reports = append(f.Reports, &banliv1.FollowUpReport{Text: req.GetText(), Final: req.GetFinal(), Time: c.nowProto()})
		c.details = fmt.Sprintf("follow-up report %d", len(f.GetReports()))
		if req.GetFinal() {
			c.details = "final reply: the matter is solved"
		}
	})
}

// CloseFollowUp takes a part off the follow-up register.
func (s *Server) CloseFollowUp(ctx context.Context, req *banliv1.CloseFollowUpRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	v.assignmentRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	v.paragraph("note", req.GetNote(), maxNoteLen, false)
	if err := v.err(); err != nil {
		return nil, err
	}
	return followUpStep(ctx, s, banliv1.ProposalService_CloseFollowUp_FullMethodName, req, req.GetName(), req.GetEtag(), StepCloseFollowUp, func(c *caseChange, f *banliv1.FollowUp) {
		f.CloseTime = c.nowProto()
		f.CloseNote = req.GetNote()
		c.details = "follow-up closed: " + req.GetNote()
	})
}
