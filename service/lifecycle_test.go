package service

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

var (
	allProposalStates = []banliv1.ProposalState{received, assigned, consulted, replied, rated, notFiled, withdrawn, merged}
	allAssignStates   = []banliv1.AssignmentState{aAssigned, aRequested, aSigned, aConsulted, aOpinionSent, aReplied, aRated, aRehandling, aReassigned}
)

// TestProposalSteps runs every case-level step from every case state.
func TestProposalSteps(t *testing.T) {
	want := map[Step][]banliv1.ProposalState{
		StepAssign:         {received, assigned, consulted},
		StepRefuseFiling:   {received},
		StepWithdraw:       {received, assigned, consulted},
		StepMergeInto:      {received, assigned, consulted},
		StepMergeAway:      {received},
		StepMarkKey:        {received, assigned, consulted, replied, rated},
		StepRemind:         {received, assigned, consulted, replied, rated},
		StepNoticeOverdue:  {received, assigned, consulted, replied, rated},
		StepSupervise:      {received, assigned, consulted, replied, rated},
		StepUploadFile:     {received, assigned, consulted, replied, rated},
		StepUpdateProposal: {received, assigned, consulted, replied, rated, notFiled, withdrawn},
	}
	for step, allowedFrom := range want {
		for _, state := range allProposalStates {
			t.Run(fmt.Sprintf("%s/from_%s", step, stateName(state)), func(t *testing.T) {
				err := checkProposalStep(step, "proposals/1", state)
				if slices.Contains(allowedFrom, state) {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					return
				}
				var te *TransitionError
				if !errors.As(err, &te) || !errors.Is(err, ErrInvalidTransition) {
					t.Fatalf("got %v, want a TransitionError", err)
				}
				if !strings.Contains(err.Error(), stateName(state)) {
					t.Errorf("message %q does not name the state %s", err, stateName(state))
				}
			})
		}
	}
	if len(want) != len(proposalTransitions) {
		t.Errorf("the table has %d case-level steps, the test knows %d", len(proposalTransitions), len(want))
	}
}

