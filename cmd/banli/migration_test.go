package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/banli/banli/cmd/banli/cli"
	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// in2020 is 09:00 China time on a date of 2020, the year the migrated
// session belongs to.
func in2020(month time.Month, d int) time.Time { return time.Date(2020, month, d, 9, 0, 0, 0, cst) }

// migratedCase is what the test states of one case, and what it expects
// of the figures by its own reckoning.
type migratedCase struct {
	row          *banliv1.MigrationRow
	lead         string
	replied      bool
	replyOnTime  bool
	signedOnTime bool
	satisfied    bool
	rated        bool
	rehandled    bool
	carried      bool
}

// halfYear builds n cases of a 2020 session as an office's 台账 would have
// them in June: all assigned in January, every fourth signed late, most
// consulted and replied (every tenth after its three months), replies
// delivered and rated by both proposers (every seventh unsatisfied, then
// re-handled or closed by the office), and two B-class ones carried over.
func halfYear(f *fixture, session string, n int) []migratedCase {
	var out []migratedCase
	at := func(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }
	for i := range n {
		unit := f.unit(i % 5)
		received := in2020(1, 6).Add(time.Duration(i) * time.Second)
		assigned := in2020(1, 10)
		mc := migratedCase{lead: unit, signedOnTime: i%4 != 0}
		a := "proposals/-/assignments/1"
		reply := a + "/replies/1"
		signDay := in2020(1, 13) // 5 working days after 10 January 2020 (a Friday) is the 17th
		if !mc.signedOnTime {
			signDay = in2020(1, 21)
		}
		steps := []*banliv1.MigrationStep{
			{Time: at(assigned), Step: &banliv1.MigrationStep_Assign{Assign: &banliv1.AssignProposalRequest{Name: "proposals/-", Assignments: []*banliv1.UnitAssignment{{Unit: unit, Role: roleLead}}}}},
			{Time: at(signDay), Step: &banliv1.MigrationStep_Sign{Sign: &banliv1.SignAssignmentRequest{Name: a, ResponsiblePerson: "李明"}}},
		}
		if i%9 != 8 { // every ninth is still being handled in June
			mc.replied = true
			mc.replyOnTime = i%10 != 3
			replyDay := in2020(3, 20)
			if !mc.replyOnTime {
				replyDay = in2020(4, 20) // after 10 April, three months after assignment
			}
			category := banliv1.ReplyCategory_REPLY_CATEGORY_A
			if i == 5 || i == 11 {
				category, mc.carried = banliv1.ReplyCategory_REPLY_CATEGORY_B, true
			}
			r := load.ReplyRequest(a, category)
			r.Reply.ReplyTime = at(replyDay)
			steps = append(steps,
				&banliv1.MigrationStep{Time: at(in2020(2, 10)), Step: &banliv1.MigrationStep_Consult{Consult: &banliv1.RecordConsultationRequest{Name: a, Consultation: &banliv1.Consultation{
					Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE, Time: at(in2020(2, 10)), Summary: "电话沟通"}}}},
				&banliv1.MigrationStep{Time: at(replyDay), Step: &banliv1.MigrationStep_Reply{Reply: r}},
			)
			if i%3 != 2 { // two in three were delivered and rated by June
				mc.rated = true
				mc.satisfied = i%7 != 0
				deliverDay := replyDay.AddDate(0, 0, 2)
				steps = append(steps, &banliv1.MigrationStep{Time: at(deliverDay), Step: &banliv1.MigrationStep_Deliver{Deliver: &banliv1.RecordDeliveryRequest{Name: reply, AllProposers: true,
					Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_POST, Time: at(deliverDay)}}})
				for id := int32(1); id <= 2; id++ {
					s, opinion := banliv1.Satisfaction_SATISFACTION_SATISFIED, ""
					if !mc.satisfied && id == 2 {
						s, opinion = banliv1.Satisfaction_SATISFACTION_UNSATISFIED, "未解决实际问题"
					}
					steps = append(steps, &banliv1.MigrationStep{Time: at(deliverDay.AddDate(0, 0, 3)), Step: &banliv1.MigrationStep_Rate{Rate: &banliv1.RateReplyRequest{Name: reply, ProposerId: id, Satisfaction: s, Opinion: opinion}}})
				}
				switch {
				case !mc.satisfied && i == 7:
					// Re-handled: a second round, consulted again, and
					// both satisfied with it.
					decided := deliverDay.AddDate(0, 0, 5)
					second := load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)
					second.Reply.ReplyTime = at(decided.AddDate(0, 0, 10))
					steps = append(steps,
						&banliv1.MigrationStep{Time: at(decided), Step: &banliv1.MigrationStep_DecideUnsatisfied{DecideUnsatisfied: &banliv1.DecideUnsatisfiedRequest{
							Name: reply, Decision: banliv1.UnsatisfiedDecision_UNSATISFIED_DECISION_REHANDLE, Reason: "重新办理"}}},
						&banliv1.MigrationStep{Time: at(decided.AddDate(0, 0, 3)), Step: &banliv1.MigrationStep_Consult{Consult: &banliv1.RecordConsultationRequest{Name: a, Consultation: &banliv1.Consultation{
							Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_DURING, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT, Time: at(decided.AddDate(0, 0, 3)), Summary: "上门沟通"}}}},
						&banliv1.MigrationStep{Time: at(decided.AddDate(0, 0, 10)), Step: &banliv1.MigrationStep_Reply{Reply: second}},
						&banliv1.MigrationStep{Time: at(decided.AddDate(0, 0, 11)), Step: &banliv1.MigrationStep_Deliver{Deliver: &banliv1.RecordDeliveryRequest{Name: a + "/replies/2", AllProposers: true,
							Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_POST, Time: at(decided.AddDate(0, 0, 11))}}},
					)
					for id := int32(1); id <= 2; id++ {
						steps = append(steps, &banliv1.MigrationStep{Time: at(decided.AddDate(0, 0, 14)), Step: &banliv1.MigrationStep_Rate{Rate: &banliv1.RateReplyRequest{
							Name: a + "/replies/2", ProposerId: id, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED}}})
					}
					mc.satisfied, mc.rehandled = true, true
				case !mc.satisfied:
					// The office explains and closes it.
					steps = append(steps, &banliv1.MigrationStep{Time: at(deliverDay.AddDate(0, 0, 5)), Step: &banliv1.MigrationStep_DecideUnsatisfied{DecideUnsatisfied: &banliv1.DecideUnsatisfiedRequest{
						Name: reply, Decision: banliv1.UnsatisfiedDecision_UNSATISFIED_DECISION_CLOSE, Reason: "已说明情况"}}})
				}
			}
		}
		req := f.receiveRequest(fmt.Sprintf("M%04d", i))
		req.Proposal.Session = session
		req.Proposal.Proposers = append(req.Proposal.Proposers, &banliv1.Proposer{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "李委员"})
		mc.row = &banliv1.MigrationRow{Row: int64(i + 1), Proposal: req.GetProposal(), ReceiveTime: at(received), Steps: steps}
		out = append(out, mc)
	}
	return out
}

