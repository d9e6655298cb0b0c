package service

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// ledgerViews says which assignments each posting-list view of the ledger
// (督办台账) lists: parts in these states, of this role if one is given. The
// due-soon and overdue views are read from the due index instead.
var ledgerViews = map[banliv1.LedgerView]struct {
	states []banliv1.AssignmentState
	role   banliv1.AssignmentRole
	// also, if set, narrows the view further, as of a time.
	also func(p *banliv1.Proposal, a *banliv1.Assignment, asOf, horizon time.Time) bool
	// publication lists the parts whose latest reply waits in the
	// publication queue in one of these disclosure states.
	publication []banliv1.DisclosureState
}{
	banliv1.LedgerView_LEDGER_VIEW_AWAITING_SIGN_IN:     {states: []banliv1.AssignmentState{aAssigned}},
	banliv1.LedgerView_LEDGER_VIEW_AWAITING_OPINION:     {states: []banliv1.AssignmentState{aAssigned, aSigned, aConsulted}, role: coHandling},
	banliv1.LedgerView_LEDGER_VIEW_REPLIED_NOT_RATED:    {states: []banliv1.AssignmentState{aReplied}},
	banliv1.LedgerView_LEDGER_VIEW_RATED_UNSATISFIED:    {states: []banliv1.AssignmentState{aUnsatisfied, aRehandling}},
	banliv1.LedgerView_LEDGER_VIEW_KEY_CASES:            {},
	banliv1.LedgerView_LEDGER_VIEW_RATINGS_NOT_RETURNED: {states: []banliv1.AssignmentState{aReplied}, also: ratingsOverdue},
	banliv1.LedgerView_LEDGER_VIEW_NOT_DELIVERED:        {states: []banliv1.AssignmentState{aReplied}, also: notDelivered},
	banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_DUE_SOON: {publication: []banliv1.DisclosureState{pending, pubAwaiting}, also: publicationDueSoon},
	banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_OVERDUE:  {publication: []banliv1.DisclosureState{pending, pubAwaiting, pubOverdue}, also: publicationOverdue},
	banliv1.LedgerView_LEDGER_VIEW_ALL_OPEN:             {},
	banliv1.LedgerView_LEDGER_VIEW_DUE_SOON:             {},
	banliv1.LedgerView_LEDGER_VIEW_OVERDUE:              {},
}

const defaultDueSoonDays = 5

func validateLedger(r *banliv1.ListLedgerEntriesRequest) error {
	v := &violations{}
	v.enum("view", r.GetView(), true)
	v.enum("kind", r.GetKind(), false)
	v.enum("state", r.GetState(), false)
	v.caseFilters(r.GetSession(), r.GetUnit(), r.GetYear())
	if r.GetHandler() != "" {
		v.accountID("handler", r.GetHandler())
	}
	if n := r.GetWithinWorkingDays(); n < 0 || n > 60 {
		v.add("within_working_days", "must be from 0 to 60")
	}
	if t := r.GetAsOf(); t != nil && t.CheckValid() != nil {
		v.add("as_of", "not a valid time")
	}
	v.line("supervising_leader", r.GetSupervisingLeader(), maxPersonLen, false)
	if r.GetLeader() != "" {
		v.leaderID("leader", r.GetLeader())
	}
	v.pageSize(r.GetPageSize())
	return v.err()
}

// ListLedgerEntries lists one view of the ledger.
func (s *Server) ListLedgerEntries(ctx context.Context, req *banliv1.ListLedgerEntriesRequest) (*banliv1.ListLedgerEntriesResponse, error) {
	if err := validateLedger(req); err != nil {
		return nil, err
	}
	resp := &banliv1.ListLedgerEntriesResponse{}
	err := s.store.View(func(r store.Reader) error {
		c, _ := CallerFrom(ctx)
		entries, next, err := s.ledgerPage(r, c, req, pageSize(req.GetPageSize(), defaultPageSize))
		resp.Entries, resp.NextPageToken = entries, next
		return err
	})
	return resp, err
}

