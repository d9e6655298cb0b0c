package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// noticeOverdueMethod is what the audit trail names the server's step.
const noticeOverdueMethod = "server/NoticeOverdue"

// noticeWindow is how far back NoticeOverdue looks for deadlines passed:
// a deadline passed longer ago (before an upgrade, or a long outage) is
// the ledger's to show, not news to announce.
const noticeWindow = 14 * 24 * time.Hour

// NoticeOverdue announces each part whose current deadline has passed
// since it was last looked at (within noticeWindow): an event
// NoticeOverdue on its case, which webhooks deliver like any other, so
// that an agency's SMS gateway hears of it (超期提醒). Each deadline is
// announced once (Assignment.overdue_noticed_due_time). It returns how
// many it announced. A standby announces none.
func (s *Server) NoticeOverdue(ctx context.Context) (int, error) {
	if s.refuseOnStandby() != nil {
		return 0, nil
	}
	now := s.now()
	var found []assignmentRef
	err := s.store.View(func(r store.Reader) error {
		var after store.Cursor
		for {
			refs, more, err := r.ListDue(now.Add(-noticeWindow).Unix(), now.Unix()-1, after, nil, 1000)
			if err != nil {
				return err
			}
			for _, ref := range refs {
				p, err := r.Proposal(ref.Proposal)
				if err != nil {
					return err
				}
				if a := p.GetAssignments()[ref.Assignment-1]; overdueUnnoticed(a, now) {
					found = append(found, assignmentRef{proposal: ref.Proposal, assignment: ref.Assignment})
				}
				after = ref.Position
			}
			if !more || len(refs) == 0 {
				return nil
			}
		}
	})
	if err != nil {
		return 0, err
	}
	ctx = WithCaller(ctx, serverCaller)
	noticed := 0
	for _, ref := range found {
		name := assignmentName(ref.proposal, ref.assignment)
		_, err := updateProposal(ctx, s, noticeOverdueMethod, serverStep{&banliv1.GetProposalRequest{Name: name}}, ref.proposal, "", StepNoticeOverdue, func(c *caseChange) error {
			if err := checkProposalStep(StepNoticeOverdue, c.p.GetName(), c.p.GetState()); err != nil {
				return err
			}
			a, err := c.assignment(ref.assignment)
			if err != nil {
				return err
			}
			if !overdueUnnoticed(a, c.now) {
				return fmt.Errorf("%s: nothing overdue to announce: %w", name, ErrPrecondition)
			}
			d := a.GetCurrentDeadline()
			a.OverdueNoticedDueTime = d.GetDueTime()
			c.target = name
			c.details = fmt.Sprintf("%s is overdue: %s was due on %s (%s)", name, trimEnum(a.GetState().String(), "ASSIGNMENT_STATE_"), d.GetDueDate(), d.GetRule())
			return nil
		})
		switch {
		case err == nil:
			noticed++
		case errors.Is(err, ErrPrecondition), errors.Is(err, ErrInvalidTransition):
			// Moved on since it was read: nothing to announce.
		default:
			return noticed, err
		}
	}
	return noticed, nil
}

// overdueUnnoticed reports whether a's current deadline has passed at now
// and has not been announced.
func overdueUnnoticed(a *banliv1.Assignment, now time.Time) bool {
	d := a.GetCurrentDeadline()
	if !isCurrent(a) || d == nil || !now.After(d.GetDueTime().AsTime()) {
		return false
	}
	noticed := a.GetOverdueNoticedDueTime()
	return noticed == nil || !noticed.AsTime().Equal(d.GetDueTime().AsTime())
}
