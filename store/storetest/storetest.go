// Package storetest is the contract of a storage backend, as tests: every
// read, every write, ids not burned by a refused decision, gapless event
// sequences, idempotency records, counters, the audit chain, queries and
// due entries. A backend's own tests call Run with a function that opens a
// fresh, empty backend; the bbolt backend runs it in CI, and so will the
// next one.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Open opens the backend whose data lives in dir (a fresh t.TempDir() is
// an empty backend; the same dir again is the same data, once the earlier
// backend is closed), with index (the suite declares its own, Index) and
// audit key (nil: plain SHA-256). The backend must be closed when the test
// ends (t.Cleanup), and closing it twice must do no harm.
type Open func(t *testing.T, dir string, index store.Index, auditKey []byte) store.Backend

// Index is the suite's index declaration: simpler than the service's, and
// enough to hold a backend to every kind of clause. A part in state
// REASSIGNED is not indexed under its unit, as the service's rule has it.
var Index = store.Index{
	Version: 1,
	Terms: func(p *banliv1.Proposal) []string {
		terms := []string{"session=" + p.GetSession(), "state=" + strconv.Itoa(int(p.GetState()))}
		if p.GetKey() {
			terms = append(terms, "key=true")
		}
		for _, t := range p.GetTopics() {
			terms = append(terms, "topic="+t)
		}
		for _, a := range p.GetAssignments() {
			if a.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED {
				terms = append(terms, "unit="+a.GetUnit(), "unit_role="+a.GetUnit()+"|"+strconv.Itoa(int(a.GetRole())))
			}
		}
		// Duplicates are allowed: a backend keeps each term once.
		return append(terms, "session="+p.GetSession())
	},
	Due: func(p *banliv1.Proposal) []store.Due {
		var out []store.Due
		for n, a := range p.GetAssignments() {
			if d := a.GetCurrentDeadline(); d != nil {
				out = append(out, store.Due{At: d.GetDueTime().GetSeconds(), Assignment: n + 1, Unit: a.GetUnit(), Session: p.GetSession(),
					Department: a.GetDepartment(), Handler: a.GetHandler()})
			}
		}
		return out
	},
}

// Run runs the whole contract against the backends open makes.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		run  func(t *testing.T, open Open)
	}{
		{"RecordsReadBack", testRecordsReadBack},
		{"MissingRecordsAreNotFound", testMissingRecords},
		{"TxSeesItsOwnWrites", testTxSeesItsOwnWrites},
		{"RefusedDecisionWritesNothing", testRefusedDecisionWritesNothing},
		{"PanickingDecisionWritesNothing", testPanickingDecision},
		{"EventsAreGapless", testEventsAreGapless},
		{"ResourceHistory", testResourceHistory},
		{"RequestReplay", testRequestReplay},
		{"QueriesFollowEveryChange", testQueriesFollowEveryChange},
		{"PagesStayStableUnderInserts", testPagesStayStableUnderInserts},
		{"PageEndsWhenFull", testPageEndsWhenFull},
		{"StoredWireFormSkipsFields", testSkip},
		{"DueEntries", testDueEntries},
		{"Counters", testCounters},
		{"ScoringPolicies", testScoringPolicies},
		{"Accounts", testAccounts},
		{"CalendarVersions", testCalendars},
		{"AuditChain", testAuditChain},
		{"Replicate", testReplicate},
		{"PastTheLastPosition", testPastTheLastPosition},
		{"DataSurvivesReopen", testDataSurvivesReopen},
		{"IndexRebuildsUnderANewVersion", testIndexRebuilds},
		{"Versions", testVersions},
		{"WebhooksAndTheirOutboxes", testWebhooks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, open) })
	}
}

func write(t *testing.T, b store.Backend, decide store.Decision) proto.Message {
	t.Helper()
	m, err := b.Write(context.Background(), store.Request{}, decide)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func view(t *testing.T, b store.Backend, fn func(r store.Reader) error) {
	t.Helper()
	if err := b.View(fn); err != nil {
		t.Fatal(err)
	}
}

// Proposal is a case for tests: in a session, with a number, a state, and
// a lead part at each unit given.
func Proposal(session, number string, state banliv1.ProposalState, units ...string) *banliv1.Proposal {
	p := &banliv1.Proposal{Session: session, Number: number, State: state, Year: 2026, Topics: []string{"数字政府"}}
	for _, u := range units {
		p.Assignments = append(p.Assignments, &banliv1.Assignment{Unit: u, Role: banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD, State: banliv1.AssignmentState_ASSIGNMENT_STATE_ASSIGNED})
	}
	return p
}

// PutProposal creates (id 0) or replaces a proposal in a Write of its own,
// and returns its id.
func PutProposal(t *testing.T, b store.Backend, id uint64, p *banliv1.Proposal) uint64 {
	t.Helper()
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		if id == 0 {
			var err error
			if id, err = tx.NewID(store.KindProposal); err != nil {
				return nil, err
			}
		}
		p.Name = fmt.Sprintf("proposals/%d", id)
		tx.PutProposal(id, p, &banliv1.Event{Action: "test"})
		return p, nil
	})
	return id
}

func checkIndexes(t *testing.T, b store.Backend) {
	t.Helper()
	view(t, b, func(r store.Reader) error { return r.CheckIndexes() })
}

func listNames(t *testing.T, b store.Backend, q store.Query, after uint64, limit int) ([]string, bool) {
	t.Helper()
	var names []string
	var more bool
	view(t, b, func(r store.Reader) error {
		list, m, err := r.ListProposals(q, after, limit)
		for _, p := range list {
			names = append(names, p.GetName())
		}
		more = m
		return err
	})
	return names, more
}