// ledgerPage reads one page of a view, of the sessions c acts on.
func (s *Server) ledgerPage(r store.Reader, c *Caller, req *banliv1.ListLedgerEntriesRequest, limit int) ([]*banliv1.LedgerEntry, string, error) {
	asOf := s.now()
	if req.GetAsOf() != nil {
		asOf = req.GetAsOf().AsTime()
	}
	sessions, err := sessionsMatching(r, req.GetSession(), req.GetKind(), req.GetYear())
	if err != nil {
		return nil, "", err
	}
	reach, err := sessionsInReach(r, c)
	if err != nil {
		return nil, "", err
	}
	switch req.GetView() {
	case banliv1.LedgerView_LEDGER_VIEW_DUE_SOON, banliv1.LedgerView_LEDGER_VIEW_OVERDUE:
		return s.duePage(r, req, sessions, reach, asOf, limit)
	}
	return s.statePage(r, req, sessions, reach, asOf, limit)
}

// duePage reads the due-soon or overdue view from the due index, soonest
// (or most overdue) first.
func (s *Server) duePage(r store.Reader, req *banliv1.ListLedgerEntriesRequest, sessions, reach []string, asOf time.Time, limit int) ([]*banliv1.LedgerEntry, string, error) {
	after, err := parseCursorToken(req, req.GetPageToken())
	if err != nil {
		return nil, "", err
	}
	from, to := int64(math.MinInt64), asOf.Unix()-1
	if req.GetView() == banliv1.LedgerView_LEDGER_VIEW_DUE_SOON {
		from, to = asOf.Unix(), s.dueSoonHorizon(asOf, req.GetWithinWorkingDays()).Unix()
	}
	keep := func(d store.Due) bool {
		unit := req.GetUnit()
		return (unit == "" || d.Unit == unit || d.Department == unit) &&
			(req.GetHandler() == "" || d.Handler == req.GetHandler()) &&
			(sessions == nil || slices.Contains(sessions, d.Session)) &&
			(reach == nil || slices.Contains(reach, d.Session))
	}
	refs, more, err := r.ListDue(from, to, after, keep, limit)
	if err != nil {
		return nil, "", err
	}
	var entries []*banliv1.LedgerEntry
	names := newDisplayNames(r)
	for _, ref := range refs {
		p, err := r.Proposal(ref.Proposal)
		if err != nil {
			return nil, "", err
		}
		// The due index knows no part states: a state asked for is
		// judged here, so a page may hold fewer entries than it could.
		a := p.GetAssignments()[ref.Assignment-1]
		if st := req.GetState(); st == 0 || a.GetState() == st {
			entries = append(entries, names.ledgerEntry(p, a, asOf))
		}
	}
	next := ""
	if more && len(refs) > 0 {
		next = cursorToken(req, refs[len(refs)-1].Position)
	}
	return entries, next, nil
}

// statePage reads a view of assignments in given states from the posting
// lists, a case at a time; a page ends with whole cases.
func (s *Server) statePage(r store.Reader, req *banliv1.ListLedgerEntriesRequest, sessions, reach []string, asOf time.Time, limit int) ([]*banliv1.LedgerEntry, string, error) {
	after, err := parsePageToken(req, req.GetPageToken())
	if err != nil {
		return nil, "", err
	}
	view := ledgerViews[req.GetView()]
	states, any := viewStates(view.states, req.GetState())
	if !any {
		return nil, "", nil
	}
	f := caseFilter{sessions: sessions, unit: req.GetUnit(), role: view.role, partStates: states, handler: req.GetHandler(), publication: view.publication, reach: reach}
	if req.GetYear() != 0 && req.GetSession() == "" {
		f.carriedYear = req.GetYear() // cross-year cases count in the year they are carried to
	}
	if view.publication != nil {
		f.publicationWindow = s.publicationWindow(req, asOf)
	}
	if req.GetView() == banliv1.LedgerView_LEDGER_VIEW_KEY_CASES {
		yes := true
		f.key, f.leader, f.keyLeader = &yes, req.GetSupervisingLeader(), req.GetLeader()
	}
	// horizon is where a due-soon view stops looking; only a view that
	// narrows further (view.also) looks at it.
	var horizon time.Time
	if view.also != nil {
		horizon = s.dueSoonHorizon(asOf, req.GetWithinWorkingDays())
	}
	var entries []*banliv1.LedgerEntry
	names := newDisplayNames(r)
	for {
		list, more, err := r.ListProposals(f.query(), after, limit)
		if err != nil {
			return nil, "", err
		}
		for _, p := range list {
			var found []*banliv1.LedgerEntry
			for _, a := range p.GetAssignments() {
				if ledgerShows(states, view.role, req.GetUnit(), req.GetHandler(), p, a) && (view.also == nil || view.also(p, a, asOf, horizon)) {
					e := names.ledgerEntry(p, a, asOf)
					if view.publication != nil {
						publicationEntry(e, queuedReply(a), asOf)
					}
					found = append(found, e)
				}
			}
			if len(entries) > 0 && len(entries)+len(found) > limit {
				return entries, pageToken(req, after), nil
			}
			entries = append(entries, found...)
			after = idOf(p.GetName(), proposalsCollection)
		}
		if !more {
			return entries, "", nil
		}
		if len(entries) >= limit {
			return entries, pageToken(req, after), nil
		}
	}
}

