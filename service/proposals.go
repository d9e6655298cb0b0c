package service

import (
	"context"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// CreateProposal receives a case.
func (s *Server) CreateProposal(ctx context.Context, req *banliv1.CreateProposalRequest) (*banliv1.Proposal, error) {
	if err := validateCreateProposal(req); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.ProposalService_CreateProposal_FullMethodName, req, func(tx *store.Tx, now time.Time) (*banliv1.Proposal, error) {
		in := req.GetProposal()
		sess, err := tx.Session(idOf(in.GetSession(), sessionsCollection))
		if err != nil {
			return nil, notFoundOr(err, in.GetSession(), "proposal.session")
		}
		if want := KindOfBody(sess.GetBody()); in.GetKind() != want {
			return nil, invalidField("proposal.kind", "%s is a %s session: its cases are %s", sess.GetName(),
				trimEnum(sess.GetBody().String(), "BODY_"), want)
		}
		if existing := tx.ProposalByNumber(in.GetSession(), in.GetNumber()); existing != 0 {
			return nil, numberTaken(ctx, &tx.Reader, in, existing)
		}
		id := tx.NewID(store.KindProposal)
		p := newProposal(id, in, sess, now)
		p.Submitter = callerAccount(ctx)
		stageProposal(tx, id, nil, p, newEvent(ctx, p.GetCreateTime(), "CreateProposal", "", "", stateName(received), "number "+p.GetNumber()))
		return p, nil
	})
}

// numberTaken refuses a case whose number is taken in its session, naming
// the case that has it only to a caller who may read that case.
func numberTaken(ctx context.Context, r *store.Reader, in *banliv1.Proposal, existing uint64) error {
	c, _ := CallerFrom(ctx)
	if p, err := r.Proposal(existing); err == nil && mayRead(r, c, p) {
		return fmt.Errorf("case number %s in %s is taken by %s: %w", in.GetNumber(), in.GetSession(), p.GetName(), ErrAlreadyExists)
	}
	return fmt.Errorf("case number %s in %s is taken: %w", in.GetNumber(), in.GetSession(), ErrAlreadyExists)
}

// newProposal is a received case made from a client's proposal. The input
// fields are copied one by one: output-only fields a client sent are
// ignored (AIP-203), never stored.
func newProposal(id uint64, in *banliv1.Proposal, sess *banliv1.Session, now time.Time) *banliv1.Proposal {
	p := &banliv1.Proposal{
		Name:        proposalName(id),
		Session:     in.GetSession(),
		Kind:        in.GetKind(),
		Number:      in.GetNumber(),
		Serial:      in.GetSerial(),
		Period:      in.GetPeriod(),
		Title:       in.GetTitle(),
		Content:     in.GetContent(),
		Topics:      in.GetTopics(),
		Attachments: in.GetAttachments(),
		State:       received,
		Year:        sess.GetYear(),
		CreateTime:  timestampOf(now),
		UpdateTime:  timestampOf(now),
		Etag:        nextEtag(""),
	}
	for i, pr := range in.GetProposers() {
		pr = proto.Clone(pr).(*banliv1.Proposer)
		pr.Id = int32(i + 1)
		pr.MergedFrom = ""
		p.Proposers = append(p.Proposers, pr)
	}
	return p
}

// KindOfBody is the kind of case a body's sessions take: NPC deputies'
// suggestions (建议) or CPPCC members' proposals (提案).
func KindOfBody(b banliv1.Body) banliv1.ProposalKind {
	if b == banliv1.Body_BODY_NPC {
		return banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION
	}
	return banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL
}

