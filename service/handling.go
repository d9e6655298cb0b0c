package service

import (
	"cmp"
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Handling a part: consulting the proposers (沟通), the co-handling
// opinion (会办意见), the reply (答复) and its rating (评价).

// RecordConsultation records a contact with the proposers.
func (s *Server) RecordConsultation(ctx context.Context, req *banliv1.RecordConsultationRequest) (*banliv1.Proposal, error) {
	ref, err := validateConsultation(req, s.now())
	if err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_RecordConsultation_FullMethodName, req, ref, req.GetEtag(), StepConsult, func(c *caseChange, a *banliv1.Assignment) error {
		in := req.GetConsultation()
		rec := &banliv1.Consultation{
			Id:            int32(len(a.GetConsultations()) + 1),
			Phase:         in.GetPhase(),
			Channel:       in.GetChannel(),
			Time:          in.GetTime(),
			Participants:  in.GetParticipants(),
			Summary:       in.GetSummary(),
			DeclinedVisit: in.GetDeclinedVisit(),
			RecordTime:    c.nowProto(),
			Round:         max(a.GetRound(), 1),
		}
		if rec.Time == nil {
			rec.Time = c.nowProto()
		}
		a.Consultations = append(a.Consultations, rec)
		c.details = fmt.Sprintf("consultation %d by %s", rec.GetId(), strings.ToLower(trimEnum(rec.GetChannel().String(), "CONSULTATION_CHANNEL_")))
		return nil
	})
}

// SubmitOpinion records a co-handling unit's opinion to the lead unit.
func (s *Server) SubmitOpinion(ctx context.Context, req *banliv1.SubmitOpinionRequest) (*banliv1.Proposal, error) {
	ref, err := validateOpinion(req)
	if err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_SubmitOpinion_FullMethodName, req, ref, req.GetEtag(), StepSubmitOpinion, func(c *caseChange, a *banliv1.Assignment) error {
		o := proto.Clone(req.GetOpinion()).(*banliv1.Opinion)
		o.SubmitTime = c.nowProto()
		o.OnTime = !c.now.After(a.GetResponseDeadline().GetDueTime().AsTime())
		a.Opinion = o
		return nil
	})
}

// SubmitReply records a lead or split unit's reply for the current round.
func (s *Server) SubmitReply(ctx context.Context, req *banliv1.SubmitReplyRequest) (*banliv1.Proposal, error) {
	ref, err := validateReply(req, s.now())
	if err != nil {
		return nil, err
	}
	return updateProposal(ctx, s, banliv1.ProposalService_SubmitReply_FullMethodName, req, ref.proposal, req.GetEtag(), StepSubmitReply, func(c *caseChange) error {
		a, err := c.assignment(ref.assignment)
		if err != nil {
			return err
		}
		signed, err := signedOffReply(req, a, c.now)
		if err != nil {
			return err
		}
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		step := StepSubmitReply
		if policy.GetOfficeReviewsReplies() {
			step = StepSubmitForReview
		}
		return c.moveAssignment(a, step, signed, func() error { return c.applyReply(ref, a, signed, step == StepSubmitForReview) })
	})
}

// ReviewReply is the office's review of a part's signed-off reply.
func (s *Server) ReviewReply(ctx context.Context, req *banliv1.ReviewReplyRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	ref := v.assignmentRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	v.enum("decision", req.GetDecision(), true)
	returned := req.GetDecision() == banliv1.ReviewDecision_REVIEW_DECISION_RETURNED
	v.paragraph("reason", req.GetReason(), maxNoteLen, returned)
	if err := v.err(); err != nil {
		return nil, err
	}
	step := StepAcceptReply
	if returned {
		step = StepReturnReply
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_ReviewReply_FullMethodName, req, ref, req.GetEtag(), step, func(c *caseChange, a *banliv1.Assignment) error {
		r := a.GetPendingReply()
		r.OfficeReview = &banliv1.OfficeReview{Decision: req.GetDecision(), Reason: req.GetReason(), ReviewedBy: callerAccount(c.ctx), ReviewTime: c.nowProto()}
		a.PendingReply = nil
		if returned {
			a.ReturnedReplies = append(a.ReturnedReplies, r)
			c.details = fmt.Sprintf("%s returned for re-handling: %s", r.GetName(), req.GetReason())
			return nil
		}
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		c.sendReply(a, r, policy)
		c.details = fmt.Sprintf("%s accepted and sent", r.GetName())
		return nil
	})
}