// sweptWithin is how long a publication period that has ended may stay
// undecided before the server's hourly step marks it OVERDUE
// (ClosePublicationPeriods, which also runs at every start); the overdue
// view looks that far back by day, and at the OVERDUE state beyond.
const sweptWithin = 14

// publicationWindow is what a publication view reads of the queue: for
// due soon, the replies whose period ends on a day from asOf to its
// horizon; for overdue, those that ended in the last sweptWithin days and
// those marked OVERDUE. view.also then judges each exactly.
func (s *Server) publicationWindow(req *banliv1.ListLedgerEntriesRequest, asOf time.Time) []string {
	view := req.GetView()
	from, to := asOf, asOf
	if view == banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_DUE_SOON {
		to = s.dueSoonHorizon(asOf, req.GetWithinWorkingDays())
	} else {
		from = asOf.AddDate(0, 0, -sweptWithin)
	}
	var terms []string
	for day := dateOf(from); !day.After(dateOf(to)); day = day.AddDate(0, 0, 1) {
		terms = append(terms, publicationDueTerm(day.Format(time.DateOnly)))
	}
	if view == banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_OVERDUE {
		terms = append(terms, publicationTerm(pubOverdue))
	}
	return terms
}

// viewStates narrows a view's part states to the one a request asks for:
// that state, if the view lists it (or lists every state); any is false
// when the view lists none of it.
func viewStates(view []banliv1.AssignmentState, asked banliv1.AssignmentState) (states []banliv1.AssignmentState, any bool) {
	switch {
	case asked == 0:
		return view, true
	case len(view) == 0 || slices.Contains(view, asked):
		return []banliv1.AssignmentState{asked}, true
	}
	return nil, false
}

// dueSoonHorizon is where a due-soon view stops looking: the end of the
// withinWorkingDays'th working day after asOf (0 means
// defaultDueSoonDays).
func (s *Server) dueSoonHorizon(asOf time.Time, withinWorkingDays int32) time.Time {
	days := defaultDueSoonDays
	if withinWorkingDays > 0 {
		days = int(withinWorkingDays)
	}
	return s.clock.workingDaysAfter(asOf, days, "now").GetDueTime().AsTime()
}

// publicationDueSoon: a reply in the publication queue, undecided, whose
// period ends between asOf and horizon.
func publicationDueSoon(_ *banliv1.Proposal, a *banliv1.Assignment, asOf, horizon time.Time) bool {
	r := queuedReply(a)
	if r == nil || r.GetDisclosureState() == pubOverdue {
		return false
	}
	due := r.GetDisclosureDeadline().GetDueTime().AsTime()
	return !asOf.After(due) && !due.After(horizon)
}

// publicationOverdue: a reply in the publication queue whose period had
// ended as of asOf (公开逾期).
func publicationOverdue(_ *banliv1.Proposal, a *banliv1.Assignment, asOf, _ time.Time) bool {
	r := queuedReply(a)
	return r != nil && (r.GetDisclosureState() == pubOverdue || asOf.After(r.GetDisclosureDeadline().GetDueTime().AsTime()))
}

// publicationEntry adds what the publication views show of a part's
// reply, and judges overdue by its publication deadline.
func publicationEntry(e *banliv1.LedgerEntry, r *banliv1.Reply, asOf time.Time) {
	e.Reply, e.DisclosureState, e.DisclosureDeadline = r.GetName(), r.GetDisclosureState(), r.GetDisclosureDeadline()
	e.Overdue = r.GetDisclosureState() == pubOverdue || asOf.After(r.GetDisclosureDeadline().GetDueTime().AsTime())
}

