package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestProposerCannotAssignThroughImport: only the office assigns (交办);
// a proposer's import row that names units is refused for that field,
// the refusal is audited, and nothing is written.
func TestProposerCannotAssignThroughImport(t *testing.T) {
	f := newFixture(t)
	platform := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	imports := banliv1.NewImportServiceClient(f.conn)
	batch := &banliv1.ImportProposalsRequest{Rows: []*banliv1.ImportRow{
		importRow(f, 1, "P1"),
		importRow(f, 2, "P2", part(f.unit(0), roleLead)),
	}}
	_, err := imports.BulkImportProposals(as(platform), &banliv1.BulkImportProposalsRequest{Batch: batch})
	wantCode(t, err, codes.PermissionDenied, "")
	if info := errorInfo(err); info.GetMetadata()["field"] != "batch.rows[1].assignments" {
		t.Errorf("the refusal names %v, want the field batch.rows[1].assignments", info)
	}
	// The stream is refused the same way, naming the batch's own field.
	stream := must(imports.ImportProposals(as(platform)))(t)
	if err := stream.Send(batch); err != nil {
		t.Fatal(err)
	}
	_, err = stream.Recv()
	wantCode(t, err, codes.PermissionDenied, "")
	if info := errorInfo(err); info.GetMetadata()["field"] != "rows[1].assignments" {
		t.Errorf("the stream's refusal names %v, want rows[1].assignments", info)
	}
	list := must(f.proposals.ListProposals(context.Background(), &banliv1.ListProposalsRequest{}))(t)
	if len(list.GetProposals()) != 0 {
		t.Errorf("a refused import wrote %d cases", len(list.GetProposals()))
	}
	if rec := lastAudit(f.auditTrail(t), "/BulkImportProposals"); rec.GetOutcome() != "PermissionDenied" || rec.GetActor() != "accounts/platform" {
		t.Errorf("the refused import is audited as %v", rec)
	}
	// The office's import may assign.
	resp := must(imports.BulkImportProposals(as(f.officeKey(t)), &banliv1.BulkImportProposalsRequest{Batch: batch}))(t)
	if resp.GetCreated() != 2 {
		t.Errorf("the office's import: %v", outcomes(resp))
	}
}

// TestRequestIDsBelongToTheirAccount: a request_id is the caller's own
// (AIP-155). Another account sending the same id and body gets an answer
// of its own, never the first caller's, and cannot use up the first
// caller's ids.
func TestRequestIDsBelongToTheirAccount(t *testing.T) {
	f := newFixture(t)
	alice := f.account(t, "alice", banliv1.Role_ROLE_PROPOSER, "")
	mallory := f.account(t, "mallory", banliv1.Role_ROLE_PROPOSER, "")
	req := func(number string) *banliv1.CreateProposalRequest {
		in := f.receiveRequest(number)
		in.RequestId = "req-0001"
		return in
	}
	// Mallory takes the id first, with another body.
	_, err := f.proposals.CreateProposal(as(mallory), req("M-1"))
	if err != nil {
		t.Fatal(err)
	}
	mine := must(f.proposals.CreateProposal(as(alice), req("A-1")))(t)
	if mine.GetSubmitter() != "accounts/alice" || mine.GetNumber() != "A-1" {
		t.Fatalf("alice's request, after mallory used its id: %v", mine)
	}
	// Alice's retry replays her answer.
	again := must(f.proposals.CreateProposal(as(alice), req("A-1")))(t)
	if again.GetName() != mine.GetName() {
		t.Errorf("alice's retry made %s, want %s again", again.GetName(), mine.GetName())
	}
	// Mallory replays alice's id and body: a new request of mallory's, which
	// is refused as a number taken, and says nothing of alice's case.
	_, err = f.proposals.CreateProposal(as(mallory), req("A-1"))
	if status.Code(err) == codes.OK {
		t.Fatal("mallory's replay of alice's request succeeded")
	}
	if strings.Contains(status.Convert(err).Message(), mine.GetName()) || strings.Contains(fmt.Sprint(status.Convert(err).Details()), mine.GetName()) {
		t.Errorf("mallory's replay names alice's case: %v", err)
	}
}

// receiveRequest is the fixture's usual case under another number.
func (f *fixture) receiveRequest(number string) *banliv1.CreateProposalRequest {
	return &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: f.session.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: number,
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于加快数字政府建设的提案",
		Content: "一、现状分析……", Proposers: []*banliv1.Proposer{
			{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员", Phone: "13800000001"},
		},
	}}
}

// TestImportIsNoOracle: a proposer's import, dry or not, tells nothing of
// a case another proposer submitted: its number is a conflict, whatever
// its content, with no case named. Dry runs are audited.
func TestImportIsNoOracle(t *testing.T) {
	f := newFixture(t)
	alice := f.account(t, "alice", banliv1.Role_ROLE_PROPOSER, "")
	mallory := f.account(t, "mallory", banliv1.Role_ROLE_PROPOSER, "")
	imports := banliv1.NewImportServiceClient(f.conn)
	row := importRow(f, 1, "SECRET-1")
	must(imports.BulkImportProposals(as(alice), &banliv1.BulkImportProposalsRequest{Batch: &banliv1.ImportProposalsRequest{Rows: []*banliv1.ImportRow{row}}}))(t)

	guess := func(content string, dry bool) *banliv1.ImportRowResult {
		r := importRow(f, 1, "SECRET-1")
		r.Proposal.Content = content
		resp := must(imports.BulkImportProposals(as(mallory), &banliv1.BulkImportProposalsRequest{Batch: &banliv1.ImportProposalsRequest{DryRun: dry, Rows: []*banliv1.ImportRow{r}}}))(t)
		return resp.GetResults()[0]
	}
	right, wrong := guess(row.GetProposal().GetContent(), true), guess("别的内容", true)
	for _, got := range []*banliv1.ImportRowResult{right, wrong, guess(row.GetProposal().GetContent(), false)} {
		if got.GetOutcome() != banliv1.ImportOutcome_IMPORT_OUTCOME_CONFLICT || got.GetProposal() != "" || strings.Contains(got.GetMessage(), "proposals/") {
			t.Errorf("a guess at another's case answers %v", got)
		}
	}
	if right.GetMessage() != wrong.GetMessage() {
		t.Errorf("a right guess (%q) reads otherwise than a wrong one (%q)", right.GetMessage(), wrong.GetMessage())
	}
	// Alice's own dry run still tells her that her row is unchanged.
	mine := must(imports.BulkImportProposals(as(alice), &banliv1.BulkImportProposalsRequest{Batch: &banliv1.ImportProposalsRequest{DryRun: true, Rows: []*banliv1.ImportRow{row}}}))(t)
	if mine.GetResults()[0].GetOutcome() != banliv1.ImportOutcome_IMPORT_OUTCOME_UNCHANGED {
		t.Errorf("alice's own dry run: %v", mine.GetResults()[0])
	}
	rec := lastAudit(f.auditTrail(t), "/BulkImportProposals")
	if rec.GetActor() != "accounts/alice" || rec.GetOutcome() != "OK" || !strings.Contains(rec.GetTarget(), "dry run") {
		t.Errorf("the last dry run is audited as %v", rec)
	}
}