// signedOffReply is the request a sign-off amounts to: as given, or with
// the draft it names as its reply, which must then be complete.
func signedOffReply(req *banliv1.SubmitReplyRequest, a *banliv1.Assignment, now time.Time) (*banliv1.SubmitReplyRequest, error) {
	n := int(req.GetDraftVersion())
	if n == 0 {
		return req, nil
	}
	if n > len(a.GetDrafts()) {
		return nil, invalidField("draft_version", "%s has no draft version %d", a.GetName(), n)
	}
	v := &violations{}
	v.replyContent("draft", a.GetDrafts()[n-1].GetReply(), now, true)
	if err := v.err(); err != nil {
		return nil, invalidField("draft_version", "version %d is not complete enough to send: %v", n, err)
	}
	signed := proto.Clone(req).(*banliv1.SubmitReplyRequest)
	signed.Reply = proto.Clone(a.GetDrafts()[n-1].GetReply()).(*banliv1.Reply)
	return signed, nil
}

// applyReply records a reply for the part's current round.
func (c *caseChange) applyReply(ref assignmentRef, a *banliv1.Assignment, req *banliv1.SubmitReplyRequest, forReview bool) error {
	policy, err := c.sessionPolicy()
	if err != nil {
		return err
	}
	in := req.GetReply()
	r := &banliv1.Reply{
		Name:                 replyName(c.id, ref.assignment, int(a.GetRound())),
		Round:                a.GetRound(),
		Category:             in.GetCategory(),
		Text:                 in.GetText(),
		DocumentNumber:       in.GetDocumentNumber(),
		Signer:               in.GetSigner(),
		SignedOffBy:          callerAccount(c.ctx),
		CollectiveReviewDate: in.GetCollectiveReviewDate(),
		ContactPerson:        in.GetContactPerson(),
		ContactPhone:         in.GetContactPhone(),
		ReplyTime:            in.GetReplyTime(),
		DisclosureIntent:     in.GetDisclosureIntent(),
		DisclosureState:      pending,
		RecordTime:           c.nowProto(),
		CitedOpinions:        in.GetCitedOpinions(),
	}
	if r.ReplyTime == nil {
		r.ReplyTime = c.nowProto()
	}
	if rv := roundReview(a); rv != nil && r.GetCollectiveReviewDate() == "" {
		r.CollectiveReviewDate = rv.GetDate()
	}
	// Deadlines and on-time run from when Banli received the reply
	// (record_time), never from the date the unit states.
	r.DisclosureDeadline = c.clock.workingDaysAfter(c.now, int(policy.GetDisclosureWorkingDays()), "the reply")
	r.Deadline = proto.Clone(a.GetResponseDeadline()).(*banliv1.Deadline)
	r.OnTime = !c.now.After(r.GetDeadline().GetDueTime().AsTime())
	c.details = fmt.Sprintf("reply %s, category %s", r.GetName(), trimEnum(r.GetCategory().String(), "REPLY_CATEGORY_"))
	if forReview {
		a.PendingReply = r // sent once the office accepts it
		c.details += ", for the office's review"
	} else {
		c.sendReply(a, r, policy)
	}
	if n := req.GetDraftVersion(); n > 0 {
		a.GetDrafts()[n-1].State = draftSignedOff
		c.details += fmt.Sprintf(", signed off from draft version %d", n)
	}
	return nil
}