// notDelivered: the current reply has not reached every proposer (未送达).
func notDelivered(p *banliv1.Proposal, a *banliv1.Assignment, _, _ time.Time) bool {
	replies := a.GetReplies()
	return len(replies) > 0 && len(undelivered(p, replies[len(replies)-1])) > 0
}

// ratingsOverdue: the current reply's rating deadline has passed with
// ratings missing (评价未返回).
func ratingsOverdue(_ *banliv1.Proposal, a *banliv1.Assignment, asOf, _ time.Time) bool {
	replies := a.GetReplies()
	if len(replies) == 0 {
		return false
	}
	r := replies[len(replies)-1]
	d := r.GetRatingDeadline()
	return d != nil && asOf.After(d.GetDueTime().AsTime()) && int32(len(r.GetRatings())) < max(r.GetRatingsExpected(), 1)
}

// ledgerShows says whether a view lists assignment a of case p: a current
// part of a case being handled, of the unit asked about, in the view's
// states and role.
func ledgerShows(states []banliv1.AssignmentState, role banliv1.AssignmentRole, unit, handler string, p *banliv1.Proposal, a *banliv1.Assignment) bool {
	switch {
	case !isCurrent(a):
		return false
	case !slices.Contains(openStates, p.GetState()):
		return false
	case unit != "" && !partOf(a, unit):
		return false
	case handler != "" && a.GetHandler() != handler:
		return false
	case role != 0 && a.GetRole() != role:
		return false
	case len(states) > 0 && !slices.Contains(states, a.GetState()):
		return false
	}
	return true
}

// ledgerEntry is ledgerEntry with the names people know.
func (d *displayNames) ledgerEntry(p *banliv1.Proposal, a *banliv1.Assignment, asOf time.Time) *banliv1.LedgerEntry {
	e := ledgerEntry(p, a, asOf)
	e.SessionDisplayName, e.UnitDisplayName, e.DepartmentDisplayName = d.of(e.GetSession()), d.of(e.GetUnit()), d.of(e.GetDepartment())
	return e
}

func ledgerEntry(p *banliv1.Proposal, a *banliv1.Assignment, asOf time.Time) *banliv1.LedgerEntry {
	var last *banliv1.SupervisionActivity
	if acts := p.GetSupervisionActivities(); len(acts) > 0 {
		last = acts[len(acts)-1]
	}
	e := &banliv1.LedgerEntry{
		LastSupervision:   last,
		Proposal:          p.GetName(),
		Number:            p.GetNumber(),
		Title:             p.GetTitle(),
		Session:           p.GetSession(),
		Year:              p.GetYear(),
		ProposalState:     p.GetState(),
		Assignment:        a.GetName(),
		Unit:              a.GetUnit(),
		Role:              a.GetRole(),
		State:             a.GetState(),
		Department:        a.GetDepartment(),
		ResponsiblePerson: a.GetResponsiblePerson(),
		CurrentDeadline:   a.GetCurrentDeadline(),
		Key:               p.GetKey(),
		SupervisingLeader: p.GetSupervisingLeader(),
		KeyLeaders:        p.GetKeyLeaders(),
	}
	if d := a.GetCurrentDeadline(); d != nil {
		e.Overdue = asOf.After(d.GetDueTime().AsTime())
	}
	return e
}

