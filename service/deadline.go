package service

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/i18n"
)

// chinaTime is China Standard Time. China keeps no daylight saving time, so
// a fixed zone is exact and needs no tz database in the container.
var chinaTime = time.FixedZone("CST", 8*60*60)

// chinaDate is t's date in China, YYYY-MM-DD.
func chinaDate(t time.Time) string { return t.In(chinaTime).Format(time.DateOnly) }

// Calendar tells working days from days off.
type Calendar interface {
	// WorkingDayIn reports whether the date (midnight, China time) is a
	// working day in a region ("" for the national schedule alone), and
	// whether the official schedule of its year is known. Without a
	// schedule only weekends are off and known is false.
	WorkingDayIn(region string, date time.Time) (working, known bool)
}

// deadlineClock computes due dates on a calendar, in a region (a
// session's calendar_region; "" for the national schedule). A due date is
// a whole day in China time: the deadline is its last second.
type deadlineClock struct {
	cal    Calendar
	region string
}

// in is the clock of a region.
func (c deadlineClock) in(region string) deadlineClock {
	return deadlineClock{cal: c.cal, region: region}
}

func (c deadlineClock) workingDay(day time.Time) (working, known bool) {
	return c.cal.WorkingDayIn(c.region, day)
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
		working, known := c.workingDay(day)
		provisional = provisional || !known
		if working {
			counted++
		}
	}
	d := deadline(day, fmt.Sprintf("%d working days after %s", n, event), provisional)
	d.StartTime, d.WorkingDays, d.CountedFrom = timestamppb.New(start), int32(n), event
	d.RuleZh = i18n.Message(i18n.Chinese, "deadline.working_days", eventZH(event), strconv.Itoa(n))
	return d
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
	working, known := c.workingDay(day)
	provisional := !known
	if !working {
		for !working {
			day = day.AddDate(0, 0, 1)
			working, known = c.workingDay(day)
			provisional = provisional || !known
		}
		rule += ", moved to the next working day"
	}
	dl := deadline(day, rule, provisional)
	dl.StartTime, dl.Months, dl.CountedFrom = timestamppb.New(start), int32(n), event
	key := "deadline.months"
	if strings.HasSuffix(rule, ", moved to the next working day") {
		key = "deadline.months_moved"
	}
	dl.RuleZh = i18n.Message(i18n.Chinese, key, eventZH(event), strconv.Itoa(n))
	return dl
}

// recompute computes d again on the current calendar, from the rule it
// records; an extended deadline (a date the office set) stays as it is.
func (c deadlineClock) recompute(d *banliv1.Deadline) *banliv1.Deadline {
	switch {
	case d == nil || d.GetExtended() || d.GetStartTime() == nil:
		return d
	case d.GetWorkingDays() > 0:
		return c.workingDaysAfter(d.GetStartTime().AsTime(), int(d.GetWorkingDays()), d.GetCountedFrom())
	case d.GetMonths() > 0:
		return capAt(c.monthsAfter(d.GetStartTime().AsTime(), int(d.GetMonths()), d.GetCountedFrom()), d.GetFixedDate())
	}
	return d
}

// capAt brings d forward to a fixed day (YYYY-MM-DD; "" for none) when
// that day comes first: a session's "every reply by 31 July" beside its
// months rule. d keeps its rule's count, so that a recompute finds both.
func capAt(d *banliv1.Deadline, fixed string) *banliv1.Deadline {
	d.FixedDate = fixed
	day, err := time.ParseInLocation(time.DateOnly, fixed, chinaTime)
	if fixed == "" || err != nil || !day.Before(dateOf(d.GetDueTime().AsTime())) {
		return d
	}
	capped := deadline(day, fmt.Sprintf("by %s, the session's fixed reply day (before %s)", fixed, d.GetRule()), false)
	capped.StartTime, capped.Months, capped.CountedFrom, capped.FixedDate = d.GetStartTime(), d.GetMonths(), d.GetCountedFrom(), fixed
	capped.RuleZh = i18n.Message(i18n.Chinese, "deadline.fixed", fixed, d.GetRuleZh())
	return capped
}

// onDate is a deadline the office set to a date (an extension), from
// the one before.
func (c deadlineClock) onDate(date time.Time, rule, from string) *banliv1.Deadline {
	d := deadline(dateOf(date), rule, false)
	d.Extended = true
	d.RuleZh = i18n.Message(i18n.Chinese, "deadline.extended", d.GetDueDate(), from)
	return d
}

// eventZH is what a deadline counts from, in Chinese.
func eventZH(event string) string {
	if zh := i18n.Message(i18n.Chinese, "from."+event); zh != i18n.Message(i18n.Chinese, "unknown") {
		return zh
	}
	return event
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