// TestMigratingAYearUnderWay: 200 cases of a 2020 session come in with
// their history; the figures of that year match the test's own count of
// what the rows say, a second run changes nothing, a dry run writes
// nothing, and rows with errors are refused step by step with the field
// named, leaving nothing of their case (#14, item 4).
func TestMigratingAYearUnderWay(t *testing.T) {
	f := newFixture(t)
	sess := must(f.sessions.CreateSession(as(f.adminKey), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 6, Meeting: 4, Year: 2020,
		DisplayName: "市政协六届四次会议", Policy: &banliv1.SessionPolicy{OfficeVetsUnsatisfied: proto.Bool(true)}}}))(t)
	imports := banliv1.NewImportServiceClient(f.conn)
	cases := halfYear(f.fixture(), sess.GetName(), 200)
	rows := make([]*banliv1.MigrationRow, len(cases))
	for i, c := range cases {
		rows[i] = c.row
	}
	dry := must(imports.MigrateProposals(office, &banliv1.MigrateProposalsRequest{Rows: rows, DryRun: true}))(t)
	if dry.GetMigrated() != 200 || dry.GetCommitted() {
		t.Fatalf("dry run: %d of 200 would migrate (%v)", dry.GetMigrated(), firstRefusal(dry))
	}
	if n := len(must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{Session: sess.GetName()}))(t).GetProposals()); n != 0 {
		t.Fatalf("a dry run wrote %d cases", n)
	}
	start := time.Now()
	got := must(imports.MigrateProposals(office, &banliv1.MigrateProposalsRequest{Rows: rows, SourceSha256: hexSHA256([]byte("台账.xlsx"))}))(t)
	t.Logf("migrated %d cases with %d steps in %s", got.GetMigrated(), countSteps(rows), time.Since(start).Round(time.Millisecond))
	if got.GetMigrated() != 200 {
		t.Fatalf("migrated %d of 200: %v", got.GetMigrated(), firstRefusal(got))
	}

	// The figures, counted from what the rows say.
	var want struct{ parts, signed, signedOnTime, replied, repliedOnTime, satisfied, unsatisfied, rehandled, crossYear int64 }
	for _, c := range cases {
		want.parts++
		want.signed++
		if c.signedOnTime {
			want.signedOnTime++
		}
		if c.replied {
			want.replied++
			if c.replyOnTime {
				want.repliedOnTime++
			}
		}
		if c.rated && c.satisfied {
			want.satisfied++
		}
		if c.rated && !c.satisfied {
			want.unsatisfied++
		}
		if c.carried {
			want.crossYear++
		}
		if c.rehandled {
			want.rehandled++
		}
	}
	s := must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Session: sess.GetName()}))(t)
	for _, check := range []struct {
		what      string
		got, want int64
	}{
		{"lead parts", s.GetLeadParts(), want.parts},
		{"signed", s.GetOnTimeSignIn().GetDenominator(), want.signed},
		{"signed on time", s.GetOnTimeSignIn().GetNumerator(), want.signedOnTime},
		{"replied", s.GetOnTimeReply().GetDenominator(), want.replied},
		{"replied on time", s.GetOnTimeReply().GetNumerator(), want.repliedOnTime},
		{"satisfied", s.GetSatisfied(), want.satisfied},
		{"unsatisfied", s.GetUnsatisfied(), want.unsatisfied},
		{"re-handled", s.GetRehandled(), want.rehandled},
	} {
		if check.got != check.want {
			t.Errorf("%s: %d, counted from the rows %d", check.what, check.got, check.want)
		}
	}
	cross := must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Year: 2021}))(t).GetCrossYearLeadParts()
	if cross != want.crossYear {
		t.Errorf("cross-year parts in 2021: %d, want %d", cross, want.crossYear)
	}

	// Two B-class cases of 2019 still followed up (跨年度): migrated, they
	// count as cross-year in 2020 and in 2021, the year it is now.
	older := must(f.sessions.CreateSession(as(f.adminKey), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 6, Meeting: 3, Year: 2019, DisplayName: "市政协六届三次会议"}}))(t)
	var carried []*banliv1.MigrationRow
	for i := range 2 {
		at := func(m time.Month, d int) *timestamppb.Timestamp {
			return timestamppb.New(time.Date(2019, m, d, 9, 0, 0, 0, cst))
		}
		a := "proposals/-/assignments/1"
		r := load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_B)
		r.Reply.ReplyTime = at(4, 10)
		req := f.receiveRequest(fmt.Sprintf("2019-%d", i))
		req.Proposal.Session = older.GetName()
		carried = append(carried, &banliv1.MigrationRow{Row: int64(i + 1), Proposal: req.GetProposal(), ReceiveTime: at(1, 20), Steps: []*banliv1.MigrationStep{
			{Time: at(2, 1), Step: &banliv1.MigrationStep_Assign{Assign: &banliv1.AssignProposalRequest{Name: "proposals/-", Assignments: []*banliv1.UnitAssignment{{Unit: f.unit(0), Role: roleLead}}}}},
			{Time: at(2, 3), Step: &banliv1.MigrationStep_Sign{Sign: &banliv1.SignAssignmentRequest{Name: a}}},
			{Time: at(2, 10), Step: &banliv1.MigrationStep_Consult{Consult: &banliv1.RecordConsultationRequest{Name: a, Consultation: &banliv1.Consultation{
				Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT, Time: at(2, 10), Summary: "面商"}}}},
			{Time: at(4, 10), Step: &banliv1.MigrationStep_Reply{Reply: r}},
		}})
	}
	if got := must(imports.MigrateProposals(office, &banliv1.MigrateProposalsRequest{Rows: carried}))(t); got.GetMigrated() != 2 {
		t.Fatalf("the 2019 cases: %s", firstRefusal(got))
	}
	for year, want := range map[int32]int64{2020: 2, 2021: 2 + want.crossYear} {
		if got := must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Year: year}))(t).GetCrossYearLeadParts(); got != want {
			t.Errorf("cross-year parts in %d: %d, want %d", year, got, want)
		}
	}
	// And the score of one unit, under a policy given here: a base of 90
	// only if every part was signed for on time, 0.2 for each lead part,
	// 1 off for each late reply.
	var parts, late int64
	allSignedOnTime := true
	for _, c := range cases {
		if c.lead != f.unit(0) {
			continue
		}
		parts++
		if c.replied && !c.replyOnTime {
			late++
		}
		allSignedOnTime = allSignedOnTime && c.signedOnTime
	}
	wantScore := 0.2*float64(parts) - float64(late)
	if allSignedOnTime {
		wantScore += 90
	}
	summary := must(f.statistics().GetYearSummary(office, &banliv1.GetYearSummaryRequest{Unit: f.unit(0), Year: 2020, CustomPolicy: &banliv1.ScoringPolicy{
		Name: "test", Base: 90, BaseRequiresFull: []string{"on_time_sign_in"},
		Items: []*banliv1.ScoringItem{{Count: "lead_parts", Points: 0.2, Label: "主办"}, {Count: "late_reply", Points: -1, Label: "逾期答复"}}}}))(t)
	if got := summary.GetScore().GetTotal(); got < wantScore-1e-9 || got > wantScore+1e-9 {
		t.Errorf("the score: %v, counted from the rows %v (%d parts, %d late, base %v)", got, wantScore, parts, late, allSignedOnTime)
	}
	// The events say when each step happened and when it was recorded.
	p := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: got.GetResults()[0].GetProposal()}))(t)
	events := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName()}))(t).GetEvents()
	if !p.GetMigrated() || !events[1].GetMigrated() || !events[1].GetTime().AsTime().Equal(in2020(1, 10)) || events[1].GetRecordTime() == nil {
		t.Errorf("the migrated case %v; its assignment event: migrated %v at %s", p.GetMigrated(), events[1].GetMigrated(), events[1].GetTime().AsTime())
	}
	if d := p.GetAssignments()[0].GetSignDeadline().GetDueDate(); d != "2020-01-17" {
		t.Errorf("the sign-in deadline, from the stated assignment: %s", d)
	}

	// Again: nothing changes.
	again := must(imports.MigrateProposals(office, &banliv1.MigrateProposalsRequest{Rows: rows}))(t)
	if again.GetUnchanged() != 200 || again.GetMigrated() != 0 {
		t.Fatalf("a second run: %d unchanged, %d migrated", again.GetUnchanged(), again.GetMigrated())
	}

	// Rows with errors: each refused at its step, with the field, and
	// nothing of its case written.
	bad := halfYear(f.fixture(), sess.GetName(), 4)
	for i, c := range bad {
		c.row.Proposal.Number = fmt.Sprintf("BAD%d", i)
	}
	bad[0].row.Steps[1].Time = timestamppb.New(in2020(1, 8)) // signed before it was assigned
	bad[1].row.Steps[len(bad[1].row.Steps)-1].Time = timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, cst))
	bad[2].row.Steps[0].GetAssign().Assignments[0].Unit = "units/99"
	for _, st := range bad[3].row.Steps {
		if r := st.GetRate(); r != nil {
			r.ProposerId = 9 // no such proposer
		}
	}
	refused := must(imports.MigrateProposals(office, &banliv1.MigrateProposalsRequest{Rows: []*banliv1.MigrationRow{bad[0].row, bad[1].row, bad[2].row, bad[3].row}}))(t)
	for i, want := range []struct {
		step  int32
		field string
	}{{1, "steps[1].time"}, {int32(len(bad[1].row.Steps) - 1), fmt.Sprintf("steps[%d].time", len(bad[1].row.Steps)-1)}, {0, ""}, {-2, ""}} {
		r := refused.GetResults()[i]
		if r.GetOutcome() != banliv1.ImportOutcome_IMPORT_OUTCOME_INVALID || (want.step != -2 && r.GetStep() != want.step) {
			t.Errorf("bad row %d: %s at step %d (%s), want refused at step %d", i, r.GetOutcome(), r.GetStep(), r.GetMessage(), want.step)
		}
		if want.field != "" && (len(r.GetViolations()) == 0 || r.GetViolations()[0].GetField() != want.field) {
			t.Errorf("bad row %d: violations %v, want %s", i, r.GetViolations(), want.field)
		}
	}
	if r := refused.GetResults()[3]; r.GetStep() < 4 {
		t.Errorf("the rating by no proposer was refused at step %d: %s", r.GetStep(), r.GetMessage())
	}
	if n := len(must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{Session: sess.GetName(), PageSize: 1000}))(t).GetProposals()); n != 200 {
		t.Errorf("refused rows left cases behind: %d cases", n)
	}
}

