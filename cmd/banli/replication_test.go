package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

// TestStandbyFollowsThePrimary runs a primary and a standby on loopback,
// writes to the primary under load, kills it, and checks the standby: every
// event it reports applied is the primary's, byte for byte; it serves those
// cases; it refuses writes until promoted, and afterwards never reuses an
// id the primary gave.
func TestStandbyFollowsThePrimary(t *testing.T) {
	f := newFixture(t)
	standby := startStandby(t, f.testServer)
	replication := func(ts *testServer) *banliv1.ReplicationStatus {
		return must(banliv1.NewReplicationServiceClient(ts.conn).GetReplicationStatus(office, &banliv1.GetReplicationStatusRequest{}))(t)
	}
	if r := replication(f.testServer); r.GetRole() != banliv1.ReplicationRole_REPLICATION_ROLE_PRIMARY {
		t.Fatalf("primary says %v", r)
	}
	// The standby knows the primary's accounts once it has caught up.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		_, err := banliv1.NewAccountServiceClient(standby.conn).GetCaller(as(f.adminKey), &banliv1.GetCallerRequest{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby never learnt the primary's accounts: %v", err)
		}
	}
	_, err := standby.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "x"}})
	wantCode(t, err, codes.FailedPrecondition, "")

	// Writers on the primary.
	var acked sync.Map // case name -> last answer
	var n atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				p, err := f.proposals.CreateProposal(context.Background(), benchProposal(f, int64(w*10000+i)))
				if err != nil {
					return
				}
				acked.Store(p.GetName(), p)
				if p, err = f.proposals.AssignProposal(context.Background(), &banliv1.AssignProposalRequest{Name: p.GetName(),
					Assignments: []*banliv1.UnitAssignment{{Unit: f.unit(w % 6), Role: roleLead}}}); err != nil {
					return
				}
				acked.Store(p.GetName(), p)
				n.Add(2)
			}
		}()
	}
	// Let the standby catch up once while writes go on, then kill the primary.
	deadline := time.Now().Add(10 * time.Second)
	for r := replication(standby); r.GetAppliedSequence() < 200; r = replication(standby) {
		if time.Now().After(deadline) {
			t.Fatalf("the standby did not follow: %v", r)
		}
		time.Sleep(10 * time.Millisecond) // polling for progress
	}
	f.stop()
	close(stop)
	wg.Wait()
	status := replication(standby)
	if status.GetRole() != banliv1.ReplicationRole_REPLICATION_ROLE_STANDBY || status.GetFollowing() != f.addrs.GRPCAddr {
		t.Errorf("standby says %v", status)
	}
	applied := status.GetAppliedSequence()

	// Everything the standby applied is the primary's, event for event.
	primary, err := openDataFile(f.dataPath, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var want []*banliv1.Event
	primary.View(func(r store.Reader) error {
		want, err = r.ListEvents(0, int(applied))
		return err
	})
	primary.Close()
	// The admin reads the history as stored.
	got := must(standby.events.ListEvents(as(f.adminKey), &banliv1.ListEventsRequest{PageSize: 1000}))(t).GetEvents()
	for after := uint64(len(got)); after < applied; after = uint64(len(got)) {
		more := must(standby.events.ListEvents(as(f.adminKey), &banliv1.ListEventsRequest{AfterSequence: after, PageSize: 1000}))(t).GetEvents()
		got = append(got, more...)
	}
	if uint64(len(want)) != applied || uint64(len(got)) != applied {
		t.Fatalf("applied %d: primary has %d, standby %d", applied, len(want), len(got))
	}
	for i := range want {
		if !proto.Equal(want[i], got[i]) {
			t.Fatalf("event %d differs:\nprimary %v\nstandby %v", i+1, want[i], got[i])
		}
	}
	// Every acknowledged write up to that point is served by the standby.
	served, missing := 0, 0
	acked.Range(func(k, v any) bool {
		p, err := standby.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: k.(string)})
		switch {
		case err != nil:
			missing++
		case p.GetEtag() == v.(*banliv1.Proposal).GetEtag():
			served++
		}
		return true
	})
	if served == 0 {
		t.Error("the standby serves none of the acknowledged cases")
	}

	// Promote: writes are accepted, and ids continue after the primary's.
	promoted := must(banliv1.NewReplicationServiceClient(standby.conn).Promote(office, &banliv1.PromoteRequest{}))(t)
	if promoted.GetRole() != banliv1.ReplicationRole_REPLICATION_ROLE_PRIMARY {
		t.Errorf("after promotion: %v", promoted)
	}
	f.testServer = standby
	p := f.receive(t)
	var last uint64
	for _, ev := range got {
		if pr := ev.GetProposal(); pr != nil {
			var id uint64
			fmt.Sscanf(pr.GetName(), "proposals/%d", &id)
			last = max(last, id)
		}
	}
	if p.GetName() != fmt.Sprintf("proposals/%d", last+1) {
		t.Errorf("first case after promotion is %s; the standby held up to proposals/%d", p.GetName(), last)
	}
	t.Logf("%d writes acknowledged; standby applied %d events (lag %d at the end); %d cases served as acknowledged, %d not yet there",
		n.Load(), applied, status.GetLagEvents(), served, missing)
}

// TestStandbyKeepsSavedPoliciesAndLayers: what this records add
// (a saved scoring policy, a regional calendar layer) reach a standby as
// the rest does, and it serves them (#15).
func TestStandbyKeepsSavedPoliciesAndLayers(t *testing.T) {
	f := newFixture(t)
	standby := startStandby(t, f.testServer)
	saved := must(f.statistics().SaveScoringPolicy(as(f.officeKey(t)), &banliv1.SaveScoringPolicyRequest{Policy: &banliv1.ScoringPolicy{
		Name: "standby-check", Base: 80, Items: []*banliv1.ScoringItem{{Count: "lead_parts", Points: 1, Label: "主办每件加1分"}}}}))(t)
	calendars := banliv1.NewCalendarServiceClient(f.conn)
	layered := must(calendars.LoadRegionalCalendar(as(f.adminKey), &banliv1.LoadRegionalCalendarRequest{Name: "calendars/2021",
		Layer: &banliv1.RegionalCalendar{Region: "guangxi", DisplayName: "广西壮族自治区", Sources: []string{"通知"},
			DaysOff: []*banliv1.CalendarDay{{Date: "2021-04-14", Holiday: "三月三"}}}}))(t)
	waitFor(t, func() bool {
		got, err := standby.statistics().GetScoringPolicy(office, &banliv1.GetScoringPolicyRequest{Name: saved.GetName()})
		return err == nil && proto.Equal(got, saved)
	})
	waitFor(t, func() bool {
		got, err := banliv1.NewCalendarServiceClient(standby.conn).GetCalendarYear(office, &banliv1.GetCalendarYearRequest{Name: "calendars/2021"})
		return err == nil && proto.Equal(got, layered)
	})
}
