package main

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestSeed003Practice walks the practice seed 003 describes ("提交局建议提案
// 办理专班进行集体评议后，由主要负责同志进行签发，按要求送达"), with the right
// account at each step, on an 11-deputy key suggestion in a session that
// asks for collective review, the principal head's sign-off and the
// office's review: staff draft, the head returns, staff revise, the team
// reviews, the principal head signs off, the office accepts, the reply is
// delivered, every deputy rates and one is unsatisfied, the office sends it
// back, the second round consults again and replies, and all are
// satisfied. The statistics and the ledger are checked on the way (#13).
// The sealed PDF is not attached: attachments are not built yet.
func TestSeed003Practice(t *testing.T) {
	f := newFixture(t)
	accounts := banliv1.NewAccountServiceClient(f.conn)
	bureau := f.unit(0)
	staff := as(f.account(t, "staff-li", banliv1.Role_ROLE_UNIT_STAFF, bureau))
	deputyHead := as(f.account(t, "head-zhao", banliv1.Role_ROLE_UNIT_HEAD, bureau))
	principal := as(must(accounts.CreateAccount(as(f.adminKey), &banliv1.CreateAccountRequest{AccountId: "director-zhang",
		Account: &banliv1.Account{DisplayName: "张局长", Role: banliv1.Role_ROLE_UNIT_HEAD, Unit: bureau, Principal: true}}))(t).GetKey())
	officer := as(f.account(t, "office-wu", banliv1.Role_ROLE_OFFICE, ""))
	platform := as(f.account(t, "npc-platform", banliv1.Role_ROLE_PROPOSER, ""))

	sess := must(f.sessions.CreateSession(as(f.adminKey), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "市七届人大一次会议",
		Policy: &banliv1.SessionPolicy{PrincipalSignsOffKeyCases: proto.Bool(true), OfficeReviewsReplies: proto.Bool(true)},
	}}))(t)
	var deputies []*banliv1.Proposer
	for i := range 11 {
		deputies = append(deputies, &banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: fmt.Sprintf("代表%d", i+1)})
	}
	p := must(f.proposals.CreateProposal(platform, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: sess.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION, Number: "20210003",
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于完善社区养老服务体系的建议", Content: "建议……", Proposers: deputies,
	}}))(t)
	p = must(f.proposals.AssignProposal(officer, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{part(bureau, roleLead)}}))(t)
	p = must(f.proposals.MarkKey(officer, &banliv1.MarkKeyRequest{Name: p.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)
	a := p.GetAssignments()[0].GetName()
	must(f.proposals.SignAssignment(staff, &banliv1.SignAssignmentRequest{Name: a, Handler: "accounts/staff-li", ResponsiblePhone: "0755-88000000"}))(t)
	must(f.proposals.RecordConsultation(staff, consultation(a)))(t)
	f.clock.Advance(20 * 24 * time.Hour)

	// The reply as a document: draft, returned, revised, reviewed, signed off.
	letter := load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A).GetReply()
	must(f.proposals.SaveReplyDraft(staff, &banliv1.SaveReplyDraftRequest{Name: a, Reply: letter}))(t)
	must(f.proposals.ReturnReplyDraft(deputyHead, &banliv1.ReturnReplyDraftRequest{Name: a, Version: 1, Comment: "请补充明年的工作安排"}))(t)
	letter.Text += "二、明年将……"
	// The revised draft carries the letter as the bureau will seal it.
	sealed := fakePDF(1<<20, 3)
	pdf := must(f.uploadFile(staff, &banliv1.FileUpload{Parent: p.GetName(), FileName: "关于第2021003号建议的答复（盖章）.pdf",
		MediaType: "application/pdf", SizeBytes: int64(len(sealed)), Sha256: hexSHA256(sealed)}, sealed, 256<<10))(t)
	letter.Attachments = []*banliv1.Attachment{{Name: pdf.GetName()}}
	must(f.proposals.SaveReplyDraft(staff, &banliv1.SaveReplyDraftRequest{Name: a, Reply: letter}))(t)
	must(f.proposals.RecordCollectiveReview(staff, &banliv1.RecordCollectiveReviewRequest{Name: a, Review: &banliv1.CollectiveReview{
		Date: f.clock.Now().Format(time.DateOnly), Participants: []string{"张局长", "赵副局长", "李明"}, Conclusion: "同意按A类答复",
	}}))(t)
	if _, err := f.proposals.SubmitReply(deputyHead, &banliv1.SubmitReplyRequest{Name: a, DraftVersion: 2}); err == nil {
		t.Fatal("a deputy head signed off a key case's reply")
	}
	p = must(f.proposals.SubmitReply(principal, &banliv1.SubmitReplyRequest{Name: a, DraftVersion: 2}))(t)
	if got := p.GetAssignments()[0].GetState(); got != banliv1.AssignmentState_ASSIGNMENT_STATE_UNDER_REVIEW {
		t.Fatalf("after sign-off: %s, want the office's review", got)
	}
	p = must(f.proposals.ReviewReply(officer, &banliv1.ReviewReplyRequest{Name: a, Decision: banliv1.ReviewDecision_REVIEW_DECISION_ACCEPTED}))(t)
	reply := p.GetAssignments()[0].GetReplies()[0]
	if reply.GetSignedOffBy() != "accounts/director-zhang" || reply.GetCollectiveReviewDate() == "" || reply.GetRatingsExpected() != 11 {
		t.Fatalf("the reply: signed off by %s, review %q, %d ratings expected", reply.GetSignedOffBy(), reply.GetCollectiveReviewDate(), reply.GetRatingsExpected())
	}

	// Delivery with the sealed PDF, which the platform downloads for its
	// deputies; then 11 ratings, one unsatisfied.
	if len(reply.GetAttachments()) != 1 || reply.GetAttachments()[0].GetSha256() != hexSHA256(sealed) {
		t.Fatalf("the sent reply attaches %v, not the sealed letter", reply.GetAttachments())
	}
	must(f.proposals.RecordDelivery(staff, &banliv1.RecordDeliveryRequest{Name: reply.GetName(), AllProposers: true,
		Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_PLATFORM, CopyTo: []string{"office"}}))(t)
	if got, media, err := f.downloadFile(platform, pdf.GetName()); err != nil || !bytes.Equal(got, sealed) || media != "application/pdf" {
		t.Fatalf("the platform downloads the sealed letter: %v (%d bytes of %s)", err, len(got), media)
	}
	stats := func() *banliv1.Statistics {
		return must(f.statistics().GetStatistics(officer, &banliv1.GetStatisticsRequest{Session: sess.GetName()}))(t)
	}
	if s := stats(); s.GetReply().GetNumerator() != 1 || s.GetOnTimeReply().GetNumerator() != 1 || s.GetKeyParts() != 1 {
		t.Errorf("after the reply: replied %v, on time %v, key parts %d", s.GetReply(), s.GetOnTimeReply(), s.GetKeyParts())
	}
	for id := int32(1); id <= 11; id++ {
		s := banliv1.Satisfaction_SATISFACTION_SATISFIED
		opinion := ""
		if id == 7 {
			// The seventh deputy answers on the paper form; the office
			// enters it with the form scanned.
			s, opinion = banliv1.Satisfaction_SATISFACTION_UNSATISFIED, "未回应社区食堂的建议"
			form := must(f.uploadFile(officer, &banliv1.FileUpload{Parent: p.GetName(), FileName: "征询意见表（7号代表）.png"}, fakePNG(300<<10), 256<<10))(t)
			p = must(f.proposals.RateReply(officer, &banliv1.RateReplyRequest{Name: reply.GetName(), ProposerId: id, Satisfaction: s, Opinion: opinion,
				Attachments: []*banliv1.Attachment{{Name: form.GetName()}}}))(t)
			rating := p.GetAssignments()[0].GetReplies()[0].GetRatings()[6]
			if rating.GetSource() != banliv1.RatingSource_RATING_SOURCE_PAPER_FORM || len(rating.GetAttachments()) != 1 {
				t.Fatalf("the paper form: %v", rating)
			}
			continue
		}
		p = must(f.proposals.RateReply(platform, &banliv1.RateReplyRequest{Name: reply.GetName(), ProposerId: id, Satisfaction: s, Opinion: opinion}))(t)
	}
	if got := p.GetAssignments()[0].GetState(); got != banliv1.AssignmentState_ASSIGNMENT_STATE_UNSATISFIED {
		t.Fatalf("after the ratings: %s", got)
	}
	ledger := func(view banliv1.LedgerView) []string {
		var names []string
		for _, e := range must(f.supervision().ListLedgerEntries(officer, &banliv1.ListLedgerEntriesRequest{View: view, Session: sess.GetName()}))(t).GetEntries() {
			names = append(names, e.GetAssignment())
		}
		return names
	}
	if got := ledger(banliv1.LedgerView_LEDGER_VIEW_RATED_UNSATISFIED); !slices.Equal(got, []string{a}) {
		t.Errorf("the unsatisfied ledger: %v", got)
	}

	// The office sends it back; the second round consults again and replies.
	must(f.proposals.DecideUnsatisfied(officer, &banliv1.DecideUnsatisfiedRequest{Name: reply.GetName(),
		Decision: banliv1.UnsatisfiedDecision_UNSATISFIED_DECISION_REHANDLE, Reason: "代表意见合理，重新办理"}))(t)
	f.clock.Advance(7 * 24 * time.Hour)
	must(f.proposals.RecordConsultation(staff, consultation(a)))(t)
	letter.Text += "三、社区食堂……"
	must(f.proposals.SaveReplyDraft(staff, &banliv1.SaveReplyDraftRequest{Name: a, Reply: letter}))(t)
	must(f.proposals.RecordCollectiveReview(staff, &banliv1.RecordCollectiveReviewRequest{Name: a, Review: &banliv1.CollectiveReview{
		Date: f.clock.Now().Format(time.DateOnly), Participants: []string{"张局长", "李明"}, Conclusion: "同意",
	}}))(t)
	must(f.proposals.SubmitReply(principal, &banliv1.SubmitReplyRequest{Name: a, DraftVersion: 3}))(t)
	p = must(f.proposals.ReviewReply(officer, &banliv1.ReviewReplyRequest{Name: a, Decision: banliv1.ReviewDecision_REVIEW_DECISION_ACCEPTED}))(t)
	second := p.GetAssignments()[0].GetReplies()[1].GetName()
	must(f.proposals.RecordDelivery(staff, &banliv1.RecordDeliveryRequest{Name: second, AllProposers: true, Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_PLATFORM}))(t)
	for id := int32(1); id <= 11; id++ {
		p = must(f.proposals.RateReply(platform, &banliv1.RateReplyRequest{Name: second, ProposerId: id, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED}))(t)
	}
	if p.GetState() != banliv1.ProposalState_PROPOSAL_STATE_RATED {
		t.Fatalf("the case ends %s", p.GetState())
	}
	s := stats()
	if s.GetSatisfied() != 1 || s.GetSatisfaction().GetNumerator() != 1 || s.GetFirstRoundSatisfaction().GetNumerator() != 0 ||
		s.GetFirstRoundSatisfaction().GetDenominator() != 1 || s.GetRehandled() != 1 || s.GetCategoryA() != 1 {
		t.Errorf("the final figures: satisfied %d, satisfaction %v, first round %v, rehandled %d, A %d",
			s.GetSatisfied(), s.GetSatisfaction(), s.GetFirstRoundSatisfaction(), s.GetRehandled(), s.GetCategoryA())
	}
	if got := ledger(banliv1.LedgerView_LEDGER_VIEW_RATED_UNSATISFIED); len(got) != 0 {
		t.Errorf("the unsatisfied ledger at the end: %v", got)
	}
	var steps []string
	for _, ev := range must(f.events.ListProposalEvents(officer, &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 1000}))(t).GetEvents() {
		steps = append(steps, ev.GetAction())
	}
	for _, want := range []string{"SaveReplyDraft", "ReturnReplyDraft", "RecordCollectiveReview", "SubmitReply (to the office's review)",
		"ReviewReply (accept)", "RecordDelivery", "RateReply (unsatisfied, to the office)", "DecideUnsatisfied (re-handle)"} {
		if !slices.Contains(steps, want) {
			t.Errorf("the history lacks %s: %v", want, steps)
		}
	}
}