// TestAssignmentSteps runs every assignment step from every assignment
// state, for every role, in a case that is being handled; the expected
// destination is written out here independently of the table.
func TestAssignmentSteps(t *testing.T) {
	type key struct {
		step  Step
		role  banliv1.AssignmentRole
		state banliv1.AssignmentState
	}
	want := map[key]banliv1.AssignmentState{}
	for _, role := range allRoles {
		want[key{StepSign, role, aAssigned}] = aSigned
		for _, s := range []banliv1.AssignmentState{aSigned, aConsulted, aOpinionSent, aReplied, aRehandling} {
			want[key{StepDelegate, role, s}] = s
		}
		want[key{StepRequestReassignment, role, aAssigned}] = aRequested
		want[key{StepApproveReassignment, role, aRequested}] = aReassigned
		want[key{StepRefuseReassignment, role, aRequested}] = aAssigned
		want[key{StepConsult, role, aSigned}] = aConsulted
		for _, s := range []banliv1.AssignmentState{aConsulted, aOpinionSent, aReplied, aRated, aRehandling, aUnderReview, aUnsatisfied} {
			want[key{StepConsult, role, s}] = s
		}
	}
	for _, s := range []banliv1.AssignmentState{aSigned, aConsulted, aOpinionSent} {
		want[key{StepCountersign, coHandling, s}] = s
	}
	for _, role := range allRoles {
		for _, s := range []banliv1.AssignmentState{aAssigned, aRequested, aSigned, aConsulted} {
			want[key{StepRemovePart, role, s}] = aRemoved
		}
	}
	for _, role := range []banliv1.AssignmentRole{lead, coHandling} {
		for _, s := range []banliv1.AssignmentState{aAssigned, aSigned, aConsulted} {
			want[key{StepChangeRole, role, s}] = s
		}
	}
	for _, role := range allRoles {
		for _, s := range []banliv1.AssignmentState{aAssigned, aRequested, aSigned, aConsulted, aOpinionSent, aReplied, aRated, aRehandling, aUnderReview, aUnsatisfied} {
			want[key{StepMovePart, role, s}] = s
		}
	}
	want[key{StepSubmitOpinion, coHandling, aSigned}] = aOpinionSent
	want[key{StepSubmitOpinion, coHandling, aConsulted}] = aOpinionSent
	for _, role := range replyingRoles {
		for _, s := range []banliv1.AssignmentState{aSigned, aConsulted, aRehandling} {
			want[key{StepSubmitReply, role, s}] = aReplied
		}
		want[key{StepRateSatisfied, role, aReplied}] = aRated
		want[key{StepRateSatisfied, role, aRated}] = aRated
		want[key{StepRateUnsatisfied, role, aReplied}] = aRehandling
		want[key{StepRateUnsatisfied, role, aRated}] = aRehandling
		want[key{StepRatePartly, role, aReplied}] = aReplied
		want[key{StepRatePartly, role, aUnsatisfied}] = aUnsatisfied
		want[key{StepRateToOffice, role, aReplied}] = aUnsatisfied
		want[key{StepRateToOffice, role, aRated}] = aUnsatisfied
		want[key{StepRehandle, role, aUnsatisfied}] = aRehandling
		want[key{StepCloseUnsatisfied, role, aUnsatisfied}] = aRated
		want[key{StepCloseRatingPeriod, role, aReplied}] = aRated
		for _, s := range []banliv1.AssignmentState{aReplied, aRated, aRehandling} {
			want[key{StepCorrectCategory, role, s}] = s
		}
		for _, s := range []banliv1.AssignmentState{aSigned, aConsulted, aRehandling} {
			want[key{StepSaveDraft, role, s}] = s
			want[key{StepReturnDraft, role, s}] = s
			want[key{StepReview, role, s}] = s
		}
		for _, s := range []banliv1.AssignmentState{aSigned, aConsulted, aRehandling} {
			want[key{StepSubmitForReview, role, s}] = aUnderReview
		}
		want[key{StepAcceptReply, role, aUnderReview}] = aReplied
		want[key{StepReturnReply, role, aUnderReview}] = aSigned // a first round, not consulted: see TestBeforeReview
		want[key{StepDeliver, role, aReplied}] = aReplied
		want[key{StepDeliver, role, aRated}] = aRated
		for _, step := range []Step{StepRequestExtension, StepApproveExtension, StepRefuseExtension} {
			want[key{step, role, aSigned}] = aSigned
			want[key{step, role, aConsulted}] = aConsulted
		}
	}

	steps := []Step{StepSign, StepDelegate, StepRequestReassignment, StepApproveReassignment, StepRefuseReassignment,
		StepConsult, StepSubmitOpinion, StepSubmitReply, StepRateSatisfied, StepRateUnsatisfied, StepCorrectCategory, StepDeliver, StepSaveDraft, StepReturnDraft, StepReview, StepCountersign, StepSubmitForReview, StepAcceptReply, StepReturnReply,
		StepRatePartly, StepRateToOffice, StepRehandle, StepCloseUnsatisfied, StepCloseRatingPeriod, StepRemovePart, StepChangeRole, StepMovePart,
		StepRequestExtension, StepApproveExtension, StepRefuseExtension}
	if len(steps) != len(assignmentTransitions) {
		t.Fatalf("the table has %d assignment steps, the test knows %d", len(assignmentTransitions), len(steps))
	}
	for _, step := range steps {
		for _, role := range allRoles {
			for _, state := range allAssignStates {
				name := fmt.Sprintf("%s/%s/from_%s", step, roleName(role), trimEnum(state.String(), "ASSIGNMENT_STATE_"))
				t.Run(name, func(t *testing.T) {
					a := &banliv1.Assignment{Name: "proposals/1/assignments/1", Role: role, State: state}
					got, err := checkAssignmentStep(step, assigned, a)
					to, allowed := want[key{step, role, state}]
					if allowed {
						if err != nil || got != to {
							t.Fatalf("got %v, %v; want %v", got, err, to)
						}
						return
					}
					if !errors.Is(err, ErrInvalidTransition) {
						t.Fatalf("got %v, %v; want refusal", got, err)
					}
					var te *TransitionError
					errors.As(err, &te)
					for _, s := range te.Allowed {
						if _, ok := want[key{s, role, state}]; !ok {
							t.Errorf("error lists %s as allowed, but it is not", s)
						}
					}
				})
			}
		}
	}
}

