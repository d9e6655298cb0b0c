package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
	"github.com/banli/banli/store/filedir"
)

// acked is one acknowledged write: the answer the server gave, and for an
// upload, the file.
type acked struct {
	action string
	answer *banliv1.Proposal
	file   *banliv1.Attachment
}

// TestCrashKeepsAcknowledgedWrites runs the real server as a child
// process, drives cases through the lifecycle from several clients that
// log a write only once it is acknowledged, kills the server with SIGKILL
// at a random moment, and checks the file: bbolt's own page check, the
// indexes, the statistics, and that every acknowledged write is there with
// the content and history it was acknowledged with. BANLI_CRASH_CYCLES
// sets the number of cycles (3 by default; hundreds for the long run).
func TestCrashKeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	cycles := 3
	if n, err := strconv.Atoi(os.Getenv("BANLI_CRASH_CYCLES")); err == nil && n > 0 {
		cycles = n
	}
	data := filepath.Join(t.TempDir(), "banli.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var session, unit string
	logs := map[string][]acked{} // by case, in order
	for cycle := range cycles {
		p := startProcess(t, data)
		conn := p.dial(t)
		proposals := banliv1.NewProposalServiceClient(conn)
		if cycle == 0 {
			session = must(banliv1.NewSessionServiceClient(conn).CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
				Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "crash"}}))(t).GetName()
			unit = must(banliv1.NewUnitServiceClient(conn).CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "市数据局"}}))(t).GetName()
		}
		// The server answers: everything acknowledged so far is served.
		for name, log := range logs {
			got := must(proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: name}))(t)
			// Etags are revision numbers here (opaque to clients, known to us).
			have, _ := strconv.Atoi(got.GetEtag())
			want, _ := strconv.Atoi(log[len(log)-1].answer.GetEtag())
			if have < want {
				t.Fatalf("cycle %d: %s is at revision %d, acknowledged %d", cycle, name, have, want)
			}
		}

		var mu sync.Mutex
		var wg sync.WaitGroup
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		for c := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 500 && ctx.Err() == nil; i++ {
					steps, err := driveCase(ctx, proposals, session, unit, fmt.Sprintf("C%d-%d-%d", cycle, c, i))
					mu.Lock()
					for _, s := range steps {
						logs[s.answer.GetName()] = append(logs[s.answer.GetName()], s)
					}
					mu.Unlock()
					if err != nil {
						return // the server is gone
					}
				}
			}()
		}
		time.Sleep(time.Duration(100+rng.IntN(500)) * time.Millisecond) // a random moment, not a wait for a condition
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		wg.Wait()
		cancel()
		conn.Close()
		verifyAfterCrash(t, data, logs, cycle)
	}
	n := 0
	for _, log := range logs {
		n += len(log)
	}
	t.Logf("%d cycles, %d acknowledged writes on %d cases, all kept", cycles, n, len(logs))
}

// driveCase takes one case as far as it can go, returning the writes that
// were acknowledged, and the first error.
func driveCase(ctx context.Context, c banliv1.ProposalServiceClient, session, unit, number string) ([]acked, error) {
	var out []acked
	step := func(action string, call func() (*banliv1.Proposal, error)) (*banliv1.Proposal, error) {
		p, err := call()
		if err == nil {
			out = append(out, acked{action: action, answer: p})
		}
		return p, err
	}
	p, err := step("CreateProposal", func() (*banliv1.Proposal, error) {
		return c.CreateProposal(ctx, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
			Session: session, Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: number,
			Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "崩溃测试", Content: "内容",
			Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员"}},
		}})
	})
	if err != nil {
		return out, err
	}
	if p, err = step("AssignProposal", func() (*banliv1.Proposal, error) {
		return c.AssignProposal(ctx, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{{Unit: unit, Role: roleLead}}})
	}); err != nil {
		return out, err
	}
	a := p.GetAssignments()[0].GetName()
	var uploaded *banliv1.Attachment
	for _, s := range []struct {
		action string
		call   func() (*banliv1.Proposal, error)
	}{
		{"SignAssignment", func() (*banliv1.Proposal, error) {
			return c.SignAssignment(ctx, &banliv1.SignAssignmentRequest{Name: a})
		}},
		{"RecordConsultation", func() (*banliv1.Proposal, error) {
			return c.RecordConsultation(ctx, &banliv1.RecordConsultationRequest{Name: a, Consultation: &banliv1.Consultation{
				Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT, Summary: "面商"}})
		}},
		// The sealed letter: its own content (so its own SHA-256), 64 KiB
		// to 1 MiB, streamed in 256 KiB chunks. The upload answers with
		// the file; the case as it then stands is read back to log it.
		{"UploadFile", func() (*banliv1.Proposal, error) {
			letter := fakePDF(64<<10+rand.IntN(960<<10), rand.Uint64())
			file, err := uploadVia(ctx, c, &banliv1.FileUpload{Parent: p.GetName(), FileName: "答复函.pdf", Sha256: hexSHA256(letter)}, letter, 256<<10)
			if err != nil {
				return nil, err
			}
			uploaded = file
			return c.GetProposal(ctx, &banliv1.GetProposalRequest{Name: p.GetName()})
		}},
		{"SubmitReply", func() (*banliv1.Proposal, error) {
			req := load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)
			req.Reply.Attachments = []*banliv1.Attachment{{Name: uploaded.GetName()}}
			return c.SubmitReply(ctx, req)
		}},
		{"RateReply", func() (*banliv1.Proposal, error) {
			return c.RateReply(ctx, &banliv1.RateReplyRequest{Name: a + "/replies/1", ProposerId: 1, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED})
		}},
	} {
		if _, err := step(s.action, s.call); err != nil {
			return out, err
		}
		if s.action == "UploadFile" {
			out[len(out)-1].file = uploaded
		}
	}
	return out, nil
}

