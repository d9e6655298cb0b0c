package main

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestNoLostUpdates races lifecycle steps and edits on three hot cases from
// many goroutines, half of them sending the etag they last read, some
// sending the same request twice at once. Afterwards every case's history
// must hold each accepted change exactly once and no refused one, its
// revisions must go up by one each time, its states must form a path, an
// accepted etag must be the revision it replaced, and the case must equal
// its history's last snapshot.
func TestNoLostUpdates(t *testing.T) {
	f := newFixture(t)
	var hot []*banliv1.Proposal
	for range 3 {
		hot = append(hot, f.assign(t, f.receive(t), part(f.unit(0), roleLead), part(f.unit(1), roleCo), part(f.unit(2), roleCo), part(f.unit(3), roleCo)))
	}

	type outcome struct {
		etagSent string
		answer   *banliv1.Proposal
	}
	var mu sync.Mutex
	accepted := map[string]outcome{} // by request id
	refused := map[string]bool{}
	var wg sync.WaitGroup
	for w := range 24 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			for i := range 30 {
				p := hot[(w+i)%len(hot)]
				etag := ""
				if w%2 == 0 { // read, then send the etag: a clerk editing what they saw
					cur, err := f.proposals.GetProposal(ctx, &banliv1.GetProposalRequest{Name: p.GetName()})
					if err != nil {
						t.Error(err)
						return
					}
					etag = cur.GetEtag()
				}
				id := fmt.Sprintf("w%d-%d", w, i)
				a := p.GetAssignments()[1+(w+i)%3].GetName()
				var call func() (*banliv1.Proposal, error)
				switch i % 4 {
				case 0:
					call = func() (*banliv1.Proposal, error) {
						return f.proposals.SignAssignment(ctx, &banliv1.SignAssignmentRequest{Name: a, Etag: etag, RequestId: id})
					}
				case 1:
					call = func() (*banliv1.Proposal, error) {
						return f.proposals.RecordConsultation(ctx, &banliv1.RecordConsultationRequest{Name: a, Etag: etag, RequestId: id, Consultation: &banliv1.Consultation{
							Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_DURING, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE, Summary: id}})
					}
				case 2:
					call = func() (*banliv1.Proposal, error) {
						return f.proposals.MarkKey(ctx, &banliv1.MarkKeyRequest{Name: p.GetName(), Etag: etag, RequestId: id, Key: w%3 == 0, SupervisingLeader: leaderFor(w)})
					}
				default:
					call = func() (*banliv1.Proposal, error) {
						return f.proposals.RecordReminder(ctx, &banliv1.RecordReminderRequest{Name: p.GetName(), Etag: etag, RequestId: id, Message: id})
					}
				}
				// Every fifth request is sent twice at once, as a retry would.
				sends := 1
				if i%5 == 0 {
					sends = 2
				}
				var inner sync.WaitGroup
				for range sends {
					inner.Add(1)
					go func() {
						defer inner.Done()
						answer, err := call()
						mu.Lock()
						defer mu.Unlock()
						switch code := status.Code(err); code {
						case codes.OK:
							if prev, seen := accepted[id]; seen && !proto.Equal(prev.answer, answer) {
								t.Errorf("%s answered twice, differently", id)
							}
							accepted[id] = outcome{etagSent: etag, answer: answer}
						case codes.Aborted, codes.FailedPrecondition:
							refused[id] = true
						default:
							t.Errorf("%s: %v", id, err)
						}
					}()
				}
				inner.Wait()
			}
		}()
	}
	wg.Wait()

	for id := range accepted {
		delete(refused, id) // a retry of an accepted request may see the first answer or a conflict
	}
	seen := map[string]int{}
	for _, p := range hot {
		evs := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName(), PageSize: 1000}))(t).GetEvents()
		for i, ev := range evs {
			snap := ev.GetProposal()
			if rev, _ := strconv.Atoi(snap.GetEtag()); rev != i+1 {
				t.Fatalf("%s: event %d has revision %d", p.GetName(), i, rev)
			}
			if ev.GetToState() != "" && ev.GetToState() != stateLabel(snap.GetState()) {
				t.Errorf("%s: event %d says %s but the case is %s", p.GetName(), i, ev.GetToState(), snap.GetState())
			}
			if i > 0 && ev.GetFromState() != evs[i-1].GetToState() {
				t.Errorf("%s: event %d starts from %s, the last ended in %s", p.GetName(), i, ev.GetFromState(), evs[i-1].GetToState())
			}
			if id := ev.GetRequestId(); id != "" {
				seen[id]++
				out, ok := accepted[id]
				switch {
				case !ok:
					t.Errorf("%s is in the history but was never acknowledged", id)
				case !proto.Equal(out.answer, snap):
					t.Errorf("%s was answered with other content than its event's", id)
				case out.etagSent != "" && out.etagSent != strconv.Itoa(i):
					t.Errorf("%s sent etag %s but replaced revision %d: a lost update", id, out.etagSent, i)
				}
			}
		}
		final := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
		if diff := cmp.Diff(evs[len(evs)-1].GetProposal(), final, protocmp.Transform()); diff != "" {
			t.Errorf("%s differs from its last snapshot:\n%s", p.GetName(), diff)
		}
	}
	for id := range accepted {
		if seen[id] != 1 {
			t.Errorf("accepted %s is in the history %d times", id, seen[id])
		}
	}
	for id := range refused {
		if seen[id] != 0 {
			t.Errorf("refused %s is in the history", id)
		}
	}
	if len(accepted) == 0 || len(refused) == 0 {
		t.Errorf("%d accepted, %d refused: the race did not race", len(accepted), len(refused))
	}
	t.Logf("%d changes accepted, %d refused", len(accepted), len(refused))
}

func leaderFor(w int) string {
	if w%3 == 0 {
		return fmt.Sprintf("领导%d", w)
	}
	return ""
}

// stateLabel is how events name a case state.
func stateLabel(s banliv1.ProposalState) string {
	return s.String()[len("PROPOSAL_STATE_"):]
}
