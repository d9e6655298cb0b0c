package service

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/i18n"
	"github.com/banli/banli/store"
)

// The figures side by side: every unit's row of a year or a session (the
// league table, 办理工作排名), and the office's figures split by topic,
// proposer type or body. Both read counters only, as GetStatistics does.

const defaultLeagueOrder = "handled_cases desc"

// leagueOrder is a parsed order_by: a Statistics field and a direction.
type leagueOrder struct {
	field protoreflect.FieldDescriptor
	desc  bool
}

// parseLeagueOrder reads "field [asc|desc]" naming a count or a Rate of
// Statistics.
func parseLeagueOrder(v *violations, s string) leagueOrder {
	if s == "" {
		s = defaultLeagueOrder
	}
	words := strings.Fields(s)
	fields := (&banliv1.Statistics{}).ProtoReflect().Descriptor().Fields()
	out := leagueOrder{desc: true}
	if len(words) > 0 {
		out.field = fields.ByName(protoreflect.Name(words[0]))
	}
	switch {
	case len(words) == 0 || len(words) > 2:
		v.add("order_by", "a figure of Statistics and asc or desc, e.g. %q", defaultLeagueOrder)
	case out.field == nil || !(out.field.Kind() == protoreflect.Int64Kind || out.field.Message() != nil && out.field.Message().Name() == "Rate"):
		v.add("order_by", "%q is no count or rate of Statistics", words[0])
	case len(words) == 2 && words[1] != "asc" && words[1] != "desc":
		v.add("order_by", "%q: give asc or desc", words[1])
	default:
		out.desc = len(words) == 1 || words[1] == "desc"
	}
	return out
}

// String is the order as applied.
func (o leagueOrder) String() string {
	if o.desc {
		return string(o.field.Name()) + " desc"
	}
	return string(o.field.Name()) + " asc"
}

// value is a row's figure, and whether it has one (a rate of nothing has
// none, and sorts last either way).
func (o leagueOrder) value(st *banliv1.Statistics) (float64, bool) {
	v := st.ProtoReflect().Get(o.field)
	if o.field.Kind() == protoreflect.Int64Kind {
		return float64(v.Int()), true
	}
	r := v.Message().Interface().(*banliv1.Rate)
	return r.GetRate(), r.GetDenominator() > 0
}

// compare orders two rows, best first.
func (o leagueOrder) compare(a, b *banliv1.Statistics) int {
	va, oka := o.value(a)
	vb, okb := o.value(b)
	switch {
	case oka != okb && oka:
		return -1
	case oka != okb:
		return 1
	case o.desc:
		return cmp.Compare(vb, va)
	}
	return cmp.Compare(va, vb)
}

