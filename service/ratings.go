package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Ratings (评价): who rates, when a part is rated, and the office's decision
// on an unsatisfied rating.

// RateReply records a proposer's rating of a reply.
func (s *Server) RateReply(ctx context.Context, req *banliv1.RateReplyRequest) (*banliv1.Proposal, error) {
	ref, err := validateRate(req)
	if err != nil {
		return nil, err
	}
	return updateProposal(ctx, s, banliv1.ProposalService_RateReply_FullMethodName, req, ref.proposal, req.GetEtag(), StepRateSatisfied, func(c *caseChange) error {
		a, err := c.assignment(ref.assignment)
		if err != nil {
			return err
		}
		r, err := c.reply(a, ref)
		if err != nil {
			return err
		}
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		step := ratingStep(policy, a, r, req.GetSatisfaction())
		return c.moveAssignment(a, step, req, func() error {
			source := banliv1.RatingSource_RATING_SOURCE_PLATFORM
			if caller, _ := CallerFrom(c.ctx); caller != nil && caller.Role == office {
				source = banliv1.RatingSource_RATING_SOURCE_PAPER_FORM
			}
			files, err := c.attach("attachments", req.GetAttachments(), "")
			if err != nil {
				return err
			}
			r.Ratings = append(r.Ratings, &banliv1.Rating{
				Attachments:  files,
				ProposerId:   req.GetProposerId(),
				Satisfaction: req.GetSatisfaction(),
				Opinion:      req.GetOpinion(),
				RateTime:     c.nowProto(),
				Source:       source,
				EnteredBy:    callerAccount(c.ctx),
				Dimensions:   req.GetDimensions(),
			})
			c.details = fmt.Sprintf("proposer %d rated %s %s (%d of %d)", req.GetProposerId(), r.GetName(),
				strings.ToLower(trimEnum(req.GetSatisfaction().String(), "SATISFACTION_")), len(r.GetRatings()), max(r.GetRatingsExpected(), 1))
			if step == StepRateUnsatisfied {
				c.newRound(a, policy, "the unsatisfied rating")
			}
			return nil
		})
	})
}

// ratingStep is the step a rating of r takes, by the session's raters:
// it settles the part once the ratings it waits for are in, none
// unsatisfied; an unsatisfied one sends the part back, or to the office.
func ratingStep(policy *banliv1.SessionPolicy, a *banliv1.Assignment, r *banliv1.Reply, s banliv1.Satisfaction) Step {
	switch {
	case a.GetState() == aUnsatisfied:
		return StepRatePartly // the office decides the part
	case s == banliv1.Satisfaction_SATISFACTION_UNSATISFIED && policy.GetOfficeVetsUnsatisfied():
		return StepRateToOffice
	case s == banliv1.Satisfaction_SATISFACTION_UNSATISFIED:
		return StepRateUnsatisfied
	case policy.GetRaters() == banliv1.Raters_RATERS_ANY_PROPOSER || int32(len(r.GetRatings())+1) >= r.GetRatingsExpected():
		return StepRateSatisfied
	}
	return StepRatePartly
}

// newRound sends a part back for a new round (重新办理), with a new reply
// deadline.
func (c *caseChange) newRound(a *banliv1.Assignment, policy *banliv1.SessionPolicy, why string) {
	supersedeReply(a)
	a.Round++
	a.ResponseDeadline = c.clock.monthsAfter(c.now, int(policy.GetRereplyMonths()), why)
	c.details += fmt.Sprintf("; re-handling round %d, reply due %s", a.GetRound(), a.GetResponseDeadline().GetDueDate())
}

// DecideUnsatisfied is the office's decision on an unsatisfied rating.
func (s *Server) DecideUnsatisfied(ctx context.Context, req *banliv1.DecideUnsatisfiedRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	ref := v.replyRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	v.enum("decision", req.GetDecision(), true)
	v.paragraph("reason", req.GetReason(), maxNoteLen, true)
	if err := v.err(); err != nil {
		return nil, err
	}
	step := StepRehandle
	if req.GetDecision() == banliv1.UnsatisfiedDecision_UNSATISFIED_DECISION_CLOSE {
		step = StepCloseUnsatisfied
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_DecideUnsatisfied_FullMethodName, req, ref.assignmentRef, req.GetEtag(), step, func(c *caseChange, a *banliv1.Assignment) error {
		r, err := c.reply(a, ref)
		if err != nil {
			return err
		}
		r.UnsatisfiedDecision = &banliv1.UnsatisfiedVetting{Decision: req.GetDecision(), Reason: req.GetReason(), DecidedBy: callerAccount(c.ctx), DecideTime: c.nowProto()}
		c.details = fmt.Sprintf("%s: %s: %s", r.GetName(), strings.ToLower(trimEnum(req.GetDecision().String(), "UNSATISFIED_DECISION_")), req.GetReason())
		if step == StepRehandle {
			policy, err := c.sessionPolicy()
			if err != nil {
				return err
			}
			c.newRound(a, policy, "the office's decision to re-handle")
		}
		return nil
	})
}

