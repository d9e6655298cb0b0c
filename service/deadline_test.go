package service

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/calendar"
)

// WeekendCalendar knows no official schedule: Monday to Friday are working
// days, and every answer is provisional.
type WeekendCalendar struct{}

func (WeekendCalendar) WorkingDayIn(_ string, date time.Time) (bool, bool) {
	wd := date.Weekday()
	return wd != time.Saturday && wd != time.Sunday, false
}

func cst(y int, m time.Month, d, hour int) time.Time {
	return time.Date(y, m, d, hour, 0, 0, 0, chinaTime)
}

func TestWorkingDaysAfter(t *testing.T) {
	clock := deadlineClock{cal: WeekendCalendar{}}
	tests := []struct {
		name  string
		start time.Time
		n     int
		want  string
	}{
		{"Monday plus 5 is next Monday", cst(2026, 3, 2, 10), 5, "2026-03-09"},
		{"Friday plus 1 skips the weekend", cst(2026, 3, 6, 10), 1, "2026-03-09"},
		{"Saturday plus 1 is Monday", cst(2026, 3, 7, 10), 1, "2026-03-09"},
		{"crosses the year", cst(2026, 12, 30, 10), 5, "2027-01-06"},
		// 2026-03-01 17:00 UTC is already 2 March in China.
		{"the day is China's", time.Date(2026, 3, 1, 17, 0, 0, 0, time.UTC), 1, "2026-03-03"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := clock.workingDaysAfter(tt.start, tt.n, "assignment")
			if d.GetDueDate() != tt.want {
				t.Errorf("due %s, want %s", d.GetDueDate(), tt.want)
			}
			if !d.GetProvisional() {
				t.Error("a weekend-only calendar must mark the deadline provisional")
			}
			wantEnd := tt.want + "T23:59:59+08:00"
			if got := d.GetDueTime().AsTime().In(chinaTime).Format(time.RFC3339); got != wantEnd {
				t.Errorf("due time %s, want %s", got, wantEnd)
			}
		})
	}
}

func TestMonthsAfter(t *testing.T) {
	clock := deadlineClock{cal: WeekendCalendar{}}
	tests := []struct {
		name     string
		start    time.Time
		n        int
		want     string
		wantRule string
	}{
		{"plain", cst(2026, 3, 10, 9), 3, "2026-06-10", "3 months after assignment"},
		{"30th into a short month, then past the weekend", cst(2026, 1, 30, 9), 1, "2026-03-02", "1 month after assignment, moved to the next working day"},
		{"31 Jan plus 1 is the last of February", cst(2025, 1, 31, 9), 1, "2025-02-28", "1 month after assignment"},
		{"lands on a Saturday", cst(2026, 3, 13, 9), 3, "2026-06-15", "3 months after assignment, moved to the next working day"},
		{"crosses the year", cst(2026, 11, 20, 9), 3, "2027-02-22", "3 months after assignment, moved to the next working day"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := clock.monthsAfter(tt.start, tt.n, "assignment")
			if d.GetDueDate() != tt.want || d.GetRule() != tt.wantRule {
				t.Errorf("got %s (%s), want %s (%s)", d.GetDueDate(), d.GetRule(), tt.want, tt.wantRule)
			}
		})
	}
}

// holidayCalendar knows one schedule: a holiday on a weekday and a make-up
// working Saturday.
type holidayCalendar map[string]bool

func (h holidayCalendar) WorkingDayIn(_ string, d time.Time) (bool, bool) {
	if working, ok := h[d.Format(time.DateOnly)]; ok {
		return working, true
	}
	wd := d.Weekday()
	return wd != time.Saturday && wd != time.Sunday, true
}

func TestDeadlinesFollowTheCalendar(t *testing.T) {
	clock := deadlineClock{cal: holidayCalendar{"2026-10-01": false, "2026-10-02": false, "2026-10-05": false, "2026-10-10": true}}
	d := clock.workingDaysAfter(cst(2026, 9, 30, 9), 2, "assignment")
	if d.GetDueDate() != "2026-10-07" || d.GetProvisional() {
		t.Errorf("got %s provisional=%v, want 2026-10-07 (1, 2 and 5 October off)", d.GetDueDate(), d.GetProvisional())
	}
	d = clock.workingDaysAfter(cst(2026, 10, 9, 9), 1, "assignment")
	if d.GetDueDate() != "2026-10-10" {
		t.Errorf("got %s, want the make-up Saturday 2026-10-10", d.GetDueDate())
	}
	d = clock.monthsAfter(cst(2026, 9, 1, 9), 1, "assignment")
	if d.GetDueDate() != "2026-10-06" {
		t.Errorf("got %s, want 2026-10-06 (1 October off, then 2, then the weekend, then 5)", d.GetDueDate())
	}
}

