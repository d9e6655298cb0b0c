package main

import (
	"testing"

	"google.golang.org/grpc/codes"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestFixedReplyDays: a session may fix the day every reply is due by
// ("7月31日前全部办结"), and an earlier one for some proposer types (party
// proposals); the earlier of the day and reply_months applies, and
// amending the day recomputes the deadlines (#15, item 3).
func TestFixedReplyDays(t *testing.T) {
	f := newFixture(t)
	admin := as(f.adminKey)
	_, err := f.sessions.CreateSession(admin, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 9, Year: 2021, DisplayName: "x",
		Policy: &banliv1.SessionPolicy{ReplyDueDate: "2021-02-30", ReplyDueDates: []*banliv1.ProposerTypeDueDate{{DueDate: "2021-04-30"}}},
	}})
	wantCode(t, err, codes.InvalidArgument, "session.policy.reply_due_date")
	wantCode(t, err, codes.InvalidArgument, "session.policy.reply_due_dates[0].proposer_type")

	sess := f.cppccSession(t, 5, &banliv1.SessionPolicy{
		ReplyDueDate:  "2021-05-31",
		ReplyDueDates: []*banliv1.ProposerTypeDueDate{{ProposerType: banliv1.ProposerType_PROPOSER_TYPE_PARTY, DueDate: "2021-04-30"}},
	})
	member := f.receiveIn(t, sess, "F1")
	party := f.receiveIn(t, sess, "F2")
	party = must(f.proposals.UpdateProposal(office, &banliv1.UpdateProposalRequest{Proposal: &banliv1.Proposal{Name: party.GetName(),
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PARTY, DisplayName: "致公党市委会"}}}, UpdateMask: mask("proposers"), Etag: party.GetEtag()}))(t)
	// Assigned on 1 March: three months is 1 June.
	due := func(p *banliv1.Proposal) *banliv1.Deadline {
		return must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t).GetAssignments()[0].GetResponseDeadline()
	}
	member = f.assign(t, member, part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	party = f.assign(t, party, part(f.unit(0), roleLead))
	if d := due(member); d.GetDueDate() != "2021-05-31" || d.GetRule() != "by 2021-05-31, the session's fixed reply day (before 3 months after assignment)" ||
		d.GetRuleZh() != "2021-05-31前（本届次规定的答复日期，早于交办后3个月）" {
		t.Errorf("a member's case: %s (%s)", d.GetDueDate(), d.GetRule())
	}
	if d := due(party); d.GetDueDate() != "2021-04-30" {
		t.Errorf("a party's case: %s (%s)", d.GetDueDate(), d.GetRule())
	}
	if d := member.GetAssignments()[1].GetResponseDeadline(); d.GetDueDate() != "2021-04-01" {
		t.Errorf("a co-handling opinion keeps its month: %s (%s)", d.GetDueDate(), d.GetRule())
	}

	// A later day than the months rule: the months rule applies again.
	sess = must(f.sessions.GetSession(office, &banliv1.GetSessionRequest{Name: sess.GetName()}))(t)
	must(f.sessions.UpdateSession(admin, &banliv1.UpdateSessionRequest{Session: &banliv1.Session{Name: sess.GetName(),
		Policy: &banliv1.SessionPolicy{ReplyDueDate: "2021-07-31"}}, UpdateMask: mask("policy.reply_due_date"), Etag: sess.GetEtag()}))(t)
	waitFor(t, func() bool {
		s := must(f.sessions.GetSession(office, &banliv1.GetSessionRequest{Name: sess.GetName()}))(t)
		return s.GetPendingRecompute() == nil
	})
	if d := due(member); d.GetDueDate() != "2021-06-01" || d.GetFixedDate() != "2021-07-31" {
		t.Errorf("a member's case after the amendment: %s (%s, fixed %s)", d.GetDueDate(), d.GetRule(), d.GetFixedDate())
	}
	if d := due(party); d.GetDueDate() != "2021-04-30" {
		t.Errorf("a party's case after the amendment: %s (%s)", d.GetDueDate(), d.GetRule())
	}
}