// TestAssignmentStepsNeedAHandledCase: no unit works on a case that is not
// (or no longer) being handled.
func TestAssignmentStepsNeedAHandledCase(t *testing.T) {
	a := &banliv1.Assignment{Name: "proposals/1/assignments/1", Role: lead, State: aAssigned}
	for _, state := range allProposalStates {
		_, err := checkAssignmentStep(StepSign, state, a)
		if ok := slices.Contains(handlingStates, state); ok != (err == nil) {
			t.Errorf("case %s: sign gave %v", stateName(state), err)
		}
	}
}

func TestDisclosureSteps(t *testing.T) {
	for _, from := range []banliv1.DisclosureState{pending, published, withheld} {
		for _, step := range []Step{StepPublish, StepWithhold} {
			to, err := disclosureMachine.check(step, "r", from)
			if from == pending {
				if err != nil || (step == StepPublish) != (to == published) {
					t.Errorf("%s from %s: %v, %v", step, from, to, err)
				}
			} else if !errors.Is(err, ErrInvalidTransition) {
				t.Errorf("%s from %s: want refusal, got %v", step, from, err)
			}
		}
	}
}

func TestDeriveProposalState(t *testing.T) {
	part := func(role banliv1.AssignmentRole, state banliv1.AssignmentState) *banliv1.Assignment {
		return &banliv1.Assignment{Role: role, State: state}
	}
	tests := []struct {
		name  string
		state banliv1.ProposalState
		parts []*banliv1.Assignment
		want  banliv1.ProposalState
	}{
		{"no parts", received, nil, received},
		{"terminal stays", withdrawn, []*banliv1.Assignment{part(lead, aRated)}, withdrawn},
		{"merged stays", merged, nil, merged},
		{"not signed", received, []*banliv1.Assignment{part(lead, aAssigned)}, assigned},
		{"co-handling does not count", received, []*banliv1.Assignment{part(lead, aSigned), part(coHandling, aOpinionSent)}, assigned},
		{"lead consulted", assigned, []*banliv1.Assignment{part(lead, aConsulted), part(coHandling, aSigned)}, consulted},
		{"one split of two consulted", assigned, []*banliv1.Assignment{part(split, aConsulted), part(split, aSigned)}, assigned},
		{"splits replied and consulted", consulted, []*banliv1.Assignment{part(split, aReplied), part(split, aConsulted)}, consulted},
		{"every split replied", consulted, []*banliv1.Assignment{part(split, aReplied), part(split, aRated)}, replied},
		{"every split rated", replied, []*banliv1.Assignment{part(split, aRated), part(split, aRated)}, rated},
		{"re-handling goes back", rated, []*banliv1.Assignment{part(split, aRated), part(split, aRehandling)}, consulted},
		{"reassigned part ignored", assigned, []*banliv1.Assignment{part(lead, aReassigned), part(lead, aRated)}, rated},
		{"only reassigned parts", assigned, []*banliv1.Assignment{part(lead, aReassigned)}, assigned},
		{"every part removed", assigned, []*banliv1.Assignment{part(lead, aRemoved), part(coHandling, aRemoved)}, received},
		{"a removed part ignored", assigned, []*banliv1.Assignment{part(lead, aRemoved), part(lead, aReplied)}, replied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := deriveProposalState(&banliv1.Proposal{State: tt.state, Assignments: tt.parts})
			if got != tt.want {
				t.Errorf("got %s, want %s", stateName(got), stateName(tt.want))
			}
		})
	}
}

func TestReplyRules(t *testing.T) {
	// The reply's rules are the guards of its step in the lifecycle table.
	replyRules := func(p *banliv1.Proposal, a *banliv1.Assignment, policy *banliv1.SessionPolicy) error {
		return checkGuards(StepSubmitReply, guardInput{p: p, a: a, policy: policy})
	}
	policy := resolvePolicy(nil)
	consulted := []*banliv1.Consultation{{Id: 1}}
	leadPart := &banliv1.Assignment{Name: "a/1", Role: lead, State: aConsulted, Consultations: consulted}
	p := &banliv1.Proposal{Assignments: []*banliv1.Assignment{
		leadPart,
		{Name: "a/2", Role: coHandling, State: aOpinionSent},
		{Name: "a/3", Role: coHandling, State: aSigned},
		{Name: "a/4", Role: coHandling, State: aReassigned},
	}}
	if err := replyRules(p, leadPart, policy); !errors.Is(err, ErrPrecondition) || !strings.Contains(err.Error(), "a/3") || strings.Contains(err.Error(), "a/4") {
		t.Errorf("lead before opinion a/3: %v", err)
	}
	p.Assignments[2].State = aOpinionSent
	if err := replyRules(p, leadPart, policy); err != nil {
		t.Errorf("all opinions in: %v", err)
	}
	noConsult := &banliv1.Assignment{Name: "a/5", Role: split, State: aSigned}
	if err := replyRules(p, noConsult, policy); !errors.Is(err, ErrPrecondition) {
		t.Errorf("reply without consultation: %v", err)
	}
	relaxed := resolvePolicy(&banliv1.SessionPolicy{ConsultBeforeReply: new(bool), OpinionsBeforeLeadReply: new(bool)})
	p.Assignments[2].State = aSigned
	if err := replyRules(p, noConsult, relaxed); err != nil {
		t.Errorf("relaxed policy, split: %v", err)
	}
	if err := replyRules(p, &banliv1.Assignment{Role: lead}, relaxed); err != nil {
		t.Errorf("relaxed policy, lead: %v", err)
	}
}

