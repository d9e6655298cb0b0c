package service

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
	"github.com/banli/banli/store/storetest"
)

// TestCaseFiltersFindWhatTheIndexDeclares: each filter of a list, spelled
// by caseFilter.query, finds exactly the cases ProposalIndex lists under
// it, through a real backend, and follows every change of a case.
func TestCaseFiltersFindWhatTheIndexDeclares(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "banli.db"), boltstore.Options{Index: ProposalIndex})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	put := func(id uint64, p *banliv1.Proposal) { storetest.PutProposal(t, db, id, p) }
	list := func(f caseFilter) []string {
		t.Helper()
		var names []string
		err := db.View(func(r store.Reader) error {
			page, _, err := r.ListProposals(f.query(), 0, 10)
			for _, p := range page {
				names = append(names, p.GetName())
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	assigned := banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED
	caseAt := storetest.Proposal
	put(0, caseAt("sessions/1", "A1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	put(0, caseAt("sessions/1", "A2", assigned, "units/1"))
	put(0, caseAt("sessions/2", "A1", assigned, "units/2"))
	if got := list(caseFilter{state: assigned}); !cmp.Equal(got, []string{"proposals/2", "proposals/3"}) {
		t.Fatalf("assigned: %v", got)
	}
	// Move case 1 to unit 2 and case 3 away from unit 2 by reassignment:
	// a reassigned part is history, and the lists follow.
	put(1, caseAt("sessions/1", "A1", assigned, "units/2"))
	p3 := caseAt("sessions/2", "A1", assigned, "units/2", "units/3")
	p3.Assignments[0].State = banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED
	put(3, p3)
	key := caseAt("sessions/1", "A2", assigned, "units/1")
	key.Key, key.SupervisingLeader = true, "陈副市长"
	put(2, key)
	carried := caseAt("sessions/0", "B1", assigned, "units/1")
	carried.Assignments[0].FollowUp = &banliv1.FollowUp{CarriedToYear: 2026}
	put(0, carried)
	if err := db.View(func(r store.Reader) error { return r.CheckIndexes() }); err != nil {
		t.Fatal(err)
	}
	yes, no := true, false
	lead, split := banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD, banliv1.AssignmentRole_ASSIGNMENT_ROLE_SPLIT
	tests := []struct {
		f    caseFilter
		want []string
	}{
		{caseFilter{unit: "units/2"}, []string{"proposals/1"}},
		{caseFilter{unit: "units/3", role: lead}, []string{"proposals/3"}},
		{caseFilter{unit: "units/3", role: split}, nil},
		{caseFilter{sessions: []string{"sessions/1"}, state: assigned}, []string{"proposals/1", "proposals/2"}},
		{caseFilter{sessions: []string{"sessions/1", "sessions/2"}, unit: "units/2"}, []string{"proposals/1"}},
		{caseFilter{sessions: []string{"sessions/9", "sessions/2"}}, []string{"proposals/3"}},
		{caseFilter{sessions: []string{}}, nil},
		{caseFilter{sessions: []string{"sessions/1"}, carriedYear: 2026}, []string{"proposals/1", "proposals/2", "proposals/4"}},
		{caseFilter{key: &yes}, []string{"proposals/2"}},
		{caseFilter{key: &no}, []string{"proposals/1", "proposals/3", "proposals/4"}},
		{caseFilter{key: &no, state: assigned}, []string{"proposals/1", "proposals/3", "proposals/4"}},
		{caseFilter{key: &yes, leader: "陈副市长"}, []string{"proposals/2"}},
		{caseFilter{sessions: []string{"sessions/1"}, unit: "units/1", topic: "数字政府"}, []string{"proposals/2"}},
		{caseFilter{topic: "智慧城市"}, nil},
		{caseFilter{unit: "units/2", partStates: []banliv1.AssignmentState{banliv1.AssignmentState_ASSIGNMENT_STATE_ASSIGNED}}, []string{"proposals/1"}},
		{caseFilter{partStates: []banliv1.AssignmentState{banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED}}, nil},
		{caseFilter{}, []string{"proposals/1", "proposals/2", "proposals/3", "proposals/4"}},
	}
	for _, tt := range tests {
		if got := list(tt.f); !cmp.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", fmt.Sprintf("%+v", tt.f), got, tt.want)
		}
	}
}

// TestStatisticsAreRecountedUnderANewVersion: counters kept under another
// statisticsVersion (here: none at all, as a file from before counting
// would have) are recounted when a server opens the data, and the check
// then holds them to what the cases say.
func TestStatisticsAreRecountedUnderANewVersion(t *testing.T) {
	db, err := boltstore.Open(filepath.Join(t.TempDir(), "banli.db"), boltstore.Options{Index: ProposalIndex})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	p := storetest.Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, "units/1")
	storetest.PutProposal(t, db, 0, p) // the case, but no counters
	_, err = db.Write(context.Background(), store.Request{}, func(tx store.Tx) (proto.Message, error) {
		tx.AddCounters(store.StatsKey{Scope: "units/9", Year: 2026, Session: "sessions/1"}, []int64{5}) // stray
		tx.SetVersion(versionStatistics, statisticsVersion-1)
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(db, Options{}); err != nil {
		t.Fatal(err)
	}
	err = db.View(func(r store.Reader) error {
		if v, err := r.Version(versionStatistics); err != nil || v != statisticsVersion {
			return fmt.Errorf("version %d, %v after New", v, err)
		}
		if stray, _ := r.Counters(store.StatsKey{Scope: "units/9", Year: 2026, Session: "sessions/1"}); !allZero(stray) {
			return fmt.Errorf("a stray vector is left: %v", stray)
		}
		return CheckStatistics(r)
	})
	if err != nil {
		t.Fatal(err)
	}
}