func testRecordsReadBack(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	want := Proposal("sessions/1", "7", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED, "units/1")
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		sid, err := tx.NewID(store.KindSession)
		if err != nil {
			return nil, err
		}
		tx.PutSession(sid, &banliv1.Session{Name: "sessions/1", DisplayName: "第十四届五次"}, &banliv1.Event{Action: "CreateSession"})
		uid, err := tx.NewID(store.KindUnit)
		if err != nil {
			return nil, err
		}
		tx.PutUnit(uid, &banliv1.Unit{Name: "units/1", DisplayName: "市教育局"}, &banliv1.Event{Action: "CreateUnit"})
		lid, err := tx.NewID(store.KindLeader)
		if err != nil {
			return nil, err
		}
		tx.PutLeader(lid, &banliv1.Leader{Name: "leaders/1", DisplayName: "王某", Title: "市政协副主席"}, &banliv1.Event{Action: "CreateLeader"})
		pid, err := tx.NewID(store.KindProposal)
		if err != nil {
			return nil, err
		}
		want.Name = fmt.Sprintf("proposals/%d", pid)
		tx.PutProposal(pid, want, &banliv1.Event{Action: "CreateProposal"})
		return nil, nil
	})
	view(t, b, func(r store.Reader) error {
		s, err := r.Session(1)
		if err != nil || s.GetDisplayName() != "第十四届五次" {
			return fmt.Errorf("session 1: %v, %v", s, err)
		}
		u, err := r.Unit(1)
		if err != nil || u.GetDisplayName() != "市教育局" {
			return fmt.Errorf("unit 1: %v, %v", u, err)
		}
		l, err := r.Leader(1)
		if err != nil || l.GetTitle() != "市政协副主席" {
			return fmt.Errorf("leader 1: %v, %v", l, err)
		}
		if leaders, more, err := r.ListLeaders(0, 10); err != nil || len(leaders) != 1 || more {
			return fmt.Errorf("ListLeaders: %v, %v, %v", leaders, more, err)
		}
		got, err := r.Proposal(1)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			return fmt.Errorf("proposal 1 (-put +read):\n%s", diff)
		}
		if id, err := r.ProposalByNumber("sessions/1", "7"); err != nil || id != 1 {
			return fmt.Errorf("ProposalByNumber: %d, %v; want 1", id, err)
		}
		if id, err := r.ProposalByNumber("sessions/1", "8"); err != nil || id != 0 {
			return fmt.Errorf("ProposalByNumber of no case: %d, %v; want 0", id, err)
		}
		for kind, want := range map[store.Kind]uint64{store.KindSession: 1, store.KindUnit: 1, store.KindLeader: 1, store.KindProposal: 1} {
			if got, err := r.LastID(kind); err != nil || got != want {
				return fmt.Errorf("LastID(%s) = %d, %v; want %d", kind, got, err, want)
			}
		}
		sessions, more, err := r.ListSessions(0, 10)
		if err != nil || len(sessions) != 1 || more {
			return fmt.Errorf("ListSessions: %v, %v, %v", sessions, more, err)
		}
		units, _, err := r.ListUnits(0, 10, func(u *banliv1.Unit) bool { return strings.HasPrefix(u.GetDisplayName(), "市") })
		if err != nil || len(units) != 1 {
			return fmt.Errorf("ListUnits: %v, %v", units, err)
		}
		if units, _, err = r.ListUnits(0, 10, func(*banliv1.Unit) bool { return false }); err != nil || len(units) != 0 {
			return fmt.Errorf("ListUnits keeping none: %v, %v", units, err)
		}
		n := 0
		if err := r.ForEachProposal(func(*banliv1.Proposal) error { n++; return nil }); err != nil || n != 1 {
			return fmt.Errorf("ForEachProposal: %d cases, %v", n, err)
		}
		return r.CheckIndexes()
	})
}

func testMissingRecords(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	view(t, b, func(r store.Reader) error {
		reads := map[string]func() error{
			"Session":      func() error { _, err := r.Session(1); return err },
			"Unit":         func() error { _, err := r.Unit(1); return err },
			"Leader":       func() error { _, err := r.Leader(1); return err },
			"Proposal":     func() error { _, err := r.Proposal(1); return err },
			"Account":      func() error { _, err := r.Account("nobody"); return err },
			"CalendarYear": func() error { _, err := r.CalendarYear(2026, 1); return err },
		}
		for name, read := range reads {
			if err := read(); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%s of nothing: %v, want ErrNotFound", name, err)
			}
		}
		if ok, err := r.HasAccounts(); err != nil || ok {
			return fmt.Errorf("HasAccounts of an empty store: %v, %v", ok, err)
		}
		if seq, err := r.LatestEvent(); err != nil || seq != 0 {
			return fmt.Errorf("LatestEvent of an empty store: %d, %v", seq, err)
		}
		return nil
	})
}

func testTxSeesItsOwnWrites(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		first, err := tx.NewID(store.KindProposal)
		if err != nil {
			return nil, err
		}
		second, err := tx.NewID(store.KindProposal)
		if err != nil {
			return nil, err
		}
		if first != 1 || second != 2 {
			return nil, fmt.Errorf("ids %d and %d in one decision, want 1 and 2", first, second)
		}
		p := Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
		p.Name = "proposals/1"
		tx.PutProposal(first, p, &banliv1.Event{})
		got, err := tx.Proposal(first)
		if err != nil || got.GetNumber() != "1" {
			return nil, fmt.Errorf("staged proposal read back: %v, %v", got, err)
		}
		got.Number = "changed" // a read is a copy: the staged write must not change
		if again, _ := tx.Proposal(first); again.GetNumber() != "1" {
			return nil, errors.New("changing a read changed the staged record")
		}
		if id, err := tx.ProposalByNumber("sessions/1", "1"); err != nil || id != first {
			return nil, fmt.Errorf("staged number: %d, %v", id, err)
		}
		tx.PutSession(1, &banliv1.Session{Name: "sessions/1"}, &banliv1.Event{})
		tx.PutUnit(1, &banliv1.Unit{Name: "units/1"}, &banliv1.Event{})
		if _, err := tx.Session(1); err != nil {
			return nil, fmt.Errorf("staged session: %v", err)
		}
		if _, err := tx.Unit(1); err != nil {
			return nil, fmt.Errorf("staged unit: %v", err)
		}
		return nil, nil
	})
	view(t, b, func(r store.Reader) error {
		if last, _ := r.LastID(store.KindProposal); last != 2 {
			return fmt.Errorf("LastID %d after handing out 2 ids in a committed decision", last)
		}
		return nil
	})
}

