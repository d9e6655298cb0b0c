package service

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
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
		a.ResponseDeadline = c.clock.onDate(due, fmt.Sprintf("extended from %s to %s on approval", from, date), from)
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

// newFollowUp puts a part on the follow-up register: it is carried into
// the year after its case's, and reports its progress by the policy's
// day of that year.
func newFollowUp(c *caseChange, policy *banliv1.SessionPolicy) *banliv1.FollowUp {
	year := c.p.GetYear() + 1
	return &banliv1.FollowUp{State: followOpen, OpenTime: c.nowProto(), CarriedToYear: year,
		CarriedYears: []int32{year}, ReportDeadline: reportDeadline(policy, year)}
}

// carriedYears are the years a part counts as cross-year in; a follow-up
// stored before it could last more than one has its first alone.
func carriedYears(f *banliv1.FollowUp) []int32 {
	switch {
	case f == nil:
		return nil
	case len(f.GetCarriedYears()) > 0:
		return f.GetCarriedYears()
	}
	return []int32{f.GetCarriedToYear()}
}

// reportDeadline is when a carried-over part's progress report for year
// is due: the end of the policy's day (MM-DD) of that year.
func reportDeadline(policy *banliv1.SessionPolicy, year int32) *banliv1.Deadline {
	day, err := time.ParseInLocation("2006-01-02", fmt.Sprintf("%d-%s", year, policy.GetFollowUpReportDate()), chinaTime)
	if err != nil {
		day = time.Date(int(year), 3, 31, 0, 0, 0, 0, chinaTime) // validated: not reached
	}
	due := day.Add(24*time.Hour - time.Second)
	return &banliv1.Deadline{DueTime: timestamppb.New(due), DueDate: chinaDate(due),
		Rule: fmt.Sprintf("the progress report of %d, due on %s each year it is carried into", year, policy.GetFollowUpReportDate())}
}

// CarryOverFollowUps carries every part on the follow-up register that is
// not closed into the present year (in China), with its new report
// deadline, each case in a write of its own, and returns how many parts
// it carried. The server runs it with its other scheduled steps; a
// standby does not.
func (s *Server) CarryOverFollowUps(ctx context.Context) (int, error) {
	if s.refuseOnStandby() != nil {
		return 0, nil
	}
	year := int32(s.now().In(chinaTime).Year())
	var found []assignmentRef
	err := s.store.View(func(r store.Reader) error {
		seen := map[uint64]bool{}
		for y := year - maxCarriedYears; y < year; y++ {
			q := store.Query{NoneOf: []string{carriedTerm(year)}}
			q.And(carriedTerm(y))
			err := eachMatching(r, q, func(p *banliv1.Proposal) {
				id := idOf(p.GetName(), proposalsCollection)
				for n, a := range p.GetAssignments() {
					f := a.GetFollowUp()
					if !seen[id] && isCurrent(a) && f != nil && f.GetState() != followClosed && slices.Max(carriedYears(f)) < year {
						found = append(found, assignmentRef{proposal: id, assignment: n + 1})
					}
				}
				seen[id] = true
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	ctx = WithCaller(ctx, serverCaller)
	carried := 0
	for _, d := range found {
		name := assignmentName(d.proposal, d.assignment)
		_, err := followUpStep(ctx, s, carryOverMethod, serverStep{&banliv1.GetProposalRequest{Name: name}}, name, "", StepCarryOver,
			func(c *caseChange, f *banliv1.FollowUp) {
				policy, err := c.sessionPolicy()
				if err != nil {
					policy = resolvePolicy(nil)
				}
				years := carriedYears(f)
				for y := slices.Max(years) + 1; y <= year; y++ {
					years = append(years, y)
				}
				f.CarriedYears = years
				f.ReportDeadline = reportDeadline(policy, year)
				c.details = fmt.Sprintf("carried into %d (跨年度), its progress report due %s", year, f.GetReportDeadline().GetDueDate())
			})
		switch {
		case err == nil:
			carried++
		case errors.Is(err, ErrInvalidTransition):
			// Closed since it was read: nothing to carry.
		default:
			return carried, err
		}
	}
	return carried, nil
}

// maxCarriedYears is how far back CarryOverFollowUps looks for parts
// still on the register.
const maxCarriedYears = 20

// carryOverMethod is what the audit trail names the server's step.
const carryOverMethod = "server/CarryOverFollowUp"
