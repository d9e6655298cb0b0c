package service

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The side paths of a whole case: refusal at filing (不立案), withdrawal,
// key cases (重点) and merging (并案).

// caseStep is the frame of a case-level step with a fixed destination.
func caseStep(ctx context.Context, s *Server, method string, req mutatingRequest, name, etag string, step Step,
	apply func(c *caseChange),
) (*banliv1.Proposal, error) {
	return updateProposal(ctx, s, method, req, idOf(name, proposalsCollection), etag, step, func(c *caseChange) error {
		if err := checkCaseStep(step, guardInput{p: c.p, now: c.now, req: req}); err != nil {
			return err
		}
		apply(c)
		return nil
	})
}

// RecordSupervision records a supervision activity of a key case.
func (s *Server) RecordSupervision(ctx context.Context, req *banliv1.RecordSupervisionRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	v.proposalID("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if act := req.GetActivity(); act == nil {
		v.add("activity", "required")
	} else {
		v.enum("activity.kind", act.GetKind(), true)
		v.pastDate("activity.date", act.GetDate(), s.now(), true)
		v.line("activity.leader", act.GetLeader(), maxPersonLen, false)
		if act.GetByLeader() != "" {
			v.leaderID("activity.by_leader", act.GetByLeader())
		}
		v.participants("activity.participants", act.GetParticipants())
		v.paragraph("activity.summary", act.GetSummary(), maxSummaryLen, true)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return caseStep(ctx, s, banliv1.ProposalService_RecordSupervision_FullMethodName, req, req.GetName(), req.GetEtag(), StepSupervise, func(c *caseChange) {
		act := req.GetActivity()
		leader := act.GetLeader()
		for _, l := range c.p.GetKeyLeaders() {
			if l.GetLeader() == act.GetByLeader() {
				leader = l.GetDisplayName()
			}
		}
		c.p.SupervisionActivities = append(c.p.SupervisionActivities, &banliv1.SupervisionActivity{
			Kind: act.GetKind(), Date: act.GetDate(), Leader: leader, ByLeader: act.GetByLeader(), Participants: act.GetParticipants(), Summary: act.GetSummary(),
			RecordedBy: callerAccount(c.ctx), RecordTime: c.nowProto(),
		})
		c.details = fmt.Sprintf("%s on %s by %s", strings.ToLower(trimEnum(act.GetKind().String(), "SUPERVISION_KIND_")), act.GetDate(), leader)
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

// MarkKey marks or unmarks a key case, with its leaders.
func (s *Server) MarkKey(ctx context.Context, req *banliv1.MarkKeyRequest) (*banliv1.Proposal, error) {
	if err := validateMarkKey(req); err != nil {
		return nil, err
	}
	return updateProposal(ctx, s, banliv1.ProposalService_MarkKey_FullMethodName, req, idOf(req.GetName(), proposalsCollection), req.GetEtag(), StepMarkKey, func(c *caseChange) error {
		if err := checkCaseStep(StepMarkKey, guardInput{p: c.p, now: c.now, req: req}); err != nil {
			return err
		}
		c.p.Key, c.p.SupervisingLeader, c.p.KeyLeaders = req.GetKey(), req.GetSupervisingLeader(), nil
		if len(req.GetLeaders()) > 0 {
			leaders, err := keyLeaders(c.tx, req.GetLeaders())
			if err != nil {
				return err
			}
			c.p.KeyLeaders = leaders
			for _, l := range leaders {
				if l.GetRole() == banliv1.KeyCaseRole_KEY_CASE_ROLE_SUPERVISING {
					c.p.SupervisingLeader = l.GetDisplayName()
					break
				}
			}
		}
		switch {
		case !req.GetKey():
			c.details = "no longer a key case"
		case len(c.p.GetKeyLeaders()) == 0:
			c.details = "key case, supervised by " + c.p.GetSupervisingLeader()
		default:
			names := make([]string, len(c.p.GetKeyLeaders()))
			for i, l := range c.p.GetKeyLeaders() {
				names[i] = fmt.Sprintf("%s (%s)", l.GetDisplayName(), strings.ToLower(trimEnum(l.GetRole().String(), "KEY_CASE_ROLE_")))
			}
			c.details = "key case: " + strings.Join(names, ", ")
		}
		return nil
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
			if err := checkCaseStep(StepMergeAway, guardInput{p: src, now: c.now, req: req, into: c.p}); err != nil {
				return fmt.Errorf("%s: %w", field, err)
			}
			for _, pr := range src.GetProposers() {
				pr = proto.Clone(pr).(*banliv1.Proposer)
				nextID++
				pr.Id = nextID
				pr.MergedFrom = src.GetName()
				if pr.GetSubmitter() == "" {
					pr.Submitter = src.GetSubmitter() // merged in earlier: its own stays
				}
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

func validateRefuseFiling(r *banliv1.RefuseFilingRequest) error {
	v := &violations{}
	v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.enum("reason", r.GetReason(), true)
	other := r.GetReason() == banliv1.NotFiledReason_NOT_FILED_REASON_OTHER
	v.paragraph("note", r.GetNote(), maxNoteLen, other)
	return v.err()
}

func validateWithdraw(r *banliv1.WithdrawProposalRequest) error {
	v := &violations{}
	v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("reason", r.GetReason(), maxNoteLen, false)
	return v.err()
}

func validateMerge(r *banliv1.MergeProposalsRequest) error {
	v := &violations{}
	target := v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	switch n := len(r.GetSources()); {
	case n == 0:
		v.add("sources", "required: at least one case to merge")
	case n > maxMergeSources:
		v.add("sources", "at most %d cases at once", maxMergeSources)
	default:
		seen := map[uint64]bool{}
		for i, s := range r.GetSources() {
			f := fmt.Sprintf("sources[%d]", i)
			id := v.proposalID(f, s)
			switch {
			case id != 0 && id == target:
				v.add(f, "a case cannot be merged into itself")
			case id != 0 && seen[id]:
				v.add(f, "%s is named twice", s)
			}
			seen[id] = true
		}
	}
	return v.err()
}

func validateMarkKey(r *banliv1.MarkKeyRequest) error {
	v := &violations{}
	v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	byName := len(r.GetLeaders()) > 0
	switch {
	case !r.GetKey() && r.GetSupervisingLeader() != "":
		v.add("supervising_leader", "only when marking a key case")
	case !r.GetKey() && byName:
		v.add("leaders", "only when marking a key case")
	case byName && r.GetSupervisingLeader() != "":
		v.add("supervising_leader", "give the leaders as records (leaders) or as text, not both")
	case r.GetKey() && !byName:
		v.line("supervising_leader", r.GetSupervisingLeader(), maxPersonLen, true)
	default:
		v.line("supervising_leader", r.GetSupervisingLeader(), maxPersonLen, false)
	}
	v.keyLeaders(r.GetLeaders())
	return v.err()
}
