package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Publishing a reply (公开, 国办发〔2014〕46号): in full or as a summary,
// with contact details masked (redact), within disclosure_working_days, or
// withheld for a recorded reason. disclosureMachine says which step is
// allowed from where; these are the steps.

// disclosureStep is the frame of every step on a reply's publication: it
// finds the reply, checks the step against disclosureMachine (apply may
// choose another step first, as PublishReply does under the office's
// approval) and moves it.
func disclosureStep(ctx context.Context, s *Server, method string, req mutatingRequest, name, etag string, step Step,
	apply func(c *caseChange, r *banliv1.Reply) error,
) (*banliv1.Proposal, error) {
	ref := (&violations{}).replyRef("name", name)
	return updateProposal(ctx, s, method, req, ref.proposal, etag, step, func(c *caseChange) error {
		a, err := c.assignment(ref.assignment)
		if err != nil {
			return err
		}
		r, err := c.reply(a, ref)
		if err != nil {
			return err
		}
		if err := apply(c, r); err != nil {
			return err
		}
		to, err := disclosureMachine.check(c.step, r.GetName(), r.GetDisclosureState())
		if err != nil {
			return err
		}
		r.DisclosureState = to
		c.target = r.GetName()
		return nil
	})
}

// publicationText is what a reply's publication publishes: the text given
// (a summary, an edit) or the reply's own, masked.
func publicationText(r *banliv1.Reply, given string) (string, []*banliv1.Redaction, error) {
	if given == "" && r.GetDisclosureIntent() == banliv1.DisclosureIntent_DISCLOSURE_INTENT_SUMMARY {
		return "", nil, invalidField("published_text", "%s is to be published as a summary (disclosure_intent SUMMARY): give the summary", r.GetName())
	}
	if given == "" {
		given = r.GetText()
	}
	text, redactions := redact(given, r.GetContactPerson(), r.GetContactPhone())
	return text, redactions, nil
}

// setPublished keeps the masked text on the reply, without the originals.
func setPublished(r *banliv1.Reply, text string, redactions []*banliv1.Redaction) {
	r.PublishedText = text
	r.Redactions = nil
	for _, red := range redactions {
		r.Redactions = append(r.Redactions, &banliv1.Redaction{Kind: red.GetKind(), Replacement: red.GetReplacement()})
	}
}

func (c *caseChange) publicationChange(r *banliv1.Reply, action banliv1.PublicationAction, reason, previous string) {
	r.PublicationChanges = append(r.PublicationChanges, &banliv1.PublicationChange{
		Action: action, Reason: reason, By: callerAccount(c.ctx), ChangeTime: c.nowProto(), PreviousText: previous,
	})
}

// publishStep is the step a publication takes: published, or, where the
// session has the office approve publications and the caller is not the
// office, submitted for approval.
func publishStep(ctx context.Context, policy *banliv1.SessionPolicy) Step {
	if caller, _ := CallerFrom(ctx); policy.GetOfficeReviewsPublication() && (caller == nil || caller.Role != office) {
		return StepSubmitPublication
	}
	return StepPublish
}

// PublishReply publishes a reply with its contact details masked, or,
// where the office approves publications, submits it for approval.
func (s *Server) PublishReply(ctx context.Context, req *banliv1.PublishReplyRequest) (*banliv1.Proposal, error) {
	v := replyStepRequest(req.GetName(), req.GetEtag(), req.GetRequestId())
	v.paragraph("published_text", req.GetPublishedText(), maxReplyLen, false)
	if err := v.err(); err != nil {
		return nil, err
	}
	return disclosureStep(ctx, s, banliv1.ProposalService_PublishReply_FullMethodName, req, req.GetName(), req.GetEtag(), StepPublish, func(c *caseChange, r *banliv1.Reply) error {
		text, redactions, err := publicationText(r, req.GetPublishedText())
		if err != nil {
			return err
		}
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		setPublished(r, text, redactions)
		if c.step = publishStep(c.ctx, policy); c.step == StepSubmitPublication {
			c.publicationChange(r, banliv1.PublicationAction_PUBLICATION_ACTION_SUBMITTED, "", "")
			c.details = fmt.Sprintf("%s submitted for publication, %d details masked", r.GetName(), len(redactions))
			return nil
		}
		r.PublishTime = c.nowProto()
		c.details = fmt.Sprintf("published %s, %d details masked", r.GetName(), len(redactions))
		return nil
	})
}

