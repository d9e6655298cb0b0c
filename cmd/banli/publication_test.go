package main

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// publicationLetter is a reply as bureaus write them: a mobile and a
// landline in the text, an e-mail, a proposer's ID-card number quoted
// from the case, the contact person named, and the contact line at its
// foot.
const publicationLetter = `关于市政协七届一次会议第0001号提案的答复

尊敬的王委员：
您提出的《关于加快数字政府建设的提案》收悉。现答复如下：
一、关于政务数据共享。咨询可拨打13812345678或0755-83001234，也可发送邮件至li.ming@szdata.gov.cn。
二、关于个人信息保护。来信所附身份证号码440301198001011234已按规定处理，李明同志负责跟进。
感谢您对我市数字政府建设的关心和支持。
联系人：李明，联系电话：0755-88000000
`

// letterReply is a reply of part a with the letter as its text.
func letterReply(a string, intent banliv1.DisclosureIntent) *banliv1.SubmitReplyRequest {
	req := load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)
	req.Reply.Text, req.Reply.DisclosureIntent = publicationLetter, intent
	return req
}

// TestPublicationMasksContactDetails: a reply is published without the
// contact line, the contact person and the phones, e-mail addresses and
// ID-card numbers its text names (国办发〔2014〕46号); the publisher reads
// the masked text first (PreviewPublication), which changes nothing; a
// summary is published only with its text; a publication is corrected
// and withdrawn with a reason, each its own event (#15, item 2).
func TestPublicationMasksContactDetails(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	p = must(f.proposals.SubmitReply(ctx, letterReply(a, banliv1.DisclosureIntent_DISCLOSURE_INTENT_FULL)))(t)
	reply := p.GetAssignments()[0].GetReplies()[0].GetName()

	preview := must(f.proposals.PreviewPublication(ctx, &banliv1.PreviewPublicationRequest{Name: reply}))(t)
	t.Logf("published text:\n%s", preview.GetPublishedText())
	for _, r := range preview.GetRedactions() {
		t.Logf("masked %s: %q → %q", r.GetKind(), r.GetOriginal(), r.GetReplacement())
	}
	leaks := []string{"13812345678", "83001234", "li.ming@", "198001011234", "李明", "88000000", "联系人"}
	for _, leaked := range leaks {
		if strings.Contains(preview.GetPublishedText(), leaked) {
			t.Errorf("the preview publishes %q", leaked)
		}
	}
	if len(preview.GetRedactions()) != 6 || preview.GetRedactions()[0].GetOriginal() != "联系人：李明，联系电话：0755-88000000" {
		t.Errorf("redactions %v, want 6 starting with the contact line", preview.GetRedactions())
	}
	again := must(f.proposals.GetProposal(ctx, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	if again.GetEtag() != p.GetEtag() {
		t.Errorf("the preview changed the case")
	}

	// Published as previewed; the reply keeps what was masked, not the
	// originals.
	p = must(f.proposals.PublishReply(ctx, &banliv1.PublishReplyRequest{Name: reply}))(t)
	pub := p.GetAssignments()[0].GetReplies()[0]
	if pub.GetPublishedText() != preview.GetPublishedText() || pub.GetDisclosureState() != banliv1.DisclosureState_DISCLOSURE_STATE_PUBLISHED {
		t.Errorf("published %s:\n%s", pub.GetDisclosureState(), pub.GetPublishedText())
	}
	for _, r := range pub.GetRedactions() {
		if r.GetOriginal() != "" {
			t.Errorf("the reply keeps the original of a masked detail: %v", r)
		}
	}

	// A correction is masked too, and keeps what it replaced.
	_, err := f.proposals.CorrectPublication(ctx, &banliv1.CorrectPublicationRequest{Name: reply, PublishedText: "更正"})
	wantCode(t, err, codes.InvalidArgument, "reason")
	p = must(f.proposals.CorrectPublication(ctx, &banliv1.CorrectPublicationRequest{Name: reply,
		PublishedText: "一、关于政务数据共享（更正）。咨询电话13912345678。", Reason: "第一条表述有误"}))(t)
	pub = p.GetAssignments()[0].GetReplies()[0]
	if pub.GetPublishedText() != "一、关于政务数据共享（更正）。咨询电话139****5678。" || len(pub.GetPublicationChanges()) != 1 ||
		pub.GetPublicationChanges()[0].GetPreviousText() != preview.GetPublishedText() {
		t.Errorf("after the correction: %q, changes %v", pub.GetPublishedText(), pub.GetPublicationChanges())
	}
	// Withdrawn, then published again.
	p = must(f.proposals.WithdrawPublication(ctx, &banliv1.WithdrawPublicationRequest{Name: reply, Reason: "涉及未公开的工作安排"}))(t)
	pub = p.GetAssignments()[0].GetReplies()[0]
	if pub.GetDisclosureState() != banliv1.DisclosureState_DISCLOSURE_STATE_WITHDRAWN || pub.GetPublishedText() != "" {
		t.Errorf("after the withdrawal: %s %q", pub.GetDisclosureState(), pub.GetPublishedText())
	}
	_, err = f.proposals.CorrectPublication(ctx, &banliv1.CorrectPublicationRequest{Name: reply, PublishedText: "x", Reason: "y"})
	wantCode(t, err, codes.FailedPrecondition, "")
	must(f.proposals.PublishReply(ctx, &banliv1.PublishReplyRequest{Name: reply}))(t)
	var actions []string
	for _, ev := range must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 100}))(t).GetEvents() {
		actions = append(actions, ev.GetAction())
	}
	if got := strings.Join(actions[len(actions)-4:], ", "); got != "PublishReply, CorrectPublication, WithdrawPublication, PublishReply" {
		t.Errorf("history ends %s", got)
	}

	// A reply to be published as a summary needs the summary.
	p = f.assign(t, f.receive(t), part(f.unit(1), roleLead))
	b := p.GetAssignments()[0].GetName()
	f.sign(t, b)
	f.consult(t, b)
	p = must(f.proposals.SubmitReply(ctx, letterReply(b, banliv1.DisclosureIntent_DISCLOSURE_INTENT_SUMMARY)))(t)
	summary := p.GetAssignments()[0].GetReplies()[0].GetName()
	_, err = f.proposals.PublishReply(ctx, &banliv1.PublishReplyRequest{Name: summary})
	wantCode(t, err, codes.InvalidArgument, "published_text")
	p = must(f.proposals.PublishReply(ctx, &banliv1.PublishReplyRequest{Name: summary, PublishedText: "我局已建成共享平台，联系电话13812345678。"}))(t)
	if got := p.GetAssignments()[0].GetReplies()[0].GetPublishedText(); got != "我局已建成共享平台，联系电话138****5678。" {
		t.Errorf("published summary %q", got)
	}
}

