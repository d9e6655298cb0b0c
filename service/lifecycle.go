package service

import (
	"fmt"
	"slices"
	"strings"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// This file is the lifecycle: every step, the states it is allowed from and
// the state it leads to, declared once as data. Handlers never test states
// themselves; they ask this table (checkProposalStep, checkAssignmentStep,
// disclosureMachine.check, followUpMachine.check) and then apply the
// step's data.

// Step names a lifecycle step. Most are an RPC's name; where one RPC can
// lead to different states (a decision, a rating), each outcome is a step.
type Step string

// The steps.
const (
	StepAssign              Step = "AssignProposal"
	StepRefuseFiling        Step = "RefuseFiling"
	StepWithdraw            Step = "WithdrawProposal"
	StepMergeInto           Step = "MergeProposals"
	StepMergeAway           Step = "MergeProposals (as a source)"
	StepMarkKey             Step = "MarkKey"
	StepSupervise           Step = "RecordSupervision"
	StepUploadFile          Step = "UploadFile"
	StepUpdateProposal      Step = "UpdateProposal"
	StepRemovePart          Step = "RemoveAssignment"
	StepChangeRole          Step = "ChangeAssignmentRole"
	StepMovePart            Step = "MergeUnit (the part moves to the successor)"
	StepSign                Step = "SignAssignment"
	StepRequestReassignment Step = "RequestReassignment"
	StepApproveReassignment Step = "DecideReassignment (approve)"
	StepRefuseReassignment  Step = "DecideReassignment (refuse)"
	StepConsult             Step = "RecordConsultation"
	StepSubmitOpinion       Step = "SubmitOpinion"
	StepSubmitReply         Step = "SubmitReply"
	StepRateSatisfied       Step = "RateReply (satisfied or basically satisfied)"
	StepRateUnsatisfied     Step = "RateReply (unsatisfied)"
	StepRatePartly          Step = "RateReply (more ratings due)"
	StepRateToOffice        Step = "RateReply (unsatisfied, to the office)"
	StepCloseRatingPeriod   Step = "CloseRatingPeriod (ratings not returned)"
	StepRehandle            Step = "DecideUnsatisfied (re-handle)"
	StepCloseUnsatisfied    Step = "DecideUnsatisfied (explain and close)"
	StepPublish             Step = "PublishReply"
	StepSubmitPublication   Step = "PublishReply (to the office's approval)"
	StepApprovePublication  Step = "ReviewPublication (approve)"
	StepReturnPublication   Step = "ReviewPublication (return)"
	StepCorrectPublication  Step = "CorrectPublication"
	StepWithdrawPublication Step = "WithdrawPublication"
	StepWithhold            Step = "WithholdReply"
	StepClosePublication    Step = "ClosePublicationPeriod (not published in time)"
	StepSupersedeReply      Step = "a new round (RateReply unsatisfied, DecideUnsatisfied re-handle) supersedes the reply"
	StepCorrectCategory     Step = "CorrectReplyCategory"
	StepDelegate            Step = "DelegateAssignment"
	StepDeliver             Step = "RecordDelivery"
	StepSaveDraft           Step = "SaveReplyDraft"
	StepReturnDraft         Step = "ReturnReplyDraft"
	StepReview              Step = "RecordCollectiveReview"
	StepCountersign         Step = "CountersignReply"
	StepSubmitForReview     Step = "SubmitReply (to the office's review)"
	StepAcceptReply         Step = "ReviewReply (accept)"
	StepReturnReply         Step = "ReviewReply (return for re-handling)"
	StepRemind              Step = "RecordReminder"
	StepNoticeOverdue       Step = "NoticeOverdue"
	StepRequestExtension    Step = "RequestExtension"
	StepApproveExtension    Step = "DecideExtension (approve)"
	StepRefuseExtension     Step = "DecideExtension (refuse)"
	StepReportProgress      Step = "ReportFollowUp"
	StepReportSolved        Step = "ReportFollowUp (final reply)"
	StepCloseFollowUp       Step = "CloseFollowUp"
	StepCarryOver           Step = "CarryOverFollowUp (a new year)"
)

// Short names of the states, for the tables below.
const (
	received  = banliv1.ProposalState_PROPOSAL_STATE_RECEIVED
	assigned  = banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED
	consulted = banliv1.ProposalState_PROPOSAL_STATE_CONSULTED
	replied   = banliv1.ProposalState_PROPOSAL_STATE_REPLIED
	rated     = banliv1.ProposalState_PROPOSAL_STATE_RATED
	notFiled  = banliv1.ProposalState_PROPOSAL_STATE_NOT_FILED
	withdrawn = banliv1.ProposalState_PROPOSAL_STATE_WITHDRAWN
	merged    = banliv1.ProposalState_PROPOSAL_STATE_MERGED

	aAssigned       = banliv1.AssignmentState_ASSIGNMENT_STATE_ASSIGNED
	aRequested      = banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNMENT_REQUESTED
	aSigned         = banliv1.AssignmentState_ASSIGNMENT_STATE_SIGNED
	aConsulted      = banliv1.AssignmentState_ASSIGNMENT_STATE_CONSULTED
	aOpinionSent    = banliv1.AssignmentState_ASSIGNMENT_STATE_OPINION_SUBMITTED
	aReplied        = banliv1.AssignmentState_ASSIGNMENT_STATE_REPLIED
	aRated          = banliv1.AssignmentState_ASSIGNMENT_STATE_RATED
	aRehandling     = banliv1.AssignmentState_ASSIGNMENT_STATE_REHANDLING
	aReassigned     = banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED
	aUnderReview    = banliv1.AssignmentState_ASSIGNMENT_STATE_UNDER_REVIEW
	aUnsatisfied    = banliv1.AssignmentState_ASSIGNMENT_STATE_UNSATISFIED
	aRemoved        = banliv1.AssignmentState_ASSIGNMENT_STATE_REMOVED
	lead            = banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD
	split           = banliv1.AssignmentRole_ASSIGNMENT_ROLE_SPLIT
	coHandling      = banliv1.AssignmentRole_ASSIGNMENT_ROLE_CO_HANDLING
	pending         = banliv1.DisclosureState_DISCLOSURE_STATE_PENDING
	published       = banliv1.DisclosureState_DISCLOSURE_STATE_PUBLISHED
	withheld        = banliv1.DisclosureState_DISCLOSURE_STATE_WITHHELD
	pubAwaiting     = banliv1.DisclosureState_DISCLOSURE_STATE_AWAITING_APPROVAL
	pubOverdue      = banliv1.DisclosureState_DISCLOSURE_STATE_OVERDUE
	pubWithdrawn    = banliv1.DisclosureState_DISCLOSURE_STATE_WITHDRAWN
	pubSuperseded   = banliv1.DisclosureState_DISCLOSURE_STATE_SUPERSEDED
	stateUnderived  = banliv1.ProposalState_PROPOSAL_STATE_UNSPECIFIED
	assignmentStays = banliv1.AssignmentState_ASSIGNMENT_STATE_UNSPECIFIED
	// assignmentGoesBack is the destination "back to where the part was
	// before its reply was signed off" (beforeReview).
	assignmentGoesBack banliv1.AssignmentState = -1
)

// proposalTransition is a case-level step. A destination of stateUnderived
// means the state follows from the assignments (deriveProposalState).
type proposalTransition struct {
	step   Step
	from   []banliv1.ProposalState
	to     banliv1.ProposalState
	guards []guard
}

// proposalTransitions: the case-level steps.
var proposalTransitions = []proposalTransition{
	// The office names units; the case follows its assignments.
	{step: StepAssign, from: []banliv1.ProposalState{received, assigned, consulted}, to: stateUnderived,
		guards: []guard{newUnitsOnly, oneShape}},
	// 不立案: only before the case is assigned.
	{step: StepRefuseFiling, from: []banliv1.ProposalState{received}, to: notFiled},
	// A proposer may withdraw until a reply has been sent.
	{step: StepWithdraw, from: []banliv1.ProposalState{received, assigned, consulted}, to: withdrawn},
	// 并案: the case that stays takes in the others' proposers.
	{step: StepMergeInto, from: []banliv1.ProposalState{received, assigned, consulted}, to: stateUnderived},
	// A merged case must not have been assigned: nobody is handling it yet.
	{step: StepMergeAway, from: []banliv1.ProposalState{received}, to: merged, guards: []guard{sameSession}},
	// Key cases are named at any time before the case ends.
	{step: StepMarkKey, from: openStates, to: stateUnderived},
	// 督办: the leaders' activities about a key case, before the case ends.
	{step: StepSupervise, from: openStates, to: stateUnderived, guards: []guard{keyCaseOnly, byALeaderOfTheCase}},
	// 催办: the office reminds at any time before the case ends.
	{step: StepRemind, from: openStates, to: stateUnderived},
	// 超期提醒: the server announces a part's passed deadline, once per
	// deadline, while the case is open.
	{step: StepNoticeOverdue, from: openStates, to: stateUnderived},
	// A file (a sealed letter, a scan, a form) joins the case at any time
	// before the case ends; records attach it afterwards.
	{step: StepUploadFile, from: openStates, to: stateUnderived},
	// The office corrects what was received, at any time but once the
	// case is merged away (its proposers went with it); once assigned,
	// with a reason.
	{step: StepUpdateProposal, from: []banliv1.ProposalState{received, assigned, consulted, replied, rated, notFiled, withdrawn},
		to: stateUnderived, guards: []guard{reasonOnceAssigned}},
}

// openStates are the case states before a case ends (not filed,
// withdrawn or merged).
var openStates = []banliv1.ProposalState{received, assigned, consulted, replied, rated}

// handlingStates are the case states in which units work on their parts.
// Every assignment step needs the case in one of them.
var handlingStates = []banliv1.ProposalState{assigned, consulted, replied, rated}

var (
	allRoles      = []banliv1.AssignmentRole{lead, split, coHandling}
	replyingRoles = []banliv1.AssignmentRole{lead, split}
)

// assignmentTransition is a step on one unit's part: the roles that may
// take it, for each state it is allowed from the state it leads to
// (assignmentStays: no change), and the guards it must pass besides (see
// guards.go).
type assignmentTransition struct {
	step   Step
	roles  []banliv1.AssignmentRole
	edges  map[banliv1.AssignmentState]banliv1.AssignmentState
	guards []guard
}

// assignmentTransitions: the steps of a unit's part.
var assignmentTransitions = []assignmentTransition{
	// 签收: the unit takes the part on.
	{step: StepSign, roles: allRoles, edges: edges{aAssigned: aSigned}},
	// 转办: once signed for, until rated, the unit hands the part to
	// another department or person; the part's state does not change.
	{step: StepDelegate, roles: allRoles, edges: edges{
		aSigned: assignmentStays, aConsulted: assignmentStays, aOpinionSent: assignmentStays,
		aReplied: assignmentStays, aRehandling: assignmentStays,
	}},
	// 申请调整: only before signing, and within the window.
	{step: StepRequestReassignment, roles: allRoles, edges: edges{aAssigned: aRequested}, guards: []guard{reassignmentWindowOpen}},
	// The office approves: this part ends and a new one starts at the new unit.
	{step: StepApproveReassignment, roles: allRoles, edges: edges{aRequested: aReassigned}, guards: []guard{newUnitFree}},
	// The office refuses: the unit keeps the part and must sign.
	{step: StepRefuseReassignment, roles: allRoles, edges: edges{aRequested: aAssigned}},
	// 沟通: the first consultation moves a signed part on; later ones (办中、
	// 办后) are recorded without changing the state.
	{step: StepConsult, roles: allRoles, edges: edges{
		aSigned: aConsulted, aConsulted: assignmentStays, aOpinionSent: assignmentStays,
		aReplied: assignmentStays, aRated: assignmentStays, aRehandling: assignmentStays,
		aUnderReview: assignmentStays, aUnsatisfied: assignmentStays,
	}, guards: []guard{consultedAfterAssignment}},
	// 会办意见: co-handling units only; once.
	{step: StepSubmitOpinion, roles: []banliv1.AssignmentRole{coHandling}, edges: edges{aSigned: aOpinionSent, aConsulted: aOpinionSent}},
	// 撤回交办: the office removes a part assigned by mistake, before the
	// unit has answered; once it signed for it, with a reason.
	{step: StepRemovePart, roles: allRoles, edges: edges{aAssigned: aRemoved, aRequested: aRemoved, aSigned: aRemoved, aConsulted: aRemoved},
		guards: []guard{reasonOnceSigned, noCoHandlingLeftAlone}},
	// The office changes a part's role, lead ↔ co-handling, before it has
	// answered; its deadline follows the new role.
	{step: StepChangeRole, roles: []banliv1.AssignmentRole{lead, coHandling}, edges: edges{aAssigned: assignmentStays, aSigned: assignmentStays, aConsulted: assignmentStays},
		guards: []guard{roleChanges, keepsOneLead}},
	// 机构改革: a unit merged into another hands over its open parts,
	// whatever their state.
	{step: StepMovePart, roles: allRoles, edges: edges{
		aAssigned: assignmentStays, aRequested: assignmentStays, aSigned: assignmentStays, aConsulted: assignmentStays,
		aOpinionSent: assignmentStays, aReplied: assignmentStays, aRated: assignmentStays, aRehandling: assignmentStays,
		aUnderReview: assignmentStays, aUnsatisfied: assignmentStays,
	}},
	// 草拟回复: staff save drafts of the reply, the head returns the latest
	// with a comment; the part's state does not change.
	{step: StepSaveDraft, roles: replyingRoles, edges: edges{aSigned: assignmentStays, aConsulted: assignmentStays, aRehandling: assignmentStays}},
	{step: StepReturnDraft, roles: replyingRoles, edges: edges{aSigned: assignmentStays, aConsulted: assignmentStays, aRehandling: assignmentStays},
		guards: []guard{latestOpenDraft}},
	// 会签: a co-handling unit agrees to the lead's draft or returns it.
	{step: StepCountersign, roles: []banliv1.AssignmentRole{coHandling}, edges: edges{aSigned: assignmentStays, aConsulted: assignmentStays, aOpinionSent: assignmentStays},
		guards: []guard{countersignsTheLatestDraft}},
	// 集体评议: the unit's team reviews the round's reply before sign-off.
	{step: StepReview, roles: replyingRoles, edges: edges{aSigned: assignmentStays, aConsulted: assignmentStays, aRehandling: assignmentStays},
		guards: []guard{reviewedAfterAssignment}},
	// 答复: lead and split units; from SIGNED only where the policy does not
	// ask for a consultation first.
	{step: StepSubmitReply, roles: replyingRoles, edges: edges{aSigned: aReplied, aConsulted: aReplied, aRehandling: aReplied},
		guards: []guard{latestOpenDraft, categoryInPolicy, consultedFirst, opinionsIn, countersignedWhereAsked, keyCaseReviewed,
			principalSignsOffKeyCase, citesOpinionsOfTheCase, datedAfterItsSteps}},
	// 送达: the reply reaches each proposer; copies go to the office and the
	// co-handling units. The part's state does not change.
	{step: StepDeliver, roles: replyingRoles, edges: edges{aReplied: assignmentStays, aRated: assignmentStays},
		guards: []guard{currentRoundsReply, deliveredToProposers, deliveredAfterTheReply, copiedWithinTheCase}},
	// The office corrects a reply's category; the part stays where it is.
	{step: StepCorrectCategory, roles: replyingRoles, edges: edges{aReplied: assignmentStays, aRated: assignmentStays, aRehandling: assignmentStays},
		guards: []guard{categoryInPolicy, categoryChanges}},
	// Where the session asks, the signed-off reply waits for the office,
	// which sends it or returns it for re-handling (退回重办).
	{step: StepSubmitForReview, roles: replyingRoles, edges: edges{aSigned: aUnderReview, aConsulted: aUnderReview, aRehandling: aUnderReview},
		guards: []guard{latestOpenDraft, categoryInPolicy, consultedFirst, opinionsIn, countersignedWhereAsked, keyCaseReviewed,
			principalSignsOffKeyCase, citesOpinionsOfTheCase, datedAfterItsSteps}},
	{step: StepAcceptReply, roles: replyingRoles, edges: edges{aUnderReview: aReplied}},
	{step: StepReturnReply, roles: replyingRoles, edges: edges{aUnderReview: assignmentGoesBack}},
	// 评价: the rating that completes the ratings a reply waits for (every
	// proposer's, or the first's), none unsatisfied, settles the part; in
	// sessions of RATERS_ANY_PROPOSER the first rating does, and later ones
	// keep it settled.
	{step: StepRateSatisfied, roles: replyingRoles, edges: edges{aReplied: aRated, aRated: aRated},
		guards: []guard{currentRoundsReply, ratingPeriodOpen, ratedByARater, ratedOnTheForm, ratedOnce}},
	// A rating that leaves more due, or comes in while the office decides
	// an unsatisfied one, changes nothing but the count.
	{step: StepRatePartly, roles: replyingRoles, edges: edges{aReplied: assignmentStays, aUnsatisfied: assignmentStays},
		guards: []guard{currentRoundsReply, ratingPeriodOpen, ratedByARater, ratedOnTheForm, ratedOnce}},
	// 不满意: the part goes back for a new round (重新办理), or, where the
	// office vets unsatisfied ratings, waits for its decision.
	{step: StepRateUnsatisfied, roles: replyingRoles, edges: edges{aReplied: aRehandling, aRated: aRehandling},
		guards: []guard{currentRoundsReply, ratingPeriodOpen, ratedByARater, ratedOnTheForm, ratedOnce}},
	{step: StepRateToOffice, roles: replyingRoles, edges: edges{aReplied: aUnsatisfied, aRated: aUnsatisfied},
		guards: []guard{currentRoundsReply, ratingPeriodOpen, ratedByARater, ratedOnTheForm, ratedOnce}},
	// The server's own step: the rating period ends with ratings missing,
	// and the part is rated by those returned (unreturned_ratings).
	{step: StepCloseRatingPeriod, roles: replyingRoles, edges: edges{aReplied: aRated}, guards: []guard{ratingPeriodOver}},
	{step: StepRehandle, roles: replyingRoles, edges: edges{aUnsatisfied: aRehandling}, guards: []guard{currentRoundsReply}},
	{step: StepCloseUnsatisfied, roles: replyingRoles, edges: edges{aUnsatisfied: aRated}, guards: []guard{currentRoundsReply}},
	// 延期: a unit that has signed asks for more time for its first reply;
	// the office decides. The part's state does not change.
	{step: StepRequestExtension, roles: replyingRoles, edges: edges{aSigned: assignmentStays, aConsulted: assignmentStays},
		guards: []guard{noExtensionPending, beforeReplyDue}},
	{step: StepApproveExtension, roles: replyingRoles, edges: edges{aSigned: assignmentStays, aConsulted: assignmentStays}, guards: []guard{extensionPending}},
	{step: StepRefuseExtension, roles: replyingRoles, edges: edges{aSigned: assignmentStays, aConsulted: assignmentStays}, guards: []guard{extensionPending}},
}

// isCurrent reports whether a part is one the case still counts: a part
// whose unit was changed (REASSIGNED) is history, and its successor is
// the current one. Every list, ledger, statistic, access check and rule
// that speaks of "the case's units" means its current parts.
func isCurrent(a *banliv1.Assignment) bool {
	return a.GetState() != aReassigned && a.GetState() != aRemoved
}

// beforeReview is the state a part under the office's review was in when
// its reply was signed off: a new round is re-handled, a first one was
// consulted or at least signed for.
func beforeReview(a *banliv1.Assignment) banliv1.AssignmentState {
	switch {
	case a.GetRound() > 1:
		return aRehandling
	case len(a.GetConsultations()) > 0:
		return aConsulted
	}
	return aSigned
}

// unitsOf are the units a part is found under: the unit it is assigned to,
// and the department it is delegated to, if any. Lists, ledgers and
// statistics by unit count the part for each.
func unitsOf(a *banliv1.Assignment) []string {
	if d := a.GetDepartment(); d != "" && d != a.GetUnit() {
		return []string{a.GetUnit(), d}
	}
	return []string{a.GetUnit()}
}

// partOf reports whether a is unit's part: assigned to it, or delegated
// to it as a department.
func partOf(a *banliv1.Assignment, unit string) bool { return slices.Contains(unitsOf(a), unit) }

// currentDeadline is the deadline a unit works to in its part's state
// (nil when nothing is due from it): signing while ASSIGNED, the opinion or
// reply while it handles the part, the new reply while REHANDLING. A case
// that has ended has none.
func currentDeadline(caseState banliv1.ProposalState, a *banliv1.Assignment) *banliv1.Deadline {
	if !slices.Contains(handlingStates, caseState) {
		return nil
	}
	switch a.GetState() {
	case aAssigned:
		return a.GetSignDeadline()
	case aSigned, aConsulted, aRehandling:
		return a.GetResponseDeadline()
	}
	return nil
}

type edges = map[banliv1.AssignmentState]banliv1.AssignmentState

// sideMachine is a small state machine beside the case's: for each step,
// the state each state it is allowed from leads to. A reply's publication
// and a carried-over part's follow-up are two.
type sideMachine[S ~int32] struct {
	// steps lists the machine's steps, in the order a refusal names them.
	steps []Step
	edges map[Step]map[S]S
	// describe names a state in a refusal.
	describe func(S) string
}

// check says whether step is allowed from state, and returns the state
// it leads to; a refusal names resource, the state and the steps allowed.
func (m sideMachine[S]) check(step Step, resource string, state S) (S, error) {
	if to, ok := m.edges[step][state]; ok {
		return to, nil
	}
	var allowed []Step
	for _, s := range m.steps {
		if _, ok := m.edges[s][state]; ok {
			allowed = append(allowed, s)
		}
	}
	return 0, &TransitionError{Step: step, Resource: resource, State: m.describe(state), Allowed: allowed}
}

// disclosureMachine: the publication of one reply (公开).
var disclosureMachine = sideMachine[banliv1.DisclosureState]{
	steps: []Step{StepPublish, StepSubmitPublication, StepApprovePublication, StepReturnPublication,
		StepCorrectPublication, StepWithdrawPublication, StepWithhold, StepClosePublication, StepSupersedeReply},
	edges: map[Step]map[banliv1.DisclosureState]banliv1.DisclosureState{
		// Published when decided, late (overdue), or again once withdrawn.
		StepPublish: {pending: published, pubOverdue: published, pubWithdrawn: published},
		// Where the office approves publications, a unit's publication
		// waits for it (office_reviews_publication).
		StepSubmitPublication:  {pending: pubAwaiting, pubOverdue: pubAwaiting, pubWithdrawn: pubAwaiting},
		StepApprovePublication: {pubAwaiting: published},
		StepReturnPublication:  {pubAwaiting: pending},
		StepCorrectPublication: {published: published},
		// A withdrawal takes the text down; it may go up again.
		StepWithdrawPublication: {published: pubWithdrawn},
		// 依法不予公开: decided instead of publishing, with a reason.
		StepWithhold: {pending: withheld, pubOverdue: withheld, pubAwaiting: withheld},
		// The server's own step: the period ended with nothing decided.
		StepClosePublication: {pending: pubOverdue},
		// A new round's reply will be the one published.
		StepSupersedeReply: {pending: pubSuperseded, pubOverdue: pubSuperseded, pubAwaiting: pubSuperseded},
	},
	describe: func(s banliv1.DisclosureState) string {
		return "disclosure " + trimEnum(s.String(), "DISCLOSURE_STATE_")
	},
}

// followUpMachine: a carried-over part on the follow-up register (跨年度).
var followUpMachine = sideMachine[banliv1.FollowUpState]{
	steps: []Step{StepReportProgress, StepReportSolved, StepCloseFollowUp, StepCarryOver},
	edges: map[Step]map[banliv1.FollowUpState]banliv1.FollowUpState{
		// Progress reports keep it open; the final reply solves it.
		StepReportProgress: {followOpen: followOpen},
		StepReportSolved:   {followOpen: followSolved},
		// The office closes it, solved or not.
		StepCloseFollowUp: {followOpen: followClosed, followSolved: followClosed},
		// The server's own step: a part not closed when a year begins is
		// carried into it (跨年度) and reports its progress again.
		StepCarryOver: {followOpen: followOpen, followSolved: followSolved},
	},
	describe: func(s banliv1.FollowUpState) string {
		if s == banliv1.FollowUpState_FOLLOW_UP_STATE_UNSPECIFIED {
			return "not on the follow-up register"
		}
		return "follow-up " + trimEnum(s.String(), "FOLLOW_UP_STATE_")
	},
}

const (
	followOpen   = banliv1.FollowUpState_FOLLOW_UP_STATE_OPEN
	followSolved = banliv1.FollowUpState_FOLLOW_UP_STATE_SOLVED
	followClosed = banliv1.FollowUpState_FOLLOW_UP_STATE_CLOSED

	draftOpen       = banliv1.DraftState_DRAFT_STATE_OPEN
	draftReturned   = banliv1.DraftState_DRAFT_STATE_RETURNED
	draftSignedOff  = banliv1.DraftState_DRAFT_STATE_SIGNED_OFF
	draftSuperseded = banliv1.DraftState_DRAFT_STATE_SUPERSEDED
)

// checkCaseStep says whether step is allowed on case in.p: its state, then
// the step's guards.
func checkCaseStep(step Step, in guardInput) error {
	if err := checkProposalStep(step, in.p.GetName(), in.p.GetState()); err != nil {
		return err
	}
	return checkGuards(step, in)
}

// checkProposalStep says whether step is allowed on a case in state.
func checkProposalStep(step Step, resource string, state banliv1.ProposalState) error {
	for _, t := range proposalTransitions {
		if t.step == step {
			if slices.Contains(t.from, state) {
				return nil
			}
			return &TransitionError{Step: step, Resource: resource, State: stateName(state), Allowed: proposalStepsFrom(state)}
		}
	}
	panic(fmt.Sprintf("lifecycle: %s is not a case-level step", step))
}

// fixedTarget is the state a case-level step leads to, if the step sets
// one itself (the terminal steps); otherwise the state follows from the
// assignments.
func fixedTarget(step Step) (banliv1.ProposalState, bool) {
	for _, t := range proposalTransitions {
		if t.step == step && t.to != stateUnderived {
			return t.to, true
		}
	}
	return 0, false
}

// checkAssignmentStep says whether step is allowed on assignment a of a
// case in caseState, and returns the assignment's next state.
func checkAssignmentStep(step Step, caseState banliv1.ProposalState, a *banliv1.Assignment) (banliv1.AssignmentState, error) {
	if !slices.Contains(handlingStates, caseState) {
		caseName, _, _ := strings.Cut(a.GetName(), "/assignments/")
		return 0, &TransitionError{Step: step, Resource: caseName, State: stateName(caseState), Allowed: proposalStepsFrom(caseState)}
	}
	for _, t := range assignmentTransitions {
		if t.step != step {
			continue
		}
		to, ok := t.edges[a.GetState()]
		if !ok || !slices.Contains(t.roles, a.GetRole()) {
			return 0, &TransitionError{
				Step:     step,
				Resource: a.GetName(),
				State:    assignmentStateName(a),
				Allowed:  assignmentStepsFrom(a.GetState(), a.GetRole()),
			}
		}
		switch to {
		case assignmentStays:
			to = a.GetState()
		case assignmentGoesBack:
			to = beforeReview(a)
		}
		return to, nil
	}
	panic(fmt.Sprintf("lifecycle: %s is not an assignment step", step))
}

func proposalStepsFrom(state banliv1.ProposalState) []Step {
	var steps []Step
	for _, t := range proposalTransitions {
		if t.step != StepMergeAway && slices.Contains(t.from, state) {
			steps = append(steps, t.step)
		}
	}
	if slices.Contains(handlingStates, state) {
		steps = append(steps, "steps on its assignments")
	}
	return steps
}

func assignmentStepsFrom(state banliv1.AssignmentState, role banliv1.AssignmentRole) []Step {
	var steps []Step
	for _, t := range assignmentTransitions {
		if _, ok := t.edges[state]; ok && slices.Contains(t.roles, role) {
			steps = append(steps, t.step)
		}
	}
	return steps
}

// deriveProposalState is the case-level state that a case's assignments
// add up to (DOMAIN.md, "The lifecycle"). Terminal states stay.
func deriveProposalState(p *banliv1.Proposal) banliv1.ProposalState {
	switch p.GetState() {
	case notFiled, withdrawn, merged:
		return p.GetState()
	}
	var parts, consultedParts, repliedParts, ratedParts int
	for _, a := range p.GetAssignments() {
		if !isCurrent(a) || a.GetRole() == coHandling {
			continue
		}
		parts++
		switch a.GetState() {
		case aConsulted, aRehandling, aUnderReview:
			consultedParts++
		case aReplied, aUnsatisfied:
			consultedParts++
			repliedParts++
		case aRated:
			consultedParts++
			repliedParts++
			ratedParts++
		}
	}
	switch {
	case !slices.ContainsFunc(p.GetAssignments(), func(a *banliv1.Assignment) bool { return a.GetState() != aRemoved }):
		return received // never assigned, or every part removed
	case parts == 0:
		return assigned
	case ratedParts == parts:
		return rated
	case repliedParts == parts:
		return replied
	case consultedParts == parts:
		return consulted
	default:
		return assigned
	}
}

func stateName(s banliv1.ProposalState) string {
	return trimEnum(s.String(), "PROPOSAL_STATE_")
}

func roleName(r banliv1.AssignmentRole) string {
	return strings.ReplaceAll(strings.ToLower(trimEnum(r.String(), "ASSIGNMENT_ROLE_")), "_", "-")
}

func assignmentStateName(a *banliv1.Assignment) string {
	return fmt.Sprintf("%s (%s)", trimEnum(a.GetState().String(), "ASSIGNMENT_STATE_"), roleName(a.GetRole()))
}

func trimEnum(s, prefix string) string { return strings.TrimPrefix(s, prefix) }
