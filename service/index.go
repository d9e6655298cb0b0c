package service

import (
	"strconv"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// ProposalIndex declares what each case is found under: the index terms
// that every list filters on and the due entries the ledger walks. It is
// the one place that decides it; a backend is opened with it
// (store.Index) and keeps the entries in step with every write, and
// caseFilter.query spells its terms the same way.
//
// Changing a term's spelling changes what is stored: it needs a schema
// version and a migration that rebuilds the index.
var ProposalIndex = store.Index{Version: 8, Terms: proposalTerms, Due: dueEntries}

// The terms, as "field=value".
func sessionTerm(session string) string { return "session=" + session }
func stateTerm(s banliv1.ProposalState) string {
	return "state=" + strconv.Itoa(int(s))
}
func submitterTerm(account string) string { return "submitter=" + account }
func leaderTerm(leader string) string     { return "leader=" + leader }
func topicTerm(topic string) string       { return "topic=" + topic }
func carriedTerm(year int32) string       { return "carried=" + strconv.Itoa(int(year)) }
func unitTerm(unit string) string         { return "unit=" + unit }
func handlerTerm(account string) string   { return "handler=" + account }
func fileTerm(sha256 string) string       { return "file=" + sha256 }

// publicationDueTerm lists the cases with a reply in the publication queue
// whose period ends on this day (YYYY-MM-DD), so that the publication
// views read the few cases due in their window, not the whole queue.
func publicationDueTerm(date string) string { return "publication_due=" + date }

// publishedTerm lists the cases with a published reply (the public feed).
var publishedTerm = publicationTerm(published)

// publicationTerm lists the cases with a reply in the publication queue
// (queuedReply) in this disclosure state.
func publicationTerm(s banliv1.DisclosureState) string {
	return "publication=" + strconv.Itoa(int(s))
}
func keyLeaderTerm(leader string) string { return "key_leader=" + leader }
func roleTerm(r banliv1.AssignmentRole) string {
	return "role=" + strconv.Itoa(int(r))
}
func unitRoleTerm(unit string, r banliv1.AssignmentRole) string {
	return "unit_role=" + unit + "|" + strconv.Itoa(int(r))
}
func partStateTerm(s banliv1.AssignmentState) string {
	return "astate=" + strconv.Itoa(int(s))
}
func unitPartStateTerm(unit string, s banliv1.AssignmentState) string {
	return "unit_astate=" + unit + "|" + strconv.Itoa(int(s))
}

// keyTerm marks key cases. Only key cases are listed under it: "not key"
// is asked as NoneOf, which saves a posting entry on nearly every case.
const keyTerm = "key=true"

// provisionalTerm lists the cases with a deadline computed without the
// official calendar of a year it spans, to recompute when it is loaded.
const provisionalTerm = "deadline=provisional"

func proposalTerms(p *banliv1.Proposal) []string {
	terms := []string{sessionTerm(p.GetSession()), stateTerm(p.GetState())}
	for _, account := range submitters(p) {
		terms = append(terms, submitterTerm(account))
	}
	if p.GetKey() {
		terms = append(terms, keyTerm, leaderTerm(p.GetSupervisingLeader()))
		for _, l := range p.GetKeyLeaders() {
			terms = append(terms, keyLeaderTerm(l.GetLeader()))
		}
	}
	for _, f := range p.GetFiles() {
		terms = append(terms, fileTerm(f.GetSha256()))
	}
	provisional := false
	for _, a := range p.GetAssignments() {
		for _, d := range []*banliv1.Deadline{a.GetSignDeadline(), a.GetReassignmentDeadline(), a.GetResponseDeadline()} {
			provisional = provisional || d.GetProvisional()
		}
		for _, r := range a.GetReplies() {
			provisional = provisional || r.GetDisclosureDeadline().GetProvisional()
			if r.GetDisclosureState() == published {
				terms = append(terms, publishedTerm) // the public feed's, whatever became of the part since
			}
		}
		if !isCurrent(a) {
			continue // the case is no longer that unit's
		}
		for _, y := range carriedYears(a.GetFollowUp()) {
			terms = append(terms, carriedTerm(y))
		}
		terms = append(terms, roleTerm(a.GetRole()), partStateTerm(a.GetState()))
		for _, unit := range unitsOf(a) {
			terms = append(terms, unitTerm(unit), unitRoleTerm(unit, a.GetRole()), unitPartStateTerm(unit, a.GetState()))
		}
		if h := a.GetHandler(); h != "" {
			terms = append(terms, handlerTerm(h))
		}
		if r := queuedReply(a); r != nil { // a backend keeps each term once
			terms = append(terms, publicationTerm(r.GetDisclosureState()), publicationDueTerm(r.GetDisclosureDeadline().GetDueDate()))
		}
	}
	if provisional {
		terms = append(terms, provisionalTerm)
	}
	for _, t := range p.GetTopics() {
		terms = append(terms, topicTerm(t))
	}
	return terms
}

// dueEntries lists one entry per part with a current deadline.
func dueEntries(p *banliv1.Proposal) []store.Due {
	var out []store.Due
	for n, a := range p.GetAssignments() {
		d := a.GetCurrentDeadline()
		if d == nil {
			continue
		}
		out = append(out, store.Due{At: d.GetDueTime().GetSeconds(), Assignment: n + 1, Unit: a.GetUnit(), Session: p.GetSession(),
			Department: a.GetDepartment(), Handler: a.GetHandler()})
	}
	return out
}

// caseFilter is what a list asks of cases; zero fields match everything.
type caseFilter struct {
	// sessions, if not nil, keeps cases of any of these sessions; an
	// empty, non-nil slice matches nothing. A case's kind and year follow
	// from its session, so those filters become a set of sessions instead
	// of terms of their own.
	sessions []string
	state    banliv1.ProposalState
	unit     string // current parts only
	role     banliv1.AssignmentRole
	key      *bool
	topic    string
	// submitter keeps cases submitted by this account.
	submitter string
	// handler keeps cases with a current part handled by this account.
	handler string
	// partStates keeps cases with a current part in any of these states
	// (of unit, if set).
	partStates []banliv1.AssignmentState
	// leader keeps key cases supervised by this leader, named as text.
	leader string
	// keyLeader keeps key cases with this leader (a record's name).
	keyLeader string
	// provisional keeps cases with a provisional deadline.
	provisional bool
	// publication keeps cases with a reply in the publication queue in
	// any of these disclosure states.
	publication []banliv1.DisclosureState
	// publicationWindow, if not nil, keeps cases under any of these terms
	// (publicationDueTerm of the days of a window, publicationTerm).
	publicationWindow []string
	// reach, if not nil, keeps cases of these sessions only, whatever the
	// other filters say: the sessions the caller acts on (sessionsInReach).
	reach []string
	// carriedYear, with sessions, also keeps cases with a part carried
	// over into this year (跨年度), whatever their session.
	carriedYear int32
}

// query spells the filter in ProposalIndex's terms.
func (f caseFilter) query() store.Query {
	var q store.Query
	if f.sessions != nil {
		var any []string
		for _, s := range f.sessions {
			any = append(any, sessionTerm(s))
		}
		if f.carriedYear != 0 {
			any = append(any, carriedTerm(f.carriedYear))
		}
		q.And(any...)
	}
	if f.reach != nil {
		var any []string
		for _, s := range f.reach {
			any = append(any, sessionTerm(s))
		}
		q.And(any...)
	}
	if f.state != 0 {
		q.And(stateTerm(f.state))
	}
	if f.topic != "" {
		q.And(topicTerm(f.topic))
	}
	if f.submitter != "" {
		q.And(submitterTerm(f.submitter))
	}
	if f.handler != "" {
		q.And(handlerTerm(f.handler))
	}
	if len(f.partStates) > 0 {
		var any []string
		for _, st := range f.partStates {
			if f.unit != "" {
				any = append(any, unitPartStateTerm(f.unit, st))
			} else {
				any = append(any, partStateTerm(st))
			}
		}
		q.And(any...)
	}
	if len(f.publication) > 0 {
		var any []string
		for _, st := range f.publication {
			any = append(any, publicationTerm(st))
		}
		q.And(any...)
	}
	if f.publicationWindow != nil {
		q.And(f.publicationWindow...)
	}
	if f.leader != "" {
		q.And(leaderTerm(f.leader))
	}
	if f.keyLeader != "" {
		q.And(keyLeaderTerm(f.keyLeader))
	}
	if f.provisional {
		q.And(provisionalTerm)
	}
	switch {
	case f.unit != "" && f.role != 0:
		q.And(unitRoleTerm(f.unit, f.role))
	case f.unit != "":
		q.And(unitTerm(f.unit))
	case f.role != 0:
		q.And(roleTerm(f.role))
	}
	if f.key != nil {
		if *f.key {
			q.And(keyTerm)
		} else {
			q.NoneOf = append(q.NoneOf, keyTerm)
		}
	}
	return q
}

// eachMatching calls fn with every case q matches, in id order, a page at
// a time: for the server's own sweeps, not for requests (which page).
func eachMatching(r store.Reader, q store.Query, fn func(p *banliv1.Proposal)) error {
	for after := uint64(0); ; {
		page, more, err := r.ListProposals(q, after, 500)
		if err != nil {
			return err
		}
		for _, p := range page {
			fn(p)
		}
		if !more || len(page) == 0 {
			return nil
		}
		after = idOf(page[len(page)-1].GetName(), proposalsCollection)
	}
}

// eachSession calls fn with every session, oldest first, until fn says
// stop: sessions are few, and the server's checks read them whole.
func eachSession(r store.Reader, fn func(sess *banliv1.Session) (stop bool)) error {
	for after := uint64(0); ; {
		page, more, err := r.ListSessions(after, 1000)
		if err != nil {
			return err
		}
		for _, sess := range page {
			if fn(sess) {
				return nil
			}
		}
		if !more || len(page) == 0 {
			return nil
		}
		after = idOf(page[len(page)-1].GetName(), sessionsCollection)
	}
}
