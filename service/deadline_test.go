package service

import (
	"testing"
	"time"
)

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

func (h holidayCalendar) WorkingDay(d time.Time) (bool, bool) {
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