// GetAttention reads the first page of every view for a unit.
func (s *Server) GetAttention(ctx context.Context, req *banliv1.GetAttentionRequest) (*banliv1.Attention, error) {
	v := &violations{}
	if req.GetUnit() != "" {
		v.unitID("unit", req.GetUnit())
	}
	if n := req.GetPerView(); n < 0 || n > 100 {
		v.add("per_view", "must be from 0 to 100")
	}
	if n := req.GetWithinWorkingDays(); n < 0 || n > 60 {
		v.add("within_working_days", "must be from 0 to 60")
	}
	for i, view := range req.GetViews() {
		v.enum(fmt.Sprintf("views[%d]", i), view, true)
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	now := s.now()
	per := pageSize(req.GetPerView(), 20)
	out := &banliv1.Attention{Unit: req.GetUnit(), AsOf: timestamppb.New(now)}
	views := []struct {
		view    banliv1.LedgerView
		entries *[]*banliv1.LedgerEntry
		more    *bool
	}{
		{banliv1.LedgerView_LEDGER_VIEW_DUE_SOON, &out.DueSoon, &out.MoreDueSoon},
		{banliv1.LedgerView_LEDGER_VIEW_OVERDUE, &out.Overdue, &out.MoreOverdue},
		{banliv1.LedgerView_LEDGER_VIEW_AWAITING_SIGN_IN, &out.AwaitingSignIn, &out.MoreAwaitingSignIn},
		{banliv1.LedgerView_LEDGER_VIEW_AWAITING_OPINION, &out.AwaitingOpinion, &out.MoreAwaitingOpinion},
		{banliv1.LedgerView_LEDGER_VIEW_REPLIED_NOT_RATED, &out.RepliedNotRated, &out.MoreRepliedNotRated},
		{banliv1.LedgerView_LEDGER_VIEW_RATED_UNSATISFIED, &out.RatedUnsatisfied, &out.MoreRatedUnsatisfied},
		{banliv1.LedgerView_LEDGER_VIEW_RATINGS_NOT_RETURNED, &out.RatingsNotReturned, &out.MoreRatingsNotReturned},
		{banliv1.LedgerView_LEDGER_VIEW_NOT_DELIVERED, &out.NotDelivered, &out.MoreNotDelivered},
		{banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_DUE_SOON, &out.PublicationDueSoon, &out.MorePublicationDueSoon},
		{banliv1.LedgerView_LEDGER_VIEW_PUBLICATION_OVERDUE, &out.PublicationOverdue, &out.MorePublicationOverdue},
	}
	c, _ := CallerFrom(ctx)
	err := s.store.View(func(r store.Reader) error {
		for _, view := range views {
			if asked := req.GetViews(); len(asked) > 0 && !slices.Contains(asked, view.view) {
				continue
			}
			req := &banliv1.ListLedgerEntriesRequest{View: view.view, Unit: req.GetUnit(), WithinWorkingDays: req.GetWithinWorkingDays(), AsOf: out.AsOf}
			entries, next, err := s.ledgerPage(r, c, req, per)
			if err != nil {
				return err
			}
			*view.entries, *view.more = entries, next != ""
		}
		var err error
		out.DueByUnit, err = s.dueByUnit(r, c, req, now)
		return err
	})
	return out, err
}

// dueByUnit counts the parts due soon and overdue as of now, by unit, from
// the due index alone: the whole count, however many parts there are,
// without reading a case.
func (s *Server) dueByUnit(r store.Reader, c *Caller, req *banliv1.GetAttentionRequest, now time.Time) ([]*banliv1.UnitDueCount, error) {
	reach, err := sessionsInReach(r, c)
	if err != nil {
		return nil, err
	}
	horizon := s.dueSoonHorizon(now, req.GetWithinWorkingDays()).Unix()
	counts := map[string]*banliv1.UnitDueCount{}
	count := func(d store.Due) bool {
		unit := req.GetUnit()
		if (unit != "" && d.Unit != unit && d.Department != unit) || (reach != nil && !slices.Contains(reach, d.Session)) {
			return false
		}
		n := counts[d.Unit]
		if n == nil {
			n = &banliv1.UnitDueCount{Unit: d.Unit}
			counts[d.Unit] = n
		}
		if d.At < now.Unix() {
			n.Overdue++
		} else {
			n.DueSoon++
		}
		return false // counted, not listed
	}
	if _, _, err := r.ListDue(math.MinInt64, horizon, nil, count, 1); err != nil {
		return nil, err
	}
	names := newDisplayNames(r)
	out := make([]*banliv1.UnitDueCount, 0, len(counts))
	for _, n := range counts {
		n.UnitDisplayName = names.of(n.GetUnit())
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b *banliv1.UnitDueCount) int {
		if a.GetOverdue() != b.GetOverdue() {
			return int(b.GetOverdue() - a.GetOverdue())
		}
		if a.GetDueSoon() != b.GetDueSoon() {
			return int(b.GetDueSoon() - a.GetDueSoon())
		}
		return strings.Compare(a.GetUnit(), b.GetUnit())
	})
	return out, nil
}