// sendReply makes r the part's reply of its round: a category that
// carries the part over opens its follow-up.
func (c *caseChange) sendReply(a *banliv1.Assignment, r *banliv1.Reply, policy *banliv1.SessionPolicy) {
	r.RatingsExpected = ratingsExpected(policy, c.p)
	a.Replies = append(a.Replies, r)
	if a.GetFollowUp() == nil && carriesOver(policy, r.GetCategory()) {
		a.FollowUp = &banliv1.FollowUp{State: followOpen, OpenTime: c.nowProto(), CarriedToYear: c.p.GetYear() + 1}
	}
}

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
			r.Ratings = append(r.Ratings, &banliv1.Rating{
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

// RecordDelivery records how a reply reached its proposers and whom it
// was copied to.
func (s *Server) RecordDelivery(ctx context.Context, req *banliv1.RecordDeliveryRequest) (*banliv1.Proposal, error) {
	ref, err := validateDelivery(req, s.now())
	if err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_RecordDelivery_FullMethodName, req, ref.assignmentRef, req.GetEtag(), StepDeliver, func(c *caseChange, a *banliv1.Assignment) error {
		r, err := c.reply(a, ref)
		if err != nil {
			return err
		}
		ids := req.GetProposerIds()
		if req.GetAllProposers() {
			ids = undelivered(c.p, r)
		}
		stated := cmp.Or(req.GetTime(), c.nowProto())
		by := callerAccount(c.ctx)
		for _, id := range ids {
			r.Deliveries = append(r.Deliveries, &banliv1.Delivery{
				ProposerId: id, Channel: req.GetChannel(), Time: stated, RecordTime: c.nowProto(), RecordedBy: by, Note: req.GetNote(),
			})
		}
		for _, to := range req.GetCopyTo() {
			r.Copies = append(r.Copies, &banliv1.ReplyCopy{Recipient: to, RecordTime: c.nowProto(), RecordedBy: by})
		}
		if len(ids) > 0 && len(undelivered(c.p, r)) == 0 {
			// Delivered to the last proposer: the rating period starts.
			policy, err := c.sessionPolicy()
			if err != nil {
				return err
			}
			r.RatingDeadline = c.clock.workingDaysAfter(stated.AsTime(), int(policy.GetRatingWorkingDays()), "the delivery")
		}
		c.details = fmt.Sprintf("%s delivered %s to proposers %v", r.GetName(), strings.ToLower(trimEnum(req.GetChannel().String(), "DELIVERY_CHANNEL_")), ids)
		if len(req.GetCopyTo()) > 0 {
			c.details += ", copied to " + strings.Join(req.GetCopyTo(), ", ")
		}
		return nil
	})
}

func validateDelivery(r *banliv1.RecordDeliveryRequest, now time.Time) (replyRef, error) {
	v := &violations{}
	ref := v.replyRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.enum("channel", r.GetChannel(), true)
	v.pastTime("time", r.GetTime(), now)
	v.paragraph("note", r.GetNote(), maxNoteLen, false)
	switch {
	case len(r.GetProposerIds()) == 0 && !r.GetAllProposers() && len(r.GetCopyTo()) == 0:
		v.add("proposer_ids", "required: the proposers reached, all_proposers, or copy_to")
	case len(r.GetProposerIds()) > 0 && r.GetAllProposers():
		v.add("all_proposers", "either proposer_ids or all_proposers, not both")
	}
	if len(r.GetProposerIds()) > maxDeliveryProposers {
		v.add("proposer_ids", "at most %d", maxDeliveryProposers)
	}
	seen := map[int32]bool{}
	for i, id := range r.GetProposerIds() {
		if id < 1 || seen[id] {
			v.add(fmt.Sprintf("proposer_ids[%d]", i), "a proposer's id (from 1), each once")
		}
		seen[id] = true
	}
	if len(r.GetCopyTo()) > maxCopies {
		v.add("copy_to", "at most %d", maxCopies)
	}
	copied := map[string]bool{}
	for i, to := range r.GetCopyTo() {
		field := fmt.Sprintf("copy_to[%d]", i)
		if to != officeRecipient {
			v.unitID(field, to)
		}
		if copied[to] {
			v.add(field, "%s is named twice", to)
		}
		copied[to] = true
	}
	return ref, v.err()
}

// CorrectReplyCategory is the office's correction of a reply's category.
func (s *Server) CorrectReplyCategory(ctx context.Context, req *banliv1.CorrectReplyCategoryRequest) (*banliv1.Proposal, error) {
	ref, err := validateCorrectCategory(req)
	if err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_CorrectReplyCategory_FullMethodName, req, ref.assignmentRef, req.GetEtag(), StepCorrectCategory, func(c *caseChange, a *banliv1.Assignment) error {
		r, err := c.reply(a, ref)
		if err != nil {
			return err
		}
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		from := r.GetCategory()
		r.Category = req.GetCategory()
		r.CategoryCorrections = append(r.CategoryCorrections, &banliv1.CategoryCorrection{
			From: from, To: req.GetCategory(), Reason: req.GetReason(), CorrectedBy: callerAccount(c.ctx), CorrectTime: c.nowProto(),
		})
		// The latest reply decides whether the part is carried over, as
		// SubmitReply does; a follow-up already open stays for the office.
		if latest := a.GetReplies()[len(a.GetReplies())-1]; latest == r && a.GetFollowUp() == nil && carriesOver(policy, r.GetCategory()) {
			a.FollowUp = &banliv1.FollowUp{State: followOpen, OpenTime: c.nowProto(), CarriedToYear: c.p.GetYear() + 1}
		}
		c.details = fmt.Sprintf("%s: category %s -> %s: %s", r.GetName(), trimEnum(from.String(), "REPLY_CATEGORY_"),
			trimEnum(r.GetCategory().String(), "REPLY_CATEGORY_"), req.GetReason())
		return nil
	})
}