func officialClock(t *testing.T) deadlineClock {
	t.Helper()
	years, err := calendar.Official()
	if err != nil {
		t.Fatal(err)
	}
	return deadlineClock{cal: calendar.New(years...)}
}

// TestDeadlinesOnTheOfficialCalendar counts on the shipped State Council
// schedules.
func TestDeadlinesOnTheOfficialCalendar(t *testing.T) {
	clock := officialClock(t)
	tests := []struct {
		name   string
		due    *banliv1.Deadline
		want   string
		moved  bool
		provis bool
	}{
		// Spring Festival 2026: 15–23 February off; Saturdays 14 and 28
		// February worked.
		{"to the make-up Saturday before Spring Festival", clock.workingDaysAfter(cst(2026, 2, 13, 9), 1, "assignment"), "2026-02-14", false, false},
		{"across Spring Festival", clock.workingDaysAfter(cst(2026, 2, 13, 9), 2, "assignment"), "2026-02-24", false, false},
		{"5 working days over Spring Festival", clock.workingDaysAfter(cst(2026, 2, 12, 9), 5, "assignment"), "2026-02-26", false, false},
		// National Day 2021: 1–7 October off; 26 September and 9 October worked.
		// 29 September 2021 + 5: 30 September, 8 October, Saturday 9 (make-up), 11, 12.
		{"sign-in over National Day", clock.workingDaysAfter(cst(2021, 9, 29, 9), 5, "assignment"), "2021-10-12", false, false},
		// 2025-12-29 + 5: 30, 31 December, 4 January (a make-up Sunday), 5, 6.
		{"across the year, through New Year", clock.workingDaysAfter(cst(2025, 12, 29, 9), 5, "assignment"), "2026-01-06", false, false},
		// 3 months after 1 July 2026 is 1 October: National Day, off to the 7th.
		{"3 months landing on National Day", clock.monthsAfter(cst(2026, 7, 1, 9), 3, "assignment"), "2026-10-08", true, false},
		// 1 month after 15 January 2026 is 15 February: Spring Festival.
		{"1 month landing in Spring Festival", clock.monthsAfter(cst(2026, 1, 15, 9), 1, "assignment"), "2026-02-24", true, false},
		// 2027 has no schedule yet: weekends only, provisional.
		{"into a year without a schedule", clock.monthsAfter(cst(2026, 11, 20, 9), 3, "assignment"), "2027-02-22", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.due.GetDueDate() != tt.want || tt.due.GetProvisional() != tt.provis {
				t.Errorf("due %s provisional=%v (%s), want %s provisional=%v", tt.due.GetDueDate(), tt.due.GetProvisional(), tt.due.GetRule(), tt.want, tt.provis)
			}
			if moved := strings.HasSuffix(tt.due.GetRule(), "moved to the next working day"); moved != tt.moved {
				t.Errorf("rule %q", tt.due.GetRule())
			}
			if again := clock.recompute(tt.due); !proto.Equal(again, tt.due) {
				t.Errorf("recomputing on the same calendar changed it: %v", again)
			}
		})
	}
}

// TestRecomputeWhenTheYearIsLoaded: a provisional deadline becomes final,
// and moves, once its year's schedule is in force.
func TestRecomputeWhenTheYearIsLoaded(t *testing.T) {
	years, _ := calendar.Official()
	cal := calendar.New(years...)
	clock := deadlineClock{cal: cal}
	d := clock.workingDaysAfter(cst(2027, 2, 5, 9), 5, "assignment")
	if d.GetDueDate() != "2027-02-12" || !d.GetProvisional() {
		t.Fatalf("before 2027 is loaded: %v", d)
	}
	cal.Set(&banliv1.CalendarYear{Year: 2027, DaysOff: []*banliv1.CalendarDay{
		{Date: "2027-02-06"}, {Date: "2027-02-07"}, {Date: "2027-02-08"}, {Date: "2027-02-09"}, {Date: "2027-02-10"}, {Date: "2027-02-11"}, {Date: "2027-02-12"},
	}})
	again := clock.recompute(d)
	if again.GetDueDate() != "2027-02-19" || again.GetProvisional() || again.GetRule() != d.GetRule() {
		t.Errorf("after 2027 is loaded: %v", again)
	}
	extended := clock.onDate(cst(2027, 3, 1, 0), "extended", "2027-02-01")
	if clock.recompute(extended) != extended {
		t.Error("an extended deadline is a date the office set: it is not recomputed")
	}
}
