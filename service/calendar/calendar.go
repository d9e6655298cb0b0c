// Package calendar is the official working-day calendar deadlines are
// counted on (DOMAIN.md, "Deadlines"): weekends and public holidays are off,
// make-up working days (调休上班) on weekends are on.
//
// The State Council's schedules of 2019 to 2026 ship in official/, one JSON
// file a year, as published facts. A year loaded through the API replaces
// the shipped one. A year with no schedule at all counts weekends only and
// says so, so that deadlines computed in it are marked provisional.
package calendar

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

//go:embed official/*.json
var officialFiles embed.FS

// officialFile is the layout of a file in official/.
type officialFile struct {
	Year              int               `json:"year"`
	Sources           []string          `json:"sources"`
	DaysOff           map[string]string `json:"days_off"`
	MakeUpWorkingDays map[string]string `json:"make_up_working_days"`
}

// Official returns the schedules shipped with Banli, as version 0 of each
// year, oldest first.
func Official() ([]*banliv1.CalendarYear, error) {
	names, err := fs.Glob(officialFiles, "official/*.json")
	if err != nil {
		return nil, err
	}
	var years []*banliv1.CalendarYear
	for _, name := range names {
		raw, err := officialFiles.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var f officialFile
		if err := json.Unmarshal(raw, &f); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		cy := &banliv1.CalendarYear{
			Name:    fmt.Sprintf("calendars/%d", f.Year),
			Year:    int32(f.Year),
			Sources: f.Sources,
			Etag:    "0",
		}
		cy.DaysOff = days(f.DaysOff)
		cy.MakeUpWorkingDays = days(f.MakeUpWorkingDays)
		if err := Check(cy); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		years = append(years, cy)
	}
	return years, nil
}

func days(m map[string]string) []*banliv1.CalendarDay {
	out := make([]*banliv1.CalendarDay, 0, len(m))
	for date, holiday := range m {
		out = append(out, &banliv1.CalendarDay{Date: date, Holiday: holiday})
	}
	slices.SortFunc(out, func(a, b *banliv1.CalendarDay) int {
		if a.GetDate() < b.GetDate() {
			return -1
		}
		if a.GetDate() > b.GetDate() {
			return 1
		}
		return 0
	})
	return out
}

// Check reports the first inconsistency of a schedule: a date that is not
// a date of its year, a day listed twice, or a make-up working day that is
// not a weekend day.
func Check(cy *banliv1.CalendarYear) error {
	return checkDays(cy.GetYear(), cy.GetDaysOff(), cy.GetMakeUpWorkingDays())
}

// CheckLayer reports the first inconsistency of a region's layer of a
// year, as Check does of the national schedule.
func CheckLayer(year int32, layer *banliv1.RegionalCalendar) error {
	return checkDays(year, layer.GetDaysOff(), layer.GetMakeUpWorkingDays())
}

func checkDays(yearOf int32, daysOff, makeUp []*banliv1.CalendarDay) error {
	seen := map[string]bool{}
	check := func(list []*banliv1.CalendarDay, makeUp bool) error {
		for _, d := range list {
			t, err := time.Parse(time.DateOnly, d.GetDate())
			if err != nil {
				return fmt.Errorf("%q is not a date like 2027-02-10", d.GetDate())
			}
			if t.Year() != int(yearOf) {
				return fmt.Errorf("%s is not in %d", d.GetDate(), yearOf)
			}
			if seen[d.GetDate()] {
				return fmt.Errorf("%s is listed twice", d.GetDate())
			}
			seen[d.GetDate()] = true
			if wd := t.Weekday(); makeUp && wd != time.Saturday && wd != time.Sunday {
				return fmt.Errorf("make-up working day %s is a %s, not a weekend day", d.GetDate(), wd)
			}
		}
		return nil
	}
	if err := check(daysOff, false); err != nil {
		return err
	}
	return check(makeUp, true)
}

// Calendar holds the schedule in force for each year. It is safe for
// concurrent use.
type Calendar struct {
	mu    sync.RWMutex
	years map[int]*year
}

// year is one schedule, indexed by day of the year for the hot path, with
// its regional layers.
type year struct {
	schedule *banliv1.CalendarYear
	marks
	regions map[string]marks
}

// marks are the days off and the make-up working days of a schedule or a
// layer, by time.Time.YearDay().
type marks struct{ off, on [367]bool }

func marked(daysOff, makeUp []*banliv1.CalendarDay) marks {
	var m marks
	mark := func(list []*banliv1.CalendarDay, days *[367]bool) {
		for _, d := range list {
			if t, err := time.Parse(time.DateOnly, d.GetDate()); err == nil {
				days[t.YearDay()] = true
			}
		}
	}
	mark(daysOff, &m.off)
	mark(makeUp, &m.on)
	return m
}

// New returns a calendar holding the given schedules.
func New(schedules ...*banliv1.CalendarYear) *Calendar {
	c := &Calendar{years: map[int]*year{}}
	for _, s := range schedules {
		c.Set(s)
	}
	return c
}

// Set puts a schedule in force for its year.
func (c *Calendar) Set(s *banliv1.CalendarYear) {
	y := &year{schedule: s, marks: marked(s.GetDaysOff(), s.GetMakeUpWorkingDays()), regions: map[string]marks{}}
	for _, layer := range s.GetRegions() {
		y.regions[layer.GetRegion()] = marked(layer.GetDaysOff(), layer.GetMakeUpWorkingDays())
	}
	c.mu.Lock()
	c.years[int(s.GetYear())] = y
	c.mu.Unlock()
}

// Year returns the schedule in force for a year.
func (c *Calendar) Year(y int) (*banliv1.CalendarYear, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if s, ok := c.years[y]; ok {
		return s.schedule, true
	}
	return nil, false
}

// Years returns the schedules in force, oldest year first.
func (c *Calendar) Years() []*banliv1.CalendarYear {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]*banliv1.CalendarYear, 0, len(c.years))
	for _, y := range c.years {
		out = append(out, y.schedule)
	}
	slices.SortFunc(out, func(a, b *banliv1.CalendarYear) int { return int(a.GetYear() - b.GetYear()) })
	return out
}

// WorkingDay reports whether date is a working day on the national
// schedule, and whether its year's schedule is known; without one, only
// weekends are off.
func (c *Calendar) WorkingDay(date time.Time) (working, known bool) {
	return c.WorkingDayIn("", date)
}

// WorkingDayIn reports whether date is a working day in a region (""
// for the national schedule alone): the region's layer, if its year has
// one, decides over the national schedule, which decides over the week.
func (c *Calendar) WorkingDayIn(region string, date time.Time) (working, known bool) {
	c.mu.RLock()
	y, known := c.years[date.Year()]
	c.mu.RUnlock()
	weekend := date.Weekday() == time.Saturday || date.Weekday() == time.Sunday
	if !known {
		return !weekend, false
	}
	day := date.YearDay()
	if layer, ok := y.regions[region]; ok && region != "" {
		switch {
		case layer.off[day]:
			return false, true
		case layer.on[day]:
			return true, true
		}
	}
	switch {
	case y.off[day]:
		return false, true
	case y.on[day]:
		return true, true
	default:
		return !weekend, true
	}
}