func validateCorrectCategory(r *banliv1.CorrectReplyCategoryRequest) (replyRef, error) {
	v := &violations{}
	ref := v.replyRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.enum("category", r.GetCategory(), true)
	v.paragraph("reason", r.GetReason(), maxNoteLen, true)
	return ref, v.err()
}

// reply finds the reply a reply name points at.
func (c *caseChange) reply(a *banliv1.Assignment, ref replyRef) (*banliv1.Reply, error) {
	for _, r := range a.GetReplies() {
		if int(r.GetRound()) == ref.round {
			return r, nil
		}
	}
	return nil, resourceNotFound(replyName(c.id, ref.assignment, ref.round), "")
}

func validateConsultation(r *banliv1.RecordConsultationRequest, now time.Time) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	c := r.GetConsultation()
	if c == nil {
		v.add("consultation", "required")
		return ref, v.err()
	}
	v.enum("consultation.phase", c.GetPhase(), true)
	v.enum("consultation.channel", c.GetChannel(), true)
	v.pastTime("consultation.time", c.GetTime(), now)
	if len(c.GetParticipants()) > maxParticipants {
		v.add("consultation.participants", "at most %d participants", maxParticipants)
	} else {
		for i, p := range c.GetParticipants() {
			v.line(fmt.Sprintf("consultation.participants[%d]", i), p, maxPersonLen, true)
		}
	}
	v.paragraph("consultation.summary", c.GetSummary(), maxSummaryLen, true)
	return ref, v.err()
}

func validateOpinion(r *banliv1.SubmitOpinionRequest) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	o := r.GetOpinion()
	if o == nil {
		v.add("opinion", "required")
		return ref, v.err()
	}
	v.paragraph("opinion.text", o.GetText(), maxReplyLen, true)
	v.line("opinion.signer", o.GetSigner(), maxPersonLen, true)
	v.line("opinion.contact_person", o.GetContactPerson(), maxPersonLen, false)
	v.phone("opinion.contact_phone", o.GetContactPhone(), false)
	return ref, v.err()
}

func validateReply(r *banliv1.SubmitReplyRequest, now time.Time) (assignmentRef, error) {
	v := &violations{}
	ref := v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	switch {
	case r.GetDraftVersion() < 0:
		v.add("draft_version", "a draft's version, from 1")
	case r.GetDraftVersion() > 0 && r.GetReply() != nil:
		v.add("reply", "either a reply or the draft_version to sign off, not both")
	case r.GetDraftVersion() > 0:
	case r.GetReply() == nil:
		v.add("reply", "required, or the draft_version to sign off")
	default:
		v.replyContent("reply", r.GetReply(), now, true)
	}
	return ref, v.err()
}

