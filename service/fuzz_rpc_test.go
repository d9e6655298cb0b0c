package service

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

// fuzzTarget is every unary RPC of every service, called through its
// generated handler as gRPC would, on a real store with a little data.
type fuzzTarget struct {
	srv     *Server
	db      *boltstore.DB
	methods []fuzzMethod
}

type fuzzMethod struct {
	name    string
	handler grpc.MethodHandler
}

func newFuzzTarget(f *testing.F) *fuzzTarget {
	db, err := boltstore.Open(filepath.Join(f.TempDir(), "fuzz.db"), boltstore.Options{Index: ProposalIndex})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	now := time.Date(2021, 3, 1, 9, 0, 0, 0, chinaTime)
	srv, err := New(db, Options{Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	ctx := context.Background()
	// Something to act on: a session, two units and an assigned case.
	sess, _ := srv.CreateSession(ctx, &banliv1.CreateSessionRequest{Session: &banliv1.Session{Body: 2, Level: 3, Term: 7, Meeting: 1, Year: 2021, DisplayName: "s"}})
	u1, _ := srv.CreateUnit(ctx, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "a"}})
	srv.CreateUnit(ctx, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "b"}})
	p, err := srv.CreateProposal(ctx, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{Session: sess.GetName(), Kind: 2, Number: "1", Period: 1, Title: "t", Content: "c",
		Proposers: []*banliv1.Proposer{{Type: 1, DisplayName: "p"}}}})
	if err != nil {
		f.Fatal(err)
	}
	srv.AssignProposal(ctx, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{{Unit: u1.GetName(), Role: 1}}})

	t := &fuzzTarget{srv: srv, db: db}
	for _, desc := range []grpc.ServiceDesc{
		banliv1.SessionService_ServiceDesc, banliv1.UnitService_ServiceDesc, banliv1.ProposalService_ServiceDesc,
		banliv1.EventService_ServiceDesc, banliv1.CalendarService_ServiceDesc, banliv1.SupervisionService_ServiceDesc,
		banliv1.StatisticsService_ServiceDesc, banliv1.ReplicationService_ServiceDesc,
	} {
		for _, m := range desc.Methods {
			if m.MethodName == "Promote" {
				continue // changes the server's role, not its data
			}
			t.methods = append(t.methods, fuzzMethod{name: desc.ServiceName + "/" + m.MethodName, handler: m.Handler})
		}
	}
	return t
}

// check calls method number which with a request decoded by decode, and
// fails on a panic (by crashing), an INTERNAL, UNKNOWN or UNAVAILABLE
// answer (what a failure inside the server is answered with), or a
// refused call that wrote something.
func (ft *fuzzTarget) check(t *testing.T, which uint16, decode func(proto.Message) error) {
	m := ft.methods[int(which)%len(ft.methods)]
	before := ft.latest()
	decoded := true
	_, err := m.handler(ft.srv, context.Background(), func(v any) error {
		if err := decode(v.(proto.Message)); err != nil {
			decoded = false
			return status.Error(codes.InvalidArgument, err.Error())
		}
		return nil
	}, ConvertErrors())
	if !decoded {
		return // the transport refuses what it cannot decode (see cmd/banli/codec.go)
	}
	switch code := status.Code(err); code {
	case codes.Internal, codes.Unknown:
		t.Fatalf("%s: %v", m.name, err)
	case codes.Unavailable:
		// A failure inside the server is masked as UNAVAILABLE (reason
		// INTERNAL); no request may cause one.
		t.Fatalf("%s: %v (a failure inside the server)", m.name, err)
	case codes.OK:
	default:
		if after := ft.latest(); after != before {
			t.Fatalf("%s refused (%v) but wrote events %d to %d", m.name, err, before, after)
		}
	}
}

func (ft *fuzzTarget) latest() uint64 {
	var n uint64
	if err := ft.db.View(func(r store.Reader) (err error) { n, err = r.LatestEvent(); return err }); err != nil {
		panic(err)
	}
	return n
}

// FuzzRequests sends arbitrary protobuf bytes to every RPC.
func FuzzRequests(f *testing.F) {
	ft := newFuzzTarget(f)
	for i, seed := range []proto.Message{
		&banliv1.AssignProposalRequest{Name: "proposals/1", Assignments: []*banliv1.UnitAssignment{{Unit: "units/2", Role: 3}}},
		&banliv1.SignAssignmentRequest{Name: "proposals/1/assignments/1", Department: "units/2"},
		&banliv1.SubmitReplyRequest{Name: "proposals/1/assignments/1", Reply: &banliv1.Reply{Category: 4, Text: "x", Signer: "y", ContactPerson: "z", ContactPhone: "123", DisclosureIntent: 1}},
		&banliv1.ListProposalsRequest{Unit: "units/1", State: 2, PageSize: 3, PageToken: "AQ"},
		&banliv1.ListLedgerEntriesRequest{View: 1, Year: 2021},
		&banliv1.LoadCalendarYearRequest{Name: "calendars/2027", Sources: []string{"s"}, DaysOff: []*banliv1.CalendarDay{{Date: "2027-02-30"}}},
		&banliv1.GetYearSummaryRequest{Year: 2021, CustomPolicy: &banliv1.ScoringPolicy{Name: "x", Items: []*banliv1.ScoringItem{{Count: "a+b"}}}},
	} {
		b, _ := proto.Marshal(seed)
		f.Add(b, uint16(i*7))
	}
	f.Fuzz(func(t *testing.T, data []byte, which uint16) {
		ft.check(t, which, func(m proto.Message) error { return proto.Unmarshal(data, m) })
	})
}

// FuzzRESTBodies sends arbitrary JSON, as the gateway would decode it, to
// every RPC.
func FuzzRESTBodies(f *testing.F) {
	ft := newFuzzTarget(f)
	for i, seed := range []string{
		`{"name":"proposals/1","assignments":[{"unit":"units/2","role":"ASSIGNMENT_ROLE_CO_HANDLING"}]}`,
		`{"proposal":{"session":"sessions/1","kind":"PROPOSAL_KIND_CPPCC_PROPOSAL","number":"2","title":"\u0000","content":"c"}}`,
		`{"name":"proposals/1/assignments/1/replies/1","proposerId":-1,"satisfaction":"SATISFACTION_UNSATISFIED"}`,
		`{"view":"LEDGER_VIEW_OVERDUE","asOf":"1900-01-01T00:00:00Z","pageSize":1000}`,
		`{"unit":{"displayName":"` + string(make([]byte, 300)) + `"}}`,
	} {
		f.Add(seed, uint16(i*11))
	}
	f.Fuzz(func(t *testing.T, body string, which uint16) {
		ft.check(t, which, func(m proto.Message) error { return protojson.Unmarshal([]byte(body), m) })
	})
}
