package main

import (
	"testing"

	"google.golang.org/grpc/codes"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestRegionalCalendars: a calendar is the national schedule with regional
// layers on top. Loading 广西's 三月三 adds a layer without touching the
// national schedule; the sessions naming the region count their deadlines
// on it, and only theirs are recomputed; loading the national schedule
// again keeps the layer (#15, item 4).
func TestRegionalCalendars(t *testing.T) {
	f := newFixture(t)
	admin := as(f.adminKey)
	calendars := banliv1.NewCalendarServiceClient(f.conn)
	national := must(calendars.GetCalendarYear(office, &banliv1.GetCalendarYearRequest{Name: "calendars/2021"}))(t)
	guangxi := f.cppccSession(t, 6, &banliv1.SessionPolicy{CalendarRegion: "guangxi"})

	// Monday 12 April 2021: one case in each session.
	f.clock.Set(day(4, 12))
	signBy := func(p *banliv1.Proposal) string {
		p = must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
		return p.GetAssignments()[0].GetSignDeadline().GetDueDate()
	}
	plain := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	regional := f.assign(t, f.receiveIn(t, guangxi, "GX1"), part(f.unit(0), roleLead))
	if a, b := signBy(plain), signBy(regional); a != "2021-04-19" || b != "2021-04-19" {
		t.Fatalf("before the layer: %s and %s, want 2021-04-19 for both", a, b)
	}

	layer := &banliv1.RegionalCalendar{Region: "guangxi", DisplayName: "广西壮族自治区",
		DaysOff: []*banliv1.CalendarDay{{Date: "2021-04-14", Holiday: "三月三"}, {Date: "2021-04-15", Holiday: "三月三"}},
		Sources: []string{"广西壮族自治区人民政府办公厅关于2021年“壮族三月三”放假的通知"}}
	_, err := calendars.LoadRegionalCalendar(admin, &banliv1.LoadRegionalCalendarRequest{Name: "calendars/2021",
		Layer: &banliv1.RegionalCalendar{Region: "Guang Xi", DisplayName: "x", DaysOff: layer.GetDaysOff(), Sources: layer.GetSources()}})
	wantCode(t, err, codes.InvalidArgument, "layer.region")
	_, err = calendars.LoadRegionalCalendar(admin, &banliv1.LoadRegionalCalendarRequest{Name: "calendars/2030", Layer: &banliv1.RegionalCalendar{
		Region: "guangxi", DisplayName: "广西壮族自治区", DaysOff: []*banliv1.CalendarDay{{Date: "2030-04-05"}}, Sources: layer.GetSources()}})
	wantCode(t, err, codes.FailedPrecondition, "")
	loaded := must(calendars.LoadRegionalCalendar(admin, &banliv1.LoadRegionalCalendarRequest{Name: "calendars/2021", Layer: layer}))(t)
	if len(loaded.GetDaysOff()) != len(national.GetDaysOff()) || len(loaded.GetRegions()) != 1 {
		t.Errorf("after the layer: %d national days off (was %d), %d layers", len(loaded.GetDaysOff()), len(national.GetDaysOff()), len(loaded.GetRegions()))
	}
	// The region's case skips 14 and 15 April; the national one does not.
	if a, b := signBy(plain), signBy(regional); a != "2021-04-19" || b != "2021-04-21" {
		t.Errorf("after the layer: national %s (want 2021-04-19), 广西 %s (want 2021-04-21)", a, b)
	}
	// A new case of the region counts on the layer from the start.
	later := f.assign(t, f.receiveIn(t, guangxi, "GX2"), part(f.unit(1), roleLead))
	if got := signBy(later); got != "2021-04-21" {
		t.Errorf("a case assigned after the layer: %s", got)
	}

	// The national schedule loaded again (a correction): the layer stays.
	again := must(calendars.LoadCalendarYear(admin, &banliv1.LoadCalendarYearRequest{Name: "calendars/2021",
		DaysOff: national.GetDaysOff(), MakeUpWorkingDays: national.GetMakeUpWorkingDays(), Sources: national.GetSources()}))(t)
	if len(again.GetRegions()) != 1 || again.GetRegions()[0].GetRegion() != "guangxi" {
		t.Errorf("the national schedule loaded again dropped the layer: %v", again.GetRegions())
	}
	if got := signBy(regional); got != "2021-04-21" {
		t.Errorf("after the national reload: 广西 %s", got)
	}
	// Removed, the region counts on the national schedule again.
	must(calendars.LoadRegionalCalendar(admin, &banliv1.LoadRegionalCalendarRequest{Name: "calendars/2021",
		Layer: &banliv1.RegionalCalendar{Region: "guangxi", DisplayName: "广西壮族自治区"}}))(t)
	if got := signBy(regional); got != "2021-04-19" {
		t.Errorf("after the layer was removed: %s", got)
	}
}