// ListUnitStatistics lists every unit's figures, ranked.
func (s *Server) ListUnitStatistics(ctx context.Context, req *banliv1.ListUnitStatisticsRequest) (*banliv1.ListUnitStatisticsResponse, error) {
	v := &violations{}
	validateScope(v, "", req.GetSession(), req.GetYear(), req.GetBody())
	order := parseLeagueOrder(v, req.GetOrderBy())
	if err := v.err(); err != nil {
		return nil, err
	}
	out := &banliv1.ListUnitStatisticsResponse{OrderBy: order.String()}
	c, _ := CallerFrom(ctx)
	err := s.store.View(func(r store.Reader) error {
		f, err := resolveScope(r, c, req.GetSession(), req.GetYear(), req.GetBody())
		if err != nil {
			return err
		}
		for after := uint64(0); ; {
			units, more, err := r.ListUnits(after, 1000, nil)
			if err != nil {
				return err
			}
			for _, u := range units {
				if req.GetIncludePredecessors() && u.GetMergedInto() != "" {
					continue // counted with the unit it was merged into
				}
				v, err := f.counters(r, u.GetName())
				if err != nil {
					return err
				}
				if req.GetIncludePredecessors() {
					if v, err = f.withPredecessors(r, u.GetName(), v); err != nil {
						return err
					}
				}
				if allZero(v) {
					continue
				}
				out.Rows = append(out.Rows, &banliv1.UnitStatistics{Unit: u.GetName(), UnitDisplayName: u.GetDisplayName(), Statistics: f.figures(v, u.GetName())})
			}
			if !more || len(units) == 0 {
				break
			}
			after = idOf(units[len(units)-1].GetName(), unitsCollection)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out.Rows, func(a, b *banliv1.UnitStatistics) int { return order.compare(a.GetStatistics(), b.GetStatistics()) })
	for i, row := range out.Rows {
		row.Rank = int32(i + 1)
		if prev := out.Rows[max(i-1, 0)]; i > 0 && order.compare(prev.GetStatistics(), row.GetStatistics()) == 0 {
			row.Rank = prev.GetRank() // level on the figure: the same place
		}
	}
	return out, nil
}

// GetStatisticsBreakdown splits the office's figures one way.
func (s *Server) GetStatisticsBreakdown(ctx context.Context, req *banliv1.GetStatisticsBreakdownRequest) (*banliv1.StatisticsBreakdown, error) {
	v := &violations{}
	v.enum("by", req.GetBy(), true)
	validateScope(v, "", req.GetSession(), req.GetYear(), req.GetBody())
	if err := v.err(); err != nil {
		return nil, err
	}
	out := &banliv1.StatisticsBreakdown{By: req.GetBy()}
	c, _ := CallerFrom(ctx)
	err := s.store.View(func(r store.Reader) error {
		f, err := resolveScope(r, c, req.GetSession(), req.GetYear(), req.GetBody())
		if err != nil {
			return err
		}
		if req.GetBy() == banliv1.BreakdownDimension_BREAKDOWN_DIMENSION_BODY {
			return breakdownByBody(r, c, f, out)
		}
		prefix := topicScopePrefix
		if req.GetBy() == banliv1.BreakdownDimension_BREAKDOWN_DIMENSION_PROPOSER_TYPE {
			prefix = proposerTypeScopePrefix
		}
		sums := map[string][]int64{}
		var keys []string
		err = r.ForEachCountersOfScopes(prefix, func(key store.StatsKey, v []int64) error {
			if !f.holds(key) {
				return nil
			}
			value := strings.TrimPrefix(key.Scope, prefix)
			if sums[value] == nil {
				keys = append(keys, value)
			}
			sums[value] = addCounters(sums[value], v)
			return nil
		})
		if err != nil {
			return err
		}
		for _, value := range keys {
			if allZero(sums[value]) {
				continue
			}
			row := &banliv1.BreakdownRow{Key: value, Label: value, Statistics: f.figures(sums[value], "")}
			if prefix == proposerTypeScopePrefix {
				n, _ := strconv.Atoi(value)
				t := banliv1.ProposerType(n)
				row.Key, row.Label = t.String(), i18n.Label(i18n.Chinese, t.String())
			}
			out.Rows = append(out.Rows, row)
		}
		return nil
	})
	return out, err
}

// breakdownByBody adds up the office's counters of each body's sessions.
func breakdownByBody(r store.Reader, c *Caller, f figureScope, out *banliv1.StatisticsBreakdown) error {
	for _, body := range []banliv1.Body{banliv1.Body_BODY_NPC, banliv1.Body_BODY_CPPCC} {
		if f.body != 0 && f.body != body {
			continue
		}
		one := f
		if f.session == "" {
			scoped, err := resolveScope(r, c, "", f.year, body)
			if err != nil {
				return err
			}
			one = scoped
		} else if sess, err := r.Session(idOf(f.session, sessionsCollection)); err != nil || sess.GetBody() != body {
			if err != nil {
				return err
			}
			continue
		}
		v, err := one.counters(r, officeScope)
		if err != nil {
			return err
		}
		if !allZero(v) {
			out.Rows = append(out.Rows, &banliv1.BreakdownRow{Key: body.String(), Label: casesOfBody(body), Statistics: one.figures(v, "")})
		}
	}
	return nil
}
