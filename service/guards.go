package service

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Guards are the rules of a case or a policy that a step must pass besides
// its states: consult before replying, the change-of-unit window, one
// extension pending at a time, the shape of a case, merging within one
// session. Each is declared once, named as people say it, and listed with
// its step in the lifecycle table (proposalTransitions,
// assignmentTransitions), which checks them after the states; a handler
// checks none of them itself. A guard that fails refuses the step with
// FAILED_PRECONDITION (or, for what the request names, INVALID_ARGUMENT).

// guard is one rule.
type guard struct {
	// rule is the rule as the printed table says it.
	rule  string
	check func(in guardInput) error
}

// guardInput is what a guard reads: the case as loaded, the part the step
// is on, the session's policy, the time of the decision, and the request
// (a guard on what a request names reads it as its step's request type).
// A step that assigns gives its plan: the parts it would add; merging a
// case away gives the case it joins.
type guardInput struct {
	p      *banliv1.Proposal
	a      *banliv1.Assignment
	caller *Caller // who takes the step (nil: no one signed in)
	policy *banliv1.SessionPolicy
	now    time.Time
	req    proto.Message
	plan   []*banliv1.UnitAssignment
	into   *banliv1.Proposal
}

var (
	// A unit holds one current part of a case.
	newUnitsOnly = guard{
		rule: "no unit named has a current part of the case already",
		check: func(in guardInput) error {
			held := map[string]string{}
			for _, a := range in.p.GetAssignments() {
				if isCurrent(a) {
					held[a.GetUnit()] = a.GetName()
				}
			}
			// A unit named twice in one request is the request's own
			// fault, refused by its validation (unitAssignments).
			for i, ua := range in.plan {
				if part, ok := held[ua.GetUnit()]; ok {
					return fmt.Errorf("assignments[%d].unit: %s already has %s: %w", i, ua.GetUnit(), part, ErrPrecondition)
				}
			}
			return nil
		},
	}
	// A change of unit goes to a unit without a part of the case.
	newUnitFree = guard{
		rule: "the new unit has no current part of the case",
		check: func(in guardInput) error {
			unit := in.req.(*banliv1.DecideReassignmentRequest).GetNewUnit()
			for _, a := range in.p.GetAssignments() {
				if a.GetUnit() == unit && isCurrent(a) {
					return fmt.Errorf("new_unit: %s already has %s: %w", unit, a.GetName(), ErrPrecondition)
				}
			}
			return nil
		},
	}
	// DOMAIN.md's shapes of a case: one lead unit (with any co-handling
	// units) or one or more split units; never both, and no co-handling
	// unit without a lead unit to send its opinion to.
	oneShape = guard{
		rule: "the case keeps one shape: a lead unit (with any co-handling units) or split units, never both",
		check: func(in guardInput) error {
			count := map[banliv1.AssignmentRole]int{}
			for _, a := range in.p.GetAssignments() {
				if isCurrent(a) {
					count[a.GetRole()]++
				}
			}
			for _, ua := range in.plan {
				count[ua.GetRole()]++
			}
			switch {
			case count[lead] > 1:
				return fmt.Errorf("a case has one lead unit: %s would have %d: %w", in.p.GetName(), count[lead], ErrPrecondition)
			case count[lead] > 0 && count[split] > 0:
				return fmt.Errorf("a case has a lead unit or split units, not both: %w", ErrPrecondition)
			case count[coHandling] > 0 && count[lead] == 0:
				return fmt.Errorf("co-handling units send their opinions to a lead unit, and %s has none: %w", in.p.GetName(), ErrPrecondition)
			}
			return nil
		},
	}
	// 督办 is of key cases.
	keyCaseOnly = guard{
		rule: "the case is a key case",
		check: func(in guardInput) error {
			if !in.p.GetKey() {
				return fmt.Errorf("%s is not a key case: mark it key first (MarkKey): %w", in.p.GetName(), ErrPrecondition)
			}
			return nil
		},
	}
	// Removing a part the unit took on says why.
	reasonOnceSigned = guard{
		rule: "once the unit signed for the part, the removal gives a reason",
		check: func(in guardInput) error {
			if in.a.GetSignTime() != nil && in.req.(*banliv1.RemoveAssignmentRequest).GetReason() == "" {
				return invalidField("reason", "required: %s signed for %s", in.a.GetUnit(), in.a.GetName())
			}
			return nil
		},
	}
	// A lead goes only if no co-handling unit is left without one.
	noCoHandlingLeftAlone = guard{
		rule: "no co-handling part is left without a lead",
		check: func(in guardInput) error {
			if in.a.GetRole() != lead {
				return nil
			}
			for _, other := range in.p.GetAssignments() {
				if other != in.a && isCurrent(other) && other.GetRole() == coHandling {
					return fmt.Errorf("%s co-handles %s with this lead: remove it first, or make it the lead (ChangeAssignmentRole): %w",
						other.GetUnit(), in.p.GetName(), ErrPrecondition)
				}
			}
			return nil
		},
	}
	// A role change changes the role.
	roleChanges = guard{
		rule: "the new role is lead or co-handling, and not the part's present one",
		check: func(in guardInput) error {
			to := in.req.(*banliv1.ChangeAssignmentRoleRequest).GetRole()
			switch {
			case to != lead && to != coHandling:
				return invalidField("role", "a part changes between lead and co-handling")
			case to == in.a.GetRole():
				return invalidField("role", "%s is %s already", in.a.GetName(), trimEnum(to.String(), "ASSIGNMENT_ROLE_"))
			}
			return nil
		},
	}
	// After the change the case still has one lead for its co-handling
	// units: a part made lead takes the place of the present lead, which
	// becomes co-handling (so it must not have answered either).
	keepsOneLead = guard{
		rule: "the case keeps one lead unit: a new lead takes the place of the present one, which has not answered yet",
		check: func(in guardInput) error {
			to := in.req.(*banliv1.ChangeAssignmentRoleRequest).GetRole()
			present := presentLead(in.p, in.a)
			switch {
			case to == lead && present != nil && !slices.Contains([]banliv1.AssignmentState{aAssigned, aSigned, aConsulted}, present.GetState()):
				return fmt.Errorf("%s, the present lead, is %s: it can no longer become co-handling: %w",
					present.GetName(), trimEnum(present.GetState().String(), "ASSIGNMENT_STATE_"), ErrPrecondition)
			case to == coHandling && present == nil:
				return fmt.Errorf("%s would have no lead for its co-handling units: make another part the lead instead: %w", in.p.GetName(), ErrPrecondition)
			}
			return nil
		},
	}
	// A correction of a case the units work on says why.
	reasonOnceAssigned = guard{
		rule: "once the case is assigned, the correction gives a reason",
		check: func(in guardInput) error {
			if len(in.p.GetAssignments()) > 0 && in.req.(*banliv1.UpdateProposalRequest).GetReason() == "" {
				return invalidField("reason", "required: %s is assigned, and a correction of a case the units work on says why", in.p.GetName())
			}
			return nil
		},
	}
	// An activity names a leader of the case, if it names one as a record.
	byALeaderOfTheCase = guard{
		rule: "the leader it names (by_leader) is one of the key case's leaders",
		check: func(in guardInput) error {
			by := in.req.(*banliv1.RecordSupervisionRequest).GetActivity().GetByLeader()
			if by != "" && !isKeyLeader(in.p, by) {
				return invalidField("activity.by_leader", "%s is not a leader of %s (MarkKey names them)", by, in.p.GetName())
			}
			return nil
		},
	}
	// 并案 is within one session.
	sameSession = guard{
		rule: "the case is of the session of the case it joins",
		check: func(in guardInput) error {
			if in.p.GetSession() != in.into.GetSession() {
				return fmt.Errorf("%s belongs to %s, not to %s: only cases of one session are merged: %w", in.p.GetName(), in.p.GetSession(), in.into.GetSession(), ErrPrecondition)
			}
			return nil
		},
	}
	// Times a unit states are never before the step they follow; whether
	// anything was on time is judged on times the server stamps.
	consultedAfterAssignment = guard{
		rule: "a consultation's stated time is not before the part was assigned",
		check: func(in guardInput) error {
			req, _ := in.req.(*banliv1.RecordConsultationRequest)
			stated := req.GetConsultation().GetTime()
			if stated != nil && stated.AsTime().Before(in.a.GetAssignTime().AsTime()) {
				return invalidField("consultation.time", "%s is before %s was assigned (%s)",
					chinaDate(stated.AsTime()), in.a.GetName(), chinaDate(in.a.GetAssignTime().AsTime()))
			}
			return nil
		},
	}
	datedAfterItsSteps = guard{
		rule: "the letter's stated date is not before the part was assigned, nor before its latest consultation",
		check: func(in guardInput) error {
			req, _ := in.req.(*banliv1.SubmitReplyRequest)
			reply := req.GetReply()
			floor, after := in.a.GetAssignTime().AsTime(), "was assigned"
			for _, c := range in.a.GetConsultations() {
				if t := c.GetTime().AsTime(); t.After(floor) {
					floor, after = t, "last consulted the proposers"
				}
			}
			if stated := reply.GetReplyTime(); stated != nil && stated.AsTime().Before(floor) {
				return invalidField("reply.reply_time", "%s is before %s %s (%s)", chinaDate(stated.AsTime()), in.a.GetName(), after, chinaDate(floor))
			}
			if d := reply.GetCollectiveReviewDate(); d != "" && d < chinaDate(in.a.GetAssignTime().AsTime()) {
				return invalidField("reply.collective_review_date", "%s is before %s was assigned (%s)", d, in.a.GetName(), chinaDate(in.a.GetAssignTime().AsTime()))
			}
			return nil
		},
	}
	// 送达 and 抄送: each proposer of the case once, each recipient once.
	deliveredToProposers = guard{
		rule: "each proposer named is one of the case's, not delivered to before",
		check: func(in guardInput) error {
			req := in.req.(*banliv1.RecordDeliveryRequest)
			r := replyNamed(in.a, req.GetName())
			done := map[int32]bool{}
			for _, d := range r.GetDeliveries() {
				done[d.GetProposerId()] = true
			}
			for i, id := range req.GetProposerIds() {
				switch {
				case !slices.ContainsFunc(in.p.GetProposers(), func(p *banliv1.Proposer) bool { return p.GetId() == id }):
					return invalidField(fmt.Sprintf("proposer_ids[%d]", i), "%s has no proposer %d", in.p.GetName(), id)
				case done[id]:
					return fmt.Errorf("%s was delivered to proposer %d already: %w", r.GetName(), id, ErrPrecondition)
				}
			}
			if req.GetAllProposers() && len(undelivered(in.p, r)) == 0 {
				return fmt.Errorf("%s was delivered to every proposer already: %w", r.GetName(), ErrPrecondition)
			}
			return nil
		},
	}
	deliveredAfterTheReply = guard{
		rule: "the stated delivery time is not before the reply was received",
		check: func(in guardInput) error {
			req := in.req.(*banliv1.RecordDeliveryRequest)
			r := replyNamed(in.a, req.GetName())
			if t := req.GetTime(); t != nil && r != nil && t.AsTime().Before(r.GetRecordTime().AsTime()) {
				return invalidField("time", "%s is before %s was received (%s)", chinaDate(t.AsTime()), r.GetName(), chinaDate(r.GetRecordTime().AsTime()))
			}
			return nil
		},
	}
	copiedWithinTheCase = guard{
		rule: "a copy goes to the office or a co-handling unit of the case, once",
		check: func(in guardInput) error {
			req := in.req.(*banliv1.RecordDeliveryRequest)
			r := replyNamed(in.a, req.GetName())
			for i, to := range req.GetCopyTo() {
				if to != officeRecipient && !slices.ContainsFunc(in.p.GetAssignments(), func(a *banliv1.Assignment) bool {
					return a.GetRole() == coHandling && isCurrent(a) && a.GetUnit() == to
				}) {
					return invalidField(fmt.Sprintf("copy_to[%d]", i), "%s is neither the office nor a co-handling unit of %s", to, in.p.GetName())
				}
				if slices.ContainsFunc(r.GetCopies(), func(c *banliv1.ReplyCopy) bool { return c.GetRecipient() == to }) {
					return fmt.Errorf("%s was copied to %s already: %w", r.GetName(), to, ErrPrecondition)
				}
			}
			return nil
		},
	}
	// The head acts on the latest draft, while it is open: returning it,
	// or signing it off (a sign-off without a draft needs none).
	latestOpenDraft = guard{
		rule: "the draft named is the latest version, and open",
		check: func(in guardInput) error {
			var n int32
			switch r := in.req.(type) {
			case *banliv1.ReturnReplyDraftRequest:
				n = r.GetVersion()
			case *banliv1.SubmitReplyRequest:
				n = r.GetDraftVersion()
			}
			if n == 0 {
				return nil
			}
			drafts := in.a.GetDrafts()
			switch {
			case int(n) > len(drafts):
				return invalidField("version", "%s has no draft version %d", in.a.GetName(), n)
			case int(n) != len(drafts):
				return fmt.Errorf("draft version %d of %s is not the latest (%d): %w", n, in.a.GetName(), len(drafts), ErrPrecondition)
			case drafts[n-1].GetState() != draftOpen:
				return fmt.Errorf("draft version %d of %s is %s: %w", n, in.a.GetName(), trimEnum(drafts[n-1].GetState().String(), "DRAFT_STATE_"), ErrPrecondition)
			}
			return nil
		},
	}
	// 会签: the co-handling units agree to the lead's draft.
	countersignsTheLatestDraft = guard{
		rule: "the lead's draft named is its latest, open, and not countersigned by this unit yet",
		check: func(in guardInput) error {
			req := in.req.(*banliv1.CountersignReplyRequest)
			lead := leadPart(in.p)
			n := int(req.GetDraftVersion())
			switch {
			case lead == nil || len(lead.GetDrafts()) == 0:
				return fmt.Errorf("%s has no lead unit's draft to countersign: %w", in.p.GetName(), ErrPrecondition)
			case n != len(lead.GetDrafts()):
				return fmt.Errorf("draft version %d is not the latest of %s (%d): %w", n, lead.GetName(), len(lead.GetDrafts()), ErrPrecondition)
			case lead.GetDrafts()[n-1].GetState() != draftOpen:
				return fmt.Errorf("draft version %d of %s is %s: %w", n, lead.GetName(), trimEnum(lead.GetDrafts()[n-1].GetState().String(), "DRAFT_STATE_"), ErrPrecondition)
			}
			for _, cs := range lead.GetDrafts()[n-1].GetCountersigns() {
				if cs.GetUnit() == in.a.GetUnit() {
					return fmt.Errorf("%s has countersigned draft version %d already: %w", in.a.GetUnit(), n, ErrPrecondition)
				}
			}
			return nil
		},
	}
	countersignedWhereAsked = guard{
		rule: "a lead unit's reply is a draft every co-handling unit agreed to, where the session asks (会签)",
		check: func(in guardInput) error {
			if in.a.GetRole() != lead || !in.policy.GetCountersignLeadReply() {
				return nil
			}
			var co []string
			for _, other := range in.p.GetAssignments() {
				if other.GetRole() == coHandling && isCurrent(other) {
					co = append(co, other.GetUnit())
				}
			}
			if len(co) == 0 {
				return nil
			}
			req, _ := in.req.(*banliv1.SubmitReplyRequest)
			n := int(req.GetDraftVersion())
			if n == 0 || n > len(in.a.GetDrafts()) {
				return fmt.Errorf("the session asks the co-handling units to countersign the lead's reply: sign off a draft they agreed to (draft_version): %w", ErrPrecondition)
			}
			agreed := map[string]bool{}
			for _, cs := range in.a.GetDrafts()[n-1].GetCountersigns() {
				agreed[cs.GetUnit()] = cs.GetDecision() == banliv1.CountersignDecision_COUNTERSIGN_DECISION_AGREED
			}
			var missing []string
			for _, unit := range co {
				if !agreed[unit] {
					missing = append(missing, unit)
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("draft version %d waits for the countersign of %s: %w", n, strings.Join(missing, ", "), ErrPrecondition)
			}
			return nil
		},
	}
	// A lead unit's reply cites the co-handling opinions it took in.
	citesOpinionsOfTheCase = guard{
		rule: "the opinions a reply cites are co-handling opinions of the case, sent",
		check: func(in guardInput) error {
			req, _ := in.req.(*banliv1.SubmitReplyRequest)
			for i, name := range req.GetReply().GetCitedOpinions() {
				if !slices.ContainsFunc(in.p.GetAssignments(), func(a *banliv1.Assignment) bool {
					return a.GetName() == name && a.GetRole() == coHandling && a.GetOpinion() != nil
				}) {
					return invalidField(fmt.Sprintf("reply.cited_opinions[%d]", i), "%s is not a co-handling part of %s that sent its opinion", name, in.p.GetName())
				}
			}
			return nil
		},
	}
	// 主要负责人签发: a key case's reply is the principal head's to sign off.
	principalSignsOffKeyCase = guard{
		rule: "a key case's reply is signed off by the unit's principal head, where the session asks",
		check: func(in guardInput) error {
			if !in.p.GetKey() || !in.policy.GetPrincipalSignsOffKeyCases() || (in.caller != nil && in.caller.Principal) {
				return nil
			}
			return fmt.Errorf("%s is a key case: the session asks the unit's principal head (主要负责人) to sign off its reply: %w", in.p.GetName(), ErrPermissionDenied)
		},
	}
	// 集体评议: a key case's reply is reviewed by the unit's team first.
	keyCaseReviewed = guard{
		rule: "a key case's reply follows a collective review of its round, where the session asks",
		check: func(in guardInput) error {
			if in.p.GetKey() && in.policy.GetCollectiveReviewForKeyCases() && roundReview(in.a) == nil {
				return fmt.Errorf("%s is a key case: its reply follows a collective review (集体评议) of round %d, which is not recorded: %w", in.p.GetName(), in.a.GetRound(), ErrPrecondition)
			}
			return nil
		},
	}
	reviewedAfterAssignment = guard{
		rule: "the review is not dated before the part was assigned",
		check: func(in guardInput) error {
			req, _ := in.req.(*banliv1.RecordCollectiveReviewRequest)
			if d, assigned := req.GetReview().GetDate(), chinaDate(in.a.GetAssignTime().AsTime()); d != "" && d < assigned {
				return invalidField("review.date", "%s is before %s was assigned (%s)", d, in.a.GetName(), assigned)
			}
			return nil
		},
	}
	// The category asked for: the new reply's, or the correction's.
	categoryInPolicy = guard{
		rule: "the category is one the session accepts",
		check: func(in guardInput) error {
			field, category := requestedCategory(in.req)
			if !categoryAllowed(in.policy, category) {
				return invalidField(field, "the session of %s accepts categories A to C only", in.p.GetName())
			}
			return nil
		},
	}
	categoryChanges = guard{
		rule: "the reply has another category now",
		check: func(in guardInput) error {
			req := in.req.(*banliv1.CorrectReplyCategoryRequest)
			ref := (&violations{}).replyRef("name", req.GetName())
			for _, r := range in.a.GetReplies() {
				if int(r.GetRound()) == ref.round && r.GetCategory() == req.GetCategory() {
					return fmt.Errorf("%s is in category %s already: %w", r.GetName(), trimEnum(r.GetCategory().String(), "REPLY_CATEGORY_"), ErrPrecondition)
				}
			}
			return nil
		},
	}
	// 先沟通后答复.
	consultedFirst = guard{
		rule: "the part has consulted the proposers, where the session asks (先沟通后答复)",
		check: func(in guardInput) error {
			if !in.policy.GetConsultBeforeReply() {
				return nil
			}
			// A new round needs a consultation of its own. One recorded before
			// consultations kept their round (0) counts for any round.
			round := max(in.a.GetRound(), 1)
			if !slices.ContainsFunc(in.a.GetConsultations(), func(c *banliv1.Consultation) bool { return c.GetRound() == 0 || c.GetRound() == round }) {
				return fmt.Errorf("%s has recorded no consultation in round %d: the session requires consulting the proposers before replying (先沟通后答复): %w", in.a.GetName(), round, ErrPrecondition)
			}
			return nil
		},
	}
	// The lead unit takes in the co-handling opinions.
	opinionsIn = guard{
		rule: "a lead unit's reply waits for every co-handling opinion, where the session asks",
		check: func(in guardInput) error {
			if in.a.GetRole() != lead || !in.policy.GetOpinionsBeforeLeadReply() {
				return nil
			}
			var missing []string
			for _, other := range in.p.GetAssignments() {
				if other.GetRole() == coHandling && isCurrent(other) && other.GetState() != aOpinionSent {
					missing = append(missing, other.GetName()+" ("+other.GetUnit()+")")
				}
			}
			if len(missing) > 0 {
				return fmt.Errorf("the lead unit replies after every co-handling opinion; still missing: %s: %w", strings.Join(missing, ", "), ErrPrecondition)
			}
			return nil
		},
	}
	reassignmentWindowOpen = guard{
		rule: "asked within the change-of-unit window (reassignment_working_days after assignment)",
		check: func(in guardInput) error {
			if due := in.a.GetReassignmentDeadline(); due != nil && in.now.After(due.GetDueTime().AsTime()) {
				return fmt.Errorf("the window to ask for a change of unit closed on %s (%s): %w", due.GetDueDate(), due.GetRule(), ErrPrecondition)
			}
			return nil
		},
	}
	noExtensionPending = guard{
		rule: "no other extension is pending",
		check: func(in guardInput) error {
			if p := pendingExtension(in.a); p != nil {
				return fmt.Errorf("an extension asked for on %s is still pending: %w", chinaDate(p.GetRequestTime().AsTime()), ErrPrecondition)
			}
			return nil
		},
	}
	beforeReplyDue = guard{
		rule: "asked before the reply is due",
		check: func(in guardInput) error {
			if due := in.a.GetResponseDeadline(); in.now.After(due.GetDueTime().AsTime()) {
				return fmt.Errorf("the reply was due on %s: an extension is asked for before the deadline: %w", due.GetDueDate(), ErrPrecondition)
			}
			return nil
		},
	}
	extensionPending = guard{
		rule: "an extension is pending",
		check: func(in guardInput) error {
			if pendingExtension(in.a) == nil {
				return fmt.Errorf("%s has no extension request pending: %w", in.a.GetName(), ErrPrecondition)
			}
			return nil
		},
	}
	// A rating is of the reply the part now waits on, by a proposer of the
	// case, once.
	currentRoundsReply = guard{
		rule: "the reply is the current round's",
		check: func(in guardInput) error {
			ref := (&violations{}).replyRef("name", stringField(in.req, "name"))
			exists := slices.ContainsFunc(in.a.GetReplies(), func(r *banliv1.Reply) bool { return int(r.GetRound()) == ref.round })
			// A reply that does not exist is not found, which the step says.
			if exists && int32(ref.round) != in.a.GetRound() {
				return fmt.Errorf("%s answered round %d; %s is in round %d, whose reply is due: %w",
					replyName(ref.proposal, ref.assignment, ref.round), ref.round, in.a.GetName(), in.a.GetRound(), ErrPrecondition)
			}
			return nil
		},
	}
	ratingPeriodOver = guard{
		rule: "the reply's rating period has ended with ratings missing, and the session closes such periods",
		check: func(in guardInput) error {
			if in.policy.GetUnreturnedRatings() == banliv1.UnreturnedRatings_UNRETURNED_RATINGS_WAIT {
				return fmt.Errorf("the session waits for every rating (UNRETURNED_RATINGS_WAIT): %w", ErrPrecondition)
			}
			if !ratingsOverdue(in.p, in.a, in.now, in.now) {
				return fmt.Errorf("%s: the rating period has not ended, or no rating is missing: %w", in.a.GetName(), ErrPrecondition)
			}
			return nil
		},
	}
	ratingPeriodOpen = guard{
		rule: "the reply's rating period was not closed with ratings missing",
		check: func(in guardInput) error {
			ref := (&violations{}).replyRef("name", stringField(in.req, "name"))
			for _, r := range in.a.GetReplies() {
				if int(r.GetRound()) == ref.round && r.GetRatingPeriodClose() != nil {
					return fmt.Errorf("%s: its rating period closed on %s with the ratings missing counted as not returned: %w",
						r.GetName(), chinaDate(r.GetRatingPeriodClose().GetCloseTime().AsTime()), ErrPrecondition)
				}
			}
			return nil
		},
	}
	ratedByARater = guard{
		rule: "the rater is one of the case's proposers, and the first one where the session says so",
		check: func(in guardInput) error {
			id := in.req.(*banliv1.RateReplyRequest).GetProposerId()
			if !slices.ContainsFunc(in.p.GetProposers(), func(p *banliv1.Proposer) bool { return p.GetId() == id }) {
				return invalidField("proposer_id", "%s has no proposer %d", in.p.GetName(), id)
			}
			switch in.policy.GetRaters() {
			case banliv1.Raters_RATERS_FIRST_PROPOSER, banliv1.Raters_RATERS_FIRST_FOR_ALL:
				if first := firstProposer(in.p); id != first {
					return invalidField("proposer_id", "the session's replies are rated by the first proposer, %d", first)
				}
			}
			return nil
		},
	}
	ratedOnTheForm = guard{
		rule: "the rating gives each dimension of the session's rating form, and no other",
		check: func(in guardInput) error {
			req := in.req.(*banliv1.RateReplyRequest)
			want := formDimensions[in.policy.GetRatingForm()]
			for i, d := range req.GetDimensions() {
				if !slices.Contains(want, d.GetDimension()) {
					return invalidField(fmt.Sprintf("dimensions[%d]", i), "the session's rating form (%s) has no dimension %s",
						trimEnum(in.policy.GetRatingForm().String(), "RATING_FORM_"), trimEnum(d.GetDimension().String(), "RATING_DIMENSION_"))
				}
			}
			var missing []string
			for _, d := range want {
				if !slices.ContainsFunc(req.GetDimensions(), func(x *banliv1.DimensionRating) bool { return x.GetDimension() == d }) {
					missing = append(missing, trimEnum(d.String(), "RATING_DIMENSION_"))
				}
			}
			if len(missing) > 0 {
				return invalidField("dimensions", "the session's rating form asks for %s too", strings.Join(missing, ", "))
			}
			return nil
		},
	}
	ratedOnce = guard{
		rule: "each proposer rates a reply once",
		check: func(in guardInput) error {
			req := in.req.(*banliv1.RateReplyRequest)
			ref := (&violations{}).replyRef("name", req.GetName())
			for _, r := range in.a.GetReplies() {
				if int(r.GetRound()) == ref.round && slices.ContainsFunc(r.GetRatings(), func(x *banliv1.Rating) bool { return x.GetProposerId() == req.GetProposerId() }) {
					return fmt.Errorf("proposer %d has already rated %s: %w", req.GetProposerId(), r.GetName(), ErrPrecondition)
				}
			}
			return nil
		},
	}
)

// checkGuards runs the guards of step, in order; the first that fails
// refuses it.
func checkGuards(step Step, in guardInput) error {
	for _, g := range guardsOf(step) {
		if err := g.check(in); err != nil {
			return err
		}
	}
	return nil
}

// officeRecipient is the office as a copy's recipient.
const officeRecipient = "office"

// replyNamed is a's reply that a reply name points at, or nil (which the
// step reports as not found).
func replyNamed(a *banliv1.Assignment, name string) *banliv1.Reply {
	for _, r := range a.GetReplies() {
		if r.GetName() == name {
			return r
		}
	}
	return nil
}

// undelivered lists the proposers of p that reply r has not reached.
func undelivered(p *banliv1.Proposal, r *banliv1.Reply) []int32 {
	var out []int32
	for _, pr := range p.GetProposers() {
		if !slices.ContainsFunc(r.GetDeliveries(), func(d *banliv1.Delivery) bool { return d.GetProposerId() == pr.GetId() }) {
			out = append(out, pr.GetId())
		}
	}
	return out
}

// requestedCategory is the reply category a request asks for, and the
// field that holds it.
func requestedCategory(req proto.Message) (string, banliv1.ReplyCategory) {
	switch r := req.(type) {
	case *banliv1.SubmitReplyRequest:
		return "reply.category", r.GetReply().GetCategory()
	case *banliv1.CorrectReplyCategoryRequest:
		return "category", r.GetCategory()
	}
	return "", 0
}

// guardsOf is the guards the lifecycle table gives step.
func guardsOf(step Step) []guard {
	for _, t := range proposalTransitions {
		if t.step == step {
			return t.guards
		}
	}
	for _, t := range assignmentTransitions {
		if t.step == step {
			return t.guards
		}
	}
	return nil
}

// presentLead is p's current lead part other than a, or nil.
func presentLead(p *banliv1.Proposal, a *banliv1.Assignment) *banliv1.Assignment {
	for _, other := range p.GetAssignments() {
		if other != a && isCurrent(other) && other.GetRole() == lead {
			return other
		}
	}
	return nil
}