// testRefusedDecisionWritesNothing: a decision that fails after staging
// leaves no record, no index entry, no event and no used id, even when it
// shares its transaction with decisions that succeed.
func testRefusedDecisionWritesNothing(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	refusal := errors.New("refused")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := b.Write(context.Background(), store.Request{}, func(tx store.Tx) (proto.Message, error) {
				id, err := tx.NewID(store.KindProposal)
				if err != nil {
					return nil, err
				}
				p := Proposal("sessions/1", fmt.Sprint(i), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED, "units/1")
				p.Name = fmt.Sprintf("proposals/%d", id)
				tx.PutProposal(id, p, &banliv1.Event{})
				tx.AddCounters(store.StatsKey{Scope: "*", Year: 2026, Session: "sessions/1"}, []int64{1})
				tx.AppendAudit(&banliv1.AuditRecord{Method: "test"})
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
	checkIndexes(t, b)
	view(t, b, func(r store.Reader) error {
		if got, _ := r.LastID(store.KindProposal); got != 20 {
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
		if seq, _ := r.LatestEvent(); seq != 20 {
			return fmt.Errorf("%d events, want 20", seq)
		}
		if v, _ := r.Counters(store.StatsKey{Scope: "*", Year: 2026, Session: "sessions/1"}); len(v) != 1 || v[0] != 20 {
			return fmt.Errorf("counters %v, want [20]", v)
		}
		if recs, _ := r.ListAudit(0, 100); len(recs) != 20 {
			return fmt.Errorf("%d audit records, want 20", len(recs))
		}
		return nil
	})
}

func testPanickingDecision(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	_, err := b.Write(context.Background(), store.Request{}, func(tx store.Tx) (proto.Message, error) {
		tx.PutSession(1, &banliv1.Session{Name: "sessions/1"}, &banliv1.Event{})
		panic("a bug in a decision")
	})
	if err == nil {
		t.Fatal("a panicking decision reported success")
	}
	// The backend goes on serving.
	PutProposal(t, b, 0, Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	view(t, b, func(r store.Reader) error {
		if _, err := r.Session(1); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("the panicking decision's session: %v", err)
		}
		if seq, _ := r.LatestEvent(); seq != 1 {
			return fmt.Errorf("%d events, want 1", seq)
		}
		return nil
	})
}

// testEventsAreGapless: concurrent writers get events 1..n, each exactly
// once, in commit order, each naming its resource and request.
func testEventsAreGapless(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				_, err := b.Write(context.Background(), store.Request{ID: fmt.Sprintf("w%d-%d", w, i), Method: "/m", Account: "accounts/a"}, func(tx store.Tx) (proto.Message, error) {
					id, err := tx.NewID(store.KindProposal)
					if err != nil {
						return nil, err
					}
					p := Proposal("sessions/1", fmt.Sprintf("%d-%d", w, i), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
					p.Name = fmt.Sprintf("proposals/%d", id)
					tx.PutProposal(id, p, &banliv1.Event{Action: "CreateProposal"})
					return p, nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	view(t, b, func(r store.Reader) error {
		var all []*banliv1.Event
		for after := uint64(0); ; {
			page, err := r.ListEvents(after, 37)
			if err != nil {
				return err
			}
			if len(page) == 0 {
				break
			}
			all = append(all, page...)
			after = page[len(page)-1].GetSequence()
		}
		if len(all) != writers*each {
			return fmt.Errorf("%d events, want %d", len(all), writers*each)
		}
		for i, ev := range all {
			if ev.GetSequence() != uint64(i+1) {
				return fmt.Errorf("event %d has sequence %d", i+1, ev.GetSequence())
			}
			if !strings.HasPrefix(ev.GetResource(), "proposals/") || ev.GetRequestId() == "" {
				return fmt.Errorf("event %d: resource %q, request %q", i+1, ev.GetResource(), ev.GetRequestId())
			}
			if ev.GetProposal().GetName() != ev.GetResource() {
				return fmt.Errorf("event %d carries a snapshot of %q", i+1, ev.GetProposal().GetName())
			}
		}
		if seq, _ := r.LatestEvent(); seq != writers*each {
			return fmt.Errorf("LatestEvent %d", seq)
		}
		return nil
	})
}

func testResourceHistory(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	p := Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
	id := PutProposal(t, b, 0, p)
	PutProposal(t, b, 0, Proposal("sessions/1", "2", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	p.State = banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED
	PutProposal(t, b, id, p)
	view(t, b, func(r store.Reader) error {
		first, more, err := r.ListResourceEvents("proposals/1", 0, 1)
		if err != nil || len(first) != 1 || !more || first[0].GetSequence() != 1 {
			return fmt.Errorf("first page: %v, %v, %v", first, more, err)
		}
		rest, more, err := r.ListResourceEvents("proposals/1", first[0].GetSequence(), 10)
		if err != nil || len(rest) != 1 || more || rest[0].GetSequence() != 3 {
			return fmt.Errorf("second page: %v, %v, %v", rest, more, err)
		}
		if rest[0].GetProposal().GetState() != banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED {
			return errors.New("the history's snapshot is not the record as written")
		}
		return nil
	})
}

func testRequestReplay(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	runs := 0
	do := func(hash byte) (proto.Message, error) {
		req := store.Request{Account: "accounts/a", Method: "/m", ID: "req-1", Hash: [32]byte{hash}, Replay: &banliv1.Proposal{}}
		return b.Write(context.Background(), req, func(tx store.Tx) (proto.Message, error) {
			runs++
			id, err := tx.NewID(store.KindProposal)
			if err != nil {
				return nil, err
			}
			p := Proposal("sessions/1", fmt.Sprint(runs), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
			p.Name = fmt.Sprintf("proposals/%d", id)
			tx.PutProposal(id, p, &banliv1.Event{})
			return p, nil
		})
	}
	first, err := do(1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := do(1)
	if err != nil {
		t.Fatal(err)
	}
	if runs != 1 || !proto.Equal(first, again) {
		t.Errorf("replay ran the decision again (%d runs) or answered differently", runs)
	}
	if _, err := do(2); !errors.Is(err, store.ErrRequestReused) {
		t.Errorf("same id, other request: %v", err)
	}
	for _, other := range []store.Request{
		{Account: "accounts/other", Method: "/m", ID: "req-1", Hash: [32]byte{1}},
		{Account: "accounts/a", Method: "/other", ID: "req-1", Hash: [32]byte{1}},
	} {
		other.Replay = &banliv1.Proposal{}
		theirs, err := b.Write(context.Background(), other, func(tx store.Tx) (proto.Message, error) {
			return &banliv1.Proposal{Name: "theirs"}, nil
		})
		if err != nil || theirs.(*banliv1.Proposal).GetName() != "theirs" {
			t.Errorf("%s %s's id: %v, %v; want its own answer", other.Account, other.Method, theirs, err)
		}
	}
	// A refused decision is not remembered: the same id may try again.
	refused := store.Request{Account: "accounts/a", Method: "/m", ID: "req-2", Replay: &banliv1.Proposal{}}
	if _, err := b.Write(context.Background(), refused, func(store.Tx) (proto.Message, error) { return nil, errors.New("no") }); err == nil {
		t.Fatal("refusal lost")
	}
	if _, err := b.Write(context.Background(), refused, func(store.Tx) (proto.Message, error) { return &banliv1.Proposal{Name: "second try"}, nil }); err != nil {
		t.Errorf("retry after a refusal: %v", err)
	}
}

func testQueriesFollowEveryChange(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	received, assigned := banliv1.ProposalState_PROPOSAL_STATE_RECEIVED, banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED
	PutProposal(t, b, 0, Proposal("sessions/1", "A1", received))
	PutProposal(t, b, 0, Proposal("sessions/1", "A2", assigned, "units/1"))
	PutProposal(t, b, 0, Proposal("sessions/2", "A1", assigned, "units/2"))
	checkIndexes(t, b)
	state := func(s banliv1.ProposalState) string { return "state=" + strconv.Itoa(int(s)) }
	if got, _ := listNames(t, b, store.Query{AllOf: [][]string{{state(assigned)}}}, 0, 10); !cmp.Equal(got, []string{"proposals/2", "proposals/3"}) {
		t.Fatalf("assigned: %v", got)
	}
	// Move proposal 1 to unit 2 and proposal 3 away from unit 2: both
	// terms must follow.
	PutProposal(t, b, 1, Proposal("sessions/1", "A1", assigned, "units/2"))
	p3 := Proposal("sessions/2", "A1", assigned, "units/2", "units/3")
	p3.Assignments[0].State = banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED
	PutProposal(t, b, 3, p3)
	key := Proposal("sessions/1", "A2", assigned, "units/1")
	key.Key = true
	PutProposal(t, b, 2, key)
	checkIndexes(t, b)
	lead := "|" + strconv.Itoa(int(banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD))
	tests := []struct {
		q    store.Query
		want []string
	}{
		{store.Query{AllOf: [][]string{{"unit=units/2"}}}, []string{"proposals/1"}},
		{store.Query{AllOf: [][]string{{"unit_role=units/3" + lead}}}, []string{"proposals/3"}},
		{store.Query{AllOf: [][]string{{"session=sessions/1"}, {state(assigned)}}}, []string{"proposals/1", "proposals/2"}},
		{store.Query{AllOf: [][]string{{"session=sessions/1", "session=sessions/2"}, {"unit=units/2"}}}, []string{"proposals/1"}},
		{store.Query{AllOf: [][]string{{"session=sessions/9", "session=sessions/2"}}}, []string{"proposals/3"}},
		{store.Query{AllOf: [][]string{{}}}, nil},
		{store.Query{AllOf: [][]string{{"key=true"}}}, []string{"proposals/2"}},
		{store.Query{NoneOf: []string{"key=true"}}, []string{"proposals/1", "proposals/3"}},
		{store.Query{AllOf: [][]string{{state(assigned)}}, NoneOf: []string{"key=true"}}, []string{"proposals/1", "proposals/3"}},
		{store.Query{AllOf: [][]string{{"session=sessions/1"}, {"unit=units/1"}, {"topic=数字政府"}}}, []string{"proposals/2"}},
		{store.Query{AllOf: [][]string{{"topic=智慧城市"}}}, nil},
		{store.Query{}, []string{"proposals/1", "proposals/2", "proposals/3"}},
	}
	for _, tt := range tests {
		if got, _ := listNames(t, b, tt.q, 0, 10); !cmp.Equal(got, tt.want) {
			t.Errorf("%+v: got %v, want %v", tt.q, got, tt.want)
		}
	}
}

// testPagesStayStableUnderInserts: a page position (the last id) keeps its
// place while new cases arrive, and every case is listed exactly once.
func testPagesStayStableUnderInserts(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	q := store.Query{AllOf: [][]string{{"session=sessions/1"}}}
	for i := range 25 {
		s := "sessions/1"
		if i%3 == 0 {
			s = "sessions/2"
		}
		PutProposal(t, b, 0, Proposal(s, fmt.Sprint(i), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	}
	seen := map[string]int{}
	var after uint64
	for page := 0; ; page++ {
		names, more := listNames(t, b, q, after, 4)
		for _, n := range names {
			seen[n]++
		}
		PutProposal(t, b, 0, Proposal("sessions/1", fmt.Sprint("new", page), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
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

func testPageEndsWhenFull(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	for i := range 5 {
		PutProposal(t, b, 0, Proposal("sessions/1", fmt.Sprint(i), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	}
	view(t, b, func(r store.Reader) error {
		taken := 0
		last, more, err := r.EachProposalRecord(store.Query{}, 0, 10, nil, func(id uint64, record []byte) error {
			if taken == 2 {
				return store.ErrPageFull
			}
			taken++
			return nil
		})
		if err != nil || last != 2 || !more {
			return fmt.Errorf("a full page: last %d, more %v, %v; want 2, true", last, more, err)
		}
		return nil
	})
}

func testSkip(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	p := Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED, "units/1")
	p.Content = "正文"
	p.Proposers = []*banliv1.Proposer{{DisplayName: "王代表", Phone: "13800000000"}}
	PutProposal(t, b, 0, p)
	skip := store.SkipPaths(&banliv1.Proposal{}, "content", "proposers.phone")
	view(t, b, func(r store.Reader) error {
		list, _, err := r.ListProposalsSkipping(store.Query{}, 0, 10, skip)
		if err != nil || len(list) != 1 {
			return fmt.Errorf("%v, %v", list, err)
		}
		got := list[0]
		if got.GetContent() != "" || got.GetProposers()[0].GetPhone() != "" || got.GetProposers()[0].GetDisplayName() != "王代表" || got.GetNumber() != "1" {
			return fmt.Errorf("skipping content and phone gave %v", got)
		}
		_, _, err = r.EachProposalRecord(store.Query{}, 0, 10, nil, func(_ uint64, record []byte) error {
			whole := &banliv1.Proposal{}
			if err := proto.Unmarshal(record, whole); err != nil {
				return err
			}
			if !proto.Equal(whole, p) {
				return errors.New("the stored wire form is not the Proposal message as put")
			}
			return nil
		})
		return err
	})
}

func testDueEntries(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	part := func(unit string, at int64) *banliv1.Assignment {
		return &banliv1.Assignment{Unit: unit, State: banliv1.AssignmentState_ASSIGNMENT_STATE_ASSIGNED,
			CurrentDeadline: &banliv1.Deadline{DueTime: &timestamppb.Timestamp{Seconds: at}}}
	}
	p1 := Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED)
	p1.Assignments = []*banliv1.Assignment{part("units/1", 300), part("units/2", 100)}
	p1.Assignments[1].Department, p1.Assignments[1].Handler = "units/20", "accounts/h"
	p2 := Proposal("sessions/2", "2", banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED)
	p2.Assignments = []*banliv1.Assignment{part("units/1", -50)} // before 1970: order must still hold
	id1 := PutProposal(t, b, 0, p1)
	PutProposal(t, b, 0, p2)
	type ref struct {
		proposal   uint64
		assignment int
	}
	walk := func(from, to int64, keep func(store.Due) bool, limit int) []ref {
		var out []ref
		view(t, b, func(r store.Reader) error {
			var after store.Cursor
			for {
				page, more, err := r.ListDue(from, to, after, keep, limit)
				if err != nil {
					return err
				}
				for _, d := range page {
					out = append(out, ref{d.Proposal, d.Assignment})
				}
				if !more {
					return nil
				}
				after = page[len(page)-1].Position
			}
		})
		return out
	}
	if got, want := walk(-1000, 1000, nil, 1), []ref{{2, 1}, {1, 2}, {1, 1}}; !cmp.Equal(got, want, cmp.AllowUnexported(ref{})) {
		t.Errorf("due order: %v, want %v", got, want)
	}
	if got, want := walk(0, 200, nil, 10), []ref{{1, 2}}; !cmp.Equal(got, want, cmp.AllowUnexported(ref{})) {
		t.Errorf("due from 0 to 200: %v, want %v", got, want)
	}
	unit1 := func(d store.Due) bool { return d.Unit == "units/1" }
	if got, want := walk(-1000, 1000, unit1, 1), []ref{{2, 1}, {1, 1}}; !cmp.Equal(got, want, cmp.AllowUnexported(ref{})) {
		t.Errorf("due at unit 1: %v, want %v", got, want)
	}
	for name, keep := range map[string]func(store.Due) bool{
		"department": func(d store.Due) bool { return d.Department == "units/20" },
		"handler":    func(d store.Due) bool { return d.Handler == "accounts/h" },
		"session":    func(d store.Due) bool { return d.Session == "sessions/1" && d.Unit == "units/2" },
		// keep is given the entry whole, so a caller can count by time
		// and unit without reading a case.
		"time and assignment": func(d store.Due) bool { return d.At == 100 && d.Assignment == 2 },
	} {
		if got, want := walk(-1000, 1000, keep, 10), []ref{{1, 2}}; !cmp.Equal(got, want, cmp.AllowUnexported(ref{})) {
			t.Errorf("due by %s: %v, want %v", name, got, want)
		}
	}
	view(t, b, func(r store.Reader) error {
		if n, err := r.CountDue(150); err != nil || n != 2 {
			return fmt.Errorf("CountDue(150) = %d, %v; want 2", n, err)
		}
		return nil
	})
	// A part answered has no current deadline: its entry goes.
	p1.Assignments[1].CurrentDeadline = nil
	PutProposal(t, b, id1, p1)
	checkIndexes(t, b)
	if got, want := walk(-1000, 1000, nil, 10), []ref{{2, 1}, {1, 1}}; !cmp.Equal(got, want, cmp.AllowUnexported(ref{})) {
		t.Errorf("due after an answer: %v, want %v", got, want)
	}
}

func testCounters(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	k := func(scope string, year int32, session string) store.StatsKey {
		return store.StatsKey{Scope: scope, Year: year, Session: session}
	}
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		tx.AddCounters(k("*", 2026, "sessions/1"), []int64{1, 2})
		tx.AddCounters(k("*", 2026, "sessions/1"), []int64{1, 0, 5}) // summed within a decision
		tx.AddCounters(k("*", 2026, "sessions/2"), []int64{10})
		tx.AddCounters(k("*", 2025, "sessions/0"), []int64{100})
		tx.AddCounters(k("units/1", 2026, "sessions/1"), []int64{-1})
		return nil, nil
	})
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		tx.AddCounters(k("*", 2026, "sessions/1"), []int64{-2, 1})
		return nil, nil
	})
	view(t, b, func(r store.Reader) error {
		if v, err := r.Counters(k("*", 2026, "sessions/1")); err != nil || !cmp.Equal(v, []int64{0, 3, 5}) {
			return fmt.Errorf("Counters: %v, %v", v, err)
		}
		if v, err := r.Counters(k("*", 2024, "sessions/1")); err != nil || v != nil {
			return fmt.Errorf("Counters of nothing: %v, %v", v, err)
		}
		if v, err := r.SumCounters("*", 2026); err != nil || !cmp.Equal(v, []int64{10, 3, 5}) {
			return fmt.Errorf("SumCounters: %v, %v", v, err)
		}
		if v, err := r.SumScope("*"); err != nil || !cmp.Equal(v, []int64{110, 3, 5}) {
			return fmt.Errorf("SumScope: %v, %v", v, err)
		}
		var keys []store.StatsKey
		err := r.ForEachCounters(func(key store.StatsKey, _ []int64) error { keys = append(keys, key); return nil })
		if err != nil || len(keys) != 4 {
			return fmt.Errorf("ForEachCounters: %v, %v", keys, err)
		}
		keys = nil
		err = r.ForEachCountersOfScopes("units/", func(key store.StatsKey, _ []int64) error { keys = append(keys, key); return nil })
		if err != nil || !cmp.Equal(keys, []store.StatsKey{k("units/1", 2026, "sessions/1")}) {
			return fmt.Errorf("ForEachCountersOfScopes(units/): %v, %v", keys, err)
		}
		return nil
	})
}

func testAccounts(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		for _, id := range []string{"b", "a", "c"} {
			a := &banliv1.Account{Name: "accounts/" + id, DisplayName: id}
			if id == "b" {
				a.CertificateCommonName = "b.example"
			}
			tx.PutAccount(a, &banliv1.Event{})
		}
		return nil, nil
	})
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		// The certificate moves from b to c.
		tx.PutAccount(&banliv1.Account{Name: "accounts/b", DisplayName: "b"}, &banliv1.Event{})
		tx.PutAccount(&banliv1.Account{Name: "accounts/c", DisplayName: "c", CertificateCommonName: "b.example"}, &banliv1.Event{})
		return nil, nil
	})
	view(t, b, func(r store.Reader) error {
		if ok, err := r.HasAccounts(); err != nil || !ok {
			return fmt.Errorf("HasAccounts: %v, %v", ok, err)
		}
		if a, err := r.Account("a"); err != nil || a.GetDisplayName() != "a" {
			return fmt.Errorf("Account(a): %v, %v", a, err)
		}
		if id, err := r.AccountByCertificate("b.example"); err != nil || id != "c" {
			return fmt.Errorf("AccountByCertificate: %q, %v; want c", id, err)
		}
		first, more, err := r.ListAccounts("", 2)
		if err != nil || len(first) != 2 || !more || first[0].GetName() != "accounts/a" {
			return fmt.Errorf("first page: %v, %v, %v", first, more, err)
		}
		rest, more, err := r.ListAccounts("b", 2)
		if err != nil || len(rest) != 1 || more || rest[0].GetName() != "accounts/c" {
			return fmt.Errorf("second page: %v, %v, %v", rest, more, err)
		}
		return nil
	})
}

func testCalendars(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	for _, v := range []int32{1, 2} {
		write(t, b, func(tx store.Tx) (proto.Message, error) {
			tx.PutCalendarYear(&banliv1.CalendarYear{Name: fmt.Sprintf("calendars/2027/versions/%d", v), Year: 2027, Version: v}, &banliv1.Event{})
			return nil, nil
		})
	}
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		tx.PutCalendarYear(&banliv1.CalendarYear{Name: "calendars/2026/versions/1", Year: 2026, Version: 1}, &banliv1.Event{})
		return nil, nil
	})
	view(t, b, func(r store.Reader) error {
		all, err := r.CalendarYears()
		if err != nil || len(all) != 2 || all[0].GetYear() != 2026 || all[1].GetVersion() != 2 {
			return fmt.Errorf("CalendarYears: %v, %v; want the newest version of 2026 and of 2027", all, err)
		}
		if cy, err := r.CalendarYear(2027, 1); err != nil || cy.GetVersion() != 1 {
			return fmt.Errorf("CalendarYear(2027, 1): %v, %v", cy, err)
		}
		if cy, err := r.CalendarYear(2027, 0); err != nil || cy.GetVersion() != 2 {
			return fmt.Errorf("CalendarYear(2027, 0): %v, %v; want the newest", cy, err)
		}
		return nil
	})
}

func testScoringPolicies(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	// "a" and "ab": one name a prefix of the other, whose versions must not
	// mix.
	for _, sp := range []struct {
		name    string
		version int32
	}{{"scoringPolicies/ab", 1}, {"scoringPolicies/a", 1}, {"scoringPolicies/a", 2}, {"scoringPolicies/ab", 2}, {"scoringPolicies/ab", 3}} {
		write(t, b, func(tx store.Tx) (proto.Message, error) {
			tx.PutScoringPolicy(&banliv1.SavedScoringPolicy{Name: sp.name, Version: sp.version}, &banliv1.Event{})
			return nil, nil
		})
	}
	view(t, b, func(r store.Reader) error {
		all, err := r.ScoringPolicies()
		if err != nil || len(all) != 2 || all[0].GetName() != "scoringPolicies/a" || all[0].GetVersion() != 2 || all[1].GetVersion() != 3 {
			return fmt.Errorf("ScoringPolicies: %v, %v; want a v2 and ab v3", all, err)
		}
		if sp, err := r.ScoringPolicy("scoringPolicies/a", 0); err != nil || sp.GetVersion() != 2 {
			return fmt.Errorf("ScoringPolicy(a, 0): %v, %v; want the newest, 2", sp, err)
		}
		if sp, err := r.ScoringPolicy("scoringPolicies/ab", 1); err != nil || sp.GetVersion() != 1 {
			return fmt.Errorf("ScoringPolicy(ab, 1): %v, %v", sp, err)
		}
		if _, err := r.ScoringPolicy("scoringPolicies/a", 3); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ScoringPolicy(a, 3): %v, want ErrNotFound", err)
		}
		if _, err := r.ScoringPolicy("scoringPolicies/b", 0); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("ScoringPolicy(b, 0): %v, want ErrNotFound", err)
		}
		return nil
	})
}

func testAuditChain(t *testing.T, open Open) {
	key := []byte("an audit key for the conformance suite")
	b := open(t, t.TempDir(), Index, key)
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		tx.PutAccount(&banliv1.Account{Name: "accounts/admin"}, &banliv1.Event{})
		tx.AppendAudit(&banliv1.AuditRecord{Method: "CreateAccount"})
		return nil, nil
	})
	for i := range 5 {
		write(t, b, func(tx store.Tx) (proto.Message, error) {
			tx.AppendAudit(&banliv1.AuditRecord{Method: fmt.Sprint("m", i), EventSequence: 99})
			tx.AppendAudit(&banliv1.AuditRecord{Method: fmt.Sprint("n", i)})
			return nil, nil
		})
	}
	var head store.AuditVerdict
	view(t, b, func(r store.Reader) error {
		recs, err := r.ListAudit(0, 100)
		if err != nil || len(recs) != 11 {
			return fmt.Errorf("ListAudit: %d records, %v", len(recs), err)
		}
		if recs[0].GetEventSequence() != 1 || recs[1].GetEventSequence() != 99 {
			return fmt.Errorf("event sequences %d, %d; want the decision's last event, then the one given", recs[0].GetEventSequence(), recs[1].GetEventSequence())
		}
		prev := store.GenesisHash()
		for i, rec := range recs {
			if rec.GetSequence() != uint64(i+1) || !cmp.Equal(rec.GetPreviousHash(), prev) {
				return fmt.Errorf("record %d: sequence %d, not chained to the one before", i+1, rec.GetSequence())
			}
			prev = rec.GetHash()
		}
		if page, _ := r.ListAudit(9, 100); len(page) != 2 {
			return fmt.Errorf("ListAudit after 9: %d records", len(page))
		}
		if seq, err := r.AuditHead(); err != nil || seq != 11 {
			return fmt.Errorf("AuditHead: %d, %v; want 11", seq, err)
		}
		head, err = r.VerifyAudit(store.AuditAnchor{})
		if err != nil || head.FirstBroken != 0 || head.Records != 11 || head.HeadSequence != 11 || !cmp.Equal(head.HeadHash, prev) {
			return fmt.Errorf("VerifyAudit: %+v, %v", head, err)
		}
		anchored, err := r.VerifyAudit(store.AuditAnchor{Sequence: 4, Hash: recs[3].GetHash()})
		if err != nil || anchored.FirstBroken != 0 {
			return fmt.Errorf("VerifyAudit against a true anchor: %+v, %v", anchored, err)
		}
		wrong, err := r.VerifyAudit(store.AuditAnchor{Sequence: 4, Hash: recs[4].GetHash()})
		if err != nil || wrong.FirstBroken != 4 {
			return fmt.Errorf("VerifyAudit against a false anchor: %+v, %v", wrong, err)
		}
		ahead, err := r.VerifyAudit(store.AuditAnchor{Sequence: 20, Hash: prev})
		if err != nil || ahead.FirstBroken != 12 {
			return fmt.Errorf("VerifyAudit against an anchor past the end: %+v, %v", ahead, err)
		}
		return nil
	})
	// The chain is the neutral one: a verifier that knows only the key
	// and the records agrees.
	view(t, b, func(r store.Reader) error {
		recs, _ := r.ListAudit(0, 100)
		v := store.AuditChain{Key: key}.Verify(store.AuditAnchor{})
		for _, rec := range recs {
			raw, _ := proto.Marshal(rec)
			if !v.Next(rec.GetSequence(), raw) {
				break
			}
		}
		got := v.Verdict(store.AuditChain{Key: key}.Head(head.HeadSequence, head.HeadHash), true)
		if got.FirstBroken != 0 {
			return fmt.Errorf("the records do not verify under store.AuditChain: %+v", got)
		}
		return nil
	})
}

func testReplicate(t *testing.T, open Open) {
	primary, standby := open(t, t.TempDir(), Index, nil), open(t, t.TempDir(), Index, nil)
	PutProposal(t, primary, 0, Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	write(t, primary, func(tx store.Tx) (proto.Message, error) {
		tx.PutAccount(&banliv1.Account{Name: "accounts/a"}, &banliv1.Event{})
		return nil, nil
	})
	var events []*banliv1.Event
	view(t, primary, func(r store.Reader) (err error) { events, err = r.ListEvents(0, 10); return err })
	for _, ev := range events {
		write(t, standby, func(tx store.Tx) (proto.Message, error) {
			switch snap := ev.GetSnapshot().(type) {
			case *banliv1.Event_Proposal:
				tx.Replicate(store.KindProposal, 1, snap.Proposal, ev)
			case *banliv1.Event_Account:
				tx.Replicate(store.KindAccount, 0, snap.Account, ev)
			}
			return nil, nil
		})
	}
	view(t, standby, func(r store.Reader) error {
		if p, err := r.Proposal(1); err != nil || p.GetNumber() != "1" {
			return fmt.Errorf("replicated proposal: %v, %v", p, err)
		}
		if _, err := r.Account("a"); err != nil {
			return fmt.Errorf("replicated account: %v", err)
		}
		if last, _ := r.LastID(store.KindProposal); last != 1 {
			return fmt.Errorf("LastID %d after replicating proposal 1", last)
		}
		return r.CheckIndexes()
	})
	// An event out of sequence is refused, whole.
	late := proto.Clone(events[0]).(*banliv1.Event)
	late.Sequence = 7
	_, err := standby.Write(context.Background(), store.Request{}, func(tx store.Tx) (proto.Message, error) {
		tx.Replicate(store.KindProposal, 1, late.GetProposal(), late)
		return nil, nil
	})
	if !errors.Is(err, store.ErrDiverged) {
		t.Errorf("an event out of sequence: %v, want ErrDiverged", err)
	}
}

// testPastTheLastPosition: a position past every record (a page token a
// caller made up) gives empty pages, never a wrap to the start.
func testPastTheLastPosition(t *testing.T, open Open) {
	b := open(t, t.TempDir(), Index, nil)
	PutProposal(t, b, 0, Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	const last = ^uint64(0)
	view(t, b, func(r store.Reader) error {
		if list, more, err := r.ListProposals(store.Query{}, last, 10); err != nil || len(list) != 0 || more {
			return fmt.Errorf("ListProposals: %v, %v, %v", list, more, err)
		}
		if list, err := r.ListEvents(last, 10); err != nil || len(list) != 0 {
			return fmt.Errorf("ListEvents: %v, %v", list, err)
		}
		if list, _, err := r.ListResourceEvents("proposals/1", last, 10); err != nil || len(list) != 0 {
			return fmt.Errorf("ListResourceEvents: %v, %v", list, err)
		}
		if list, _, err := r.ListSessions(last, 10); err != nil || len(list) != 0 {
			return fmt.Errorf("ListSessions: %v, %v", list, err)
		}
		if list, err := r.ListAudit(last, 10); err != nil || len(list) != 0 {
			return fmt.Errorf("ListAudit: %v, %v", list, err)
		}
		return nil
	})
}

func testDataSurvivesReopen(t *testing.T, open Open) {
	dir := t.TempDir()
	b := open(t, dir, Index, nil)
	p := Proposal("sessions/1", "7", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED, "units/1")
	PutProposal(t, b, 0, p)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, dir, Index, nil)
	view(t, b, func(r store.Reader) error {
		got, err := r.Proposal(1)
		if err != nil {
			return err
		}
		if !proto.Equal(got, p) {
			return errors.New("the case changed across a reopen")
		}
		if id, err := r.ProposalByNumber("sessions/1", "7"); err != nil || id != 1 {
			return fmt.Errorf("number after a reopen: %d, %v", id, err)
		}
		if events, err := r.ListEvents(0, 10); err != nil || len(events) != 1 {
			return fmt.Errorf("events after a reopen: %v, %v", events, err)
		}
		return r.CheckIndexes()
	})
}

// testIndexRebuilds: data written under one index declaration is found by
// the terms of the next one, once its version changes.
func testIndexRebuilds(t *testing.T, open Open) {
	dir := t.TempDir()
	b := open(t, dir, Index, nil)
	PutProposal(t, b, 0, Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	k := Proposal("sessions/1", "2", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED)
	k.Key = true
	PutProposal(t, b, 0, k)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	next := Index
	next.Version = Index.Version + 1
	next.Terms = func(p *banliv1.Proposal) []string {
		return append(Index.Terms(p), "number="+p.GetNumber())
	}
	b = open(t, dir, next, nil)
	if got, _ := listNames(t, b, store.Query{AllOf: [][]string{{"number=2"}}}, 0, 10); !cmp.Equal(got, []string{"proposals/2"}) {
		t.Errorf("a term of the new declaration finds %v, want proposals/2", got)
	}
	if got, _ := listNames(t, b, store.Query{NoneOf: []string{"key=true"}}, 0, 10); !cmp.Equal(got, []string{"proposals/1"}) {
		t.Errorf("the old terms after the rebuild: %v", got)
	}
	checkIndexes(t, b)
}

func testVersions(t *testing.T, open Open) {
	dir := t.TempDir()
	b := open(t, dir, Index, nil)
	view(t, b, func(r store.Reader) error {
		if v, err := r.Version("statistics"); err != nil || v != 0 {
			return fmt.Errorf("a version never set: %d, %v", v, err)
		}
		return nil
	})
	if _, err := b.Write(context.Background(), store.Request{}, func(tx store.Tx) (proto.Message, error) {
		tx.SetVersion("statistics", 9)
		return nil, errors.New("refused")
	}); err == nil {
		t.Fatal("refusal lost")
	}
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		tx.SetVersion("statistics", 3)
		if v, err := tx.Version("statistics"); err != nil || v != 3 {
			return nil, fmt.Errorf("a staged version reads %d, %v", v, err)
		}
		return nil, nil
	})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, dir, Index, nil)
	view(t, b, func(r store.Reader) error {
		if v, err := r.Version("statistics"); err != nil || v != 3 {
			return fmt.Errorf("after a reopen: %d, %v; want 3 (the refused 9 never written)", v, err)
		}
		if seq, _ := r.LatestEvent(); seq != 0 {
			return fmt.Errorf("recording a version wrote %d events", seq)
		}
		return nil
	})
}

// testWebhooks: a webhook is a record with events like the others; its
// outbox is bookkeeping beside it, written with no event, read back as
// staged, and not written by a refused decision.
func testWebhooks(t *testing.T, open Open) {
	dir := t.TempDir()
	b := open(t, dir, Index, nil)
	outbox := &banliv1.WebhookOutbox{ScannedSequence: 1, Pending: []*banliv1.WebhookDelivery{{EventSequence: 1, Resource: "webhooks/1", Attempts: 2}}}
	write(t, b, func(tx store.Tx) (proto.Message, error) {
		id, err := tx.NewID(store.KindWebhook)
		if err != nil {
			return nil, err
		}
		tx.PutWebhook(id, &banliv1.Webhook{Name: fmt.Sprintf("webhooks/%d", id), Url: "https://example.test/hook", Secret: []byte("k")}, &banliv1.Event{Action: "CreateWebhook"})
		if w, err := tx.Webhook(id); err != nil || w.GetUrl() != "https://example.test/hook" {
			return nil, fmt.Errorf("a staged webhook reads %v, %v", w, err)
		}
		tx.PutWebhookOutbox(id, outbox)
		if o, err := tx.WebhookOutbox(id); err != nil || !proto.Equal(o, outbox) {
			return nil, fmt.Errorf("a staged outbox reads %v, %v", o, err)
		}
		return nil, nil
	})
	if _, err := b.Write(context.Background(), store.Request{}, func(tx store.Tx) (proto.Message, error) {
		tx.PutWebhookOutbox(1, &banliv1.WebhookOutbox{ScannedSequence: 99})
		return nil, errors.New("refused")
	}); err == nil {
		t.Fatal("refusal lost")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open(t, dir, Index, nil)
	view(t, b, func(r store.Reader) error {
		hooks, more, err := r.ListWebhooks(0, 10)
		if err != nil || len(hooks) != 1 || more || string(hooks[0].GetSecret()) != "k" {
			return fmt.Errorf("ListWebhooks: %v, %v, %v", hooks, more, err)
		}
		if o, err := r.WebhookOutbox(1); err != nil || !proto.Equal(o, outbox) {
			return fmt.Errorf("the outbox after a reopen: %v, %v; want %v (the refused one never written)", o, err, outbox)
		}
		if _, err := r.WebhookOutbox(2); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("the outbox of no webhook: %v", err)
		}
		events, err := r.ListEvents(0, 10)
		if err != nil || len(events) != 1 || events[0].GetWebhook().GetName() != "webhooks/1" {
			return fmt.Errorf("events: %v, %v; want only the webhook's creation (an outbox writes none)", events, err)
		}
		return nil
	})
}
