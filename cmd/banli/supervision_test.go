package main

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var cst = time.FixedZone("CST", 8*3600)

// TestLoadingACalendarRecomputesProvisionalDeadlines: a reply due in 2027
// is provisional until 2027's schedule is loaded, then final and moved.
func TestLoadingACalendarRecomputesProvisionalDeadlines(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(time.Date(2026, 12, 21, 9, 0, 0, 0, cst))
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.Assignments[0]
	if d := a.GetResponseDeadline(); d.GetDueDate() != "2027-03-22" || !d.GetProvisional() {
		t.Fatalf("reply deadline before 2027 is loaded: %v", d)
	}
	if d := a.GetSignDeadline(); d.GetDueDate() != "2026-12-28" || d.GetProvisional() {
		t.Fatalf("sign deadline, all in 2026: %v", d)
	}

	load := &banliv1.LoadCalendarYearRequest{
		Name:              "calendars/2027",
		DaysOff:           []*banliv1.CalendarDay{{Date: "2027-03-22", Holiday: "测试假日"}, {Date: "2027-02-10", Holiday: "春节"}},
		MakeUpWorkingDays: []*banliv1.CalendarDay{{Date: "2027-02-20", Holiday: "春节"}},
		Sources:           []string{"国务院办公厅关于2027年部分节假日安排的通知"},
	}
	// A make-up working day must be a weekend day.
	bad := proto.Clone(load).(*banliv1.LoadCalendarYearRequest)
	bad.MakeUpWorkingDays = []*banliv1.CalendarDay{{Date: "2027-02-17"}}
	_, err := f.calendars().LoadCalendarYear(office, bad)
	wantCode(t, err, codes.InvalidArgument, "days_off")

	cy := must(f.calendars().LoadCalendarYear(context.Background(), load))(t)
	if cy.GetVersion() != 1 || cy.GetLoadedBy() != "accounts/admin" || cy.GetDaysOff()[0].GetDate() != "2027-02-10" {
		t.Errorf("loaded %v", cy)
	}
	p = must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	if d := p.Assignments[0].GetResponseDeadline(); d.GetDueDate() != "2027-03-23" || d.GetProvisional() {
		t.Errorf("reply deadline after 2027 is loaded: %v", d)
	}
	if d := p.Assignments[0].GetCurrentDeadline(); d.GetDueDate() != "2026-12-28" {
		t.Errorf("current deadline (sign-in) %v", d)
	}
	evs := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName()}))(t)
	last := evs.GetEvents()[len(evs.GetEvents())-1]
	// The server recomputes, for the admin's load, which the event names.
	if last.GetAction() != "RecomputeDeadlines" || last.GetActor() != "server" || !strings.Contains(last.GetDetails(), "calendars/2027") {
		t.Errorf("last event %v", last)
	}

	// A second load makes version 2 and keeps version 1; a stale etag is refused.
	load.DaysOff = load.DaysOff[1:]
	load.Etag = "1"
	must(f.calendars().LoadCalendarYear(office, load))(t)
	_, err = f.calendars().LoadCalendarYear(office, load)
	wantCode(t, err, codes.Aborted, "")
	v1 := must(f.calendars().GetCalendarYear(office, &banliv1.GetCalendarYearRequest{Name: "calendars/2027", Version: 1}))(t)
	v2 := must(f.calendars().GetCalendarYear(office, &banliv1.GetCalendarYearRequest{Name: "calendars/2027"}))(t)
	if len(v1.GetDaysOff()) != 2 || len(v2.GetDaysOff()) != 1 || v2.GetVersion() != 2 {
		t.Errorf("versions: %v / %v", v1, v2)
	}
	// The shipped years are listed too.
	years := must(f.calendars().ListCalendarYears(office, &banliv1.ListCalendarYearsRequest{}))(t)
	if n := len(years.GetCalendarYears()); n != 9 || years.GetCalendarYears()[0].GetName() != "calendars/2019" {
		t.Errorf("%d years listed", n)
	}
	shipped := must(f.calendars().GetCalendarYear(office, &banliv1.GetCalendarYearRequest{Name: "calendars/2021"}))(t)
	if shipped.GetVersion() != 0 || len(shipped.GetSources()) == 0 {
		t.Errorf("shipped 2021: %v", shipped)
	}
	_, err = f.calendars().GetCalendarYear(office, &banliv1.GetCalendarYearRequest{Name: "calendars/2031"})
	wantCode(t, err, codes.NotFound, "")
}

