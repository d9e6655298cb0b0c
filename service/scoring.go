package service

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/i18n"
	"github.com/banli/banli/store"
)

// Scoring policies (DOMAIN.md: "the formula is configuration"). The first
// is the city data bureau's 2021 self-evaluation, the default; the second
// shows that the same format carries deduction-based rules.
var scoringPolicies = map[string]*banliv1.ScoringPolicy{
	"city-2021": {
		Name:             "city-2021",
		Base:             90,
		BaseRequiresFull: []string{"on_time_sign_in", "on_time_reply", "satisfaction", "disclosure"},
		Items: []*banliv1.ScoringItem{
			{Count: "lead_parts+split_parts", Points: 0.2, Label: "主办或分办案件每件加0.2分"},
			{Count: "co_handling_parts", Points: 0.1, Label: "会办案件每件加0.1分"},
			{Count: "key_parts", Points: 1, Label: "办理重点提案每件加1分"},
		},
	},
	"deductions": {
		Name: "deductions",
		Base: 100,
		Items: []*banliv1.ScoringItem{
			{Count: "late_sign_in", Points: -1, Label: "逾期签收每件扣1分"},
			{Count: "late_reply", Points: -2, Label: "逾期答复每件扣2分"},
			{Count: "late_opinion", Points: -1, Label: "逾期会办每件扣1分"},
			{Count: "no_face_to_face", Points: -1, Label: "未见面沟通每件扣1分"},
			{Count: "unsatisfied", Points: -2, Label: "不满意每件扣2分"},
		},
	},
}

const defaultScoringPolicy = "city-2021"

// scoreRates are the rates a policy may require to be full, by name.
func scoreRates(st *banliv1.Statistics) map[string]*banliv1.Rate {
	return map[string]*banliv1.Rate{
		"on_time_sign_in": st.GetOnTimeSignIn(),
		"on_time_reply":   st.GetOnTimeReply(),
		"on_time_opinion": st.GetOnTimeOpinion(),
		"reply":           st.GetReply(),
		"face_to_face":    st.GetFaceToFace(),
		"satisfaction":    st.GetSatisfaction(),
		"disclosure":      st.GetDisclosure(),
	}
}

// scoreCounts are the counts an item may name.
func scoreCounts(st *banliv1.Statistics) map[string]int64 {
	missed := func(r *banliv1.Rate) int64 { return r.GetDenominator() - r.GetNumerator() }
	return map[string]int64{
		"lead_parts":                   st.GetLeadParts(),
		"split_parts":                  st.GetSplitParts(),
		"co_handling_parts":            st.GetCoHandlingParts(),
		"key_parts":                    st.GetKeyParts(),
		"cross_year_lead_parts":        st.GetCrossYearLeadParts(),
		"cross_year_split_parts":       st.GetCrossYearSplitParts(),
		"cross_year_co_handling_parts": st.GetCrossYearCoHandlingParts(),
		"satisfied":                    st.GetSatisfied(),
		"basically_satisfied":          st.GetBasicallySatisfied(),
		"unsatisfied":                  st.GetUnsatisfied(),
		"rehandled":                    st.GetRehandled(),
		"published":                    st.GetPublished(),
		"late_sign_in":                 missed(st.GetOnTimeSignIn()),
		"late_reply":                   missed(st.GetOnTimeReply()),
		"late_opinion":                 missed(st.GetOnTimeOpinion()),
		"no_face_to_face":              missed(st.GetFaceToFace()),
	}
}

