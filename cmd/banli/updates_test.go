package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// lastChanges are the field changes of a resource's latest event.
func (f *fixture) lastChanges(t testing.TB, p *banliv1.Proposal) []*banliv1.FieldChange {
	t.Helper()
	events := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 1000}))(t).GetEvents()
	return events[len(events)-1].GetChanges()
}

// TestCorrectingACase: the office corrects a case as it was received
// (AIP-134): a field mask, a required etag, a reason once the case is
// assigned. Each accepted change is an event with the old and new values,
// and the case as it was is read back by version. A mask naming what the
// contract does not let an update change is refused by name, and nothing
// is written (#14, item 1).
func TestCorrectingACase(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	original := p.GetTitle()
	update := func(ctx context.Context, etag, reason string, in *banliv1.Proposal, paths ...string) (*banliv1.Proposal, error) {
		in.Name = p.GetName()
		return f.proposals.UpdateProposal(ctx, &banliv1.UpdateProposalRequest{Proposal: in, UpdateMask: mask(paths...), Etag: etag, Reason: reason})
	}
	history := f.caseEvents(t, p)
	for _, bad := range []struct {
		name  string
		etag  string
		in    *banliv1.Proposal
		paths []string
		code  codes.Code
		field string
	}{
		{"no mask", p.GetEtag(), &banliv1.Proposal{Title: "x"}, nil, codes.InvalidArgument, "update_mask"},
		{"every field", p.GetEtag(), &banliv1.Proposal{Title: "x"}, []string{"*"}, codes.InvalidArgument, "update_mask.paths[0]"},
		{"an output-only field", p.GetEtag(), &banliv1.Proposal{State: banliv1.ProposalState_PROPOSAL_STATE_RATED}, []string{"state"}, codes.InvalidArgument, "update_mask.paths[0]"},
		{"an immutable field", p.GetEtag(), &banliv1.Proposal{Number: "X9"}, []string{"title", "number"}, codes.InvalidArgument, "update_mask.paths[1]"},
		{"an unknown path", p.GetEtag(), &banliv1.Proposal{}, []string{"bogus"}, codes.InvalidArgument, "update_mask.paths[0]"},
		{"a field no update changes", p.GetEtag(), &banliv1.Proposal{Kind: banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION}, []string{"kind"}, codes.InvalidArgument, "update_mask.paths[0]"},
		{"inside a list", p.GetEtag(), &banliv1.Proposal{}, []string{"proposers.phone"}, codes.InvalidArgument, "update_mask.paths[0]"},
		{"a path twice", p.GetEtag(), &banliv1.Proposal{Title: "x"}, []string{"title", "title"}, codes.InvalidArgument, "update_mask.paths[1]"},
		{"no etag", "", &banliv1.Proposal{Title: "x"}, []string{"title"}, codes.InvalidArgument, "etag"},
		{"a stale etag", "99", &banliv1.Proposal{Title: "x"}, []string{"title"}, codes.Aborted, ""},
		{"an empty title", p.GetEtag(), &banliv1.Proposal{}, []string{"title"}, codes.InvalidArgument, "proposal.title"},
		{"nothing changes", p.GetEtag(), &banliv1.Proposal{Title: original}, []string{"title"}, codes.InvalidArgument, "proposal"},
	} {
		_, err := update(office, bad.etag, "", bad.in, bad.paths...)
		t.Run(bad.name, func(t *testing.T) { wantCode(t, err, bad.code, bad.field) })
	}
	if got := f.caseEvents(t, p); got != history {
		t.Fatalf("refused corrections wrote %d events", got-history)
	}
	staff := as(f.account(t, "upd-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	_, err := update(staff, p.GetEtag(), "", &banliv1.Proposal{Title: "x"}, "title")
	wantCode(t, err, codes.PermissionDenied, "")

	// The title, and the proposers reordered with a phone corrected and
	// one added: ids stay with their people.
	proposers := p.GetProposers()
	fixed := []*banliv1.Proposer{
		{Id: proposers[1].GetId(), Type: proposers[1].GetType(), DisplayName: proposers[1].GetDisplayName()},
		{Id: proposers[0].GetId(), Type: proposers[0].GetType(), DisplayName: proposers[0].GetDisplayName(), Phone: "13900000009"},
		{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "赵委员"},
	}
	p = must(update(office, p.GetEtag(), "", &banliv1.Proposal{Title: "关于加快推进数字政府建设的提案", Proposers: fixed}, "title", "proposers"))(t)
	if p.GetTitle() != "关于加快推进数字政府建设的提案" || p.GetProposers()[0].GetId() != 2 || p.GetProposers()[1].GetPhone() != "13900000009" || p.GetProposers()[2].GetId() != 3 {
		t.Fatalf("after the correction: %q, %v", p.GetTitle(), p.GetProposers())
	}
	changes := f.lastChanges(t, p)
	if len(changes) != 2 || changes[0].GetPath() != "title" || changes[0].GetOldValue() != fmt.Sprintf("%q", original) || !strings.Contains(changes[1].GetNewValue(), "13900000009") {
		t.Fatalf("the event's changes: %v", changes)
	}
	first := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName(), Version: 1}))(t)
	if first.GetTitle() != original || len(first.GetProposers()) != 2 {
		t.Fatalf("version 1: %q with %d proposers", first.GetTitle(), len(first.GetProposers()))
	}
	_, err = f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName(), Version: 99})
	wantCode(t, err, codes.InvalidArgument, "version")

	// Once assigned, a correction says why; over REST too.
	p = f.assign(t, p, part(f.unit(0), roleLead))
	_, err = update(office, p.GetEtag(), "", &banliv1.Proposal{Serial: "S-1"}, "serial")
	wantCode(t, err, codes.InvalidArgument, "reason")
	code, body := f.restAs(t, f.officeKey(t), "PATCH", "/v1/"+p.GetName()+"?updateMask=serial&etag="+p.GetEtag()+"&reason=流水号补录", `{"serial":"S-1"}`)
	if code != http.StatusOK || body["serial"] != "S-1" {
		t.Fatalf("REST PATCH: %d %v", code, body)
	}
}

