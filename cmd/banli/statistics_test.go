package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// day is 09:00 China time on a date of 2021.
func day(month time.Month, d int) time.Time { return time.Date(2021, month, d, 9, 0, 0, 0, cst) }

// TestAYearOfStatistics builds a year through the API and checks every
// figure and score line of two units and some of the office's.
//
// 市数据局 (unit 0) has a model year: 12 lead parts (2 of them NPC
// suggestions, 2 key cases), 3 split parts and 5 co-handling parts, all on
// time (one reply thanks to an extension), all met face to face, one
// unsatisfied rating handled again and then satisfied, every reply
// published. 市教育局 (unit 3) has 4 lead parts: one signed late, one
// replied late, one consulted only by phone, one rated unsatisfied.
func TestAYearOfStatistics(t *testing.T) {
	f := newFixture(t)
	a, b, c, d := f.unit(0), f.unit(1), f.unit(2), f.unit(3)
	npc := must(f.sessions.CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 6, Meeting: 7, Year: 2021, DisplayName: "市六届人大七次会议"}}))(t)
	cppcc := f.session

	// 1 March: receive and assign.
	f.clock.Set(day(3, 1))
	var aLead, aSplit, aCo, dLead []string // assignment names
	var aLeadCases []*banliv1.Proposal
	for i := range 12 {
		if i >= 10 {
			f.session = npc
		}
		p := f.assign(t, f.receiveKind(t), part(a, roleLead))
		f.session = cppcc
		aLead = append(aLead, p.Assignments[0].GetName())
		aLeadCases = append(aLeadCases, p)
	}
	for range 3 {
		p := f.assign(t, f.receive(t), part(a, roleSplit), part(b, roleSplit))
		aSplit = append(aSplit, p.Assignments[0].GetName())
	}
	for range 5 {
		p := f.assign(t, f.receive(t), part(c, roleLead), part(a, roleCo))
		aCo = append(aCo, p.Assignments[1].GetName())
	}
	for range 4 {
		p := f.assign(t, f.receive(t), part(d, roleLead))
		dLead = append(dLead, p.Assignments[0].GetName())
	}
	for _, p := range aLeadCases[:2] {
		must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: p.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)
	}
	must(f.proposals.RefuseFiling(office, &banliv1.RefuseFilingRequest{Name: f.receive(t).GetName(), Reason: banliv1.NotFiledReason_NOT_FILED_REASON_PERSONAL_MATTER}))(t)
	must(f.proposals.WithdrawProposal(office, &banliv1.WithdrawProposalRequest{Name: f.assign(t, f.receive(t), part(a, roleLead)).GetName()}))(t)

	// 2 March: everyone signs but one of unit 3's parts, which signs on
	// 10 March, past its 8 March deadline.
	f.clock.Set(day(3, 2))
	for _, x := range concat(aLead, aSplit, aCo, dLead[1:]) {
		f.sign(t, x)
	}
	f.clock.Set(day(3, 10))
	f.sign(t, dLead[0])

	// 15 March: consultations, all face to face but unit 3's third part.
	f.clock.Set(day(3, 15))
	for _, x := range concat(aLead, aSplit, dLead[:2], dLead[3:]) {
		f.consult(t, x)
	}
	must(f.proposals.RecordConsultation(office, &banliv1.RecordConsultationRequest{Name: dLead[2], Consultation: &banliv1.Consultation{
		Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE, Summary: "电话沟通"}}))(t)

	// 20 March: the co-handling opinions, due 1 April.
	f.clock.Set(day(3, 20))
	for _, x := range aCo {
		must(f.proposals.SubmitOpinion(office, &banliv1.SubmitOpinionRequest{Name: x, Opinion: &banliv1.Opinion{Text: "会办意见", Signer: "副局长"}}))(t)
	}

	// 20 May: one lead part asks for more time; approved to 15 July.
	f.clock.Set(day(5, 20))
	must(f.proposals.RequestExtension(office, &banliv1.RequestExtensionRequest{Name: aLead[11], Reason: "需跨部门协调", RequestedDueDate: "2021-07-15"}))(t)
	must(f.proposals.DecideExtension(office, &banliv1.DecideExtensionRequest{Name: aLead[11], Decision: banliv1.Decision_DECISION_APPROVED}))(t)

	// 25 May: replies, due 1 June. Lead parts 3-5 are B (carried over),
	// the first split part C, the rest A.
	f.clock.Set(day(5, 25))
	category := func(x string) banliv1.ReplyCategory {
		switch x {
		case aLead[3], aLead[4], aLead[5]:
			return banliv1.ReplyCategory_REPLY_CATEGORY_B
		case aSplit[0]:
			return banliv1.ReplyCategory_REPLY_CATEGORY_C
		}
		return banliv1.ReplyCategory_REPLY_CATEGORY_A
	}
	// The two key cases' replies follow a collective review (集体评议).
	for _, x := range aLead[:2] {
		must(f.proposals.RecordCollectiveReview(office, &banliv1.RecordCollectiveReviewRequest{Name: x, Review: &banliv1.CollectiveReview{
			Date: f.clock.Now().Format(time.DateOnly), Participants: []string{"张局长", "李处长"}, Conclusion: "同意答复",
		}}))(t)
	}
	for _, x := range concat(aLead[:11], aSplit, dLead[:1], dLead[2:]) {
		must(f.proposals.SubmitReply(office, load.ReplyRequest(x, category(x))))(t)
	}
	// 10 June: unit 3's second part replies late; 10 July: the extended one
	// replies within its new deadline.
	f.clock.Set(day(6, 10))
	must(f.proposals.SubmitReply(office, load.ReplyRequest(dLead[1], banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	f.clock.Set(day(7, 10))
	must(f.proposals.SubmitReply(office, load.ReplyRequest(aLead[11], banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)

	// 20 July: ratings. Lead part 6 of unit 0 is rated unsatisfied, handled
	// again and then satisfied; split parts are basically satisfied; unit
	// 3's third part basically satisfied and fourth unsatisfied.
	f.clock.Set(day(7, 20))
	rate := func(x string, s banliv1.Satisfaction) { f.rate(t, x+"/replies/1", 1, s) }
	for _, x := range aLead {
		if x == aLead[6] {
			rate(x, banliv1.Satisfaction_SATISFACTION_UNSATISFIED)
			continue
		}
		rate(x, banliv1.Satisfaction_SATISFACTION_SATISFIED)
	}
	for _, x := range aSplit {
		rate(x, banliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED)
	}
	rate(dLead[0], banliv1.Satisfaction_SATISFACTION_SATISFIED)
	rate(dLead[1], banliv1.Satisfaction_SATISFACTION_SATISFIED)
	rate(dLead[2], banliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED)
	rate(dLead[3], banliv1.Satisfaction_SATISFACTION_UNSATISFIED)
	f.clock.Set(day(8, 1))
	f.consult(t, aLead[6])
	must(f.proposals.SubmitReply(office, load.ReplyRequest(aLead[6], banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	f.clock.Set(day(8, 5))
	f.rate(t, aLead[6]+"/replies/2", 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)

	// 10 August: every latest reply is published but one of 市数据局's,
	// which is lawfully withheld (依法不予公开) with its reason: it is not
	// due, so the disclosure rate stays full and the base is given. Unit
	// 3's fourth part is being handled again: its first reply is
	// superseded, out of the publication queue, and its next is not
	// written yet.
	f.clock.Set(day(8, 10))
	must(f.proposals.WithholdReply(office, &banliv1.WithholdReplyRequest{Name: aLead[1] + "/replies/1", Reason: "涉及尚未公开的重点项目安排，依法不予公开"}))(t)
	for _, x := range concat(aLead[:1], aLead[2:], aSplit, dLead[:3]) {
		latest := "/replies/1"
		if x == aLead[6] {
			latest = "/replies/2"
		}
		must(f.proposals.PublishReply(office, &banliv1.PublishReplyRequest{Name: x + latest}))(t)
	}
	_, err := f.proposals.PublishReply(office, &banliv1.PublishReplyRequest{Name: dLead[3] + "/replies/1"})
	wantCode(t, err, codes.FailedPrecondition, "")

	stats := func(unit, session string, year int32) *banliv1.Statistics {
		return must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Unit: unit, Session: session, Year: year}))(t)
	}
	r := func(num, den int64) *banliv1.Rate { return rateOf(num, den) }
	want := &banliv1.Statistics{
		Unit: a, Year: 2021, HandledCases: 20,
		LeadParts: 12, SplitParts: 3, CoHandlingParts: 5, NpcSuggestionParts: 2, CppccProposalParts: 18, KeyParts: 2,
		OnTimeSignIn: r(20, 20), OnTimeReply: r(15, 15), OnTimeOpinion: r(5, 5), Reply: r(15, 15), FaceToFace: r(15, 15),
		Satisfied: 12, BasicallySatisfied: 3, Rehandled: 1, Satisfaction: r(15, 15),
		// The re-handled part was unsatisfied in its first round.
		FirstRoundSatisfaction: r(14, 15),
		CategoryA:              11, CategoryB: 3, CategoryC: 1, Disclosure: r(14, 14), Published: 14, Withheld: 1,
	}
	if diff := cmp.Diff(want, stats(a, "", 2021), protocmp.Transform()); diff != "" {
		t.Errorf("市数据局 2021 (-want +got):\n%s", diff)
	}
	want = &banliv1.Statistics{
		Unit: d, Year: 2021, HandledCases: 4, LeadParts: 4, CppccProposalParts: 4,
		OnTimeSignIn: r(3, 4), OnTimeReply: r(3, 4), Reply: r(4, 4), FaceToFace: r(3, 4),
		Satisfied: 2, BasicallySatisfied: 1, Unsatisfied: 1, Rehandled: 1, Satisfaction: r(3, 4), FirstRoundSatisfaction: r(3, 4),
		CategoryA: 4, Disclosure: r(3, 3), Published: 3, OnTimeOpinion: r(0, 0),
	}
	if diff := cmp.Diff(want, stats(d, "", 2021), protocmp.Transform()); diff != "" {
		t.Errorf("市教育局 2021 (-want +got):\n%s", diff)
	}
	if got := stats(a, npc.GetName(), 0); got.GetLeadParts() != 2 || got.GetNpcSuggestionParts() != 2 || got.GetCppccProposalParts() != 0 {
		t.Errorf("市数据局 in the NPC session: %v", got)
	}
	// The three B-class parts count again in 2022, as cross-year lead parts.
	if got := stats(a, "", 2022); got.GetCrossYearLeadParts() != 3 || got.GetLeadParts() != 0 {
		t.Errorf("市数据局 2022: %v", got)
	}
	// … and in 2022's lists and ledger.
	carried := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{Year: 2022, Unit: a}))(t)
	if len(carried.GetProposals()) != 3 {
		t.Errorf("市数据局's cases listed in 2022: %d, want the 3 carried over", len(carried.GetProposals()))
	}
	if p := carried.GetProposals()[0]; p.GetAssignments()[0].GetFollowUp().GetState() != banliv1.FollowUpState_FOLLOW_UP_STATE_OPEN {
		t.Errorf("follow-up of a B-class part: %v", p.GetAssignments()[0].GetFollowUp())
	}

	// The follow-up: progress, the final reply, the office closes it.
	f.clock.Set(time.Date(2022, 3, 1, 9, 0, 0, 0, cst))
	must(f.proposals.ReportFollowUp(office, &banliv1.ReportFollowUpRequest{Name: aLead[3], Text: "项目已立项"}))(t)
	p := must(f.proposals.ReportFollowUp(office, &banliv1.ReportFollowUpRequest{Name: aLead[3], Text: "已建成投用", Final: true}))(t)
	if fu := p.GetAssignments()[0].GetFollowUp(); fu.GetState() != banliv1.FollowUpState_FOLLOW_UP_STATE_SOLVED || len(fu.GetReports()) != 2 {
		t.Errorf("after the final reply: %v", fu)
	}
	_, err = f.proposals.ReportFollowUp(office, &banliv1.ReportFollowUpRequest{Name: aLead[3], Text: "再报"})
	wantCode(t, err, codes.FailedPrecondition, "")
	p = must(f.proposals.CloseFollowUp(office, &banliv1.CloseFollowUpRequest{Name: aLead[3], Note: "已办结"}))(t)
	if p.GetAssignments()[0].GetFollowUp().GetState() != banliv1.FollowUpState_FOLLOW_UP_STATE_CLOSED {
		t.Errorf("after closing: %v", p.GetAssignments()[0].GetFollowUp())
	}
	_, err = f.proposals.ReportFollowUp(office, &banliv1.ReportFollowUpRequest{Name: aLead[0], Text: "x"})
	wantCode(t, err, codes.FailedPrecondition, "") // an A-class part is not on the register

	// The office: 24 handled cases, one refused and one withdrawn.
	whole := stats("", "", 2021)
	if whole.GetCases() != 26 || whole.GetCasesNotFiled() != 1 || whole.GetCasesWithdrawn() != 1 ||
		whole.GetLeadParts() != 21 || whole.GetSplitParts() != 6 || whole.GetCoHandlingParts() != 5 {
		t.Errorf("office 2021: cases %d (not filed %d, withdrawn %d), parts %d/%d/%d", whole.GetCases(), whole.GetCasesNotFiled(),
			whole.GetCasesWithdrawn(), whole.GetLeadParts(), whole.GetSplitParts(), whole.GetCoHandlingParts())
	}

	// 市数据局 under DOMAIN.md's city example: 90 + 15 × 0.2 + 5 × 0.1 + 2 × 1.
	sum := must(f.statistics().GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: a, Year: 2021}))(t)
	wantLines := []*banliv1.ScoreLine{
		{Rule: "按时签收率、按时答复率、满意率、答复公开率均达100%，得基础分90分", Count: 1, PointsEach: 90, Points: 90},
		{Rule: "主办或分办案件每件加0.2分", Count: 15, PointsEach: 0.2, Points: 3},
		{Rule: "会办案件每件加0.1分", Count: 5, PointsEach: 0.1, Points: 0.5},
		{Rule: "办理重点提案每件加1分", Count: 2, PointsEach: 1, Points: 2},
	}
	if diff := cmp.Diff(wantLines, sum.GetScore().GetLines(), protocmp.Transform()); diff != "" || sum.GetScore().GetTotal() != 95.5 {
		t.Errorf("市数据局 score %v (-want +got):\n%s", sum.GetScore().GetTotal(), diff)
	}
	t.Logf("summary:\n%s", sum.GetText())
	for _, phrase := range []string{"市数据局2021年", "主办12件、分办3件、会办5件", "跨年度办理0件", "满意率100%", "合计：95.5分"} {
		if !strings.Contains(sum.GetText(), phrase) {
			t.Errorf("summary lacks %q:\n%s", phrase, sum.GetText())
		}
	}
	// 市教育局: the city policy withholds the base; the deduction policy
	// takes 1 + 2 + 1 + 2 from 100.
	city := must(f.statistics().GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: d, Year: 2021}))(t)
	if city.GetScore().GetTotal() != 0.8 || len(city.GetScore().GetBaseWithheldBecause()) != 3 ||
		city.GetScore().GetBaseWithheldBecause()[0] != "按时签收率为3/4，未达100%" || !strings.Contains(city.GetText(), "未得基础分：按时答复率为3/4，未达100%") {
		t.Errorf("市教育局 city score %v, withheld because %v", city.GetScore().GetTotal(), city.GetScore().GetBaseWithheldBecause())
	}
	ded := must(f.statistics().GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: d, Year: 2021, ScoringPolicy: "deductions"}))(t)
	var points []float64
	for _, l := range ded.GetScore().GetLines() {
		points = append(points, l.GetPoints())
	}
	if !cmp.Equal(points, []float64{100, -1, -2, 0, -1, -2}) || ded.GetScore().GetTotal() != 94 {
		t.Errorf("市教育局 deductions %v = %v", points, ded.GetScore().GetTotal())
	}

	// An office's own policy: 60 base, 1 point per published reply.
	own := must(f.statistics().GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: a, Year: 2021, CustomPolicy: &banliv1.ScoringPolicy{
		Name: "district", Base: 60, BaseRequiresFull: []string{"reply"},
		Items: []*banliv1.ScoringItem{{Count: "published", Points: 1, Label: "答复公开每件加1分"}},
	}}))(t)
	if own.GetScore().GetTotal() != 74 || own.GetScore().GetPolicy() != "district" {
		t.Errorf("custom policy: %v", own.GetScore())
	}
	_, err = f.statistics().GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: a, Year: 2021, CustomPolicy: &banliv1.ScoringPolicy{
		Name: "x", Items: []*banliv1.ScoringItem{{Count: "lead_parts+nonsense", Points: 1, Label: "x"}}}})
	wantCode(t, err, codes.InvalidArgument, "custom_policy.items[0].count")

	checkFiguresSideBySide(t, f, a, d, npc)

	_, err = f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Unit: a})
	wantCode(t, err, codes.InvalidArgument, "year")
	_, err = f.statistics().GetYearSummary(office, &banliv1.GetYearSummaryRequest{Year: 2021, ScoringPolicy: "nope"})
	wantCode(t, err, codes.InvalidArgument, "scoring_policy")
}

func (ts *testServer) statistics() banliv1.StatisticsServiceClient {
	return banliv1.NewStatisticsServiceClient(ts.conn)
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func rateOf(num, den int64) *banliv1.Rate {
	r := &banliv1.Rate{Numerator: num, Denominator: den}
	if den > 0 {
		r.Rate = float64(num) / float64(den)
	}
	return r
}

// receiveKind receives a case of the kind the fixture's session takes.
func (f *fixture) receiveKind(t testing.TB) *banliv1.Proposal {
	t.Helper()
	if f.session.GetBody() == banliv1.Body_BODY_CPPCC {
		return f.receive(t)
	}
	f.number++
	return must(f.proposals.CreateProposal(context.Background(), &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: f.session.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION,
		Number: fmt.Sprintf("N%04d", f.number), Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING,
		Title: "关于智慧交通建设的建议", Content: "建议……",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "刘代表"}},
	}}))(t)
}