func (ts *testServer) calendars() banliv1.CalendarServiceClient {
	return banliv1.NewCalendarServiceClient(ts.conn)
}

func (ts *testServer) supervision() banliv1.SupervisionServiceClient {
	return banliv1.NewSupervisionServiceClient(ts.conn)
}

// TestExtensions: asked before the deadline, one at a time, approved within
// the session's cap.
func TestExtensions(t *testing.T) {
	f := newFixture(t) // 1 March 2021: the reply is due 1 June, the cap is 1 September
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	lead, co := p.Assignments[0].GetName(), p.Assignments[1].GetName()
	ask := func(name, date string) error {
		_, err := f.proposals.RequestExtension(context.Background(), &banliv1.RequestExtensionRequest{Name: name, Reason: "需要跨部门协调", RequestedDueDate: date})
		return err
	}
	wantCode(t, ask(lead, "2021-07-15"), codes.FailedPrecondition, "") // not signed yet
	f.sign(t, lead)
	f.sign(t, co)
	wantCode(t, ask(co, "2021-07-15"), codes.FailedPrecondition, "") // co-handling units send opinions
	wantCode(t, ask(lead, "2021-09-02"), codes.InvalidArgument, "requested_due_date")
	wantCode(t, ask(lead, "2021-05-01"), codes.InvalidArgument, "requested_due_date")
	if err := ask(lead, "2021-07-15"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, ask(lead, "2021-08-15"), codes.FailedPrecondition, "") // one pending at a time

	p = must(f.proposals.DecideExtension(office, &banliv1.DecideExtensionRequest{Name: lead, Decision: banliv1.Decision_DECISION_APPROVED, ApprovedDueDate: "2021-07-01", Note: "同意延期至7月1日"}))(t)
	a := p.Assignments[0]
	if d := a.GetResponseDeadline(); d.GetDueDate() != "2021-07-01" || !d.GetExtended() || a.GetCurrentDeadline().GetDueDate() != "2021-07-01" ||
		d.GetRuleZh() != "经批准延期至2021-07-01（原为2021-06-01）" {
		t.Errorf("after approval: %v / current %v", d, a.GetCurrentDeadline())
	}
	if x := a.GetExtensionRequests()[0]; x.GetApprovedDueDate() != "2021-07-01" || x.GetDecision() != banliv1.Decision_DECISION_APPROVED {
		t.Errorf("request record %v", x)
	}
	_, err := f.proposals.DecideExtension(office, &banliv1.DecideExtensionRequest{Name: lead, Decision: banliv1.Decision_DECISION_REFUSED})
	wantCode(t, err, codes.FailedPrecondition, "") // nothing pending

	if err := ask(lead, "2021-08-01"); err != nil {
		t.Fatal(err)
	}
	p = must(f.proposals.DecideExtension(office, &banliv1.DecideExtensionRequest{Name: lead, Decision: banliv1.Decision_DECISION_REFUSED}))(t)
	if p.Assignments[0].GetResponseDeadline().GetDueDate() != "2021-07-01" {
		t.Errorf("a refusal moved the deadline")
	}
	f.clock.Set(time.Date(2021, 7, 2, 9, 0, 0, 0, cst))
	wantCode(t, ask(lead, "2021-08-01"), codes.FailedPrecondition, "") // the deadline has passed
}