func (f *fixture) fixture() *fixture { return f }

func countSteps(rows []*banliv1.MigrationRow) int {
	n := 0
	for _, r := range rows {
		n += len(r.GetSteps())
	}
	return n
}

func firstRefusal(resp *banliv1.MigrateProposalsResponse) string {
	for _, r := range resp.GetResults() {
		if r.GetOutcome() != banliv1.ImportOutcome_IMPORT_OUTCOME_CREATED {
			return fmt.Sprintf("row %d step %d: %s %v", r.GetRow(), r.GetStep(), r.GetMessage(), r.GetViolations())
		}
	}
	return ""
}

// BenchmarkMigrate brings in b.N cases of halfYear's mix (about six steps
// each), 500 a call, and reports rows/s.
func BenchmarkMigrate(b *testing.B) {
	f := newFixture(b)
	sess := must(f.sessions.CreateSession(as(f.adminKey), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 6, Meeting: 4, Year: 2020, DisplayName: "bench"}}))(b)
	cases := halfYear(f.fixture(), sess.GetName(), b.N)
	imports := banliv1.NewImportServiceClient(f.conn)
	b.ResetTimer()
	for start := 0; start < len(cases); start += 500 {
		req := &banliv1.MigrateProposalsRequest{}
		for _, c := range cases[start:min(start+500, len(cases))] {
			req.Rows = append(req.Rows, c.row)
		}
		if got := must(imports.MigrateProposals(office, req))(b); got.GetRefused() > 0 {
			b.Fatal(firstRefusal(got))
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// TestImportHistoryCommand: `banli import -history` reads migration rows
// as JSONL and reports what it refused by row and field.
func TestImportHistoryCommand(t *testing.T) {
	f := newFixture(t)
	sess := must(f.sessions.CreateSession(as(f.adminKey), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 6, Meeting: 4, Year: 2020, DisplayName: "cli"}}))(t)
	cases := halfYear(f.fixture(), sess.GetName(), 6)
	cases[5].row.Steps[1].Time = timestamppb.New(in2020(1, 1)) // signed before it was assigned
	var lines []string
	for _, c := range cases {
		lines = append(lines, protojson.Format(c.row))
	}
	file := filepath.Join(t.TempDir(), "台账.jsonl")
	for i := range lines {
		lines[i] = strings.ReplaceAll(lines[i], "\n", "")
	}
	os.WriteFile(file, []byte(strings.Join(lines, "\n")+"\n"), 0o600)
	var out, errs strings.Builder
	code := cli.ImportCommand([]string{"-addr", f.addrs.GRPCAddr, "-token-file", f.clientAs(t, f.officeKey(t)).TokenFile, "-history", file}, &out, &errs)
	if code != 1 || !strings.Contains(out.String(), "migrated 5, unchanged 0, refused 1") || !strings.Contains(errs.String(), "row 6, steps[1].time") {
		t.Fatalf("exit %d: %s%s", code, out.String(), errs.String())
	}
}

