package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Handling a part: consulting the proposers (沟通) and the co-handling
// opinion (会办意见). The reply's road is in replies.go, its rating in
// ratings.go.

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
		files, err := c.attach("consultation.attachments", in.GetAttachments(), a.GetUnit())
		if err != nil {
			return err
		}
		rec.Attachments = files
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
		files, err := c.attach("opinion.attachments", o.GetAttachments(), a.GetUnit())
		if err != nil {
			return err
		}
		o.Attachments = files
		a.Opinion = o
		return nil
	})
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
	v.participants("consultation.participants", c.GetParticipants())
	v.paragraph("consultation.summary", c.GetSummary(), maxSummaryLen, true)
	v.attachmentNames("consultation.attachments", c.GetAttachments())
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
	v.attachmentNames("opinion.attachments", o.GetAttachments())
	return ref, v.err()
}