func TestReminders(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	p = must(f.proposals.RecordReminder(context.Background(), &banliv1.RecordReminderRequest{Name: p.GetName(), Assignment: p.Assignments[0].GetName(), Message: "请于本周内签收"}))(t)
	p = must(f.proposals.RecordReminder(office, &banliv1.RecordReminderRequest{Name: p.GetName(), Message: "重点关注"}))(t)
	if r := p.GetReminders(); len(r) != 2 || r[0].GetSender() != "accounts/test-office" || r[0].GetAssignment() == "" || r[1].GetId() != 2 {
		t.Errorf("reminders %v", r)
	}
	_, err := f.proposals.RecordReminder(office, &banliv1.RecordReminderRequest{Name: p.GetName(), Assignment: "proposals/99/assignments/1", Message: "x"})
	wantCode(t, err, codes.InvalidArgument, "assignment")
	_, err = f.proposals.RecordReminder(office, &banliv1.RecordReminderRequest{Name: p.GetName(), Assignment: p.GetName() + "/assignments/9", Message: "x"})
	wantCode(t, err, codes.NotFound, "")
	evs := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: p.GetName()}))(t)
	if last := evs.GetEvents()[len(evs.GetEvents())-1]; last.GetAction() != "RecordReminder" || last.GetDetails() != "reminder: 重点关注" {
		t.Errorf("history %v", last)
	}
}