// GetProposal returns one case.
func (s *Server) GetProposal(ctx context.Context, req *banliv1.GetProposalRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	id := v.proposalID("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	var p *banliv1.Proposal
	err := s.store.View(func(r *store.Reader) error {
		var err error
		p, err = r.Proposal(id)
		if err != nil {
			return notFoundOr(err, req.GetName(), "")
		}
		return nil
	})
	return p, err
}

// ListProposals lists cases by filter.
func (s *Server) ListProposals(ctx context.Context, req *banliv1.ListProposalsRequest) (*banliv1.ListProposalsResponse, error) {
	after, err := validateListProposals(req)
	if err != nil {
		return nil, err
	}
	q := store.ProposalQuery{State: req.GetState(), Unit: req.GetUnit(), Role: req.GetRole(), Key: req.Key, Topic: req.GetTopic(), Submitter: req.GetSubmitter()}
	resp := &banliv1.ListProposalsResponse{}
	err = s.store.View(func(r *store.Reader) error {
		sessions, err := sessionsMatching(r, req.GetSession(), req.GetKind(), req.GetYear())
		if err != nil {
			return err
		}
		q.Sessions = sessions
		if req.GetYear() != 0 && req.GetSession() == "" {
			q.CarriedYear = req.GetYear() // cross-year cases count in the year they are carried to
		}
		skip := basicView
		if req.GetView() == banliv1.ProposalView_PROPOSAL_VIEW_FULL {
			skip = nil
		}
		var page []byte
		last, more, err := r.EachProposalRecord(q, after, pageSize(req.GetPageSize(), defaultPageSize), skip, func(_ uint64, record []byte) error {
			if len(page) > 0 && len(page)+len(record) > maxPageBytes {
				return store.ErrPageFull // the page ends here; the token goes on from the last case in it
			}
			page = appendEncodedProposal(page, record)
			return nil
		})
		if err != nil {
			return err
		}
		resp.ProtoReflect().SetUnknown(page)
		if more && last != 0 {
			resp.NextPageToken = pageToken(req, last)
		}
		return nil
	})
	return resp, err
}

// A page of cases is sent in the wire form it is stored in, not decoded
// and encoded again: that was half the server's work for a list. A stored
// record is the API's Proposal message, and a repeated message field on
// the wire is just each element tagged and length-prefixed, so the page is
// appended to the response as its "proposals" field's encoding, in the
// response's unknown fields. Marshalling copies them out, and every
// receiver - gRPC clients, the REST gateway - decodes them as proposals.
// (Go code in this process would see an empty resp.Proposals until the
// response is marshalled and decoded; nothing in Banli reads it there.)
var proposalsField = func() protowire.Number {
	return protowire.Number((&banliv1.ListProposalsResponse{}).ProtoReflect().Descriptor().Fields().ByName("proposals").Number())
}()

func appendEncodedProposal(page, record []byte) []byte {
	page = protowire.AppendTag(page, proposalsField, protowire.BytesType)
	return protowire.AppendBytes(page, record)
}

// basicView is what a list leaves out of each case by default (AIP-157):
// the content, attachments and reminders, proposers' contact details, and
// each assignment's history (consultations, opinion, replies, requests,
// follow-up reports). It is given by field name and applied to the stored
// bytes, so the skipped fields are never decoded or sent.
var basicView = func() store.Skip {
	field := func(m protoreflect.ProtoMessage, name protoreflect.Name) protowire.Number {
		return protowire.Number(m.ProtoReflect().Descriptor().Fields().ByName(name).Number())
	}
	p, pr, a, fu := &banliv1.Proposal{}, &banliv1.Proposer{}, &banliv1.Assignment{}, &banliv1.FollowUp{}
	return store.Skip{
		field(p, "content"):     nil,
		field(p, "attachments"): nil,
		field(p, "reminders"):   nil,
		field(p, "proposers"):   {field(pr, "phone"): nil, field(pr, "email"): nil, field(pr, "address"): nil},
		field(p, "assignments"): {
			field(a, "consultations"): nil, field(a, "opinion"): nil, field(a, "replies"): nil,
			field(a, "reassignment_requests"): nil, field(a, "extension_requests"): nil,
			field(a, "follow_up"): {field(fu, "reports"): nil},
		},
	}
}()

// sessionsMatching turns the session, kind and year filters of a list
// request into the set of sessions whose cases match (nil: no such
// filter). A case's kind and year are its session's, so they need no index
// of their own; sessions are few, so reading them all is cheap.
func sessionsMatching(r *store.Reader, session string, kind banliv1.ProposalKind, year int32) ([]string, error) {
	if kind == 0 && year == 0 {
		if session == "" {
			return nil, nil
		}
		return []string{session}, nil
	}
	matching := []string{}
	var after uint64
	for {
		page, more, err := r.ListSessions(after, maxPageSize)
		if err != nil {
			return nil, err
		}
		for _, sess := range page {
			switch {
			case session != "" && sess.GetName() != session:
			case kind != 0 && KindOfBody(sess.GetBody()) != kind:
			case year != 0 && sess.GetYear() != year:
			default:
				matching = append(matching, sess.GetName())
			}
		}
		if !more || len(page) == 0 {
			return matching, nil
		}
		after = idOf(page[len(page)-1].GetName(), sessionsCollection)
	}
}

// AssignProposal names units for a case.
func (s *Server) AssignProposal(ctx context.Context, req *banliv1.AssignProposalRequest) (*banliv1.Proposal, error) {
	if err := validateAssign(req); err != nil {
		return nil, err
	}
	id := idOf(req.GetName(), proposalsCollection)
	return updateProposal(ctx, s, banliv1.ProposalService_AssignProposal_FullMethodName, req, id, req.GetEtag(), StepAssign, func(c *caseChange) error {
		if err := checkProposalStep(StepAssign, c.p.GetName(), c.p.GetState()); err != nil {
			return err
		}
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		var names []string
		for i, ua := range req.GetAssignments() {
			field := fmt.Sprintf("assignments[%d].unit", i)
			if err := c.checkAssignable(ua.GetUnit(), field); err != nil {
				return err
			}
			c.p.Assignments = append(c.p.Assignments, c.newAssignment(ua.GetUnit(), ua.GetRole(), policy))
			names = append(names, ua.GetUnit()+" as "+roleName(ua.GetRole()))
		}
		if err := checkRoleMix(c.p); err != nil {
			return err
		}
		c.details = "assigned " + strings.Join(names, ", ")
		return nil
	})
}

// checkAssignable refuses a unit that does not exist, is deactivated, or
// already has a current part of the case.
func (c *caseChange) checkAssignable(unit, field string) error {
	u, err := c.unit(unit)
	if err != nil {
		return notFoundOr(err, unit, field)
	}
	if !u.GetActive() {
		return fmt.Errorf("%s: %s (%s) is deactivated: %w", field, unit, u.GetDisplayName(), ErrPrecondition)
	}
	for _, a := range c.p.GetAssignments() {
		if a.GetUnit() == unit && isCurrent(a) {
			return fmt.Errorf("%s: %s already has %s: %w", field, unit, a.GetName(), ErrPrecondition)
		}
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
	return c.memoDeadline(fmt.Sprintf("w%d %s", n, event), func() *banliv1.Deadline { return c.clock.workingDaysAfter(c.now, n, event) })
}

func (c *caseChange) monthsAfter(n int, event string) *banliv1.Deadline {
	return c.memoDeadline(fmt.Sprintf("m%d %s", n, event), func() *banliv1.Deadline { return c.clock.monthsAfter(c.now, n, event) })
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

// checkRoleMix enforces DOMAIN.md's shapes of a case: one lead unit (with
// any co-handling units) or one or more split units; never both, and no
// co-handling unit without a lead unit to send its opinion to.
func checkRoleMix(p *banliv1.Proposal) error {
	var leads, splits, co int
	for _, a := range p.GetAssignments() {
		if !isCurrent(a) {
			continue
		}
		switch a.GetRole() {
		case lead:
			leads++
		case split:
			splits++
		case coHandling:
			co++
		}
	}
	switch {
	case leads > 1:
		return fmt.Errorf("a case has one lead unit: %s would have %d: %w", p.GetName(), leads, ErrPrecondition)
	case leads > 0 && splits > 0:
		return fmt.Errorf("a case has a lead unit or split units, not both: %w", ErrPrecondition)
	case co > 0 && leads == 0:
		return fmt.Errorf("co-handling units send their opinions to a lead unit, and %s has none: %w", p.GetName(), ErrPrecondition)
	}
	return nil
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
		a.ResponseDeadline = c.monthsAfter(int(policy.GetReplyMonths()), "assignment")
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
		if err := checkGuards(step, guardInput{p: c.p, a: a, policy: policy, now: c.now, req: req}); err != nil {
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
	if err := validateSign(req); err != nil {
		return nil, err
	}
	ref := (&violations{}).assignmentRef("name", req.GetName())
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
		return nil
	})
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
	if err := validateRequestReassignment(req); err != nil {
		return nil, err
	}
	ref := (&violations{}).assignmentRef("name", req.GetName())
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
	if err := validateDecideReassignment(req); err != nil {
		return nil, err
	}
	ref := (&violations{}).assignmentRef("name", req.GetName())
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
		if err := c.checkAssignable(req.GetNewUnit(), "new_unit"); err != nil {
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

// RecordConsultation records a contact with the proposers.
func (s *Server) RecordConsultation(ctx context.Context, req *banliv1.RecordConsultationRequest) (*banliv1.Proposal, error) {
	if err := validateConsultation(req, s.now()); err != nil {
		return nil, err
	}
	ref := (&violations{}).assignmentRef("name", req.GetName())
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
	if err := validateOpinion(req); err != nil {
		return nil, err
	}
	ref := (&violations{}).assignmentRef("name", req.GetName())
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
	if err := validateReply(req, s.now()); err != nil {
		return nil, err
	}
	ref := (&violations{}).assignmentRef("name", req.GetName())
	return assignmentStep(ctx, s, banliv1.ProposalService_SubmitReply_FullMethodName, req, ref, req.GetEtag(), StepSubmitReply, func(c *caseChange, a *banliv1.Assignment) error {
		policy, err := c.sessionPolicy()
		if err != nil {
			return err
		}
		if !categoryAllowed(policy, req.GetReply().GetCategory()) {
			return invalidField("reply.category", "the session of %s accepts categories A to C only", c.p.GetName())
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
		}
		if r.ReplyTime == nil {
			r.ReplyTime = c.nowProto()
		}
		r.DisclosureDeadline = c.clock.workingDaysAfter(r.GetReplyTime().AsTime(), int(policy.GetDisclosureWorkingDays()), "the reply")
		r.Deadline = proto.Clone(a.GetResponseDeadline()).(*banliv1.Deadline)
		r.OnTime = !r.GetReplyTime().AsTime().After(r.GetDeadline().GetDueTime().AsTime())
		a.Replies = append(a.Replies, r)
		if a.GetFollowUp() == nil && carriesOver(policy, r.GetCategory()) {
			a.FollowUp = &banliv1.FollowUp{State: followOpen, OpenTime: c.nowProto(), CarriedToYear: c.p.GetYear() + 1}
		}
		c.details = fmt.Sprintf("reply %s, category %s", r.GetName(), trimEnum(r.GetCategory().String(), "REPLY_CATEGORY_"))
		return nil
	})
}

// RateReply records a proposer's rating of a reply.
func (s *Server) RateReply(ctx context.Context, req *banliv1.RateReplyRequest) (*banliv1.Proposal, error) {
	if err := validateRate(req); err != nil {
		return nil, err
	}
	ref := (&violations{}).replyRef("name", req.GetName())
	step := StepRateSatisfied
	if req.GetSatisfaction() == banliv1.Satisfaction_SATISFACTION_UNSATISFIED {
		step = StepRateUnsatisfied
	}
	return assignmentStep(ctx, s, banliv1.ProposalService_RateReply_FullMethodName, req, ref.assignmentRef, req.GetEtag(), step, func(c *caseChange, a *banliv1.Assignment) error {
		r, err := c.reply(a, ref)
		if err != nil {
			return err
		}
		r.Ratings = append(r.Ratings, &banliv1.Rating{
			ProposerId:   req.GetProposerId(),
			Satisfaction: req.GetSatisfaction(),
			Opinion:      req.GetOpinion(),
			RateTime:     c.nowProto(),
		})
		c.details = fmt.Sprintf("proposer %d rated %s %s", req.GetProposerId(), r.GetName(), strings.ToLower(trimEnum(req.GetSatisfaction().String(), "SATISFACTION_")))
		if step == StepRateUnsatisfied {
			policy, err := c.sessionPolicy()
			if err != nil {
				return err
			}
			a.Round++
			a.ResponseDeadline = c.clock.monthsAfter(c.now, int(policy.GetRereplyMonths()), "the unsatisfied rating")
			c.details += fmt.Sprintf("; re-handling round %d, reply due %s", a.GetRound(), a.GetResponseDeadline().GetDueDate())
		}
		return nil
	})
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

// caseStep is the frame of a case-level step with a fixed destination.
func caseStep(ctx context.Context, s *Server, method string, req mutatingRequest, name, etag string, step Step,
	apply func(c *caseChange),
) (*banliv1.Proposal, error) {
	return updateProposal(ctx, s, method, req, idOf(name, proposalsCollection), etag, step, func(c *caseChange) error {
		if err := checkProposalStep(step, c.p.GetName(), c.p.GetState()); err != nil {
			return err
		}
		apply(c)
		return nil
	})
}

// RefuseFiling refuses a case at filing.
func (s *Server) RefuseFiling(ctx context.Context, req *banliv1.RefuseFilingRequest) (*banliv1.Proposal, error) {
	if err := validateRefuseFiling(req); err != nil {
		return nil, err
	}
	return caseStep(ctx, s, banliv1.ProposalService_RefuseFiling_FullMethodName, req, req.GetName(), req.GetEtag(), StepRefuseFiling, func(c *caseChange) {
		c.p.Refusal = &banliv1.Refusal{Reason: req.GetReason(), Note: req.GetNote(), Time: c.nowProto()}
		c.details = "reason " + trimEnum(req.GetReason().String(), "NOT_FILED_REASON_")
	})
}

// WithdrawProposal records a proposer's withdrawal.
func (s *Server) WithdrawProposal(ctx context.Context, req *banliv1.WithdrawProposalRequest) (*banliv1.Proposal, error) {
	if err := validateWithdraw(req); err != nil {
		return nil, err
	}
	return caseStep(ctx, s, banliv1.ProposalService_WithdrawProposal_FullMethodName, req, req.GetName(), req.GetEtag(), StepWithdraw, func(c *caseChange) {
		c.p.WithdrawReason = req.GetReason()
		c.details = req.GetReason()
	})
}

// MarkKey marks or unmarks a key case.
func (s *Server) MarkKey(ctx context.Context, req *banliv1.MarkKeyRequest) (*banliv1.Proposal, error) {
	if err := validateMarkKey(req); err != nil {
		return nil, err
	}
	return caseStep(ctx, s, banliv1.ProposalService_MarkKey_FullMethodName, req, req.GetName(), req.GetEtag(), StepMarkKey, func(c *caseChange) {
		c.p.Key = req.GetKey()
		c.p.SupervisingLeader = req.GetSupervisingLeader()
		if req.GetKey() {
			c.details = "key case, supervised by " + req.GetSupervisingLeader()
		} else {
			c.details = "no longer a key case"
		}
	})
}

// MergeProposals merges cases into one; every proposer of a merged case
// joins the one that stays.
func (s *Server) MergeProposals(ctx context.Context, req *banliv1.MergeProposalsRequest) (*banliv1.Proposal, error) {
	if err := validateMerge(req); err != nil {
		return nil, err
	}
	return updateProposal(ctx, s, banliv1.ProposalService_MergeProposals_FullMethodName, req, idOf(req.GetName(), proposalsCollection), req.GetEtag(), StepMergeInto, func(c *caseChange) error {
		if err := checkProposalStep(StepMergeInto, c.p.GetName(), c.p.GetState()); err != nil {
			return err
		}
		nextID := int32(0)
		for _, pr := range c.p.GetProposers() {
			nextID = max(nextID, pr.GetId())
		}
		for i, name := range req.GetSources() {
			field := fmt.Sprintf("sources[%d]", i)
			sid := idOf(name, proposalsCollection)
			src, err := c.tx.Proposal(sid)
			if err != nil {
				return notFoundOr(err, name, field)
			}
			if err := checkProposalStep(StepMergeAway, src.GetName(), src.GetState()); err != nil {
				return err
			}
			if src.GetSession() != c.p.GetSession() {
				return fmt.Errorf("%s: %s belongs to %s, not to %s: only cases of one session are merged: %w", field, name, src.GetSession(), c.p.GetSession(), ErrPrecondition)
			}
			for _, pr := range src.GetProposers() {
				pr = proto.Clone(pr).(*banliv1.Proposer)
				nextID++
				pr.Id = nextID
				pr.MergedFrom = src.GetName()
				c.p.Proposers = append(c.p.Proposers, pr)
			}
			c.p.MergedFrom = append(c.p.MergedFrom, src.GetName())
			// The source goes where the table's StepMergeAway leads, with an
			// event of its own.
			away := &caseChange{ctx: ctx, tx: c.tx, now: c.now, clock: c.clock, id: sid, p: src, from: src.GetState(),
				step: StepMergeAway, target: c.p.GetName(), details: "merged into " + c.p.GetName(), before: contributions(src)}
			src.MergedInto = c.p.GetName()
			away.commit()
		}
		c.details = "merged " + strings.Join(req.GetSources(), ", ")
		return nil
	})
}