// TestCorrectingUnitsSessionsAndLeaders: a unit renamed keeps its old name
// in its history and cannot be put below itself; a session's display
// name and its policy are corrected, but a deadline rule only while the
// session has no case; a leader's title is corrected (#14, item 1).
func TestCorrectingUnitsSessionsAndLeaders(t *testing.T) {
	f := newFixture(t)
	admin := as(f.adminKey)
	units := f.units
	bureau := f.bureaus[0]
	dept := must(units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "数据资源处", Parent: bureau.GetName()}}))(t)
	renamed := must(units.UpdateUnit(admin, &banliv1.UpdateUnitRequest{Unit: &banliv1.Unit{Name: bureau.GetName(), DisplayName: "市大数据资源管理中心"},
		UpdateMask: mask("display_name"), Etag: bureau.GetEtag()}))(t)
	if renamed.GetDisplayName() != "市大数据资源管理中心" || renamed.GetEtag() == bureau.GetEtag() {
		t.Fatalf("renamed: %v", renamed)
	}
	var renames []*banliv1.FieldChange
	for _, ev := range must(f.events.ListEvents(admin, &banliv1.ListEventsRequest{PageSize: 1000}))(t).GetEvents() {
		if ev.GetResource() == bureau.GetName() && ev.GetAction() == "UpdateUnit" {
			renames = append(renames, ev.GetChanges()...)
		}
	}
	if len(renames) != 1 || renames[0].GetOldValue() != `"市数据局"` || renames[0].GetNewValue() != `"市大数据资源管理中心"` {
		t.Fatalf("the rename's history: %v", renames)
	}
	_, err := units.UpdateUnit(admin, &banliv1.UpdateUnitRequest{Unit: &banliv1.Unit{Name: bureau.GetName(), Parent: dept.GetName()}, UpdateMask: mask("parent"), Etag: renamed.GetEtag()})
	wantCode(t, err, codes.InvalidArgument, "unit.parent")
	_, err = units.UpdateUnit(admin, &banliv1.UpdateUnitRequest{Unit: &banliv1.Unit{Name: bureau.GetName(), Active: false}, UpdateMask: mask("active"), Etag: renamed.GetEtag()})
	wantCode(t, err, codes.InvalidArgument, "update_mask.paths[0]")

	// Sessions: amending a deadline rule recomputes the deadlines it set.
	c := f.assign(t, f.receive(t), part(f.unit(1), roleLead))
	sess := f.session
	sess = must(f.sessions.UpdateSession(admin, &banliv1.UpdateSessionRequest{Session: &banliv1.Session{Name: sess.GetName(), Policy: &banliv1.SessionPolicy{ReplyMonths: ptr(int32(2))}},
		UpdateMask: mask("policy.reply_months"), Etag: sess.GetEtag()}))(t)
	if sess.GetPendingRecompute() != nil {
		t.Fatalf("the recompute is still pending: %v", sess.GetPendingRecompute())
	}
	if d := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: c.GetName()}))(t).GetAssignments()[0].GetResponseDeadline(); d.GetMonths() != 2 || d.GetDueDate() == c.GetAssignments()[0].GetResponseDeadline().GetDueDate() {
		t.Fatalf("the reply deadline after reply_months 3 → 2: %v (was %s)", d, c.GetAssignments()[0].GetResponseDeadline().GetDueDate())
	}
	sess = must(f.sessions.UpdateSession(admin, &banliv1.UpdateSessionRequest{Session: &banliv1.Session{Name: sess.GetName(), DisplayName: "市政协七届一次会议（更正）",
		Policy: &banliv1.SessionPolicy{CountersignLeadReply: ptr(true)}}, UpdateMask: mask("display_name", "policy.countersign_lead_reply"), Etag: sess.GetEtag()}))(t)
	if !sess.GetPolicy().GetCountersignLeadReply() || sess.GetPolicy().GetReplyMonths() != 2 {
		t.Fatalf("the amended policy: %v", sess.GetPolicy())
	}
	empty := f.cppccSession(t, 9, nil)
	empty = must(f.sessions.UpdateSession(admin, &banliv1.UpdateSessionRequest{Session: &banliv1.Session{Name: empty.GetName(), Policy: &banliv1.SessionPolicy{ReplyMonths: ptr(int32(2))}},
		UpdateMask: mask("policy.reply_months"), Etag: empty.GetEtag()}))(t)
	if empty.GetPolicy().GetReplyMonths() != 2 {
		t.Fatalf("a session with no case: reply_months %d", empty.GetPolicy().GetReplyMonths())
	}
	_, err = f.sessions.UpdateSession(admin, &banliv1.UpdateSessionRequest{Session: &banliv1.Session{Name: empty.GetName(), Year: 2030}, UpdateMask: mask("year"), Etag: empty.GetEtag()})
	wantCode(t, err, codes.InvalidArgument, "update_mask.paths[0]")

	// Leaders.
	leaders := banliv1.NewLeaderServiceClient(f.conn)
	wang := must(leaders.CreateLeader(office, &banliv1.CreateLeaderRequest{Leader: &banliv1.Leader{DisplayName: "王某", Title: "市政协副主席", Body: banliv1.LeaderBody_LEADER_BODY_CPPCC}}))(t)
	li := must(leaders.CreateLeader(office, &banliv1.CreateLeaderRequest{Leader: &banliv1.Leader{DisplayName: "李某", Title: "市政协副主席", Body: banliv1.LeaderBody_LEADER_BODY_CPPCC}}))(t)
	wang = must(leaders.UpdateLeader(office, &banliv1.UpdateLeaderRequest{Leader: &banliv1.Leader{Name: wang.GetName(), Title: "市政协主席"}, UpdateMask: mask("title"), Etag: wang.GetEtag()}))(t)
	if wang.GetTitle() != "市政协主席" {
		t.Fatalf("the leader: %v", wang)
	}
	_, err = leaders.UpdateLeader(office, &banliv1.UpdateLeaderRequest{Leader: &banliv1.Leader{Name: li.GetName(), DisplayName: "王某", Title: "市政协主席"}, UpdateMask: mask("display_name", "title"), Etag: li.GetEtag()})
	wantCode(t, err, codes.AlreadyExists, "")
	_, err = leaders.UpdateLeader(office, &banliv1.UpdateLeaderRequest{Leader: &banliv1.Leader{Name: li.GetName(), Body: banliv1.LeaderBody_LEADER_BODY_NPC}, UpdateMask: mask("body"), Etag: li.GetEtag()})
	wantCode(t, err, codes.InvalidArgument, "update_mask.paths[0]")
}

func ptr[T any](v T) *T { return &v }
