package main

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// checkFiguresSideBySide reads TestAYearOfStatistics's year the ways
// offices report it (#15, item 3): every unit side by side (the league
// table, over gRPC and REST), the NPC and CPPCC figures apart, the office's
// summary counting cases apart from parts, a custom policy sent as a POST
// body, a saved policy in two versions, and the splits by body, proposer
// type and topic. a is 市数据局, d 市教育局, npc the year's NPC session.
func checkFiguresSideBySide(t *testing.T, f *fixture, a, d string, npc *banliv1.Session) {
	t.Helper()
	stats := f.statistics()

	// The league table, by the on-time reply rate.
	league := must(stats.ListUnitStatistics(office, &banliv1.ListUnitStatisticsRequest{Year: 2021, OrderBy: "on_time_reply desc"}))(t)
	t.Logf("league table 2021, %s:", league.GetOrderBy())
	rank := map[string]int32{}
	for _, row := range league.GetRows() {
		st := row.GetStatistics()
		t.Logf("  %d %s: 承办%d件, 按时签收 %s, 按时答复 %s, 满意 %s, 公开 %s", row.GetRank(), row.GetUnitDisplayName(), st.GetHandledCases(),
			rateText(st.GetOnTimeSignIn()), rateText(st.GetOnTimeReply()), rateText(st.GetSatisfaction()), rateText(st.GetDisclosure()))
		rank[row.GetUnit()] = row.GetRank()
		one := must(stats.GetStatistics(office, &banliv1.GetStatisticsRequest{Unit: row.GetUnit(), Year: 2021}))(t)
		if one.GetHandledCases() != st.GetHandledCases() || one.GetOnTimeReply().GetNumerator() != st.GetOnTimeReply().GetNumerator() {
			t.Errorf("%s: the league table says %v, GetStatistics %v", row.GetUnitDisplayName(), st, one)
		}
	}
	if len(league.GetRows()) != 4 || rank[a] != 1 || rank[d] <= rank[a] {
		t.Errorf("league table: %d rows, 市数据局 %d, 市教育局 %d", len(league.GetRows()), rank[a], rank[d])
	}
	for i := 1; i < len(league.GetRows()); i++ {
		prev, row := league.GetRows()[i-1].GetStatistics().GetOnTimeReply(), league.GetRows()[i].GetStatistics().GetOnTimeReply()
		if row.GetDenominator() > 0 && (prev.GetDenominator() == 0 || row.GetRate() > prev.GetRate()) {
			t.Errorf("row %d (%v) is ranked below row %d (%v)", i, row, i-1, prev)
		}
	}
	code, body := f.restAs(t, f.officeKey(t), "GET", "/v1/statistics/units?year=2021&orderBy="+url.QueryEscape("on_time_reply desc"), "")
	rows, _ := body["rows"].([]any)
	if code != 200 || len(rows) != len(league.GetRows()) || rows[0].(map[string]any)["unit"] != a {
		t.Fatalf("REST league table: %d %v", code, body)
	}
	t.Logf("REST GET /v1/statistics/units?year=2021&orderBy=on_time_reply%%20desc → 200, first row: %v", rows[0])
	_, err := stats.ListUnitStatistics(office, &banliv1.ListUnitStatisticsRequest{Year: 2021, OrderBy: "title desc"})
	wantCode(t, err, codes.InvalidArgument, "order_by")

	// NPC and CPPCC apart: together they are the year.
	year := must(stats.GetStatistics(office, &banliv1.GetStatisticsRequest{Unit: a, Year: 2021}))(t)
	byBody := map[banliv1.Body]*banliv1.Statistics{}
	for _, body := range []banliv1.Body{banliv1.Body_BODY_NPC, banliv1.Body_BODY_CPPCC} {
		byBody[body] = must(stats.GetStatistics(office, &banliv1.GetStatisticsRequest{Unit: a, Year: 2021, Body: body}))(t)
	}
	if npcFig := byBody[banliv1.Body_BODY_NPC]; npcFig.GetLeadParts() != 2 || npcFig.GetCppccProposalParts() != 0 || npcFig.GetBody() != banliv1.Body_BODY_NPC ||
		npcFig.GetLeadParts()+byBody[banliv1.Body_BODY_CPPCC].GetLeadParts() != year.GetLeadParts() {
		t.Errorf("市数据局 by body: NPC %v, CPPCC %v, the year %v", npcFig, byBody[banliv1.Body_BODY_CPPCC], year)
	}
	_, err = stats.GetStatistics(office, &banliv1.GetStatisticsRequest{Session: npc.GetName(), Body: banliv1.Body_BODY_NPC})
	wantCode(t, err, codes.InvalidArgument, "body")

	// The office's summary counts cases (件) apart from parts (件次); a
	// session's summary is that session's.
	whole := must(stats.GetYearSummary(office, &banliv1.GetYearSummaryRequest{Year: 2021}))(t)
	for _, phrase := range []string{"共收到建议提案26件，不予立案1件、撤回1件、并案0件，立案办理24件", "交办承办单位32件次", "主办21件次、分办6件次、会办5件次"} {
		if !strings.Contains(whole.GetText(), phrase) {
			t.Errorf("the office's summary lacks %q:\n%s", phrase, whole.GetText())
		}
	}
	session := must(stats.GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: a, Session: npc.GetName()}))(t)
	if session.GetStatistics().GetLeadParts() != 2 || !strings.HasPrefix(session.GetText(), "# 市数据局市六届人大七次会议建议提案办理工作总结") {
		t.Errorf("市数据局's NPC session summary: %v\n%s", session.GetStatistics(), session.GetText())
	}

	// A custom policy as a POST body; refused with its field's path.
	policy := `{"name":"district","base":60,"baseRequiresFull":["reply"],"items":[{"count":"published","points":1,"label":"答复公开每件加1分"}]}`
	code, body = f.restAs(t, f.officeKey(t), "POST", "/v1/summaries:compute", fmt.Sprintf(`{"unit":%q,"year":2021,"customPolicy":%s}`, a, policy))
	if code != 200 || body["score"].(map[string]any)["total"] != 74.0 {
		t.Errorf("POST /v1/summaries:compute: %d %v", code, body["score"])
	}
	code, body = f.restAs(t, f.officeKey(t), "POST", "/v1/summaries:compute", fmt.Sprintf(`{"unit":%q,"year":2021,"customPolicy":{"name":"x","items":[{"count":"nope","label":"x"}]}}`, a))
	if code != 400 || !strings.Contains(fmt.Sprint(body["details"]), "custom_policy.items[0].count") {
		t.Errorf("a bad custom policy over REST: %d %v", code, body)
	}

	// Saved under a name, in versions; a summary names the one it used.
	saved := func(base float64) *banliv1.SavedScoringPolicy {
		return must(stats.SaveScoringPolicy(as(f.officeKey(t)), &banliv1.SaveScoringPolicyRequest{Policy: &banliv1.ScoringPolicy{
			Name: "district", Base: base, BaseRequiresFull: []string{"reply"},
			Items: []*banliv1.ScoringItem{{Count: "published", Points: 1, Label: "答复公开每件加1分"}},
		}}))(t)
	}
	if v1, v2 := saved(60), saved(70); v1.GetVersion() != 1 || v2.GetVersion() != 2 || v2.GetName() != "scoringPolicies/district" || v2.GetSavedBy() == "" {
		t.Errorf("saved versions: %v, %v", v1, v2)
	}
	latest := must(stats.GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: a, Year: 2021, ScoringPolicy: "district"}))(t)
	first := must(stats.GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: a, Year: 2021, ScoringPolicy: "district", PolicyVersion: 1}))(t)
	if latest.GetScore().GetTotal() != 84 || latest.GetScore().GetPolicyVersion() != 2 || !strings.Contains(latest.GetText(), "评分办法：district（第2版）") ||
		first.GetScore().GetTotal() != 74 || first.GetScore().GetPolicyVersion() != 1 {
		t.Errorf("scored by the saved policy: v2 %v, v1 %v", latest.GetScore(), first.GetScore())
	}
	_, err = stats.SaveScoringPolicy(as(f.officeKey(t)), &banliv1.SaveScoringPolicyRequest{Policy: &banliv1.ScoringPolicy{Name: "city-2021", Base: 1}})
	wantCode(t, err, codes.InvalidArgument, "policy.name")
	_, err = stats.GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: a, Year: 2021, ScoringPolicy: "district", PolicyVersion: 3})
	wantCode(t, err, codes.InvalidArgument, "scoring_policy")
	names := []string{}
	for _, p := range must(stats.ListScoringPolicies(office, &banliv1.ListScoringPoliciesRequest{}))(t).GetPolicies() {
		names = append(names, fmt.Sprintf("%s v%d", p.GetName(), p.GetVersion()))
	}
	if got := strings.Join(names, ", "); got != "scoringPolicies/city-2021 v1, scoringPolicies/deductions v1, scoringPolicies/district v2" {
		t.Errorf("policies: %s", got)
	}

	// The splits: by body, they add up to the office's year.
	office2021 := must(stats.GetStatistics(office, &banliv1.GetStatisticsRequest{Year: 2021}))(t)
	split := func(by banliv1.BreakdownDimension) map[string]*banliv1.Statistics {
		out := map[string]*banliv1.Statistics{}
		for _, row := range must(stats.GetStatisticsBreakdown(office, &banliv1.GetStatisticsBreakdownRequest{Year: 2021, By: by}))(t).GetRows() {
			out[row.GetLabel()] = row.GetStatistics()
			t.Logf("  %s %s: 收到%d件, 件次 %d", by, row.GetLabel(), row.GetStatistics().GetCases(), row.GetStatistics().GetLeadParts()+row.GetStatistics().GetSplitParts()+row.GetStatistics().GetCoHandlingParts())
		}
		return out
	}
	bodies := split(banliv1.BreakdownDimension_BREAKDOWN_DIMENSION_BODY)
	if bodies["人大代表建议"].GetCases()+bodies["政协提案"].GetCases() != office2021.GetCases() || bodies["人大代表建议"].GetLeadParts() != 2 {
		t.Errorf("by body: %v", bodies)
	}
	types := split(banliv1.BreakdownDimension_BREAKDOWN_DIMENSION_PROPOSER_TYPE)
	var casesByType int64
	for _, st := range types {
		casesByType += st.GetCases()
	}
	if casesByType != office2021.GetCases() || types["个人"] == nil {
		t.Errorf("by proposer type: %v (the office received %d)", types, office2021.GetCases())
	}
	if topics := split(banliv1.BreakdownDimension_BREAKDOWN_DIMENSION_TOPIC); topics["数字政府"].GetCases() == 0 {
		t.Errorf("by topic: %v", topics)
	}
	viewer := as(f.account(t, "league-viewer", banliv1.Role_ROLE_VIEWER, d))
	_, err = stats.ListUnitStatistics(viewer, &banliv1.ListUnitStatisticsRequest{Year: 2021})
	wantCode(t, err, codes.PermissionDenied, "")
}

func rateText(r *banliv1.Rate) string {
	return fmt.Sprintf("%d/%d", r.GetNumerator(), r.GetDenominator())
}
