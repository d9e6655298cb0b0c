package service

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestGuards: every guard of the lifecycle table, passing and refusing,
// without a store.
func TestGuards(t *testing.T) {
	now := time.Date(2021, 3, 10, 9, 0, 0, 0, chinaTime)
	due := func(d time.Time) *banliv1.Deadline {
		return &banliv1.Deadline{DueTime: timestamppb.New(d), DueDate: d.Format(time.DateOnly)}
	}
	policy := resolvePolicy(nil)
	part := func(a *banliv1.Assignment) *banliv1.Assignment {
		if a.Name == "" {
			a.Name = "proposals/1/assignments/1"
		}
		return a
	}
	case1 := &banliv1.Proposal{Name: "proposals/1", Proposers: []*banliv1.Proposer{{Id: 1}, {Id: 2}}}
	rating := func(round, proposer int32) *banliv1.RateReplyRequest {
		return &banliv1.RateReplyRequest{Name: replyName(1, 1, int(round)), ProposerId: proposer}
	}
	replied := part(&banliv1.Assignment{Round: 2, Replies: []*banliv1.Reply{
		{Name: replyName(1, 1, 1), Round: 1},
		{Name: replyName(1, 1, 2), Round: 2, Ratings: []*banliv1.Rating{{ProposerId: 2}}},
	}})
	pending := part(&banliv1.Assignment{ExtensionRequests: []*banliv1.ExtensionRequest{{RequestTime: timestamppb.New(now)}}})
	led := &banliv1.Proposal{Name: "proposals/1", Session: "sessions/1", Assignments: []*banliv1.Assignment{
		{Name: "proposals/1/assignments/1", Unit: "units/1", Role: lead, State: aSigned},
		{Name: "proposals/1/assignments/2", Unit: "units/2", Role: coHandling, State: aReassigned},
	}}
	plan := func(parts ...any) []*banliv1.UnitAssignment {
		var out []*banliv1.UnitAssignment
		for i := 0; i < len(parts); i += 2 {
			out = append(out, &banliv1.UnitAssignment{Unit: parts[i].(string), Role: parts[i+1].(banliv1.AssignmentRole)})
		}
		return out
	}
	assignedPart := part(&banliv1.Assignment{AssignTime: timestamppb.New(now.Add(-48 * time.Hour)),
		Consultations: []*banliv1.Consultation{{Time: timestamppb.New(now.Add(-24 * time.Hour))}}})
	consultedAt := func(t time.Time) *banliv1.RecordConsultationRequest {
		return &banliv1.RecordConsultationRequest{Consultation: &banliv1.Consultation{Time: timestamppb.New(t)}}
	}
	datedReply := func(t time.Time, review string) *banliv1.SubmitReplyRequest {
		return &banliv1.SubmitReplyRequest{Reply: &banliv1.Reply{ReplyTime: timestamppb.New(t), CollectiveReviewDate: review}}
	}
	delivered := part(&banliv1.Assignment{Round: 1, Replies: []*banliv1.Reply{{Name: replyName(1, 1, 1), Round: 1,
		RecordTime: timestamppb.New(now.Add(-time.Hour)),
		Deliveries: []*banliv1.Delivery{{ProposerId: 1}}, Copies: []*banliv1.ReplyCopy{{Recipient: "office"}}}}})
	withCo := &banliv1.Proposal{Name: "proposals/1", Proposers: case1.GetProposers(), Assignments: []*banliv1.Assignment{
		{Unit: "units/1", Role: lead, State: aReplied}, {Unit: "units/2", Role: coHandling, State: aOpinionSent}}}
	delivery := func(d *banliv1.RecordDeliveryRequest) *banliv1.RecordDeliveryRequest {
		d.Name = replyName(1, 1, 1)
		return d
	}
	drafted := part(&banliv1.Assignment{Drafts: []*banliv1.ReplyDraft{{Version: 1, State: draftReturned}, {Version: 2, State: draftOpen}}})
	reviewed := part(&banliv1.Assignment{Round: 1, CollectiveReviews: []*banliv1.CollectiveReview{{Round: 1, Date: "2021-03-09"}}})
	reviewOn := func(date string) *banliv1.RecordCollectiveReviewRequest {
		return &banliv1.RecordCollectiveReviewRequest{Review: &banliv1.CollectiveReview{Date: date}}
	}
	asked := resolvePolicy(&banliv1.SessionPolicy{CountersignLeadReply: proto.Bool(true)})
	leadWithDraft := func(states ...banliv1.CountersignDecision) *banliv1.Assignment {
		d := &banliv1.ReplyDraft{Version: 1, State: draftOpen}
		for i, s := range states {
			d.Countersigns = append(d.Countersigns, &banliv1.Countersign{Unit: fmt.Sprintf("units/%d", i+2), Decision: s})
		}
		return part(&banliv1.Assignment{Role: lead, State: aConsulted, Drafts: []*banliv1.ReplyDraft{d}})
	}
	agreed, returned := banliv1.CountersignDecision_COUNTERSIGN_DECISION_AGREED, banliv1.CountersignDecision_COUNTERSIGN_DECISION_RETURNED
	coCase := func(lead *banliv1.Assignment) *banliv1.Proposal {
		return &banliv1.Proposal{Name: "proposals/1", Assignments: []*banliv1.Assignment{lead,
			{Unit: "units/2", Role: coHandling, State: aOpinionSent}, {Unit: "units/3", Role: coHandling, State: aOpinionSent}}}
	}
	principalAsked := resolvePolicy(&banliv1.SessionPolicy{PrincipalSignsOffKeyCases: proto.Bool(true)})
	hongkou := resolvePolicy(&banliv1.SessionPolicy{RatingForm: banliv1.RatingForm_RATING_FORM_HONGKOU})
	withDims := func(r *banliv1.RateReplyRequest, ds ...banliv1.RatingDimension) *banliv1.RateReplyRequest {
		for _, d := range ds {
			r.Dimensions = append(r.Dimensions, &banliv1.DimensionRating{Dimension: d, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED})
		}
		return r
	}
	firstRates := resolvePolicy(&banliv1.SessionPolicy{Raters: banliv1.Raters_RATERS_FIRST_PROPOSER})
	newUnit := func(unit string) *banliv1.DecideReassignmentRequest {
		return &banliv1.DecideReassignmentRequest{NewUnit: unit}
	}
	trio := &banliv1.Proposal{Name: "proposals/1", Assignments: []*banliv1.Assignment{
		{Name: "proposals/1/assignments/1", Role: lead, State: aSigned}, {Name: "proposals/1/assignments/2", Role: coHandling, State: aAssigned},
		{Name: "proposals/1/assignments/3", Role: coHandling, State: aAssigned}}}
	repliedLead := &banliv1.Proposal{Name: "proposals/1", Assignments: []*banliv1.Assignment{
		{Name: "proposals/1/assignments/1", Role: lead, State: aReplied}, {Name: "proposals/1/assignments/2", Role: coHandling, State: aAssigned}}}
	toRole := func(r banliv1.AssignmentRole) *banliv1.ChangeAssignmentRoleRequest {
		return &banliv1.ChangeAssignmentRoleRequest{Role: r}
	}
	keyCase := &banliv1.Proposal{Name: "proposals/1", Key: true, KeyLeaders: []*banliv1.KeyCaseLeader{{Leader: "leaders/1"}}}
	byLeader := func(l string) *banliv1.RecordSupervisionRequest {
		return &banliv1.RecordSupervisionRequest{Activity: &banliv1.SupervisionActivity{ByLeader: l}}
	}
	awaiting := func(deadline time.Time, closed *banliv1.RatingPeriodClose) *banliv1.Assignment {
		return part(&banliv1.Assignment{Round: 1, Replies: []*banliv1.Reply{{Name: replyName(1, 1, 1), Round: 1, RatingsExpected: 2,
			Ratings: []*banliv1.Rating{{ProposerId: 1}}, RatingDeadline: due(deadline), RatingPeriodClose: closed}}})
	}
	waits := resolvePolicy(&banliv1.SessionPolicy{UnreturnedRatings: banliv1.UnreturnedRatings_UNRETURNED_RATINGS_WAIT})
	tests := []struct {
		name  string
		g     guard
		in    guardInput
		allow bool
	}{
		{"consulted", consultedFirst, guardInput{a: part(&banliv1.Assignment{Consultations: []*banliv1.Consultation{{}}}), policy: policy}, true},
		{"not consulted", consultedFirst, guardInput{a: part(&banliv1.Assignment{}), policy: policy}, false},
		{"window open", reassignmentWindowOpen, guardInput{a: part(&banliv1.Assignment{ReassignmentDeadline: due(now.Add(time.Hour))}), now: now}, true},
		{"window closed", reassignmentWindowOpen, guardInput{a: part(&banliv1.Assignment{ReassignmentDeadline: due(now.Add(-time.Hour))}), now: now}, false},
		{"nothing pending", noExtensionPending, guardInput{a: part(&banliv1.Assignment{})}, true},
		{"one pending", noExtensionPending, guardInput{a: pending}, false},
		{"before the reply is due", beforeReplyDue, guardInput{a: part(&banliv1.Assignment{ResponseDeadline: due(now.Add(time.Hour))}), now: now}, true},
		{"after the reply was due", beforeReplyDue, guardInput{a: part(&banliv1.Assignment{ResponseDeadline: due(now.Add(-time.Hour))}), now: now}, false},
		{"a pending extension to decide", extensionPending, guardInput{a: pending}, true},
		{"no extension to decide", extensionPending, guardInput{a: part(&banliv1.Assignment{})}, false},
		{"the current round", currentRoundsReply, guardInput{a: replied, req: rating(2, 1)}, true},
		{"an earlier round", currentRoundsReply, guardInput{a: replied, req: rating(1, 1)}, false},
		{"a round with no reply (not found, later)", currentRoundsReply, guardInput{a: replied, req: rating(7, 1)}, true},
		{"a proposer of the case", ratedByARater, guardInput{p: case1, a: replied, req: rating(2, 1)}, true},
		{"not a proposer of the case", ratedByARater, guardInput{p: case1, a: replied, req: rating(2, 9)}, false},
		{"a first rating", ratedOnce, guardInput{a: replied, req: rating(2, 1)}, true},
		{"a second rating", ratedOnce, guardInput{a: replied, req: rating(2, 2)}, false},
		{"new units", newUnitsOnly, guardInput{p: led, plan: plan("units/3", coHandling, "units/2", coHandling)}, true},
		{"a unit with a current part", newUnitsOnly, guardInput{p: led, plan: plan("units/1", coHandling)}, false},
		{"co-handling beside a lead", oneShape, guardInput{p: led, plan: plan("units/3", coHandling)}, true},
		{"a second lead", oneShape, guardInput{p: led, plan: plan("units/3", lead)}, false},
		{"split beside a lead", oneShape, guardInput{p: led, plan: plan("units/3", split)}, false},
		{"co-handling with no lead", oneShape, guardInput{p: &banliv1.Proposal{}, plan: plan("units/3", coHandling)}, false},
		{"split units", oneShape, guardInput{p: &banliv1.Proposal{}, plan: plan("units/3", split, "units/4", split)}, true},
		{"a unit whose part was reassigned away", newUnitFree, guardInput{p: led, req: newUnit("units/2")}, true},
		{"a unit with a current part, as the new unit", newUnitFree, guardInput{p: led, req: newUnit("units/1")}, false},
		{"a case of the same session", sameSession, guardInput{p: &banliv1.Proposal{Session: "sessions/1"}, into: led}, true},
		{"consulted after the assignment", consultedAfterAssignment, guardInput{a: assignedPart, req: consultedAt(now.Add(-47 * time.Hour))}, true},
		{"consulted before the assignment", consultedAfterAssignment, guardInput{a: assignedPart, req: consultedAt(now.Add(-49 * time.Hour))}, false},
		{"a consultation with no stated time", consultedAfterAssignment, guardInput{a: assignedPart, req: &banliv1.RecordConsultationRequest{}}, true},
		{"a letter dated after the consultation", datedAfterItsSteps, guardInput{a: assignedPart, req: datedReply(now, chinaDate(now))}, true},
		{"a letter dated before the consultation", datedAfterItsSteps, guardInput{a: assignedPart, req: datedReply(now.Add(-30*time.Hour), "")}, false},
		{"a letter dated before the assignment", datedAfterItsSteps, guardInput{a: assignedPart, req: datedReply(now.Add(-72*time.Hour), "")}, false},
		{"a collective review before the assignment", datedAfterItsSteps, guardInput{a: assignedPart, req: datedReply(now, "2019-01-01")}, false},
		{"a proposer not yet delivered to", deliveredToProposers, guardInput{p: case1, a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{ProposerIds: []int32{2}})}, true},
		{"a proposer delivered to already", deliveredToProposers, guardInput{p: case1, a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{ProposerIds: []int32{1}})}, false},
		{"not a proposer of the case", deliveredToProposers, guardInput{p: case1, a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{ProposerIds: []int32{7}})}, false},
		{"all, with one left", deliveredToProposers, guardInput{p: case1, a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{AllProposers: true})}, true},
		{"delivered after the reply", deliveredAfterTheReply, guardInput{a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{Time: timestamppb.New(now)})}, true},
		{"delivered before the reply", deliveredAfterTheReply, guardInput{a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{Time: timestamppb.New(now.Add(-2 * time.Hour))})}, false},
		{"a copy to the co-handling unit", copiedWithinTheCase, guardInput{p: withCo, a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{CopyTo: []string{"units/2"}})}, true},
		{"a copy to a unit off the case", copiedWithinTheCase, guardInput{p: withCo, a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{CopyTo: []string{"units/3"}})}, false},
		{"a second copy to the office", copiedWithinTheCase, guardInput{p: withCo, a: delivered, req: delivery(&banliv1.RecordDeliveryRequest{CopyTo: []string{"office"}})}, false},
		{"returning the latest open draft", latestOpenDraft, guardInput{a: drafted, req: &banliv1.ReturnReplyDraftRequest{Version: 2}}, true},
		{"returning an earlier draft", latestOpenDraft, guardInput{a: drafted, req: &banliv1.ReturnReplyDraftRequest{Version: 1}}, false},
		{"returning a draft not saved", latestOpenDraft, guardInput{a: drafted, req: &banliv1.ReturnReplyDraftRequest{Version: 3}}, false},
		{"signing off the latest open draft", latestOpenDraft, guardInput{a: drafted, req: &banliv1.SubmitReplyRequest{DraftVersion: 2}}, true},
		{"signing off without a draft", latestOpenDraft, guardInput{a: drafted, req: &banliv1.SubmitReplyRequest{}}, true},
		{"signing off a returned draft", latestOpenDraft, guardInput{a: drafted, req: &banliv1.SubmitReplyRequest{DraftVersion: 1}}, false},
		{"a key case reviewed", keyCaseReviewed, guardInput{p: &banliv1.Proposal{Key: true}, a: reviewed, policy: policy}, true},
		{"a key case not reviewed this round", keyCaseReviewed, guardInput{p: &banliv1.Proposal{Key: true}, a: part(&banliv1.Assignment{Round: 2, CollectiveReviews: reviewed.GetCollectiveReviews()}), policy: policy}, false},
		{"a case that is not key", keyCaseReviewed, guardInput{p: &banliv1.Proposal{}, a: part(&banliv1.Assignment{Round: 1}), policy: policy}, true},
		{"a session that does not ask", keyCaseReviewed, guardInput{p: &banliv1.Proposal{Key: true}, a: part(&banliv1.Assignment{Round: 1}), policy: storedPolicy(nil)}, true},
		{"a review after the assignment", reviewedAfterAssignment, guardInput{a: assignedPart, req: reviewOn(chinaDate(now))}, true},
		{"a review before the assignment", reviewedAfterAssignment, guardInput{a: assignedPart, req: reviewOn("2021-01-01")}, false},
		{"every co-handling unit agreed", countersignedWhereAsked, guardInput{p: coCase(leadWithDraft(agreed, agreed)), a: leadWithDraft(agreed, agreed), policy: asked, req: &banliv1.SubmitReplyRequest{DraftVersion: 1}}, true},
		{"one co-handling unit returned it", countersignedWhereAsked, guardInput{p: coCase(leadWithDraft(agreed, returned)), a: leadWithDraft(agreed, returned), policy: asked, req: &banliv1.SubmitReplyRequest{DraftVersion: 1}}, false},
		{"a reply without a draft where countersigns are asked", countersignedWhereAsked, guardInput{p: coCase(leadWithDraft()), a: leadWithDraft(), policy: asked, req: &banliv1.SubmitReplyRequest{}}, false},
		{"a session that asks for none", countersignedWhereAsked, guardInput{p: coCase(leadWithDraft()), a: leadWithDraft(), policy: policy, req: &banliv1.SubmitReplyRequest{}}, true},
		{"countersigning the latest open draft", countersignsTheLatestDraft, guardInput{p: coCase(leadWithDraft()), a: &banliv1.Assignment{Unit: "units/2"}, req: &banliv1.CountersignReplyRequest{DraftVersion: 1}}, true},
		{"countersigning twice", countersignsTheLatestDraft, guardInput{p: coCase(leadWithDraft(agreed)), a: &banliv1.Assignment{Unit: "units/2"}, req: &banliv1.CountersignReplyRequest{DraftVersion: 1}}, false},
		{"countersigning a draft not saved", countersignsTheLatestDraft, guardInput{p: coCase(leadWithDraft()), a: &banliv1.Assignment{Unit: "units/2"}, req: &banliv1.CountersignReplyRequest{DraftVersion: 2}}, false},
		{"the principal head signs off a key case", principalSignsOffKeyCase, guardInput{p: &banliv1.Proposal{Key: true}, policy: principalAsked, caller: &Caller{Principal: true}}, true},
		{"another head signs off a key case", principalSignsOffKeyCase, guardInput{p: &banliv1.Proposal{Key: true}, policy: principalAsked, caller: &Caller{}}, false},
		{"another head signs off a case that is not key", principalSignsOffKeyCase, guardInput{p: &banliv1.Proposal{}, policy: principalAsked, caller: &Caller{}}, true},
		{"a session that does not ask the principal", principalSignsOffKeyCase, guardInput{p: &banliv1.Proposal{Key: true}, policy: policy, caller: &Caller{}}, true},
		{"the first proposer, where only the first rates", ratedByARater, guardInput{p: case1, a: replied, req: rating(2, 1), policy: firstRates}, true},
		{"another proposer, where only the first rates", ratedByARater, guardInput{p: case1, a: replied, req: rating(2, 2), policy: firstRates}, false},
		{"a new round consulted", consultedFirst, guardInput{a: part(&banliv1.Assignment{Round: 2, Consultations: []*banliv1.Consultation{{Round: 1}, {Round: 2}}}), policy: policy}, true},
		{"a new round not consulted", consultedFirst, guardInput{a: part(&banliv1.Assignment{Round: 2, Consultations: []*banliv1.Consultation{{Round: 1}}}), policy: policy}, false},
		{"a consultation from before rounds were kept", consultedFirst, guardInput{a: part(&banliv1.Assignment{Round: 2, Consultations: []*banliv1.Consultation{{}}}), policy: policy}, true},
		{"supervising a key case", keyCaseOnly, guardInput{p: &banliv1.Proposal{Key: true}}, true},
		{"supervising a case that is not key", keyCaseOnly, guardInput{p: &banliv1.Proposal{}}, false},
		{"removing a part not signed for", reasonOnceSigned, guardInput{a: part(&banliv1.Assignment{}), req: &banliv1.RemoveAssignmentRequest{}}, true},
		{"removing a signed part without a reason", reasonOnceSigned, guardInput{a: part(&banliv1.Assignment{SignTime: timestamppb.New(now)}), req: &banliv1.RemoveAssignmentRequest{}}, false},
		{"removing a lead with co-handling left", noCoHandlingLeftAlone, guardInput{p: trio, a: trio.GetAssignments()[0]}, false},
		{"removing a co-handling part", noCoHandlingLeftAlone, guardInput{p: trio, a: trio.GetAssignments()[1]}, true},
		{"a role to the same role", roleChanges, guardInput{a: trio.GetAssignments()[0], req: toRole(lead)}, false},
		{"a role to split", roleChanges, guardInput{a: trio.GetAssignments()[1], req: toRole(split)}, false},
		{"co-handling to lead", roleChanges, guardInput{a: trio.GetAssignments()[1], req: toRole(lead)}, true},
		{"a new lead in the place of one that has not answered", keepsOneLead, guardInput{p: trio, a: trio.GetAssignments()[1], req: toRole(lead)}, true},
		{"the only lead to co-handling", keepsOneLead, guardInput{p: trio, a: trio.GetAssignments()[0], req: toRole(coHandling)}, false},
		{"a new lead in the place of one that replied", keepsOneLead, guardInput{p: repliedLead, a: repliedLead.GetAssignments()[1], req: toRole(lead)}, false},
		{"a correction before assignment", reasonOnceAssigned, guardInput{p: &banliv1.Proposal{}, req: &banliv1.UpdateProposalRequest{}}, true},
		{"a correction of an assigned case without a reason", reasonOnceAssigned, guardInput{p: led, req: &banliv1.UpdateProposalRequest{}}, false},
		{"a correction of an assigned case with a reason", reasonOnceAssigned, guardInput{p: led, req: &banliv1.UpdateProposalRequest{Reason: "错字"}}, true},
		{"an activity by a leader of the case", byALeaderOfTheCase, guardInput{p: keyCase, req: byLeader("leaders/1")}, true},
		{"an activity by another leader", byALeaderOfTheCase, guardInput{p: keyCase, req: byLeader("leaders/2")}, false},
		{"an activity naming no leader record", byALeaderOfTheCase, guardInput{p: keyCase, req: byLeader("")}, true},
		{"a period over with a rating missing", ratingPeriodOver, guardInput{a: awaiting(now.Add(-time.Hour), nil), policy: policy, now: now}, true},
		{"a period not over", ratingPeriodOver, guardInput{a: awaiting(now.Add(time.Hour), nil), policy: policy, now: now}, false},
		{"a period over in a session that waits", ratingPeriodOver, guardInput{a: awaiting(now.Add(-time.Hour), nil), policy: waits, now: now}, false},
		{"a rating in an open period", ratingPeriodOpen, guardInput{a: awaiting(now.Add(time.Hour), nil), req: rating(1, 2)}, true},
		{"a rating after the period closed", ratingPeriodOpen, guardInput{a: awaiting(now.Add(-time.Hour), &banliv1.RatingPeriodClose{CloseTime: timestamppb.New(now)}), req: rating(1, 2)}, false},
		{"an overall rating", ratedOnTheForm, guardInput{req: rating(2, 1), policy: policy}, true},
		{"a dimension the overall form lacks", ratedOnTheForm, guardInput{req: withDims(rating(2, 1), banliv1.RatingDimension_RATING_DIMENSION_ATTITUDE), policy: policy}, false},
		{"the Hongkou form, whole", ratedOnTheForm, guardInput{req: withDims(rating(2, 1), formDimensions[banliv1.RatingForm_RATING_FORM_HONGKOU]...), policy: hongkou}, true},
		{"the Hongkou form, a dimension short", ratedOnTheForm, guardInput{req: withDims(rating(2, 1), formDimensions[banliv1.RatingForm_RATING_FORM_HONGKOU][:3]...), policy: hongkou}, false},
		{"a case of another session", sameSession, guardInput{p: &banliv1.Proposal{Session: "sessions/2"}, into: led}, false},
	}
	for _, tt := range tests {
		err := tt.g.check(tt.in)
		if (err == nil) != tt.allow {
			t.Errorf("%s: %v, want allowed=%v", tt.name, err, tt.allow)
		}
		if err != nil && !errors.Is(err, ErrPrecondition) && !errors.Is(err, ErrInvalidArgument) && !errors.Is(err, ErrPermissionDenied) {
			t.Errorf("%s: %v wraps none of ErrPrecondition, ErrInvalidArgument and ErrPermissionDenied", tt.name, err)
		}
	}
	// opinionsIn is covered by TestReplyRules.
}

// TestRulesAddedLaterKeepOldSessionsAsTheyWere: a session stored before a
// rule existed reads it as off; a new session gets its default.
func TestRulesAddedLaterKeepOldSessionsAsTheyWere(t *testing.T) {
	old := resolvePolicy(nil)
	old.CollectiveReviewForKeyCases = nil // as a session stored before the rule
	if storedPolicy(old).GetCollectiveReviewForKeyCases() {
		t.Error("an old session now asks for collective reviews")
	}
	if !resolvePolicy(nil).GetCollectiveReviewForKeyCases() {
		t.Error("a new session does not ask for collective reviews by default")
	}
	if !storedPolicy(resolvePolicy(nil)).GetCollectiveReviewForKeyCases() {
		t.Error("a new session's stored rule is lost on reading")
	}
}
