package boltstore

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/storetest"
)

// TestEventsStoreWhatChanged: a case's events after its first are stored
// as deltas, never more than maxDeltaChain in a row, and every event
// reads back with the snapshot the case had at that step, exactly, and
// its own fields, through both ways of reading events.
func TestEventsStoreWhatChanged(t *testing.T) {
	db, _ := openTest(t)
	p := storetest.Proposal("sessions/1", "20260001", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
	p.Title, p.Content = "关于加快数字政府建设的提案", strings.Repeat("建议完善政务数据共享机制。", 20)
	id := storetest.PutProposal(t, db, 0, p)
	want := [][]byte{must(proto.Marshal(p))}
	steps := []func(p *banliv1.Proposal){
		func(p *banliv1.Proposal) { // assigned: a repeated field appears
			p.State = banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED
			for _, u := range []string{"units/1", "units/2"} {
				p.Assignments = append(p.Assignments, &banliv1.Assignment{Unit: u, State: banliv1.AssignmentState_ASSIGNMENT_STATE_ASSIGNED})
			}
		},
		func(p *banliv1.Proposal) { p.Assignments[1].State = banliv1.AssignmentState_ASSIGNMENT_STATE_SIGNED }, // one element, deep
		func(p *banliv1.Proposal) {
			p.Assignments[0].Consultations = append(p.Assignments[0].Consultations, &banliv1.Consultation{Summary: "当面沟通"})
		},
		func(p *banliv1.Proposal) { p.Assignments = p.Assignments[:1] }, // an element removed
		func(p *banliv1.Proposal) { p.Content = "" },                    // a field gone
		func(p *banliv1.Proposal) { p.Topics = append(p.Topics, "营商环境") },
		func(p *banliv1.Proposal) { p.Title += "（修改）" },
	}
	for i := range 3 * maxDeltaChain {
		steps[i%len(steps)](p)
		p.Etag = fmt.Sprint(i)
		storetest.PutProposal(t, db, id, p)
		want = append(want, must(proto.Marshal(p)))
	}
	var deltas, run, longest int
	err := db.bolt.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEvents).ForEach(func(_, v []byte) error {
			if v[0] == deltaMark {
				deltas, run = deltas+1, run+1
				longest = max(longest, run)
			} else {
				run = 0
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if deltas < len(want)/2 || longest >= maxDeltaChain {
		t.Errorf("%d of %d events are deltas, %d in a row at most; want most, fewer than %d in a row", deltas, len(want), longest, maxDeltaChain)
	}
	err = db.View(func(r store.Reader) error {
		all, err := r.ListEvents(0, 1000)
		if err != nil {
			return err
		}
		mine, _, err := r.ListResourceEvents(fmt.Sprintf("proposals/%d", id), 0, 1000)
		if err != nil {
			return err
		}
		for _, events := range [][]*banliv1.Event{all, mine} {
			if len(events) != len(want) {
				return fmt.Errorf("%d events, want %d", len(events), len(want))
			}
			for i, ev := range events {
				if got := must(proto.Marshal(ev.GetProposal())); string(got) != string(want[i]) || ev.GetAction() != "test" || ev.GetSequence() != uint64(i+1) {
					return fmt.Errorf("event %d reads back as %v", i+1, ev)
				}
			}
		}
		return r.CheckIndexes()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzApplyFields: a change read from a damaged file is refused, never a
// panic; and between two messages in the form proto.Marshal writes (each
// field's occurrences together, fields in number order), the change
// diffFields makes gives back exactly what it was made from.
func FuzzApplyFields(f *testing.F) {
	a := must(proto.Marshal(storetest.Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, "units/1", "units/2")))
	b := must(proto.Marshal(storetest.Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_CONSULTED, "units/1")))
	f.Add(a, b, []byte{})
	f.Add(b, a, []byte{10, 1, 2, 3})
	f.Fuzz(func(t *testing.T, base, to, changes []byte) {
		applyFields(base, changes)
		if !canonical(base) || !canonical(to) {
			return
		}
		d, err := diffFields(base, to)
		if err != nil {
			t.Fatalf("diff of two well-formed messages: %v", err)
		}
		got, err := applyFields(base, d)
		if err != nil || string(got) != string(to) {
			t.Fatalf("applied, the change gives %x (%v), want %x", got, err, to)
		}
	})
}

// canonical reports whether b is a message in proto.Marshal's form.
func canonical(b []byte) bool {
	_, err := fieldRuns(b)
	return err == nil
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestADeltaRefusesAnotherBase: a delta whose base reads back otherwise
// than it was made on (a record changed with no event, a damaged file) is
// refused, not turned into a snapshot that never was.
func TestADeltaRefusesAnotherBase(t *testing.T) {
	db, _ := openTest(t)
	p := storetest.Proposal("sessions/1", "20260001", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
	p.Content = strings.Repeat("建议完善政务数据共享机制。", 20)
	id := storetest.PutProposal(t, db, 0, p)
	p.State = banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED
	storetest.PutProposal(t, db, id, p)
	err := db.bolt.Update(func(tx *bolt.Tx) error {
		events := tx.Bucket(bucketEvents)
		if v := events.Get(u64(2)); len(v) == 0 || v[0] != deltaMark {
			return fmt.Errorf("event 2 is not a delta")
		}
		other := proto.Clone(p).(*banliv1.Proposal)
		other.Title = "另一个标题"
		whole, err := encodeEvent(&banliv1.Event{Action: "test", Sequence: 1}, snapshotFields[store.KindProposal], must(proto.Marshal(other)))
		if err != nil {
			return err
		}
		return events.Put(u64(1), whole)
	})
	if err != nil {
		t.Fatal(err)
	}
	err = db.View(func(r store.Reader) error {
		_, err := r.ListEvents(1, 10)
		return err
	})
	if !errors.Is(err, errBadDelta) {
		t.Fatalf("reading a delta on a changed base: %v, want errBadDelta", err)
	}
}
