package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/calendar"
	"github.com/banli/banli/store"
)

const (
	calendarsCollection = "calendars"
	// maxHolidayNameLen bounds a holiday's name, e.g. "春节".
	maxHolidayNameLen = 20
)

// calendarYear parses calendars/{year}.
func (v *violations) calendarYear(field, name string) int32 {
	ids, ok := parseName(name, calendarsCollection)
	if !ok || ids[0] < 2000 || ids[0] > 2200 {
		v.badName(field, name, "calendars/{year}, a year from 2000 to 2200")
		return 0
	}
	return int32(ids[0])
}

// GetCalendarYear returns a year's schedule in force, or an older version.
func (s *Server) GetCalendarYear(ctx context.Context, req *banliv1.GetCalendarYearRequest) (*banliv1.CalendarYear, error) {
	v := &violations{}
	year := v.calendarYear("name", req.GetName())
	if req.GetVersion() < 0 {
		v.add("version", "must not be negative")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	if req.GetVersion() == 0 {
		if cy, ok := s.calendar.Year(int(year)); ok {
			return cy, nil
		}
		return nil, resourceNotFound(req.GetName(), "")
	}
	var cy *banliv1.CalendarYear
	err := s.store.View(func(r store.Reader) error {
		var err error
		if cy, err = r.CalendarYear(year, req.GetVersion()); err != nil {
			return notFoundOr(err, fmt.Sprintf("%s version %d", req.GetName(), req.GetVersion()), "")
		}
		return nil
	})
	return cy, err
}

// ListCalendarYears lists the schedules in force.
func (s *Server) ListCalendarYears(ctx context.Context, req *banliv1.ListCalendarYearsRequest) (*banliv1.ListCalendarYearsResponse, error) {
	return &banliv1.ListCalendarYearsResponse{CalendarYears: s.calendar.Years()}, nil
}

// calendarDays checks a list of days of a schedule: at most max, each a
// date with its holiday's name.
func (v *violations) calendarDays(field string, list []*banliv1.CalendarDay, max int) {
	if len(list) > max {
		v.add(field, "at most %d days", max)
		return
	}
	for i, d := range list {
		v.date(fmt.Sprintf("%s[%d].date", field, i), d.GetDate())
		v.line(fmt.Sprintf("%s[%d].holiday", field, i), d.GetHoliday(), maxHolidayNameLen, false)
	}
}

// notices checks the notices a schedule comes from: at most 10, each at
// most 200 characters.
func (v *violations) notices(field string, sources []string) {
	if len(sources) > 10 {
		v.add(field, "at most 10")
		return
	}
	for i, src := range sources {
		v.line(fmt.Sprintf("%s[%d]", field, i), src, 200, true)
	}
}

func validateLoadCalendarYear(req *banliv1.LoadCalendarYearRequest) error {
	v := &violations{}
	year := v.calendarYear("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	v.calendarDays("days_off", req.GetDaysOff(), 60)
	v.calendarDays("make_up_working_days", req.GetMakeUpWorkingDays(), 20)
	if len(req.GetSources()) == 0 {
		v.add("sources", "required: the notice the schedule comes from")
	}
	v.notices("sources", req.GetSources())
	if len(v.list) == 0 {
		if err := calendar.Check(&banliv1.CalendarYear{Year: year, DaysOff: req.GetDaysOff(), MakeUpWorkingDays: req.GetMakeUpWorkingDays()}); err != nil {
			v.add("days_off", "%v", err)
		}
	}
	return v.err()
}

// LoadCalendarYear puts a new version of a year's schedule in force and
// recomputes every deadline on it.
func (s *Server) LoadCalendarYear(ctx context.Context, req *banliv1.LoadCalendarYearRequest) (*banliv1.CalendarYear, error) {
	if err := validateLoadCalendarYear(req); err != nil {
		return nil, err
	}
	year := idOf(req.GetName(), calendarsCollection)
	cy, err := write(ctx, s, banliv1.CalendarService_LoadCalendarYear_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.CalendarYear, error) {
		version := int32(0)
		if stored, err := tx.CalendarYear(int32(year), 0); err == nil {
			version = stored.GetVersion()
		}
		current, regions := "none", []*banliv1.RegionalCalendar(nil)
		if inForce, ok := s.calendar.Year(int(year)); ok {
			current, regions = inForce.GetEtag(), inForce.GetRegions()
			if err := checkEtag(req.GetEtag(), current, req.GetName()); err != nil {
				return nil, err
			}
		}
		cy := &banliv1.CalendarYear{
			Regions:           regions, // the national schedule changes; the layers stay
			Name:              req.GetName(),
			Year:              int32(year),
			DaysOff:           sortedDays(req.GetDaysOff()),
			MakeUpWorkingDays: sortedDays(req.GetMakeUpWorkingDays()),
			Sources:           req.GetSources(),
			Version:           version + 1,
			LoadTime:          timestampOf(now),
			LoadedBy:          Actor(ctx),
			Etag:              strconv.Itoa(int(version + 1)),
		}
		details := fmt.Sprintf("%d days off, %d make-up working days", len(cy.GetDaysOff()), len(cy.GetMakeUpWorkingDays()))
		tx.PutCalendarYear(cy, newEvent(ctx, cy.GetLoadTime(), "LoadCalendarYear", "", "version "+current, "version "+cy.GetEtag(), details))
		// Every deadline is recomputed on the new schedule; the work is
		// recorded here, with the schedule.
		if err := queueEverySession(ctx, tx, now, "", fmt.Sprintf("%s loaded (version %d)", req.GetName(), cy.GetVersion())); err != nil {
			return nil, err
		}
		return cy, nil
	})
	if err != nil {
		return nil, err
	}
	return s.putInForce(ctx, cy)
}

// putInForce puts a committed version of a year in force and recomputes
// the deadlines its load queued. Done now, so that the answer finds the
// deadlines right; a batch cut off (the call ends, the server stops) is
// resumed by the scheduled steps.
func (s *Server) putInForce(ctx context.Context, cy *banliv1.CalendarYear) (*banliv1.CalendarYear, error) {
	s.calendar.Set(cy)
	if _, err := s.RunRecomputes(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return cy, nil
}

func validateLoadRegionalCalendar(req *banliv1.LoadRegionalCalendarRequest) error {
	v := &violations{}
	year := v.calendarYear("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	layer := req.GetLayer()
	if layer == nil {
		v.add("layer", "required")
		return v.err()
	}
	if !validAccountID(layer.GetRegion()) {
		v.add("layer.region", "a region's id: 2 to 63 lowercase letters, digits and hyphens, starting with a letter, e.g. guangxi")
	}
	v.line("layer.display_name", layer.GetDisplayName(), maxNameLen, true)
	v.calendarDays("layer.days_off", layer.GetDaysOff(), 20)
	v.calendarDays("layer.make_up_working_days", layer.GetMakeUpWorkingDays(), 10)
	removal := len(layer.GetDaysOff())+len(layer.GetMakeUpWorkingDays()) == 0
	if len(layer.GetSources()) == 0 && !removal {
		v.add("layer.sources", "required: the notice the region's days come from")
	}
	v.notices("layer.sources", layer.GetSources())
	if len(v.list) == 0 {
		if err := calendar.CheckLayer(year, layer); err != nil {
			v.add("layer.days_off", "%v", err)
		}
	}
	return v.err()
}

// LoadRegionalCalendar puts a new version of a year in force with one
// region's layer replaced (or removed), the national schedule and the
// other layers as they were, and recomputes the deadlines of the sessions
// counting on the region.
func (s *Server) LoadRegionalCalendar(ctx context.Context, req *banliv1.LoadRegionalCalendarRequest) (*banliv1.CalendarYear, error) {
	if err := validateLoadRegionalCalendar(req); err != nil {
		return nil, err
	}
	year := idOf(req.GetName(), calendarsCollection)
	region := req.GetLayer().GetRegion()
	cy, err := write(ctx, s, banliv1.CalendarService_LoadRegionalCalendar_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.CalendarYear, error) {
		version := int32(0)
		if stored, err := tx.CalendarYear(int32(year), 0); err == nil {
			version = stored.GetVersion()
		}
		// The layer sits on the national schedule in force, a loaded one or
		// the one Banli ships. Without one the year's deadlines are
		// provisional, which a layer alone must not hide.
		inForce, ok := s.calendar.Year(int(year))
		if !ok {
			return nil, fmt.Errorf("%s has no national schedule: load it (LoadCalendarYear) before a region's layer: %w", req.GetName(), ErrPrecondition)
		}
		current := inForce.GetEtag()
		if err := checkEtag(req.GetEtag(), current, req.GetName()); err != nil {
			return nil, err
		}
		cy := proto.Clone(inForce).(*banliv1.CalendarYear)
		cy.Regions = slices.DeleteFunc(cy.GetRegions(), func(l *banliv1.RegionalCalendar) bool { return l.GetRegion() == region })
		layer := proto.Clone(req.GetLayer()).(*banliv1.RegionalCalendar)
		layer.DaysOff, layer.MakeUpWorkingDays = sortedDays(layer.GetDaysOff()), sortedDays(layer.GetMakeUpWorkingDays())
		details := fmt.Sprintf("%s (%s): layer removed", region, layer.GetDisplayName())
		if len(layer.GetDaysOff())+len(layer.GetMakeUpWorkingDays()) > 0 {
			cy.Regions = append(cy.Regions, layer)
			slices.SortFunc(cy.Regions, func(a, b *banliv1.RegionalCalendar) int { return strings.Compare(a.GetRegion(), b.GetRegion()) })
			details = fmt.Sprintf("%s (%s): %d days off, %d make-up working days", region, layer.GetDisplayName(), len(layer.GetDaysOff()), len(layer.GetMakeUpWorkingDays()))
		}
		cy.Version, cy.LoadTime, cy.LoadedBy, cy.Etag = version+1, timestampOf(now), Actor(ctx), strconv.Itoa(int(version+1))
		tx.PutCalendarYear(cy, newEvent(ctx, cy.GetLoadTime(), "LoadRegionalCalendar", "", "version "+current, "version "+cy.GetEtag(), details))
		if err := queueEverySession(ctx, tx, now, region, fmt.Sprintf("%s region %s loaded (version %d)", req.GetName(), region, cy.GetVersion())); err != nil {
			return nil, err
		}
		return cy, nil
	})
	if err != nil {
		return nil, err
	}
	return s.putInForce(ctx, cy)
}

func sortedDays(days []*banliv1.CalendarDay) []*banliv1.CalendarDay {
	out := make([]*banliv1.CalendarDay, len(days))
	for i, d := range days {
		out[i] = proto.Clone(d).(*banliv1.CalendarDay)
	}
	slices.SortFunc(out, func(a, b *banliv1.CalendarDay) int { return strings.Compare(a.GetDate(), b.GetDate()) })
	return out
}