// score evaluates a policy on a unit's figures. A rate with nothing to
// count (0 of 0) does not withhold the base: there was nothing to do late.
func score(policy *banliv1.ScoringPolicy, st *banliv1.Statistics) (*banliv1.Score, error) {
	out := &banliv1.Score{Policy: policy.GetName()}
	rates := scoreRates(st)
	for _, name := range policy.GetBaseRequiresFull() {
		r, ok := rates[name]
		if !ok {
			return nil, fmt.Errorf("scoring policy %s: unknown rate %q", policy.GetName(), name)
		}
		if r.GetNumerator() != r.GetDenominator() {
			out.BaseWithheldBecause = append(out.BaseWithheldBecause, fmt.Sprintf("%s为%d/%d，未达100%%", rateNames[name], r.GetNumerator(), r.GetDenominator()))
		}
	}
	base := policy.GetBase()
	if len(out.BaseWithheldBecause) > 0 {
		base = 0
	}
	out.Lines = append(out.Lines, &banliv1.ScoreLine{Rule: baseRule(policy), Count: 1, PointsEach: policy.GetBase(), Points: base})
	counts := scoreCounts(st)
	for _, item := range policy.GetItems() {
		var n int64
		for _, name := range strings.Split(item.GetCount(), "+") {
			c, ok := counts[name]
			if !ok {
				return nil, fmt.Errorf("scoring policy %s: unknown count %q", policy.GetName(), name)
			}
			n += c
		}
		out.Lines = append(out.Lines, &banliv1.ScoreLine{Rule: item.GetLabel(), Count: n, PointsEach: item.GetPoints(), Points: round2(float64(n) * item.GetPoints())})
	}
	for _, l := range out.GetLines() {
		out.Total += l.GetPoints()
	}
	out.Total = round2(out.Total)
	return out, nil
}

// rateNames are the rates a policy may require, as offices name them.
var rateNames = map[string]string{
	"on_time_sign_in": "按时签收率", "on_time_reply": "按时答复率", "on_time_opinion": "按时会办率", "reply": "答复率",
	"face_to_face": "见面率", "satisfaction": "满意率", "disclosure": "答复公开率",
}

func baseRule(p *banliv1.ScoringPolicy) string {
	if len(p.GetBaseRequiresFull()) == 0 {
		return fmt.Sprintf("基础分%s分", formatPoints(p.GetBase()))
	}
	var parts []string
	for _, n := range p.GetBaseRequiresFull() {
		parts = append(parts, rateNames[n])
	}
	return fmt.Sprintf("%s均达100%%，得基础分%s分", strings.Join(parts, "、"), formatPoints(p.GetBase()))
}

// round2 rounds to hundredths, as scores are reported, so that 0.2 × 18 is
// 3.6 and not 3.6000000000000005.
func round2(x float64) float64 { return math.Round(x*100) / 100 }

func formatPoints(x float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", x), "0"), ".")
}

func percent(r *banliv1.Rate) string {
	if r.GetDenominator() == 0 {
		return "—"
	}
	return formatPoints(round2(r.GetRate()*100)) + "%"
}