// verifyAfterCrash opens the file the killed server left and checks it.
func verifyAfterCrash(t *testing.T, data string, logs map[string][]acked, cycle int) {
	t.Helper()
	db, err := openDataFile(data, boltstore.Options{})
	if err != nil {
		t.Fatalf("cycle %d: reopen after SIGKILL: %v", cycle, err)
	}
	defer db.Close()
	if err := service.CheckData(db); err != nil {
		t.Fatalf("cycle %d: %v", cycle, err)
	}
	verifyFilesAfterCrash(t, db, data, logs, cycle)
	err = db.View(func(r store.Reader) error {
		for name, log := range logs {
			events, _, err := r.ListResourceEvents(name, 0, 1000)
			if err != nil {
				return err
			}
			// The acknowledged writes are the history's first entries, in
			// order, each with the case as it was acknowledged; at most one
			// more write may have committed without its answer arriving.
			if len(events) < len(log) || len(events) > len(log)+1 {
				return fmt.Errorf("%s: %d events, %d acknowledged writes", name, len(events), len(log))
			}
			for i, a := range log {
				if !strings.HasPrefix(events[i].GetAction(), a.action) || !proto.Equal(events[i].GetProposal(), a.answer) {
					return fmt.Errorf("%s: write %d (%s) is stored as %s with other content", name, i, a.action, events[i].GetAction())
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("cycle %d: %v", cycle, err)
	}
}

// verifyFilesAfterCrash recovers the file store as the next start does
// and checks it: every acknowledged upload is kept with its content, and
// nothing is left that no case names (no orphan: an upload refused or cut
// by the kill leaves no file).
func verifyFilesAfterCrash(t *testing.T, db store.Backend, data string, logs map[string][]acked, cycle int) {
	t.Helper()
	files := must(filedir.Open(server.FilesDir(data)))(t)
	rec, err := service.RecoverFiles(db, files)
	if err != nil {
		t.Fatalf("cycle %d: recover the files: %v", cycle, err)
	}
	if err := service.CheckFiles(db, files); err != nil {
		t.Fatalf("cycle %d: %v", cycle, err)
	}
	named := map[string]bool{}
	db.View(func(r store.Reader) error {
		return r.ForEachProposal(func(p *banliv1.Proposal) error {
			for _, f := range p.GetFiles() {
				named[f.GetSha256()] = true
			}
			return nil
		})
	})
	kept := must(files.Kept())(t)
	for _, sha := range kept {
		if !named[sha] {
			t.Fatalf("cycle %d: %s is kept but no case names it", cycle, sha)
		}
	}
	if len(kept) != len(named) {
		t.Fatalf("cycle %d: %d contents kept, %d named", cycle, len(kept), len(named))
	}
	if left, _ := os.ReadDir(filepath.Join(server.FilesDir(data), "incoming")); len(left) != 0 {
		t.Fatalf("cycle %d: %d staged files left after recovery", cycle, len(left))
	}
	uploads := 0
	for _, log := range logs {
		for _, a := range log {
			if a.file != nil {
				uploads++
				if !named[a.file.GetSha256()] {
					t.Fatalf("cycle %d: the acknowledged upload %s is lost", cycle, a.file.GetName())
				}
			}
		}
	}
	t.Logf("cycle %d: %d acknowledged uploads kept; recovery kept %d staged and removed %d", cycle, uploads, rec.Kept, rec.Removed)
}
