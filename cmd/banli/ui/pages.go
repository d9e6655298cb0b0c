package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// year is the year a page shows: ?year=, or this year in China.
func (h *Handler) year(r *http.Request) int32 {
	if y := queryYear(r.URL.Query()); y != 0 {
		return y
	}
	return int32(h.now().In(china).Year())
}

// queryYear is ?year= if it is a year the server takes (1949 to 2200),
// else 0.
func queryYear(q url.Values) int32 {
	if y, err := strconv.Atoi(q.Get("year")); err == nil && y >= 1949 && y <= 2200 {
		return int32(y)
	}
	return 0
}

// denied reports whether err is the access table's refusal: a section of a
// page the caller may not read is left out, not an error.
func denied(err error) bool { return status.Code(err) == codes.PermissionDenied }

// overviewData is the overview (首页).
type overviewData struct {
	Year        int32
	Statistics  *banliv1.Statistics
	States      *chart
	Due         *chart
	Attention   *banliv1.Attention
	Units       []*banliv1.UnitStatistics
	SignIn      *chart
	Reply       *chart
	Satisfied   *chart
	KeyCases    []*banliv1.LedgerEntry
	MoreDueRows int
}

// chartRows is how many units a chart of the overview shows: those most
// in need of attention.
const chartRows = 15

func (h *Handler) overview(w http.ResponseWriter, r *http.Request, c *caller) {
	d := overviewData{Year: h.year(r)}
	unit := c.ownUnit() // a unit's own, or the whole office's
	stats := banliv1.NewStatisticsServiceClient(h.conn)
	var err error
	d.Statistics, err = stats.GetStatistics(c.ctx, &banliv1.GetStatisticsRequest{Year: d.Year, Unit: unit})
	if err != nil && !denied(err) {
		h.fail(w, r, c, err)
		return
	}
	if len(d.Statistics.GetCasesByState()) > 0 {
		d.States = stateChart(d.Statistics)
	}
	d.Attention, err = banliv1.NewSupervisionServiceClient(h.conn).GetAttention(c.ctx, &banliv1.GetAttentionRequest{
		Unit: unit, PerView: 10, Views: []banliv1.LedgerView{banliv1.LedgerView_LEDGER_VIEW_DUE_SOON, banliv1.LedgerView_LEDGER_VIEW_OVERDUE},
	})
	if err != nil && !denied(err) {
		h.fail(w, r, c, err)
		return
	}
	if counts := d.Attention.GetDueByUnit(); len(counts) > 0 {
		d.Due = dueChart(counts, chartRows)
		d.MoreDueRows = max(0, len(counts)-chartRows)
	}
	if unit == "" {
		league, err := stats.ListUnitStatistics(c.ctx, &banliv1.ListUnitStatisticsRequest{Year: d.Year})
		switch {
		case err == nil && len(league.GetRows()) > 0:
			d.Units = league.GetRows()
			d.SignIn = rateChart("按时签收率", d.Units, (*banliv1.Statistics).GetOnTimeSignIn, chartRows)
			d.Reply = rateChart("按时答复率", d.Units, (*banliv1.Statistics).GetOnTimeReply, chartRows)
			d.Satisfied = rateChart("满意率（含基本满意）", d.Units, (*banliv1.Statistics).GetSatisfaction, chartRows)
		case err != nil && !denied(err):
			h.fail(w, r, c, err)
			return
		}
	}
	keys, err := banliv1.NewSupervisionServiceClient(h.conn).ListLedgerEntries(c.ctx, &banliv1.ListLedgerEntriesRequest{
		View: banliv1.LedgerView_LEDGER_VIEW_KEY_CASES, Year: d.Year, Unit: unit, PageSize: 20,
	})
	if err != nil && !denied(err) {
		h.fail(w, r, c, err)
		return
	}
	d.KeyCases = keys.GetEntries()
	h.render(w, r, http.StatusOK, "overview", &page{Title: "首页", Nav: "overview", session: c.session}, d)
}

// ledgerFilter is the ledger page's filters, as its query parameters.
type ledgerFilter struct {
	View       banliv1.LedgerView
	Session    string
	Kind       banliv1.ProposalKind
	Unit       string
	Department string
	Handler    string
	State      banliv1.AssignmentState
	Within     int32
	Year       int32
}

// readLedgerFilter reads the filters; a value that is not one of the
// choices is left out (the server checks the rest).
func readLedgerFilter(q url.Values, c *caller) ledgerFilter {
	f := ledgerFilter{View: banliv1.LedgerView_LEDGER_VIEW_ALL_OPEN}
	if v, ok := banliv1.LedgerView_value[q.Get("view")]; ok && v != 0 {
		f.View = banliv1.LedgerView(v)
	}
	if v, ok := banliv1.ProposalKind_value[q.Get("kind")]; ok {
		f.Kind = banliv1.ProposalKind(v)
	}
	if v, ok := banliv1.AssignmentState_value[q.Get("state")]; ok {
		f.State = banliv1.AssignmentState(v)
	}
	f.Session, f.Unit, f.Department, f.Handler = q.Get("session"), q.Get("unit"), q.Get("department"), q.Get("handler")
	if n, err := strconv.Atoi(q.Get("within")); err == nil && n >= 1 && n <= 60 {
		f.Within = int32(n)
	}
	f.Year = queryYear(q)
	if unit := c.ownUnit(); unit != "" {
		f.Unit = unit // a unit's ledger is its own
	}
	return f
}