// PreviewPublication returns what PublishReply would publish.
func (s *Server) PreviewPublication(ctx context.Context, req *banliv1.PreviewPublicationRequest) (*banliv1.PublicationPreview, error) {
	v := &violations{}
	ref := v.replyRef("name", req.GetName())
	v.paragraph("published_text", req.GetPublishedText(), maxReplyLen, false)
	if err := v.err(); err != nil {
		return nil, err
	}
	var out *banliv1.PublicationPreview
	err := s.store.View(func(r store.Reader) error {
		p, err := r.Proposal(ref.proposal)
		if err != nil {
			return notFoundOr(err, req.GetName(), "name")
		}
		if ref.assignment > len(p.GetAssignments()) {
			return resourceNotFound(req.GetName(), "name")
		}
		reply := replyNamed(p.GetAssignments()[ref.assignment-1], req.GetName())
		if reply == nil {
			return resourceNotFound(req.GetName(), "name")
		}
		text, redactions, err := publicationText(reply, req.GetPublishedText())
		out = &banliv1.PublicationPreview{PublishedText: text, Redactions: redactions}
		return err
	})
	return out, err
}

// ReviewPublication is the office's approval of a publication submitted
// to it, or its return.
func (s *Server) ReviewPublication(ctx context.Context, req *banliv1.ReviewPublicationRequest) (*banliv1.Proposal, error) {
	v := replyStepRequest(req.GetName(), req.GetEtag(), req.GetRequestId())
	v.enum("decision", req.GetDecision(), true)
	returned := req.GetDecision() == banliv1.ReviewDecision_REVIEW_DECISION_RETURNED
	v.paragraph("reason", req.GetReason(), maxNoteLen, returned)
	if err := v.err(); err != nil {
		return nil, err
	}
	step := StepApprovePublication
	if returned {
		step = StepReturnPublication
	}
	return disclosureStep(ctx, s, banliv1.ProposalService_ReviewPublication_FullMethodName, req, req.GetName(), req.GetEtag(), step, func(c *caseChange, r *banliv1.Reply) error {
		if returned {
			c.publicationChange(r, banliv1.PublicationAction_PUBLICATION_ACTION_RETURNED, req.GetReason(), r.GetPublishedText())
			r.PublishedText, r.Redactions = "", nil
			c.details = fmt.Sprintf("publication of %s returned: %s", r.GetName(), req.GetReason())
			return nil
		}
		c.publicationChange(r, banliv1.PublicationAction_PUBLICATION_ACTION_APPROVED, req.GetReason(), "")
		r.PublishTime = c.nowProto()
		c.details = "publication of " + r.GetName() + " approved: published"
		return nil
	})
}

// CorrectPublication replaces a published text, keeping the one replaced.
func (s *Server) CorrectPublication(ctx context.Context, req *banliv1.CorrectPublicationRequest) (*banliv1.Proposal, error) {
	v := replyStepRequest(req.GetName(), req.GetEtag(), req.GetRequestId())
	v.paragraph("published_text", req.GetPublishedText(), maxReplyLen, true)
	v.paragraph("reason", req.GetReason(), maxNoteLen, true)
	if err := v.err(); err != nil {
		return nil, err
	}
	return disclosureStep(ctx, s, banliv1.ProposalService_CorrectPublication_FullMethodName, req, req.GetName(), req.GetEtag(), StepCorrectPublication, func(c *caseChange, r *banliv1.Reply) error {
		text, redactions, err := publicationText(r, req.GetPublishedText())
		if err != nil {
			return err
		}
		c.publicationChange(r, banliv1.PublicationAction_PUBLICATION_ACTION_CORRECTED, req.GetReason(), r.GetPublishedText())
		setPublished(r, text, redactions)
		r.PublishTime = c.nowProto()
		c.details = fmt.Sprintf("publication of %s corrected: %s", r.GetName(), req.GetReason())
		return nil
	})
}

// WithdrawPublication takes a published reply down, keeping its text.
func (s *Server) WithdrawPublication(ctx context.Context, req *banliv1.WithdrawPublicationRequest) (*banliv1.Proposal, error) {
	v := replyStepRequest(req.GetName(), req.GetEtag(), req.GetRequestId())
	v.paragraph("reason", req.GetReason(), maxNoteLen, true)
	if err := v.err(); err != nil {
		return nil, err
	}
	return disclosureStep(ctx, s, banliv1.ProposalService_WithdrawPublication_FullMethodName, req, req.GetName(), req.GetEtag(), StepWithdrawPublication, func(c *caseChange, r *banliv1.Reply) error {
		c.publicationChange(r, banliv1.PublicationAction_PUBLICATION_ACTION_WITHDRAWN, req.GetReason(), r.GetPublishedText())
		r.PublishedText, r.Redactions, r.PublishTime = "", nil, nil
		c.details = fmt.Sprintf("publication of %s withdrawn: %s", r.GetName(), req.GetReason())
		return nil
	})
}