func validateRate(r *banliv1.RateReplyRequest) (replyRef, error) {
	v := &violations{}
	ref := v.replyRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	if r.GetProposerId() < 1 || r.GetProposerId() > maxProposers*maxMergeSources {
		v.add("proposer_id", "required: the id of a proposer of the case")
	}
	v.enum("satisfaction", r.GetSatisfaction(), true)
	unsatisfied := r.GetSatisfaction() == banliv1.Satisfaction_SATISFACTION_UNSATISFIED
	v.paragraph("opinion", r.GetOpinion(), maxSummaryLen, unsatisfied)
	seen := map[banliv1.RatingDimension]bool{}
	for i, d := range r.GetDimensions() {
		field := fmt.Sprintf("dimensions[%d]", i)
		v.enum(field+".dimension", d.GetDimension(), true)
		v.enum(field+".satisfaction", d.GetSatisfaction(), true)
		if seen[d.GetDimension()] {
			v.add(field, "%s is rated twice", trimEnum(d.GetDimension().String(), "RATING_DIMENSION_"))
		}
		seen[d.GetDimension()] = true
	}
	v.attachmentNames("attachments", r.GetAttachments())
	return ref, v.err()
}

// serverCaller is the caller of the steps the server takes by itself; its
// name is no account's (account names start "accounts/").
var serverCaller = &Caller{Account: "server"}

// CloseRatingPeriods closes the rating period of every reply whose period
// has ended with ratings missing, in sessions that close them
// (unreturned_ratings), each case in a write of its own. It returns how
// many parts it closed. The server runs it when it starts and then every
// so often; a standby does not.
func (s *Server) CloseRatingPeriods(ctx context.Context) (int, error) {
	if s.refuseOnStandby() != nil {
		return 0, nil
	}
	now := s.now()
	var found []assignmentRef
	err := s.store.View(func(r store.Reader) error {
		q := store.Query{}
		q.And(partStateTerm(aReplied))
		return eachMatching(r, q, func(p *banliv1.Proposal) {
			for n, a := range p.GetAssignments() {
				if a.GetState() == aReplied && isCurrent(a) && ratingsOverdue(p, a, now, now) {
					found = append(found, assignmentRef{proposal: idOf(p.GetName(), proposalsCollection), assignment: n + 1})
				}
			}
		})
	})
	if err != nil {
		return 0, err
	}
	ctx = WithCaller(ctx, serverCaller)
	closed := 0
	for _, ref := range found {
		_, err := assignmentStep(ctx, s, closeRatingPeriodMethod, serverStep{&banliv1.GetProposalRequest{Name: assignmentName(ref.proposal, ref.assignment)}}, ref, "", StepCloseRatingPeriod,
			func(c *caseChange, a *banliv1.Assignment) error {
				policy, err := c.sessionPolicy()
				if err != nil {
					return err
				}
				r := a.GetReplies()[len(a.GetReplies())-1]
				missing := max(r.GetRatingsExpected(), 1) - int32(len(r.GetRatings()))
				r.RatingPeriodClose = &banliv1.RatingPeriodClose{CloseTime: c.nowProto(), RatingsNotReturned: missing, CountedAs: policy.GetUnreturnedRatings()}
				c.details = fmt.Sprintf("%s: the rating period ended on %s with %d of %d ratings not returned, counted %s", r.GetName(),
					r.GetRatingDeadline().GetDueDate(), missing, max(r.GetRatingsExpected(), 1),
					strings.ToLower(trimEnum(policy.GetUnreturnedRatings().String(), "UNRETURNED_RATINGS_")))
				return nil
			})
		switch {
		case err == nil:
			closed++
		case errors.Is(err, ErrPrecondition), errors.Is(err, ErrInvalidTransition):
			// The session waits for its ratings, or the part moved on
			// since it was read: nothing to close.
		default:
			return closed, err
		}
	}
	return closed, nil
}

// closeRatingPeriodMethod is what the audit trail names the server's step.
const closeRatingPeriodMethod = "server/CloseRatingPeriod"

// serverStep is the request of a step the server takes by itself: the
// part it is on (as a GetProposalRequest names a case), and no request id.
type serverStep struct{ *banliv1.GetProposalRequest }

func (serverStep) GetRequestId() string { return "" }