func TestCurrentDeadline(t *testing.T) {
	sign, response := &banliv1.Deadline{DueDate: "sign"}, &banliv1.Deadline{DueDate: "response"}
	want := map[banliv1.AssignmentState]*banliv1.Deadline{
		aAssigned: sign, aSigned: response, aConsulted: response, aRehandling: response,
	}
	for _, state := range allAssignStates {
		a := &banliv1.Assignment{State: state, SignDeadline: sign, ResponseDeadline: response}
		if got := currentDeadline(assigned, a); got != want[state] {
			t.Errorf("%s: current deadline %v, want %v", state, got, want[state])
		}
		if got := currentDeadline(withdrawn, a); got != nil {
			t.Errorf("%s in a withdrawn case: %v, want none", state, got)
		}
	}
}

// TestBeforeReview: a reply the office returns brings its part back to
// where it was when the reply was signed off.
func TestBeforeReview(t *testing.T) {
	for _, tt := range []struct {
		a    *banliv1.Assignment
		want banliv1.AssignmentState
	}{
		{&banliv1.Assignment{Round: 1}, aSigned},
		{&banliv1.Assignment{Round: 1, Consultations: []*banliv1.Consultation{{}}}, aConsulted},
		{&banliv1.Assignment{Round: 2, Consultations: []*banliv1.Consultation{{}}}, aRehandling},
	} {
		if got := beforeReview(tt.a); got != tt.want {
			t.Errorf("round %d, %d consultations: %s, want %s", tt.a.GetRound(), len(tt.a.GetConsultations()), got, tt.want)
		}
	}
}

// TestRatingStep: which step a rating takes, by the session's raters and
// the ratings already in.
func TestRatingStep(t *testing.T) {
	every := resolvePolicy(nil)
	legacy := storedPolicy(&banliv1.SessionPolicy{})
	sat, unsat := banliv1.Satisfaction_SATISFACTION_SATISFIED, banliv1.Satisfaction_SATISFACTION_UNSATISFIED
	reply := func(expected int32, ratings int) *banliv1.Reply {
		return &banliv1.Reply{RatingsExpected: expected, Ratings: make([]*banliv1.Rating, ratings)}
	}
	replied, unsatisfied := &banliv1.Assignment{State: aReplied}, &banliv1.Assignment{State: aUnsatisfied}
	for _, tt := range []struct {
		name   string
		policy *banliv1.SessionPolicy
		a      *banliv1.Assignment
		r      *banliv1.Reply
		s      banliv1.Satisfaction
		want   Step
	}{
		{"the first of 11", every, replied, reply(11, 0), sat, StepRatePartly},
		{"the last of 11", every, replied, reply(11, 10), sat, StepRateSatisfied},
		{"an unsatisfied one, vetted", every, replied, reply(11, 3), unsat, StepRateToOffice},
		{"one while the office decides", every, unsatisfied, reply(11, 4), sat, StepRatePartly},
		{"the first, in an old session", legacy, replied, reply(0, 0), sat, StepRateSatisfied},
		{"an unsatisfied one, in an old session", legacy, replied, reply(0, 1), unsat, StepRateUnsatisfied},
	} {
		if got := ratingStep(tt.policy, tt.a, tt.r, tt.s); got != tt.want {
			t.Errorf("%s: %s, want %s", tt.name, got, tt.want)
		}
	}
}
