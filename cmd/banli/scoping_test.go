package main

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// existing is the resource an ALREADY_EXISTS names in its ResourceInfo.
func existing(t *testing.T, err error) string {
	t.Helper()
	wantCode(t, err, codes.AlreadyExists, "")
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.ResourceInfo); ok {
			return ri.GetResourceName()
		}
	}
	return ""
}

// TestScopingOfSessionsUnitsAndProposers: a session is unique on its body,
// level, term and meeting, and an active unit on its parent and name; a
// second is ALREADY_EXISTS naming the first in ResourceInfo. An NPC
// suggestion comes from deputies or delegations, never from a party
// (#15, item 1).
func TestScopingOfSessionsUnitsAndProposers(t *testing.T) {
	f := newFixture(t)
	admin := as(f.adminKey)
	_, err := f.sessions.CreateSession(admin, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "又一个七届一次"}})
	if got := existing(t, err); got != f.session.GetName() {
		t.Errorf("the duplicate session names %q, want %s", got, f.session.GetName())
	}
	_, err = f.units.CreateUnit(admin, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: f.bureaus[0].GetDisplayName()}})
	if got := existing(t, err); got != f.unit(0) {
		t.Errorf("the duplicate unit names %q, want %s", got, f.unit(0))
	}
	// The same name under another parent is another unit.
	must(f.units.CreateUnit(admin, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "办公室", Parent: f.unit(0)}}))(t)
	must(f.units.CreateUnit(admin, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "办公室", Parent: f.unit(1)}}))(t)
	// A case number taken: the existing case is named to a caller who may
	// read it.
	p := f.receive(t)
	dup := f.receiveRequest(p.GetNumber())
	_, err = f.proposals.CreateProposal(office, dup)
	if got := existing(t, err); got != p.GetName() {
		t.Errorf("the taken number names %q, want %s", got, p.GetName())
	}

	npc := must(f.sessions.CreateSession(admin, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_NPC, Level: banliv1.Level_LEVEL_CITY, Term: 16, Meeting: 1, Year: 2021, DisplayName: "市十六届人大一次会议"}}))(t)
	suggestion := func(proposers ...*banliv1.Proposer) *banliv1.CreateProposalRequest {
		return &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{Session: npc.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION,
			Number: "S1", Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于改善交通的建议", Content: "……", Proposers: proposers}}
	}
	_, err = f.proposals.CreateProposal(office, suggestion(
		&banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王代表"},
		&banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PARTY, DisplayName: "致公党市委会"}))
	wantCode(t, err, codes.InvalidArgument, "proposal.proposers[1].type")
	must(f.proposals.CreateProposal(office, suggestion(
		&banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_DELEGATION, DisplayName: "福田代表团"},
		&banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王代表"})))(t)
	cppcc := f.receiveRequest("D1")
	cppcc.Proposal.Proposers = []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_DELEGATION, DisplayName: "福田代表团"}}
	_, err = f.proposals.CreateProposal(office, cppcc)
	wantCode(t, err, codes.InvalidArgument, "proposal.proposers[0].type")
}
