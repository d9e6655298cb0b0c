package service

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// chinaTime is China Standard Time. China keeps no daylight saving time, so
// a fixed zone is exact and needs no tz database in the container.
var chinaTime = time.FixedZone("CST", 8*60*60)

// Calendar tells working days from days off.
type Calendar interface {
	// WorkingDay reports whether the date (midnight, China time) is a
	// working day, and whether the official schedule of its year is known.
	// Without a schedule only weekends are off and known is false.
	WorkingDay(date time.Time) (working, known bool)
}

// WeekendCalendar knows no official schedule: Monday to Friday are working
// days, and every answer is provisional.
type WeekendCalendar struct{}

// WorkingDay implements Calendar.
func (WeekendCalendar) WorkingDay(date time.Time) (bool, bool) {
	wd := date.Weekday()
	return wd != time.Saturday && wd != time.Sunday, false
}

// deadlineClock computes due dates on a calendar. A due date is a whole day
// in China time: the deadline is its last second.
type deadlineClock struct {
	cal Calendar
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.In(chinaTime).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, chinaTime)
}

// workingDaysAfter counts n working days after the day of start (the start
// day itself does not count).
func (c deadlineClock) workingDaysAfter(start time.Time, n int, event string) *banliv1.Deadline {
	day := dateOf(start)
	provisional := false
	for counted := 0; counted < n; {
		day = day.AddDate(0, 0, 1)
		working, known := c.cal.WorkingDay(day)
		provisional = provisional || !known
		if working {
			counted++
		}
	}
	return deadline(day, fmt.Sprintf("%d working days after %s", n, event), provisional)
}

// monthsAfter adds n calendar months to the day of start (the 31st of a
// shorter month becomes its last day) and, if that day is off, moves to the
// next working day.
func (c deadlineClock) monthsAfter(start time.Time, n int, event string) *banliv1.Deadline {
	from := dateOf(start)
	y, m, d := from.Date()
	firstOfTarget := time.Date(y, m+time.Month(n), 1, 0, 0, 0, 0, chinaTime)
	lastDay := firstOfTarget.AddDate(0, 1, -1).Day()
	day := firstOfTarget.AddDate(0, 0, min(d, lastDay)-1)

	unit := "months"
	if n == 1 {
		unit = "month"
	}
	rule := fmt.Sprintf("%d %s after %s", n, unit, event)
	working, known := c.cal.WorkingDay(day)
	provisional := !known
	if !working {
		for !working {
			day = day.AddDate(0, 0, 1)
			working, known = c.cal.WorkingDay(day)
			provisional = provisional || !known
		}
		rule += ", moved to the next working day"
	}
	return deadline(day, rule, provisional)
}

func deadline(day time.Time, rule string, provisional bool) *banliv1.Deadline {
	last := day.Add(24*time.Hour - time.Second)
	return &banliv1.Deadline{
		DueTime:     timestamppb.New(last),
		DueDate:     day.Format(time.DateOnly),
		Rule:        rule,
		Provisional: provisional,
	}
}
