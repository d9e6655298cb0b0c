package service

import (
	"context"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Publishing a reply (公开), or withholding it for a recorded reason.

// disclosureStep is the frame of publishing or withholding a reply.
func disclosureStep(ctx context.Context, s *Server, method string, req mutatingRequest, name, etag string, step Step,
	apply func(c *caseChange, r *banliv1.Reply),
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
		to, err := disclosureMachine.check(step, r.GetName(), r.GetDisclosureState())
		if err != nil {
			return err
		}
		apply(c, r)
		r.DisclosureState = to
		c.target = r.GetName()
		return nil
	})
}

// PublishReply publishes a reply without its contact details.
func (s *Server) PublishReply(ctx context.Context, req *banliv1.PublishReplyRequest) (*banliv1.Proposal, error) {
	if err := validatePublish(req); err != nil {
		return nil, err
	}
	return disclosureStep(ctx, s, banliv1.ProposalService_PublishReply_FullMethodName, req, req.GetName(), req.GetEtag(), StepPublish, func(c *caseChange, r *banliv1.Reply) {
		// The published text is the reply text (or the summary given); the
		// contact person and phone are separate fields and never published.
		r.PublishedText = req.GetPublishedText()
		if r.PublishedText == "" {
			r.PublishedText = r.GetText()
		}
		r.PublishTime = c.nowProto()
		c.details = "published " + r.GetName()
	})
}

// WithholdReply records why a reply is not published.
func (s *Server) WithholdReply(ctx context.Context, req *banliv1.WithholdReplyRequest) (*banliv1.Proposal, error) {
	if err := validateWithhold(req); err != nil {
		return nil, err
	}
	return disclosureStep(ctx, s, banliv1.ProposalService_WithholdReply_FullMethodName, req, req.GetName(), req.GetEtag(), StepWithhold, func(c *caseChange, r *banliv1.Reply) {
		r.WithholdReason = req.GetReason()
		c.details = "withheld " + r.GetName() + ": " + req.GetReason()
	})
}

func validatePublish(r *banliv1.PublishReplyRequest) error {
	v := &violations{}
	v.replyRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("published_text", r.GetPublishedText(), maxReplyLen, false)
	return v.err()
}

func validateWithhold(r *banliv1.WithholdReplyRequest) error {
	v := &violations{}
	v.replyRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("reason", r.GetReason(), maxNoteLen, true)
	return v.err()
}