// WithholdReply records why a reply is not published.
func (s *Server) WithholdReply(ctx context.Context, req *banliv1.WithholdReplyRequest) (*banliv1.Proposal, error) {
	v := replyStepRequest(req.GetName(), req.GetEtag(), req.GetRequestId())
	v.paragraph("reason", req.GetReason(), maxNoteLen, true)
	if err := v.err(); err != nil {
		return nil, err
	}
	return disclosureStep(ctx, s, banliv1.ProposalService_WithholdReply_FullMethodName, req, req.GetName(), req.GetEtag(), StepWithhold, func(c *caseChange, r *banliv1.Reply) error {
		r.WithholdReason = req.GetReason()
		r.PublishedText, r.Redactions = "", nil
		c.details = "withheld " + r.GetName() + ": " + req.GetReason()
		return nil
	})
}

// replyStepRequest checks what every step on a reply's publication names:
// the reply, and the etag and request id; the step adds its own fields.
func replyStepRequest(name, etag, requestID string) *violations {
	v := &violations{}
	v.replyRef("name", name)
	v.mutation(etag, requestID)
	return v
}

// supersedeReply takes the latest reply of a part sent back for a new
// round out of the publication queue: the new round's reply is the one
// to publish. One already published, withheld or withdrawn stays so.
func supersedeReply(a *banliv1.Assignment) {
	replies := a.GetReplies()
	if len(replies) == 0 {
		return
	}
	r := replies[len(replies)-1]
	if to, err := disclosureMachine.check(StepSupersedeReply, r.GetName(), r.GetDisclosureState()); err == nil {
		r.DisclosureState = to
	}
}

// closePublicationMethod is what the audit trail names the server's step.
const closePublicationMethod = "server/ClosePublicationPeriod"

// ClosePublicationPeriods marks every latest reply whose publication
// period has ended with nothing decided as OVERDUE (公开逾期), each case in
// a write of its own: from then on the disclosure rate counts it as due.
// It returns how many replies it marked. The server runs it with its
// other scheduled steps; a standby does not.
func (s *Server) ClosePublicationPeriods(ctx context.Context) (int, error) {
	if s.refuseOnStandby() != nil {
		return 0, nil
	}
	now := s.now()
	var found []replyRef
	err := s.store.View(func(r store.Reader) error {
		take := func(p *banliv1.Proposal) {
			for n, a := range p.GetAssignments() {
				if r := queuedReply(a); r != nil && r.GetDisclosureState() == pending && now.After(r.GetDisclosureDeadline().GetDueTime().AsTime()) {
					found = append(found, replyRef{assignmentRef{proposal: idOf(p.GetName(), proposalsCollection), assignment: n + 1}, int(r.GetRound())})
				}
			}
		}
		// Only the replies whose period has ended are read, day by day
		// of their deadline (publicationDueTerm), not every one waiting:
		// at 100,000 seeded cases, reading every pending one mapped a
		// gigabyte of the file at each start and each hour. The days run
		// from the year before the first session's (no reply of its
		// cases is due earlier) to tomorrow (the deadline is a day in
		// China; the check above says whether it has passed), and a
		// reply without a deadline, which is due at once, is read too.
		days := []string{""}
		first := 0
		if err := eachSession(r, func(sess *banliv1.Session) bool {
			if y := int(sess.GetYear()); first == 0 || (y > 0 && y < first) {
				first = y
			}
			return false
		}); err != nil {
			return err
		}
		if first == 0 {
			return nil // no sessions, no cases
		}
		last := now.Add(24 * time.Hour).Format(time.DateOnly)
		for d := time.Date(first-1, 1, 1, 0, 0, 0, 0, time.UTC); d.Format(time.DateOnly) <= last; d = d.AddDate(0, 0, 1) {
			days = append(days, d.Format(time.DateOnly))
		}
		for _, day := range days {
			q := store.Query{}
			q.And(publicationTerm(pending))
			q.And(publicationDueTerm(day))
			if err := eachMatching(r, q, take); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	ctx = WithCaller(ctx, serverCaller)
	marked := 0
	for _, ref := range found {
		name := replyName(ref.proposal, ref.assignment, ref.round)
		_, err := disclosureStep(ctx, s, closePublicationMethod, serverStep{&banliv1.GetProposalRequest{Name: name}}, name, "", StepClosePublication,
			func(c *caseChange, r *banliv1.Reply) error {
				c.details = fmt.Sprintf("%s: the publication period ended on %s with nothing published or withheld", r.GetName(), r.GetDisclosureDeadline().GetDueDate())
				return nil
			})
		switch {
		case err == nil:
			marked++
		case errors.Is(err, ErrInvalidTransition):
			// Published or withheld since it was read.
		default:
			return marked, err
		}
	}
	return marked, nil
}

// queuedReply is the reply of a current part that waits in the
// publication queue, if one does: its latest, not yet published, withheld
// or superseded.
func queuedReply(a *banliv1.Assignment) *banliv1.Reply {
	replies := a.GetReplies()
	if !isCurrent(a) || len(replies) == 0 {
		return nil
	}
	switch r := replies[len(replies)-1]; r.GetDisclosureState() {
	case pending, pubAwaiting, pubOverdue:
		return r
	}
	return nil
}