// GetYearSummary returns a unit's (or the office's) figures for a year or
// a session, its score, and the summary text.
func (s *Server) GetYearSummary(ctx context.Context, req *banliv1.GetYearSummaryRequest) (*banliv1.YearSummary, error) {
	v := &violations{}
	validateScope(v, req.GetUnit(), req.GetSession(), req.GetYear(), req.GetBody())
	if req.GetPolicyVersion() < 0 {
		v.add("policy_version", "a version, from 1; 0 means the latest")
	}
	if req.GetCustomPolicy() != nil {
		if req.GetScoringPolicy() != "" {
			v.add("scoring_policy", "give a named policy or a custom one, not both")
		}
		validateScoringPolicy(v, "custom_policy", req.GetCustomPolicy())
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	var st *banliv1.Statistics
	policy, version := req.GetCustomPolicy(), int32(0)
	title := "全办"
	err := s.store.View(func(r store.Reader) error {
		if policy == nil {
			var err error
			if policy, version, err = namedScoringPolicy(r, req.GetScoringPolicy(), req.GetPolicyVersion()); err != nil {
				return err
			}
		}
		if req.GetUnit() != "" {
			u, err := r.Unit(idOf(req.GetUnit(), unitsCollection))
			if err != nil {
				return notFoundOr(err, req.GetUnit(), "unit")
			}
			title = u.GetDisplayName()
		}
		c, _ := CallerFrom(ctx)
		f, err := resolveScope(r, c, req.GetSession(), req.GetYear(), req.GetBody())
		if err != nil {
			return err
		}
		if st, err = f.unitFigures(r, req.GetUnit(), false); err != nil {
			return err
		}
		if f.session != "" {
			title += f.sessionTitle
		} else {
			title += fmt.Sprintf("%d年", st.GetYear())
			if b := req.GetBody(); b != 0 {
				title += casesOfBody(b)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sc, err := score(policy, st)
	if err != nil {
		return nil, err
	}
	sc.PolicyVersion = version
	return &banliv1.YearSummary{
		Statistics:  st,
		Score:       sc,
		Text:        summaryText(title, req.GetUnit() != "", st, sc),
		ComputeTime: timestamppb.New(s.now()),
	}, nil
}

// casesOfBody is how people name a body's cases: 人大代表建议, 政协提案.
func casesOfBody(b banliv1.Body) string { return i18n.Label(i18n.Chinese, KindOfBody(b).String()) }

// namedScoringPolicy is a built-in policy, or a saved one in a version (0:
// the latest) with that version.
func namedScoringPolicy(r store.Reader, name string, version int32) (*banliv1.ScoringPolicy, int32, error) {
	if name == "" {
		name = defaultScoringPolicy
	}
	if policy, ok := scoringPolicies[name]; ok {
		if version != 0 {
			return nil, 0, invalidField("policy_version", "%s is built in and has no versions", name)
		}
		return policy, 0, nil
	}
	if !validPolicyName(name) {
		return nil, 0, invalidField("scoring_policy", "unknown policy %q: give city-2021, deductions or a saved policy's name", name)
	}
	saved, err := r.ScoringPolicy(scoringPolicyName(name), version)
	if errors.Is(err, store.ErrNotFound) {
		return nil, 0, invalidField("scoring_policy", "no saved policy %q in version %d (0: the latest); built in: city-2021, deductions", name, version)
	}
	if err != nil {
		return nil, 0, err
	}
	return saved.GetPolicy(), saved.GetVersion(), nil
}

// validateScoringPolicy checks an office's own policy, field by field.
func validateScoringPolicy(v *violations, field string, p *banliv1.ScoringPolicy) {
	v.line(field+".name", p.GetName(), maxNameLen, true)
	if b := p.GetBase(); math.IsNaN(b) || math.Abs(b) > 1000 {
		v.add(field+".base", "must be a number from -1000 to 1000")
	}
	rates := scoreRates(&banliv1.Statistics{})
	if len(p.GetBaseRequiresFull()) > 20 {
		v.add(field+".base_requires_full", "at most 20")
	}
	for i, name := range p.GetBaseRequiresFull() {
		if _, ok := rates[name]; !ok {
			v.add(fmt.Sprintf("%s.base_requires_full[%d]", field, i), "unknown rate %q", name)
		}
	}
	counts := scoreCounts(&banliv1.Statistics{})
	if len(p.GetItems()) > 50 {
		v.add(field+".items", "at most 50")
	}
	for i, item := range p.GetItems() {
		f := fmt.Sprintf("%s.items[%d]", field, i)
		for _, name := range strings.Split(item.GetCount(), "+") {
			if _, ok := counts[name]; !ok {
				v.add(f+".count", "unknown count %q", name)
			}
		}
		if pts := item.GetPoints(); math.IsNaN(pts) || math.Abs(pts) > 100 {
			v.add(f+".points", "must be a number from -100 to 100")
		}
		v.line(f+".label", item.GetLabel(), maxNoteLen, true)
	}
}

// summaryText writes the summary the way it is filed: 基本情况, then 自评.
// A unit counts its cases (件), which are its parts; the office counts the
// cases it received and handled (件) apart from the parts it assigned
// (件次), of which a case may have several.
func summaryText(title string, ofUnit bool, st *banliv1.Statistics, sc *banliv1.Score) string {
	var b strings.Builder
	parts := st.GetLeadParts() + st.GetSplitParts() + st.GetCoHandlingParts()
	cross := st.GetCrossYearLeadParts() + st.GetCrossYearSplitParts() + st.GetCrossYearCoHandlingParts()
	fmt.Fprintf(&b, "# %s建议提案办理工作总结\n\n## 一、基本情况\n\n", title)
	if ofUnit {
		fmt.Fprintf(&b, "共承办建议提案%d件（人大代表建议%d件、政协提案%d件），其中主办%d件、分办%d件、会办%d件；重点建议提案%d件；跨年度办理%d件。",
			st.GetHandledCases(), st.GetNpcSuggestionParts(), st.GetCppccProposalParts(),
			st.GetLeadParts(), st.GetSplitParts(), st.GetCoHandlingParts(), st.GetKeyParts(), cross)
	} else {
		fmt.Fprintf(&b, "共收到建议提案%d件，不予立案%d件、撤回%d件、并案%d件，立案办理%d件；交办承办单位%d件次（人大代表建议%d件次、政协提案%d件次），其中主办%d件次、分办%d件次、会办%d件次；重点建议提案%d件次；跨年度办理%d件次。",
			st.GetCases(), st.GetCasesNotFiled(), st.GetCasesWithdrawn(), st.GetCasesMerged(), st.GetHandledCases(),
			parts, st.GetNpcSuggestionParts(), st.GetCppccProposalParts(),
			st.GetLeadParts(), st.GetSplitParts(), st.GetCoHandlingParts(), st.GetKeyParts(), cross)
	}
	fmt.Fprintf(&b, "按时签收率%s，按时答复率%s，按时会办率%s，答复率%s，见面率%s。",
		percent(st.GetOnTimeSignIn()), percent(st.GetOnTimeReply()), percent(st.GetOnTimeOpinion()),
		percent(st.GetReply()), percent(st.GetFaceToFace()))
	fmt.Fprintf(&b, "代表委员评价满意%d件、基本满意%d件、不满意%d件，满意率%s。",
		st.GetSatisfied(), st.GetBasicallySatisfied(), st.GetUnsatisfied(), percent(st.GetSatisfaction()))
	fmt.Fprintf(&b, "答复类别：A类%d件、B类%d件、C类%d件、D类%d件；答复公开%d件、依法不予公开%d件、公开逾期%d件，公开率%s。\n\n",
		st.GetCategoryA(), st.GetCategoryB(), st.GetCategoryC(), st.GetCategoryD(), st.GetPublished(), st.GetWithheld(),
		st.GetPublicationOverdue(), percent(st.GetDisclosure()))
	fmt.Fprintf(&b, "## 二、自评\n\n")
	if sc.GetPolicyVersion() > 0 {
		fmt.Fprintf(&b, "评分办法：%s（第%d版）\n\n", sc.GetPolicy(), sc.GetPolicyVersion())
	}
	for _, l := range sc.GetLines() {
		fmt.Fprintf(&b, "- %s：%s分\n", lineLabel(l), formatPoints(l.GetPoints()))
	}
	for _, why := range sc.GetBaseWithheldBecause() {
		fmt.Fprintf(&b, "- 未得基础分：%s\n", why)
	}
	fmt.Fprintf(&b, "- 合计：%s分\n", formatPoints(sc.GetTotal()))
	return b.String()
}

func lineLabel(l *banliv1.ScoreLine) string {
	if l.GetCount() == 1 && strings.Contains(l.GetRule(), "基础分") {
		return l.GetRule()
	}
	return fmt.Sprintf("%s（%d件）", l.GetRule(), l.GetCount())
}
