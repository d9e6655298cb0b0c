package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "banli.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// putProposal creates or replaces a proposal through a Write, as the service
// does.
func putProposal(t *testing.T, db *DB, id uint64, p *banliv1.Proposal) {
	t.Helper()
	_, err := db.Write(context.Background(), Request{}, func(tx *Tx) (proto.Message, error) {
		if id == 0 {
			id = tx.NewID(KindProposal)
		}
		p.Name = fmt.Sprintf("proposals/%d", id)
		tx.PutProposal(id, p, &banliv1.Event{Action: "test"})
		return p, nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkIndexes(t *testing.T, db *DB) {
	t.Helper()
	if err := db.View(func(r *Reader) error { return r.CheckIndexes() }); err != nil {
		t.Fatal(err)
	}
}

func proposal(session, number string, state banliv1.ProposalState, units ...string) *banliv1.Proposal {
	p := &banliv1.Proposal{Session: session, Number: number, State: state, Year: 2026, Topics: []string{"数字政府"}}
	for _, u := range units {
		p.Assignments = append(p.Assignments, &banliv1.Assignment{Unit: u, Role: banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD, State: banliv1.AssignmentState_ASSIGNMENT_STATE_ASSIGNED})
	}
	return p
}

func listIDs(t *testing.T, db *DB, q ProposalQuery, after uint64, limit int) ([]string, bool) {
	t.Helper()
	var names []string
	var more bool
	err := db.View(func(r *Reader) error {
		list, m, err := r.ListProposals(q, after, limit)
		for _, p := range list {
			names = append(names, p.GetName())
		}
		more = m
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return names, more
}

func TestIndexesFollowEveryChange(t *testing.T) {
	db, _ := openTest(t)
	putProposal(t, db, 0, proposal("sessions/1", "A1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	putProposal(t, db, 0, proposal("sessions/1", "A2", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, "units/1"))
	putProposal(t, db, 0, proposal("sessions/2", "A1", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, "units/2"))
	checkIndexes(t, db)

	assigned := ProposalQuery{State: banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED}
	if got, _ := listIDs(t, db, assigned, 0, 10); !cmp.Equal(got, []string{"proposals/2", "proposals/3"}) {
		t.Fatalf("assigned: %v", got)
	}
	// Move proposal 1 to ASSIGNED at unit 2 and proposal 3 away from unit 2
	// by reassignment: both posting lists must follow.
	putProposal(t, db, 1, proposal("sessions/1", "A1", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, "units/2"))
	p3 := proposal("sessions/2", "A1", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, "units/2", "units/3")
	p3.Assignments[0].State = banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED
	putProposal(t, db, 3, p3)
	key := proposal("sessions/1", "A2", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, "units/1")
	key.Key = true
	putProposal(t, db, 2, key)
	checkIndexes(t, db)
	yes, no := true, false

	tests := []struct {
		q    ProposalQuery
		want []string
	}{
		{ProposalQuery{Unit: "units/2"}, []string{"proposals/1"}},
		{ProposalQuery{Unit: "units/3", Role: banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD}, []string{"proposals/3"}},
		{ProposalQuery{Unit: "units/3", Role: banliv1.AssignmentRole_ASSIGNMENT_ROLE_SPLIT}, nil},
		{ProposalQuery{Sessions: []string{"sessions/1"}, State: banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED}, []string{"proposals/1", "proposals/2"}},
		{ProposalQuery{Sessions: []string{"sessions/1", "sessions/2"}, Unit: "units/2"}, []string{"proposals/1"}},
		{ProposalQuery{Sessions: []string{"sessions/9", "sessions/2"}}, []string{"proposals/3"}},
		{ProposalQuery{Sessions: []string{}}, nil},
		{ProposalQuery{Key: &yes}, []string{"proposals/2"}},
		{ProposalQuery{Key: &no}, []string{"proposals/1", "proposals/3"}},
		{ProposalQuery{Key: &no, State: banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED}, []string{"proposals/1", "proposals/3"}},
		{ProposalQuery{Sessions: []string{"sessions/1"}, Unit: "units/1", Topic: "数字政府"}, []string{"proposals/2"}},
		{ProposalQuery{Topic: "智慧城市"}, nil},
		{ProposalQuery{}, []string{"proposals/1", "proposals/2", "proposals/3"}},
	}
	for _, tt := range tests {
		if got, _ := listIDs(t, db, tt.q, 0, 10); !cmp.Equal(got, tt.want) {
			t.Errorf("%+v: got %v, want %v", tt.q, got, tt.want)
		}
	}
}

// TestPagesStayStableUnderInserts: a page token (the last id) keeps its
// place while new cases arrive, and every case is listed exactly once.
func TestPagesStayStableUnderInserts(t *testing.T) {
	db, _ := openTest(t)
	q := ProposalQuery{Sessions: []string{"sessions/1"}}
	for i := range 25 {
		s := "sessions/1"
		if i%3 == 0 {
			s = "sessions/2"
		}
		putProposal(t, db, 0, proposal(s, fmt.Sprint(i), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	}
	seen := map[string]int{}
	var after uint64
	for page := 0; ; page++ {
		names, more := listIDs(t, db, q, after, 4)
		for _, n := range names {
			seen[n]++
		}
		// New cases arrive between pages, in both sessions.
		putProposal(t, db, 0, proposal("sessions/1", fmt.Sprint("new", page), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
		if !more {
			break
		}
		fmt.Sscanf(names[len(names)-1], "proposals/%d", &after)
		if page > 100 {
			t.Fatal("paging does not end")
		}
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("%s listed %d times", n, c)
		}
	}
	if len(seen) < 16 {
		t.Errorf("listed %d cases of session 1, want at least the 16 there at the start", len(seen))
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	db, path := openTest(t)
	putProposal(t, db, 0, proposal("sessions/1", "7", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED, "units/1"))
	var before *banliv1.Proposal
	db.View(func(r *Reader) error { before, _ = r.Proposal(1); return nil })
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	err = db2.View(func(r *Reader) error {
		after, err := r.Proposal(1)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(before, after, protocmp.Transform()); diff != "" {
			return fmt.Errorf("changed across reopen (-before +after):\n%s", diff)
		}
		if r.ProposalByNumber("sessions/1", "7") != 1 {
			return errors.New("number index lost")
		}
		events, err := r.ListEvents(0, 10)
		if len(events) != 1 || events[0].GetSequence() != 1 || events[0].GetResource() != "proposals/1" {
			return fmt.Errorf("events after reopen: %v %v", events, err)
		}
		return r.CheckIndexes()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRefusedDecisionWritesNothing: a decision that fails after staging
// leaves no record, no index entry, no event and no used id, even when it
// shares its transaction with decisions that succeed.
func TestRefusedDecisionWritesNothing(t *testing.T) {
	db, _ := openTest(t)
	refusal := errors.New("refused")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := db.Write(context.Background(), Request{}, func(tx *Tx) (proto.Message, error) {
				id := tx.NewID(KindProposal)
				p := proposal("sessions/1", fmt.Sprint(i), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
				p.Name = fmt.Sprintf("proposals/%d", id)
				tx.PutProposal(id, p, &banliv1.Event{})
				if i%2 == 1 {
					return nil, refusal
				}
				return p, nil
			})
			if (i%2 == 1) != errors.Is(err, refusal) {
				t.Errorf("write %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	checkIndexes(t, db)
	err := db.View(func(r *Reader) error {
		if got := r.LastID(KindProposal); got != 20 {
			return fmt.Errorf("last id %d, want 20: refused writes burned ids", got)
		}
		for id := uint64(1); id <= 20; id++ {
			p, err := r.Proposal(id)
			if err != nil {
				return err
			}
			var n int
			fmt.Sscan(p.GetNumber(), &n)
			if n%2 == 1 {
				return fmt.Errorf("refused proposal %s was written", p.GetNumber())
			}
		}
		if r.LatestEvent() != 20 {
			return fmt.Errorf("%d events, want 20", r.LatestEvent())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestRequestReplay(t *testing.T) {
	db, _ := openTest(t)
	runs := 0
	write := func(hash byte) (proto.Message, error) {
		req := Request{Method: "/m", ID: "req-1", Hash: [32]byte{hash}, Replay: &banliv1.Proposal{}}
		return db.Write(context.Background(), req, func(tx *Tx) (proto.Message, error) {
			runs++
			id := tx.NewID(KindProposal)
			p := proposal("sessions/1", fmt.Sprint(runs), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
			p.Name = fmt.Sprintf("proposals/%d", id)
			tx.PutProposal(id, p, &banliv1.Event{})
			return p, nil
		})
	}
	first, err := write(1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := write(1)
	if err != nil {
		t.Fatal(err)
	}
	if runs != 1 || !proto.Equal(first, again) {
		t.Errorf("replay ran the decision again (%d runs) or answered differently", runs)
	}
	if _, err := write(2); !errors.Is(err, ErrRequestReused) {
		t.Errorf("same id, other request: %v", err)
	}
	// Another account's same id and body is a request of its own.
	req := Request{Account: "accounts/other", Method: "/m", ID: "req-1", Hash: [32]byte{1}, Replay: &banliv1.Proposal{}}
	theirs, err := db.Write(context.Background(), req, func(tx *Tx) (proto.Message, error) {
		runs++
		return &banliv1.Proposal{Name: "theirs"}, nil
	})
	if err != nil || runs != 2 || theirs.(*banliv1.Proposal).GetName() != "theirs" {
		t.Errorf("another account's id: %v, %v after %d runs; want its own answer", theirs, err, runs)
	}
}

// TestMigrateFromVersion1: a file of schema 1 opens as schema 2, its
// idempotency records (whose account is unknown) dropped, the rest kept.
func TestMigrateFromVersion1(t *testing.T) {
	db, path := openTest(t)
	putProposal(t, db, 0, proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	db.Close()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketRequests).Put([]byte("/m\x00req-1"), make([]byte, 32)); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, u64(1))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchemaVersion); string(v) != string(u64(SchemaVersion)) {
			t.Errorf("schema version %x after opening", v)
		}
		if k, _ := tx.Bucket(bucketRequests).Cursor().First(); k != nil {
			t.Errorf("a version 1 request record is left: %q", k)
		}
		if tx.Bucket(bucketProposals).Stats().KeyN != 1 {
			t.Error("the migration lost the case")
		}
		return nil
	})
}

func TestLockedFileFailsFast(t *testing.T) {
	_, path := openTest(t)
	_, err := Open(path, Options{LockTimeout: 50_000_000})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}