// TestOfficeApprovesPublications: under office_reviews_publication a
// unit's publication waits for the office, which approves it or returns
// it with a reason; a unit cannot approve its own (#15, item 2).
func TestOfficeApprovesPublications(t *testing.T) {
	f := newFixture(t)
	sess := f.cppccSession(t, 5, &banliv1.SessionPolicy{OfficeReviewsPublication: proto.Bool(true)})
	p := f.assign(t, f.receiveIn(t, sess, "P1"), part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	reply := f.reply(t, a).GetAssignments()[0].GetReplies()[0].GetName()
	head := as(f.account(t, "pub-head", banliv1.Role_ROLE_UNIT_HEAD, f.unit(0)))
	state := func(p *banliv1.Proposal) banliv1.DisclosureState {
		return p.GetAssignments()[0].GetReplies()[0].GetDisclosureState()
	}

	p = must(f.proposals.PublishReply(head, &banliv1.PublishReplyRequest{Name: reply}))(t)
	if state(p) != banliv1.DisclosureState_DISCLOSURE_STATE_AWAITING_APPROVAL || p.GetAssignments()[0].GetReplies()[0].GetPublishTime() != nil {
		t.Fatalf("a unit's publication under the office's approval: %s", state(p))
	}
	_, err := f.proposals.ReviewPublication(head, &banliv1.ReviewPublicationRequest{Name: reply, Decision: banliv1.ReviewDecision_REVIEW_DECISION_ACCEPTED})
	wantCode(t, err, codes.PermissionDenied, "")
	officeCtx := as(f.officeKey(t))
	_, err = f.proposals.ReviewPublication(officeCtx, &banliv1.ReviewPublicationRequest{Name: reply, Decision: banliv1.ReviewDecision_REVIEW_DECISION_RETURNED})
	wantCode(t, err, codes.InvalidArgument, "reason")
	p = must(f.proposals.ReviewPublication(officeCtx, &banliv1.ReviewPublicationRequest{Name: reply, Decision: banliv1.ReviewDecision_REVIEW_DECISION_RETURNED, Reason: "请删去第二条中的项目金额"}))(t)
	if state(p) != banliv1.DisclosureState_DISCLOSURE_STATE_PENDING {
		t.Fatalf("returned: %s", state(p))
	}
	must(f.proposals.PublishReply(head, &banliv1.PublishReplyRequest{Name: reply, PublishedText: "一、关于……"}))(t)
	p = must(f.proposals.ReviewPublication(officeCtx, &banliv1.ReviewPublicationRequest{Name: reply, Decision: banliv1.ReviewDecision_REVIEW_DECISION_ACCEPTED}))(t)
	r := p.GetAssignments()[0].GetReplies()[0]
	if state(p) != banliv1.DisclosureState_DISCLOSURE_STATE_PUBLISHED || r.GetPublishedText() != "一、关于……" || r.GetPublishTime() == nil {
		t.Errorf("approved: %s %q", state(p), r.GetPublishedText())
	}
	var actions []banliv1.PublicationAction
	for _, c := range r.GetPublicationChanges() {
		actions = append(actions, c.GetAction())
	}
	want := []banliv1.PublicationAction{banliv1.PublicationAction_PUBLICATION_ACTION_SUBMITTED, banliv1.PublicationAction_PUBLICATION_ACTION_RETURNED,
		banliv1.PublicationAction_PUBLICATION_ACTION_SUBMITTED, banliv1.PublicationAction_PUBLICATION_ACTION_APPROVED}
	if !slices.Equal(actions, want) {
		t.Errorf("publication changes %v, want %v", actions, want)
	}
}

// TestPublicationQueue: the ledger lists publications due soon and
// overdue; the server marks a publication whose period ended as OVERDUE,
// which the disclosure rate counts as due, while a reply lawfully
// withheld and one still within its period count on neither side; a
// reply a later round supersedes leaves the queue (#15, items 2 and 3).
func TestPublicationQueue(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.ScheduledEvery = 20 * time.Millisecond })
	ctx := context.Background()
	var replies []string
	for range 4 {
		p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
		a := p.GetAssignments()[0].GetName()
		f.sign(t, a)
		f.consult(t, a)
		replies = append(replies, f.reply(t, a).GetAssignments()[0].GetReplies()[0].GetName())
	}
	view := func(v banliv1.LedgerView) []string {
		var out []string
		for _, e := range must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: v, WithinWorkingDays: 30}))(t).GetEntries() {
			out = append(out, e.GetReply())
		}
		return out
	}
	disclosure := func() *banliv1.Rate {
		return must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Session: f.session.GetName()}))(t).GetDisclosure()
	}
	if got := view(banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_DUE_SOON); len(got) != 4 {
		t.Errorf("due soon: %v, want all four", got)
	}
	// Judged as of a day after the period, before the server has marked
	// them: overdue already, read by the day their period ended.
	first := must(f.proposals.GetProposal(ctx, &banliv1.GetProposalRequest{Name: strings.Join(strings.Split(replies[0], "/")[:2], "/")}))(t)
	dayAfter := timestamppb.New(first.GetAssignments()[0].GetReplies()[0].GetDisclosureDeadline().GetDueTime().AsTime().Add(24 * time.Hour))
	if got := must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_OVERDUE, AsOf: dayAfter}))(t).GetEntries(); len(got) != 4 {
		t.Errorf("overdue a day after the period, not yet marked: %d entries, want 4", len(got))
	}
	// One published, one lawfully withheld, two left to run out.
	must(f.proposals.PublishReply(ctx, &banliv1.PublishReplyRequest{Name: replies[0]}))(t)
	must(f.proposals.WithholdReply(ctx, &banliv1.WithholdReplyRequest{Name: replies[1], Reason: "涉及国家秘密，依法不予公开"}))(t)
	if got := disclosure(); got.GetNumerator() != 1 || got.GetDenominator() != 1 {
		t.Errorf("within the period: disclosure %v, want 1/1 (the withheld and the pending ones are not due)", got)
	}

	// Past the period: the server marks the two as overdue.
	p := must(f.proposals.GetProposal(ctx, &banliv1.GetProposalRequest{Name: strings.Join(strings.Split(replies[2], "/")[:2], "/")}))(t)
	f.clock.Set(p.GetAssignments()[0].GetReplies()[0].GetDisclosureDeadline().GetDueTime().AsTime().Add(time.Hour))
	waitFor(t, func() bool { return disclosure().GetDenominator() == 3 })
	if got := disclosure(); got.GetNumerator() != 1 {
		t.Errorf("after the period: disclosure %v, want 1/3", got)
	}
	overdue := must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_OVERDUE}))(t).GetEntries()
	if len(overdue) != 2 || overdue[0].GetReply() != replies[2] || !overdue[0].GetOverdue() ||
		overdue[0].GetDisclosureState() != banliv1.DisclosureState_DISCLOSURE_STATE_OVERDUE || overdue[0].GetDisclosureDeadline() == nil {
		t.Errorf("overdue publications: %v", overdue)
	}
	// Published late, it counts as published.
	must(f.proposals.PublishReply(ctx, &banliv1.PublishReplyRequest{Name: replies[2]}))(t)
	if got := disclosure(); got.GetNumerator() != 2 || got.GetDenominator() != 3 {
		t.Errorf("after a late publication: disclosure %v, want 2/3", got)
	}

	// Re-handled: the first reply leaves the queue.
	f.rate(t, replies[3], 1, banliv1.Satisfaction_SATISFACTION_UNSATISFIED)
	if got := view(banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_OVERDUE); len(got) != 0 {
		t.Errorf("overdue after the re-handling: %v", got)
	}
	p = must(f.proposals.GetProposal(ctx, &banliv1.GetProposalRequest{Name: strings.Join(strings.Split(replies[3], "/")[:2], "/")}))(t)
	if got := p.GetAssignments()[0].GetReplies()[0].GetDisclosureState(); got != banliv1.DisclosureState_DISCLOSURE_STATE_SUPERSEDED {
		t.Errorf("the first round's reply: %s", got)
	}
	if got := disclosure(); got.GetNumerator() != 2 || got.GetDenominator() != 2 {
		t.Errorf("after the re-handling: disclosure %v, want 2/2", got)
	}
}