// TestLedgerViews builds cases in every situation the office watches and
// reads each view, by unit and for the whole office.
func TestLedgerViews(t *testing.T) {
	f := newFixture(t) // Monday 1 March 2021
	ledger := func(view banliv1.LedgerView, unit string, asOf time.Time, narrow ...func(*banliv1.ListLedgerEntriesRequest)) []string {
		t.Helper()
		var names []string
		req := &banliv1.ListLedgerEntriesRequest{View: view, Unit: unit, PageSize: 2}
		for _, n := range narrow {
			n(req)
		}
		if !asOf.IsZero() {
			req.AsOf = timestamppb.New(asOf)
		}
		for {
			resp := must(f.supervision().ListLedgerEntries(office, req))(t)
			for _, e := range resp.GetEntries() {
				names = append(names, e.GetAssignment())
			}
			if resp.GetNextPageToken() == "" {
				return names
			}
			req.PageToken = resp.GetNextPageToken()
		}
	}
	// awaiting: assigned to unit 0, not signed.
	awaiting := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	// opinion: unit 1 co-handles, signed, no opinion yet.
	opinion := f.assign(t, f.receive(t), part(f.unit(2), roleLead), part(f.unit(1), roleCo))
	f.sign(t, opinion.Assignments[0].GetName())
	f.sign(t, opinion.Assignments[1].GetName())
	// replied: unit 3 replied, not rated.
	replied := f.assign(t, f.receive(t), part(f.unit(3), roleLead))
	ra := replied.Assignments[0].GetName()
	f.sign(t, ra)
	f.consult(t, ra)
	f.reply(t, ra)
	// unsatisfied: unit 4's reply rated unsatisfied.
	unsat := f.assign(t, f.receive(t), part(f.unit(4), roleLead))
	ua := unsat.Assignments[0].GetName()
	f.sign(t, ua)
	f.consult(t, ua)
	f.reply(t, ua)
	f.rate(t, ua+"/replies/1", 1, banliv1.Satisfaction_SATISFACTION_UNSATISFIED)
	// key: a key case supervised by a leader.
	key := f.assign(t, f.receive(t), part(f.unit(5), roleLead))
	must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: key.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)
	// withdrawn: not on any ledger.
	gone := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	must(f.proposals.WithdrawProposal(office, &banliv1.WithdrawProposalRequest{Name: gone.GetName()}))(t)

	inState := func(st banliv1.AssignmentState) func(*banliv1.ListLedgerEntriesRequest) {
		return func(r *banliv1.ListLedgerEntriesRequest) { r.State = st }
	}
	ofKind := func(k banliv1.ProposalKind) func(*banliv1.ListLedgerEntriesRequest) {
		return func(r *banliv1.ListLedgerEntriesRequest) { r.Kind = k }
	}
	views := []struct {
		view   banliv1.LedgerView
		unit   string
		want   []string
		narrow []func(*banliv1.ListLedgerEntriesRequest)
	}{
		{banliv1.LedgerView_LEDGER_VIEW_AWAITING_SIGN_IN, "", []string{awaiting.Assignments[0].GetName(), key.Assignments[0].GetName()}, nil},
		{banliv1.LedgerView_LEDGER_VIEW_AWAITING_SIGN_IN, f.unit(0), []string{awaiting.Assignments[0].GetName()}, nil},
		{banliv1.LedgerView_LEDGER_VIEW_AWAITING_OPINION, "", []string{opinion.Assignments[1].GetName()}, nil},
		{banliv1.LedgerView_LEDGER_VIEW_AWAITING_OPINION, f.unit(2), nil, nil},
		{banliv1.LedgerView_LEDGER_VIEW_REPLIED_NOT_RATED, "", []string{ra}, nil},
		{banliv1.LedgerView_LEDGER_VIEW_RATED_UNSATISFIED, "", []string{ua}, nil},
		{banliv1.LedgerView_LEDGER_VIEW_KEY_CASES, "", []string{key.Assignments[0].GetName()}, nil},
		// The whole ledger: every current part of the cases in hand.
		{banliv1.LedgerView_LEDGER_VIEW_ALL_OPEN, "", []string{awaiting.Assignments[0].GetName(), opinion.Assignments[0].GetName(), opinion.Assignments[1].GetName(), ra, ua, key.Assignments[0].GetName()}, nil},
		{banliv1.LedgerView_LEDGER_VIEW_ALL_OPEN, "", []string{opinion.Assignments[0].GetName(), opinion.Assignments[1].GetName()}, []func(*banliv1.ListLedgerEntriesRequest){inState(banliv1.AssignmentState_ASSIGNMENT_STATE_SIGNED)}},
		{banliv1.LedgerView_LEDGER_VIEW_ALL_OPEN, f.unit(2), []string{opinion.Assignments[0].GetName()}, []func(*banliv1.ListLedgerEntriesRequest){inState(banliv1.AssignmentState_ASSIGNMENT_STATE_SIGNED)}},
		// A state the view does not list matches nothing.
		{banliv1.LedgerView_LEDGER_VIEW_AWAITING_SIGN_IN, "", nil, []func(*banliv1.ListLedgerEntriesRequest){inState(banliv1.AssignmentState_ASSIGNMENT_STATE_SIGNED)}},
		// The body, as the kind of its cases: the fixture's are proposals.
		{banliv1.LedgerView_LEDGER_VIEW_REPLIED_NOT_RATED, "", []string{ra}, []func(*banliv1.ListLedgerEntriesRequest){ofKind(banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL)}},
		{banliv1.LedgerView_LEDGER_VIEW_ALL_OPEN, "", nil, []func(*banliv1.ListLedgerEntriesRequest){ofKind(banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION)}},
	}
	for _, v := range views {
		if got := ledger(v.view, v.unit, time.Time{}, v.narrow...); strings.Join(got, " ") != strings.Join(v.want, " ") {
			t.Errorf("%s %s: got %v, want %v", v.view, v.unit, got, v.want)
		}
	}
	leader := must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_KEY_CASES, SupervisingLeader: "李副市长"}))(t)
	if len(leader.GetEntries()) != 0 {
		t.Errorf("another leader's key cases: %v", leader.GetEntries())
	}

	// Sign-in is due on 8 March for the two unsigned parts.
	due := ledger(banliv1.LedgerView_LEDGER_VIEW_DUE_SOON, "", time.Date(2021, 3, 2, 9, 0, 0, 0, cst))
	if strings.Join(due, " ") != awaiting.Assignments[0].GetName()+" "+key.Assignments[0].GetName() {
		t.Errorf("due within 5 working days of 2 March: %v", due)
	}
	signing := func(r *banliv1.ListLedgerEntriesRequest) { r.State = banliv1.AssignmentState_ASSIGNMENT_STATE_SIGNED }
	if due := ledger(banliv1.LedgerView_LEDGER_VIEW_DUE_SOON, "", time.Date(2021, 3, 2, 9, 0, 0, 0, cst), signing); len(due) != 0 {
		t.Errorf("due soon and signed: %v", due)
	}
	if over := ledger(banliv1.LedgerView_LEDGER_VIEW_OVERDUE, "", time.Date(2021, 3, 8, 23, 0, 0, 0, cst)); len(over) != 0 {
		t.Errorf("overdue on the last day: %v", over)
	}
	f.clock.Set(time.Date(2021, 3, 9, 9, 0, 0, 0, cst))
	over := must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_OVERDUE, Unit: f.unit(0)}))(t)
	if len(over.GetEntries()) != 1 || !over.GetEntries()[0].GetOverdue() || over.GetEntries()[0].GetCurrentDeadline().GetDueDate() != "2021-03-08" {
		t.Errorf("overdue for unit 0 on 9 March: %v", over.GetEntries())
	}

	// One call for a unit's dashboard.
	att := must(f.supervision().GetAttention(office, &banliv1.GetAttentionRequest{Unit: f.unit(0)}))(t)
	if len(att.GetOverdue()) != 1 || len(att.GetAwaitingSignIn()) != 1 || len(att.GetRepliedNotRated()) != 0 {
		t.Errorf("attention for unit 0: %v", att)
	}
	// A dashboard asks for the views it shows.
	some := must(f.supervision().GetAttention(office, &banliv1.GetAttentionRequest{Unit: f.unit(0), Views: []banliv1.LedgerView{banliv1.LedgerView_LEDGER_VIEW_OVERDUE}}))(t)
	if len(some.GetOverdue()) != 1 || len(some.GetAwaitingSignIn()) != 0 || len(some.GetDueByUnit()) != 1 {
		t.Errorf("attention, overdue only: %v", some)
	}
	_, err := f.supervision().GetAttention(office, &banliv1.GetAttentionRequest{Views: []banliv1.LedgerView{99}})
	wantCode(t, err, codes.InvalidArgument, "views[0]")
	// The counts by unit are whole and name the units as people know them.
	dueCounts := func(att *banliv1.Attention) map[string]string {
		out := map[string]string{}
		for _, n := range att.GetDueByUnit() {
			out[n.GetUnit()] = fmt.Sprintf("%s soon %d overdue %d", n.GetUnitDisplayName(), n.GetDueSoon(), n.GetOverdue())
		}
		return out
	}
	whole := must(f.supervision().GetAttention(office, &banliv1.GetAttentionRequest{PerView: 1}))(t)
	want := map[string]string{
		f.unit(0): fmt.Sprintf("%s soon 0 overdue 1", f.bureaus[0].GetDisplayName()),
		f.unit(5): fmt.Sprintf("%s soon 0 overdue 1", f.bureaus[5].GetDisplayName()),
	}
	if got := dueCounts(whole); !reflect.DeepEqual(got, want) {
		t.Errorf("due by unit, whole office: %v, want %v", got, want)
	}
	if got := dueCounts(att); len(got) != 1 || got[f.unit(0)] != want[f.unit(0)] {
		t.Errorf("due by unit, unit 0: %v", got)
	}
	staff := as(f.account(t, "staff0", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	if got := dueCounts(must(f.supervision().GetAttention(staff, &banliv1.GetAttentionRequest{Unit: f.unit(0)}))(t)); len(got) != 1 || got[f.unit(0)] == "" {
		t.Errorf("due by unit, to unit 0's staff: %v", got)
	}
	// The office's figures count the cases by state.
	st := must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Year: 2021}))(t)
	byState := map[banliv1.ProposalState]int64{}
	for _, c := range st.GetCasesByState() {
		byState[c.GetState()] = c.GetCases()
	}
	if want := map[banliv1.ProposalState]int64{
		banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED:  3, // awaiting, opinion, key
		banliv1.ProposalState_PROPOSAL_STATE_REPLIED:   1,
		banliv1.ProposalState_PROPOSAL_STATE_CONSULTED: 1, // rated unsatisfied: handled again
		banliv1.ProposalState_PROPOSAL_STATE_WITHDRAWN: 1,
	}; !reflect.DeepEqual(byState, want) {
		t.Errorf("cases by state: %v, want %v", byState, want)
	}
	// And over REST.
	code, out := f.rest(t, "GET", "/v1/ledger?view=LEDGER_VIEW_RATED_UNSATISFIED", nil)
	if code != http.StatusOK || len(out["entries"].([]any)) != 1 {
		t.Errorf("REST ledger: %d %v", code, out)
	}
	code, _ = f.rest(t, "GET", "/v1/ledger", nil)
	if code != http.StatusBadRequest {
		t.Errorf("ledger without a view: %d", code)
	}
}
