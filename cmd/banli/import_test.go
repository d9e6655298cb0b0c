package main

import (
	"context"
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

func importRow(f *fixture, row int64, number string, units ...*banliv1.UnitAssignment) *banliv1.ImportRow {
	return &banliv1.ImportRow{Row: row, Assignments: units, Proposal: &banliv1.Proposal{
		Session: f.session.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: number,
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于" + number + "的提案", Content: "建议……",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员"}},
	}}
}

func outcomes(resp *banliv1.ImportProposalsResponse) []string {
	var out []string
	for _, r := range resp.GetResults() {
		out = append(out, fmt.Sprintf("%d:%s", r.GetRow(), r.GetOutcome().String()[len("IMPORT_OUTCOME_"):]))
	}
	return out
}

// TestImport streams batches of rows and checks every outcome, that a
// second run changes nothing, dry runs and all-or-nothing batches, and
// the REST bulk endpoint.
func TestImport(t *testing.T) {
	f := newFixture(t)
	imports := banliv1.NewImportServiceClient(f.conn)
	untitled := importRow(f, 3, "I3")
	untitled.Proposal.Title = ""
	wrongKind := importRow(f, 6, "I6")
	wrongKind.Proposal.Kind = banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION
	rows := []*banliv1.ImportRow{
		importRow(f, 1, "I1"),
		importRow(f, 2, "I2", part(f.unit(0), roleLead), part(f.unit(1), roleCo)),
		untitled,
		importRow(f, 4, "I1"), // the same number again in this batch
		importRow(f, 5, "I5", part("units/99", roleLead)), // no such unit
		wrongKind,
		importRow(f, 7, "I7", part(f.unit(2), roleSplit), part(f.unit(3), roleSplit)),
	}
	stream, err := imports.ImportProposals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	send := func(req *banliv1.ImportProposalsRequest) *banliv1.ImportProposalsResponse {
		t.Helper()
		if err := stream.Send(req); err != nil {
			t.Fatal(err)
		}
		return must(stream.Recv())(t)
	}
	first := send(&banliv1.ImportProposalsRequest{Rows: rows})
	want := "[1:CREATED 2:CREATED 3:INVALID 4:INVALID 5:INVALID 6:INVALID 7:CREATED]"
	if got := fmt.Sprint(outcomes(first)); got != want || !first.GetCommitted() || first.GetCreated() != 3 || first.GetInvalid() != 4 {
		t.Fatalf("first run: %s (committed %v), want %s", got, first.GetCommitted(), want)
	}
	if v := first.GetResults()[2].GetViolations(); len(v) != 1 || v[0].GetField() != "proposal.title" {
		t.Errorf("row 3's violations: %v", v)
	}
	if v := first.GetResults()[4].GetViolations(); len(v) != 1 || v[0].GetField() != "assignments[0].unit" {
		t.Errorf("row 5's violations: %v", v)
	}
	p := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: first.GetResults()[1].GetProposal()}))(t)
	if p.GetState() != banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED || len(p.GetAssignments()) != 2 || p.GetAssignments()[0].GetCurrentDeadline() == nil {
		t.Errorf("imported case %v", p)
	}

	// The same rows again: nothing changes.
	second := send(&banliv1.ImportProposalsRequest{Rows: rows})
	if got := fmt.Sprint(outcomes(second)); got != "[1:UNCHANGED 2:UNCHANGED 3:INVALID 4:INVALID 5:INVALID 6:INVALID 7:UNCHANGED]" {
		t.Errorf("second run: %s", got)
	}
	// A changed title is a conflict, and is not written.
	changed := proto.Clone(rows[0]).(*banliv1.ImportRow)
	changed.Proposal.Title = "另一个标题"
	third := send(&banliv1.ImportProposalsRequest{Rows: []*banliv1.ImportRow{changed}})
	if third.GetConflicts() != 1 || third.GetResults()[0].GetProposal() != first.GetResults()[0].GetProposal() {
		t.Errorf("changed row: %v", third)
	}
	// A dry run decides and writes nothing.
	dry := send(&banliv1.ImportProposalsRequest{DryRun: true, Rows: []*banliv1.ImportRow{importRow(f, 8, "I8"), importRow(f, 9, "I9")}})
	if dry.GetCreated() != 2 || dry.GetCommitted() {
		t.Errorf("dry run: %v", dry)
	}
	// All or nothing: one bad row keeps the good one out.
	aon := send(&banliv1.ImportProposalsRequest{Atomicity: banliv1.ImportAtomicity_IMPORT_ATOMICITY_ALL_OR_NOTHING, Rows: []*banliv1.ImportRow{importRow(f, 10, "I10"), untitled}})
	if aon.GetCommitted() || aon.GetCreated() != 1 || aon.GetInvalid() != 1 {
		t.Errorf("all or nothing with a bad row: %v", aon)
	}
	stream.CloseSend()
	list := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{}))(t)
	if n := len(list.GetProposals()); n != 3 {
		t.Errorf("%d cases after the imports, want 3", n)
	}

	// REST: the same batch as a request body.
	code, out := f.rest(t, "POST", "/v1/proposals:import", map[string]any{"rows": []any{map[string]any{
		"row": 1, "proposal": map[string]any{"session": f.session.GetName(), "kind": "PROPOSAL_KIND_CPPCC_PROPOSAL", "number": "R1",
			"period": "SUBMISSION_PERIOD_DURING_MEETING", "title": "t", "content": "c",
			"proposers": []any{map[string]any{"type": "PROPOSER_TYPE_PERSON", "displayName": "某"}}},
		"assignments": []any{map[string]any{"unit": f.unit(0), "role": "ASSIGNMENT_ROLE_LEAD"}},
	}}})
	if code != 200 || out["created"] != "1" || out["committed"] != true {
		t.Errorf("REST import: %d %v", code, out)
	}
}