// TestLedgerRoundTrip: a year's ledger, exported with its history columns
// (CSV and XLSX), migrates into a fresh server to the same statistics
// (#14, item 4: "the ledger export, with history columns, imports back").
// The ledger keeps the replying part's first consultation and latest
// reply, so the year here has no second round.
func TestLedgerRoundTrip(t *testing.T) {
	policy := &banliv1.SessionPolicy{OfficeVetsUnsatisfied: proto.Bool(true)}
	newSession := func(f *fixture) *banliv1.Session {
		return must(f.sessions.CreateSession(as(f.adminKey), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
			Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 6, Meeting: 4, Year: 2020, DisplayName: "市政协六届四次会议", Policy: policy}}))(t)
	}
	from := newFixture(t)
	sess := newSession(from)
	var rows []*banliv1.MigrationRow
	for i, c := range halfYear(from.fixture(), sess.GetName(), 40) {
		if i != 7 { // the one re-handled
			rows = append(rows, c.row)
		}
	}
	if got := must(banliv1.NewImportServiceClient(from.conn).MigrateProposals(office, &banliv1.MigrateProposalsRequest{Rows: rows}))(t); got.GetMigrated() != int64(len(rows)) {
		t.Fatalf("migrated %d of %d: %s", got.GetMigrated(), len(rows), firstRefusal(got))
	}
	want := must(from.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Session: sess.GetName()}))(t)
	for _, ext := range []string{"csv", "xlsx"} {
		file := filepath.Join(t.TempDir(), "台账."+ext)
		var out, errs strings.Builder
		if code := cli.ExportCommand([]string{"-addr", from.addrs.GRPCAddr, "-token-file", from.clientAs(t, from.officeKey(t)).TokenFile, "-o", file, "-session", sess.GetName()}, &out, &errs); code != 0 {
			t.Fatalf("export: %s%s", out.String(), errs.String())
		}
		to := newFixture(t)
		again := newSession(to)
		out.Reset()
		errs.Reset()
		if code := cli.ImportCommand([]string{"-addr", to.addrs.GRPCAddr, "-token-file", to.clientAs(t, to.officeKey(t)).TokenFile, "-history", file}, &out, &errs); code != 0 {
			t.Fatalf("%s: import -history: exit %d: %s%s", ext, code, out.String(), errs.String())
		}
		got := must(to.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Session: again.GetName()}))(t)
		got.Session, want.Session = "", ""
		if !proto.Equal(got, want) {
			t.Errorf("%s: the statistics after the round trip:\n%v\nbefore:\n%v", ext, got, want)
		}
	}
}
