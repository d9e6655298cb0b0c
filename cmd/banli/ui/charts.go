package ui

import (
	"cmp"
	"fmt"
	"slices"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// chart is a horizontal bar chart, drawn as SVG on the server: one row per
// label, each bar made of segments (e.g. overdue, then due soon). The
// template (chart.html) draws it; its numbers are in the page as text too.
type chart struct {
	Title string
	// Legend names the segments' kinds, in order, if there are several.
	Legend []legendEntry
	Rows   []chartRow
	Width  int
	Height int
	// LabelWidth is the room at the left for the labels.
	LabelWidth int
}

type legendEntry struct {
	Name, Class string
	X           int
}

type chartRow struct {
	Label    string
	Text     string // the value as written at the bar's end
	Y        int
	Segments []segment
	TextX    int
}

type segment struct {
	X, Width int
	Class    string
	Title    string
}

// The geometry of a chart.
const (
	chartWidth = 720
	rowHeight  = 22
	barHeight  = 14
	labelRoom  = 220
	valueRoom  = 130
	chartTop   = 24
)

// part is one segment's value before it is drawn.
type part struct {
	value float64
	class string
	title string
}

// newChart lays out rows of parts against the largest row total (or
// scale, when positive: 1 for rates).
func newChart(title string, legend []string, classes []string, labels, texts []string, parts [][]part, scale float64) *chart {
	c := &chart{Title: title, Width: chartWidth, LabelWidth: labelRoom - 8}
	for i, name := range legend {
		c.Legend = append(c.Legend, legendEntry{Name: name, Class: classes[i], X: labelRoom + i*120})
	}
	if scale <= 0 {
		for _, row := range parts {
			total := 0.0
			for _, p := range row {
				total += p.value
			}
			scale = max(scale, total)
		}
	}
	room := float64(chartWidth - labelRoom - valueRoom)
	for i, row := range parts {
		r := chartRow{Label: labels[i], Text: texts[i], Y: chartTop + i*rowHeight}
		x := labelRoom
		for _, p := range row {
			w := 0
			if scale > 0 {
				w = int(p.value / scale * room)
			}
			if p.value > 0 && w == 0 {
				w = 1 // a count above nothing stays visible
			}
			r.Segments = append(r.Segments, segment{X: x, Width: w, Class: p.class, Title: p.title})
			x += w
		}
		r.TextX = x + 6
		c.Rows = append(c.Rows, r)
	}
	c.Height = chartTop + len(parts)*rowHeight + 6
	return c
}

// stateChart is the cases by state.
func stateChart(st *banliv1.Statistics) *chart {
	var labels, texts []string
	var parts [][]part
	for _, s := range st.GetCasesByState() {
		labels = append(labels, label(s.GetState()))
		texts = append(texts, fmt.Sprintf("%d 件", s.GetCases()))
		parts = append(parts, []part{{float64(s.GetCases()), "bar", ""}})
	}
	return newChart("按状态的案件数", nil, nil, labels, texts, parts, 0)
}

// dueChart is the parts due soon and overdue, by unit, most overdue first.
func dueChart(counts []*banliv1.UnitDueCount, limit int) *chart {
	var labels, texts []string
	var parts [][]part
	for i, n := range counts {
		if i == limit {
			break
		}
		labels = append(labels, n.GetUnitDisplayName())
		texts = append(texts, fmt.Sprintf("逾期 %d，临期 %d", n.GetOverdue(), n.GetDueSoon()))
		parts = append(parts, []part{
			{float64(n.GetOverdue()), "overdue", fmt.Sprintf("逾期 %d 件", n.GetOverdue())},
			{float64(n.GetDueSoon()), "soon", fmt.Sprintf("临期 %d 件", n.GetDueSoon())},
		})
	}
	return newChart("各单位临期与逾期件数", []string{"逾期", "临期"}, []string{"overdue", "soon"}, labels, texts, parts, 0)
}

// rateChart is one rate by unit: the lowest first, at most limit of them
// (the statistics page ranks them all); units with nothing counted last.
func rateChart(title string, rows []*banliv1.UnitStatistics, rateOf func(*banliv1.Statistics) *banliv1.Rate, limit int) *chart {
	rows = slices.Clone(rows)
	slices.SortStableFunc(rows, func(a, b *banliv1.UnitStatistics) int {
		ra, rb := rateOf(a.GetStatistics()), rateOf(b.GetStatistics())
		aNone, bNone := ra.GetDenominator() == 0, rb.GetDenominator() == 0
		switch {
		case aNone && !bNone:
			return 1
		case bNone && !aNone:
			return -1
		}
		return cmp.Compare(ra.GetRate(), rb.GetRate())
	})
	if len(rows) > limit {
		title = fmt.Sprintf("%s（最低的 %d 个单位）", title, limit)
		rows = rows[:limit]
	}
	var labels, texts []string
	var parts [][]part
	for _, row := range rows {
		r := rateOf(row.GetStatistics())
		labels = append(labels, row.GetUnitDisplayName())
		texts = append(texts, showRate(r))
		parts = append(parts, []part{{r.GetRate(), "bar", ""}})
	}
	return newChart(title, nil, nil, labels, texts, parts, 1)
}