// request is the ledger call the filters make.
func (f ledgerFilter) request(pageSize int32, token string) *banliv1.ListLedgerEntriesRequest {
	unit := f.Unit
	if f.Department != "" {
		unit = f.Department // a department's parts are its unit's too
	}
	return &banliv1.ListLedgerEntriesRequest{
		View: f.View, Session: f.Session, Kind: f.Kind, Unit: unit, Handler: f.Handler, State: f.State,
		WithinWorkingDays: f.Within, Year: f.Year, PageSize: pageSize, PageToken: token,
	}
}

// query is the filters as query parameters, for links and the download.
func (f ledgerFilter) query() url.Values {
	q := url.Values{"view": {f.View.String()}}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("session", f.Session)
	set("unit", f.Unit)
	set("department", f.Department)
	set("handler", f.Handler)
	if f.Kind != 0 {
		q.Set("kind", f.Kind.String())
	}
	if f.State != 0 {
		q.Set("state", f.State.String())
	}
	if f.Within != 0 {
		q.Set("within", strconv.Itoa(int(f.Within)))
	}
	if f.Year != 0 {
		q.Set("year", strconv.Itoa(int(f.Year)))
	}
	return q
}

// choice is one option of a select.
type choice struct {
	Value, Label string
	Selected     bool
}

// enumChoices are an enum's values as options, the zero value as "all".
func enumChoices[E interface {
	~int32
	String() string
}](values map[string]int32, selected E, all string) []choice {
	out := []choice{}
	if all != "" {
		out = append(out, choice{Value: "", Label: all, Selected: selected == 0})
	}
	for n := int32(1); n < int32(len(values))+1; n++ {
		e := E(n)
		name := e.String()
		if _, ok := values[name]; !ok {
			continue
		}
		out = append(out, choice{Value: name, Label: enumLabel(name), Selected: e == selected})
	}
	return out
}

// ledgerData is the ledger page.
type ledgerData struct {
	Filter      ledgerFilter
	Entries     []*banliv1.LedgerEntry
	Next        string
	First       bool
	Query       string
	Views       []choice
	Kinds       []choice
	States      []choice
	Sessions    []choice
	Units       []choice
	Departments []choice
	FixedUnit   string
}

// ledgerPageSize is how many parts the ledger page shows at a time.
const ledgerPageSize = 50

func (h *Handler) ledger(w http.ResponseWriter, r *http.Request, c *caller) {
	q := r.URL.Query()
	f := readLedgerFilter(q, c)
	resp, err := banliv1.NewSupervisionServiceClient(h.conn).ListLedgerEntries(c.ctx, f.request(ledgerPageSize, q.Get("page")))
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	dir, err := readDirectory(c.ctx, h)
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	d := ledgerData{
		Filter: f, Entries: resp.GetEntries(), Next: resp.GetNextPageToken(), First: q.Get("page") == "",
		Query:  f.query().Encode(),
		Views:  enumChoices(banliv1.LedgerView_value, f.View, ""),
		Kinds:  enumChoices(banliv1.ProposalKind_value, f.Kind, "全部"),
		States: enumChoices(banliv1.AssignmentState_value, f.State, "全部"),
	}
	d.Sessions = append(d.Sessions, choice{Value: "", Label: "全部届次", Selected: f.Session == ""})
	for _, s := range dir.Sessions {
		d.Sessions = append(d.Sessions, choice{Value: s.GetName(), Label: s.GetDisplayName(), Selected: s.GetName() == f.Session})
	}
	if c.ownUnit() != "" {
		d.FixedUnit = dir.Name(f.Unit)
	} else {
		d.Units = append(d.Units, choice{Value: "", Label: "全部单位", Selected: f.Unit == ""})
		for _, u := range dir.Units {
			d.Units = append(d.Units, choice{Value: u.GetName(), Label: u.GetDisplayName(), Selected: u.GetName() == f.Unit})
		}
	}
	d.Departments = append(d.Departments, choice{Value: "", Label: "全部处室", Selected: f.Department == ""})
	for _, dep := range dir.Departments[f.Unit] {
		d.Departments = append(d.Departments, choice{Value: dep.GetName(), Label: dep.GetDisplayName(), Selected: dep.GetName() == f.Department})
	}
	h.render(w, r, http.StatusOK, "ledger", &page{Title: "台账", Nav: "ledger", session: c.session}, d)
}