// replyContent checks a reply's fields under prefix: their limits, and
// with complete the fields a sent reply needs (a draft may leave them).
func (v *violations) replyContent(prefix string, rp *banliv1.Reply, now time.Time, complete bool) {
	v.enum(prefix+".category", rp.GetCategory(), complete)
	v.paragraph(prefix+".text", rp.GetText(), maxReplyLen, complete)
	v.line(prefix+".document_number", rp.GetDocumentNumber(), maxDocumentNumLen, false)
	v.line(prefix+".signer", rp.GetSigner(), maxPersonLen, complete)
	v.date(prefix+".collective_review_date", rp.GetCollectiveReviewDate())
	v.line(prefix+".contact_person", rp.GetContactPerson(), maxPersonLen, complete)
	v.phone(prefix+".contact_phone", rp.GetContactPhone(), complete)
	v.pastTime(prefix+".reply_time", rp.GetReplyTime(), now)
	v.enum(prefix+".disclosure_intent", rp.GetDisclosureIntent(), complete)
	if len(rp.GetCitedOpinions()) > maxAssignments {
		v.add(prefix+".cited_opinions", "at most %d", maxAssignments)
	}
	for i, name := range rp.GetCitedOpinions() {
		v.assignmentRef(fmt.Sprintf("%s.cited_opinions[%d]", prefix, i), name)
	}
}

// SaveReplyDraft saves a new version of a part's reply draft.
func (s *Server) SaveReplyDraft(ctx context.Context, req *banliv1.SaveReplyDraftRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	ref := v.assignmentRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if req.GetReply() == nil {
		v.add("reply", "required")
	} else {
		v.replyContent("reply", req.GetReply(), s.now(), false)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_SaveReplyDraft_FullMethodName, req, ref, req.GetEtag(), StepSaveDraft, func(c *caseChange, a *banliv1.Assignment) error {
		if n := len(a.GetDrafts()); n > 0 && a.GetDrafts()[n-1].GetState() == draftOpen {
			a.GetDrafts()[n-1].State = draftSuperseded
		}
		d := &banliv1.ReplyDraft{
			Version: int32(len(a.GetDrafts()) + 1), Reply: draftOf(req.GetReply()),
			Author: callerAccount(c.ctx), SaveTime: c.nowProto(), State: draftOpen,
		}
		a.Drafts = append(a.Drafts, d)
		c.details = fmt.Sprintf("draft version %d", d.GetVersion())
		return nil
	})
}

// CountersignReply is a co-handling unit's countersign of the lead's
// latest draft.
func (s *Server) CountersignReply(ctx context.Context, req *banliv1.CountersignReplyRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	ref := v.assignmentRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if req.GetDraftVersion() < 1 {
		v.add("draft_version", "required: the lead's draft version, from 1")
	}
	v.enum("decision", req.GetDecision(), true)
	returned := req.GetDecision() == banliv1.CountersignDecision_COUNTERSIGN_DECISION_RETURNED
	v.paragraph("comment", req.GetComment(), maxNoteLen, returned)
	if err := v.err(); err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_CountersignReply_FullMethodName, req, ref, req.GetEtag(), StepCountersign, func(c *caseChange, a *banliv1.Assignment) error {
		lead := leadPart(c.p)
		d := lead.GetDrafts()[req.GetDraftVersion()-1] // the guard found it
		d.Countersigns = append(d.Countersigns, &banliv1.Countersign{
			Unit: a.GetUnit(), Decision: req.GetDecision(), Comment: req.GetComment(), SignedBy: callerAccount(c.ctx), SignTime: c.nowProto(),
		})
		c.details = fmt.Sprintf("%s %s draft version %d of %s", a.GetUnit(), strings.ToLower(trimEnum(req.GetDecision().String(), "COUNTERSIGN_DECISION_")), d.GetVersion(), lead.GetName())
		if returned {
			d.State, d.ReturnComment, d.ReturnedBy, d.ReturnTime = draftReturned, req.GetComment(), callerAccount(c.ctx), c.nowProto()
			c.details += ": " + req.GetComment()
		}
		return nil
	})
}

