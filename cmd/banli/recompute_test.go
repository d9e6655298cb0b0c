package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

// TestRecomputeResumesAfterACrash: a policy amendment on a session of
// 3,000 open parts records its recompute with the amendment; the server
// is killed (SIGKILL) while it works through them, and after the restart
// it finishes, so that every affected deadline follows the new rule: the
// same due date a part assigned that day under the new rule gets (#14,
// item 3).
func TestRecomputeResumesAfterACrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	data := filepath.Join(t.TempDir(), "banli.db")
	p := startProcess(t, data)
	conn := p.dial(t)
	sessions := banliv1.NewSessionServiceClient(conn)
	sess := must(sessions.CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: int32(time.Now().Year()), DisplayName: "recompute"}}))(t)
	unit := must(banliv1.NewUnitServiceClient(conn).CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "市数据局"}}))(t).GetName()
	imports := banliv1.NewImportServiceClient(conn)
	const cases = 3000
	for start := 0; start < cases; start += 500 {
		batch := &banliv1.ImportProposalsRequest{}
		for i := start; i < start+500; i++ {
			batch.Rows = append(batch.Rows, &banliv1.ImportRow{Row: int64(i + 1), Proposal: &banliv1.Proposal{
				Session: sess.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: fmt.Sprintf("R%05d", i),
				Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "重算", Content: "内容",
				Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员"}},
			}, Assignments: []*banliv1.UnitAssignment{{Unit: unit, Role: roleLead}}})
		}
		if got := must(imports.BulkImportProposals(office, &banliv1.BulkImportProposalsRequest{Batch: batch}))(t); got.GetCreated() != 500 {
			t.Fatalf("imported %d of 500", got.GetCreated())
		}
	}
	// reply_months 3 → 2: the amendment returns once the recompute is done,
	// so it is cut off from the side, while it runs.
	amended := make(chan error, 1)
	go func() {
		_, err := sessions.UpdateSession(context.Background(), &banliv1.UpdateSessionRequest{
			Session:    &banliv1.Session{Name: sess.GetName(), Policy: &banliv1.SessionPolicy{ReplyMonths: ptr(int32(2))}},
			UpdateMask: mask("policy.reply_months"), Etag: sess.GetEtag()})
		amended <- err
	}()
	// Kill it once the first batch shows, in the middle of the work.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		s, err := sessions.GetSession(office, &banliv1.GetSessionRequest{Name: sess.GetName()})
		if err == nil && s.GetPendingRecompute().GetAfterCase() > 0 {
			break
		}
	}
	p.cmd.Process.Kill()
	p.cmd.Wait()
	conn.Close()
	<-amended

	// What the kill left: the amendment committed, the recompute perhaps
	// partly done, recorded as pending.
	left := 0
	pending := false
	func() {
		db := must(openDataFile(data, boltstore.Options{}))(t)
		defer db.Close()
		db.View(func(r store.Reader) error {
			s, err := r.Session(1)
			pending = s.GetPendingRecompute() != nil
			if s.GetPolicy().GetReplyMonths() != 2 {
				t.Fatalf("the amendment did not commit before the kill (reply_months %d)", s.GetPolicy().GetReplyMonths())
			}
			return r.ForEachProposal(func(p *banliv1.Proposal) error {
				if p.GetAssignments()[0].GetResponseDeadline().GetMonths() != 2 {
					left++
				}
				return err
			})
		})
	}()
	t.Logf("after the kill: %d of %d parts still on the old rule, recompute pending %v", left, cases, pending)

	// Restarted, the server finishes the work.
	p = startProcess(t, data)
	conn = p.dial(t)
	defer conn.Close()
	waitFor(t, func() bool {
		s, err := banliv1.NewSessionServiceClient(conn).GetSession(office, &banliv1.GetSessionRequest{Name: sess.GetName()})
		return err == nil && s.GetPendingRecompute() == nil
	})
	proposals := banliv1.NewProposalServiceClient(conn)
	probe := must(proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: sess.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: "PROBE",
		Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "对照", Content: "内容",
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员"}},
	}}))(t)
	probe = must(proposals.AssignProposal(office, &banliv1.AssignProposalRequest{Name: probe.GetName(), Assignments: []*banliv1.UnitAssignment{{Unit: unit, Role: roleLead}}}))(t)
	conn.Close()
	p.cmd.Process.Kill()
	p.cmd.Wait()
	want := probe.GetAssignments()[0].GetResponseDeadline()
	db := must(openDataFile(data, boltstore.Options{}))(t)
	defer db.Close()
	if err := service.CheckData(db); err != nil {
		t.Fatal(err)
	}
	wrong := 0
	db.View(func(r store.Reader) error {
		return r.ForEachProposal(func(p *banliv1.Proposal) error {
			d := p.GetAssignments()[0].GetResponseDeadline()
			if p.GetNumber() != "PROBE" && d.GetStartTime().AsTime().In(time.FixedZone("CST", 8*3600)).YearDay() == want.GetStartTime().AsTime().In(time.FixedZone("CST", 8*3600)).YearDay() &&
				(d.GetMonths() != 2 || d.GetDueDate() != want.GetDueDate()) {
				wrong++
			}
			return nil
		})
	})
	if wrong > 0 {
		t.Fatalf("%d parts have a reply deadline other than %s (2 months) after the restart", wrong, want.GetDueDate())
	}
}