// statisticsData is the statistics page.
type statisticsData struct {
	Year      int32
	Body      banliv1.Body
	Bodies    []choice
	Summary   *banliv1.YearSummary
	Units     []*banliv1.UnitStatistics
	Unit      string
	UnitName  string
	Directory *directory
}

func (h *Handler) statistics(w http.ResponseWriter, r *http.Request, c *caller) {
	q := r.URL.Query()
	d := statisticsData{Year: h.year(r), Unit: q.Get("unit")}
	if v, ok := banliv1.Body_value[q.Get("body")]; ok {
		d.Body = banliv1.Body(v)
	}
	if unit := c.ownUnit(); unit != "" {
		d.Unit = unit
	}
	d.Bodies = enumChoices(banliv1.Body_value, d.Body, "两会合计")
	stats := banliv1.NewStatisticsServiceClient(h.conn)
	var err error
	d.Summary, err = stats.GetYearSummary(c.ctx, &banliv1.GetYearSummaryRequest{Year: d.Year, Body: d.Body, Unit: d.Unit})
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	if c.ownUnit() == "" {
		league, err := stats.ListUnitStatistics(c.ctx, &banliv1.ListUnitStatisticsRequest{Year: d.Year, Body: d.Body})
		if err != nil && !denied(err) {
			h.fail(w, r, c, err)
			return
		}
		d.Units = league.GetRows()
	}
	if d.Directory, err = readDirectory(c.ctx, h); err != nil {
		h.fail(w, r, c, err)
		return
	}
	d.UnitName = d.Directory.Name(d.Unit)
	h.render(w, r, http.StatusOK, "statistics", &page{Title: "统计", Nav: "statistics", session: c.session}, d)
}

// proposalData is a case's page.
type proposalData struct {
	Proposal  *banliv1.Proposal
	Events    []*banliv1.Event
	Directory *directory
	// What the caller may do here, by step (caseSteps): the forms shown
	// (the server decides each call).
	Steps    map[string]bool
	OwnParts map[string]bool
	// Reminding are the parts with something due, which a reminder may
	// chase.
	Reminding   []*banliv1.Assignment
	Channels    []choice
	Roles       []choice
	Phases      []choice
	Categories  []choice
	Disclosures []choice
	Today       string
	MoreEvent   bool
}

// maxTimeline is how many events a case's page shows.
const maxTimeline = 1000

func (h *Handler) proposal(w http.ResponseWriter, r *http.Request, c *caller) {
	name := "proposals/" + r.PathValue("id")
	p, err := banliv1.NewProposalServiceClient(h.conn).GetProposal(c.ctx, &banliv1.GetProposalRequest{Name: name})
	if err != nil {
		h.fail(w, r, c, err)
		return
	}
	d := proposalData{Proposal: p, Steps: map[string]bool{}, OwnParts: map[string]bool{}, Today: h.now().In(china).Format("2006-01-02")}
	for name, step := range caseSteps {
		d.Steps[name] = c.may(step.method)
	}
	events := banliv1.NewEventServiceClient(h.conn)
	for token := ""; ; {
		resp, err := events.ListProposalEvents(c.ctx, &banliv1.ListProposalEventsRequest{Parent: name, PageSize: 200, PageToken: token})
		if denied(err) {
			break // the history is the office's and the units', not every reader's
		}
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		d.Events = append(d.Events, resp.GetEvents()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
		if len(d.Events) >= maxTimeline {
			d.MoreEvent = true
			break
		}
	}
	if d.Directory, err = readDirectory(c.ctx, h); err != nil {
		h.fail(w, r, c, err)
		return
	}
	for _, a := range p.GetAssignments() {
		if a.GetCurrentDeadline() != nil {
			d.Reminding = append(d.Reminding, a)
		}
	}
	if unit := c.ownUnit(); unit != "" {
		for _, a := range p.GetAssignments() {
			if a.GetUnit() == unit || a.GetDepartment() == unit {
				d.OwnParts[a.GetName()] = true
			}
		}
	}
	d.Channels = enumChoices(banliv1.ConsultationChannel_value, banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE, "")
	d.Roles = enumChoices(banliv1.AssignmentRole_value, banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD, "")
	d.Phases = enumChoices(banliv1.ConsultationPhase_value, banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, "")
	d.Categories = enumChoices(banliv1.ReplyCategory_value, banliv1.ReplyCategory_REPLY_CATEGORY_A, "")
	d.Disclosures = enumChoices(banliv1.DisclosureIntent_value, banliv1.DisclosureIntent_DISCLOSURE_INTENT_FULL, "")
	title := p.GetNumber() + " " + p.GetTitle()
	h.render(w, r, http.StatusOK, "proposal", &page{Title: strings.TrimSpace(title), Nav: "ledger", session: c.session}, d)
}