// leadPart is the case's current lead part, or nil.
func leadPart(p *banliv1.Proposal) *banliv1.Assignment {
	for _, a := range p.GetAssignments() {
		if a.GetRole() == lead && isCurrent(a) {
			return a
		}
	}
	return nil
}

// RecordCollectiveReview records a collective review of the part's
// current round.
func (s *Server) RecordCollectiveReview(ctx context.Context, req *banliv1.RecordCollectiveReviewRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	ref := v.assignmentRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if rv := req.GetReview(); rv == nil {
		v.add("review", "required")
	} else {
		if rv.GetDate() == "" {
			v.add("review.date", "required")
		}
		v.date("review.date", rv.GetDate())
		if rv.GetDate() > chinaDate(s.now()) {
			v.add("review.date", "must not be in the future")
		}
		switch n := len(rv.GetParticipants()); {
		case n == 0:
			v.add("review.participants", "required: who took part")
		case n > maxParticipants:
			v.add("review.participants", "at most %d participants", maxParticipants)
		}
		for i, p := range rv.GetParticipants() {
			v.line(fmt.Sprintf("review.participants[%d]", i), p, maxPersonLen, true)
		}
		v.paragraph("review.conclusion", rv.GetConclusion(), maxNoteLen, true)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_RecordCollectiveReview_FullMethodName, req, ref, req.GetEtag(), StepReview, func(c *caseChange, a *banliv1.Assignment) error {
		rv := req.GetReview()
		a.CollectiveReviews = append(a.CollectiveReviews, &banliv1.CollectiveReview{
			Round: a.GetRound(), Date: rv.GetDate(), Participants: rv.GetParticipants(), Conclusion: rv.GetConclusion(),
			RecordedBy: callerAccount(c.ctx), RecordTime: c.nowProto(),
		})
		c.details = fmt.Sprintf("collective review of round %d on %s", a.GetRound(), rv.GetDate())
		return nil
	})
}

// roundReview is the latest collective review of a's current round, or nil.
func roundReview(a *banliv1.Assignment) *banliv1.CollectiveReview {
	for i := len(a.GetCollectiveReviews()) - 1; i >= 0; i-- {
		if rv := a.GetCollectiveReviews()[i]; rv.GetRound() == a.GetRound() {
			return rv
		}
	}
	return nil
}

// ReturnReplyDraft is the head's return of the latest draft, with a comment.
func (s *Server) ReturnReplyDraft(ctx context.Context, req *banliv1.ReturnReplyDraftRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	ref := v.assignmentRef("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if req.GetVersion() < 1 {
		v.add("version", "required: a draft's version, from 1")
	}
	v.paragraph("comment", req.GetComment(), maxNoteLen, true)
	if err := v.err(); err != nil {
		return nil, err
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_ReturnReplyDraft_FullMethodName, req, ref, req.GetEtag(), StepReturnDraft, func(c *caseChange, a *banliv1.Assignment) error {
		d := a.GetDrafts()[req.GetVersion()-1] // the guard found it
		d.State, d.ReturnComment, d.ReturnedBy, d.ReturnTime = draftReturned, req.GetComment(), callerAccount(c.ctx), c.nowProto()
		c.details = fmt.Sprintf("draft version %d returned: %s", d.GetVersion(), req.GetComment())
		return nil
	})
}

// draftOf is a draft's reply: the fields a unit writes, none the server
// sets.
func draftOf(rp *banliv1.Reply) *banliv1.Reply {
	return &banliv1.Reply{
		Category: rp.GetCategory(), Text: rp.GetText(), DocumentNumber: rp.GetDocumentNumber(), Signer: rp.GetSigner(),
		CollectiveReviewDate: rp.GetCollectiveReviewDate(), ContactPerson: rp.GetContactPerson(), ContactPhone: rp.GetContactPhone(),
		ReplyTime: rp.GetReplyTime(), DisclosureIntent: rp.GetDisclosureIntent(), CitedOpinions: rp.GetCitedOpinions(),
	}
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
	return ref, v.err()
}
