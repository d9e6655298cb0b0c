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

// A reply's road: drafts (草拟回复) and their return, the co-handling
// units' countersign (会签), the collective review (集体评议), the sign-off
// (签发) and the office's review, delivery (送达) and copies (抄送), and the
// office's correction of a category.

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
	field := "reply.attachments"
	if req.GetDraftVersion() > 0 {
		field = "draft_version" // the draft's files, attached when it was saved
	}
	if r.Attachments, err = c.attach(field, in.GetAttachments(), a.GetUnit()); err != nil {
		return err
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
		a.FollowUp = newFollowUp(c, policy)
	}
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
			a.FollowUp = newFollowUp(c, policy)
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
	name := replyName(c.id, ref.assignment, ref.round)
	if r := replyNamed(a, name); r != nil {
		return r, nil
	}
	return nil, resourceNotFound(name, "")
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
	v.attachmentNames(prefix+".attachments", rp.GetAttachments())
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
		files, err := c.attach("reply.attachments", req.GetReply().GetAttachments(), a.GetUnit())
		if err != nil {
			return err
		}
		d.Reply.Attachments = files
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
		v.pastDate("review.date", rv.GetDate(), s.now(), true)
		if len(rv.GetParticipants()) == 0 {
			v.add("review.participants", "required: who took part")
		}
		v.participants("review.participants", rv.GetParticipants())
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
		Attachments: rp.GetAttachments(),
	}
}
