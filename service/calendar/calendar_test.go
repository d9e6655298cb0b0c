package calendar

import (
	"testing"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

func official(t *testing.T) *Calendar {
	t.Helper()
	years, err := Official()
	if err != nil {
		t.Fatal(err)
	}
	if len(years) != 8 || years[0].GetYear() != 2019 || years[7].GetYear() != 2026 {
		t.Fatalf("shipped years %d, want 2019 to 2026", len(years))
	}
	return New(years...)
}

func day(s string) time.Time {
	t, _ := time.ParseInLocation(time.DateOnly, s, time.FixedZone("CST", 8*3600))
	return t
}

func TestOfficialSchedules(t *testing.T) {
	c := official(t)
	tests := []struct {
		date    string
		working bool
	}{
		// Spring Festival 2021: 11–17 February off; Sunday 7 and Saturday
		// 20 February worked.
		{"2021-02-07", true}, {"2021-02-10", true}, {"2021-02-11", false}, {"2021-02-17", false},
		{"2021-02-18", true}, {"2021-02-20", true}, {"2021-02-21", false},
		// National Day 2021: 1–7 October off; 26 September and 9 October worked.
		{"2021-09-26", true}, {"2021-10-01", false}, {"2021-10-07", false}, {"2021-10-08", true}, {"2021-10-09", true},
		// 2020's Spring Festival, extended to 2 February.
		{"2020-01-19", true}, {"2020-01-31", false}, {"2020-02-02", false}, {"2020-02-03", true},
		// 2025: National Day and Mid-Autumn together, 1–8 October; 11 October worked.
		{"2025-10-08", false}, {"2025-10-09", true}, {"2025-10-11", true}, {"2025-09-28", true},
		// An ordinary weekend and weekday.
		{"2026-03-07", false}, {"2026-03-09", true},
	}
	for _, tt := range tests {
		working, known := c.WorkingDay(day(tt.date))
		if working != tt.working || !known {
			t.Errorf("%s: working=%v known=%v, want working=%v", tt.date, working, known, tt.working)
		}
	}
	if working, known := c.WorkingDay(day("2027-02-10")); !working || known {
		t.Errorf("2027 has no schedule: want a weekday counted as working, unknown; got %v %v", working, known)
	}
}

func TestSetReplacesAYear(t *testing.T) {
	c := official(t)
	c.Set(&banliv1.CalendarYear{Name: "calendars/2027", Year: 2027, DaysOff: []*banliv1.CalendarDay{{Date: "2027-02-10", Holiday: "春节"}}})
	if working, known := c.WorkingDay(day("2027-02-10")); working || !known {
		t.Errorf("after loading 2027: %v %v", working, known)
	}
	if got := c.Years(); got[len(got)-1].GetYear() != 2027 {
		t.Errorf("years %v", got)
	}
}

func TestCheck(t *testing.T) {
	bad := []*banliv1.CalendarYear{
		{Year: 2027, DaysOff: []*banliv1.CalendarDay{{Date: "2026-12-31"}}},
		{Year: 2027, DaysOff: []*banliv1.CalendarDay{{Date: "2027-02-30"}}},
		{Year: 2027, DaysOff: []*banliv1.CalendarDay{{Date: "2027-02-10"}}, MakeUpWorkingDays: []*banliv1.CalendarDay{{Date: "2027-02-10"}}},
		{Year: 2027, MakeUpWorkingDays: []*banliv1.CalendarDay{{Date: "2027-02-10"}}}, // a Wednesday
	}
	for i, cy := range bad {
		if Check(cy) == nil {
			t.Errorf("schedule %d passed the check", i)
		}
	}
}
