package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"google.golang.org/protobuf/proto"
)

// This file defines the yearly figures (DOMAIN.md, "Statistics and the
// yearly evaluation"; the definitions are spelled out in
// proto/banli/v1/statistics.proto). Every case contributes counts to a few
// counter vectors: per unit and for the office ("*"), per year and
// session. A change stages the difference between the case's contribution
// before and after it, in the same transaction, so a query adds up a
// handful of vectors and never reads a case.

// officeScope is the scope of the whole office's counters.
const officeScope = "*"

// Positions in a counter vector. Append new ones at the end: stored
// vectors are positional.
const (
	cCases = iota
	cCasesNotFiled
	cCasesWithdrawn
	cCasesMerged
	cLead
	cSplit
	cCo
	cNPC
	cCPPCC
	cKey
	cCrossLead
	cCrossSplit
	cCrossCo
	cSigned
	cSignedOnTime
	cReplied
	cRepliedOnTime
	cOpinions
	cOpinionsOnTime
	cFaceToFace
	cDeclinedNoVisit
	cSatisfied
	cBasic
	cUnsatisfied
	cRehandled
	cCatA
	cCatB
	cCatC
	cCatD
	cPublished
	cWithheld
	// Cases by their current state (office scope), for monitoring: the
	// first of eight, in ProposalState order from RECEIVED.
	cStateReceived
)

// New counters go at the end, after the eight case states: a vector's
// positions are what the stored counters mean.
const (
	// The outcome of the first round's rated reply, however later rounds
	// went (statisticsVersion 3).
	cFirstSatisfied = cStateReceived + 8 + iota
	cFirstBasic
	cFirstUnsatisfied
	// Parts whose latest reply's rating period closed with ratings
	// missing, and the ratings missing (statisticsVersion 4).
	cUnreturnedParts
	cUnreturnedRatings
	// Parts whose latest reply's publication period ended with nothing
	// decided, and whose publication was withdrawn (statisticsVersion 6).
	cPubOverdue
	cPubWithdrawn
	numCounters
)

// contribution is what one case adds to each counter vector.
type contribution map[store.StatsKey][]int64

func (c contribution) add(key store.StatsKey, counters ...int) {
	v := c[key]
	if v == nil {
		v = make([]int64, numCounters)
		c[key] = v
	}
	for _, i := range counters {
		v[i]++
	}
}

// The scopes of the office's splits (GetStatisticsBreakdown): every case
// counts in the office's scope and again under each of its topics and
// under its first proposer's type.
const (
	topicScopePrefix        = "topic="
	proposerTypeScopePrefix = "proposer_type="
)

// wholeScopes are the scopes a case counts in whatever units handle it:
// the office's and its splits'.
func wholeScopes(p *banliv1.Proposal) []string {
	out := []string{officeScope}
	for _, t := range p.GetTopics() {
		out = append(out, topicScopePrefix+t)
	}
	if proposers := p.GetProposers(); len(proposers) > 0 {
		out = append(out, proposerTypeScopePrefix+strconv.Itoa(int(proposers[0].GetType())))
	}
	return out
}

// contributions computes what case p adds to the statistics.
func contributions(p *banliv1.Proposal) contribution {
	c := contribution{}
	whole := wholeScopes(p)
	addWhole := func(counters ...int) {
		for _, scope := range whole {
			c.add(store.StatsKey{Scope: scope, Year: p.GetYear(), Session: p.GetSession()}, counters...)
		}
	}
	addWhole(cCases, cStateReceived+int(p.GetState())-int(received))
	switch p.GetState() {
	case notFiled:
		addWhole(cCasesNotFiled)
		return c
	case withdrawn:
		addWhole(cCasesWithdrawn)
		return c
	case merged:
		addWhole(cCasesMerged)
		return c
	}
	for _, a := range p.GetAssignments() {
		if !isCurrent(a) {
			continue
		}
		counts := partCounters(p, a)
		for _, scope := range append(unitsOf(a), whole...) {
			c.add(store.StatsKey{Scope: scope, Year: p.GetYear(), Session: p.GetSession()}, counts...)
			for _, y := range carriedYears(a.GetFollowUp()) {
				cross := map[banliv1.AssignmentRole]int{lead: cCrossLead, split: cCrossSplit, coHandling: cCrossCo}[a.GetRole()]
				c.add(store.StatsKey{Scope: scope, Year: y, Session: p.GetSession()}, cross)
			}
		}
	}
	return c
}

// faceToFaceChannels are the consultations held in person.
var faceToFaceChannels = []banliv1.ConsultationChannel{
	banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT,
	banliv1.ConsultationChannel_CONSULTATION_CHANNEL_FORUM,
	banliv1.ConsultationChannel_CONSULTATION_CHANNEL_JOINT_RESEARCH,
}

// partCounters lists the counters one current part of a counted case adds
// to.
func partCounters(p *banliv1.Proposal, a *banliv1.Assignment) []int {
	var out []int
	out = append(out, map[banliv1.AssignmentRole]int{lead: cLead, split: cSplit, coHandling: cCo}[a.GetRole()])
	if p.GetKind() == banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION {
		out = append(out, cNPC)
	} else {
		out = append(out, cCPPCC)
	}
	if p.GetKey() {
		out = append(out, cKey)
	}
	if a.GetSignTime() != nil {
		out = append(out, cSigned)
		if !a.GetSignTime().AsTime().After(a.GetSignDeadline().GetDueTime().AsTime()) {
			out = append(out, cSignedOnTime)
		}
	}
	if a.GetRole() == coHandling {
		if o := a.GetOpinion(); o != nil {
			out = append(out, cOpinions)
			if o.GetOnTime() {
				out = append(out, cOpinionsOnTime)
			}
		}
		return out
	}
	replies := a.GetReplies()
	if len(replies) > 0 {
		out = append(out, cReplied)
		if replies[0].GetOnTime() {
			out = append(out, cRepliedOnTime)
		}
		latest := replies[len(replies)-1]
		out = append(out, map[banliv1.ReplyCategory]int{
			banliv1.ReplyCategory_REPLY_CATEGORY_A: cCatA, banliv1.ReplyCategory_REPLY_CATEGORY_B: cCatB,
			banliv1.ReplyCategory_REPLY_CATEGORY_C: cCatC, banliv1.ReplyCategory_REPLY_CATEGORY_D: cCatD,
		}[latest.GetCategory()])
		switch latest.GetDisclosureState() {
		case published:
			out = append(out, cPublished)
		case withheld:
			out = append(out, cWithheld)
		case pubOverdue:
			out = append(out, cPubOverdue)
		case pubWithdrawn:
			out = append(out, cPubWithdrawn)
		}
	}
	met, declined := false, false
	for _, c := range a.GetConsultations() {
		met = met || slices.Contains(faceToFaceChannels, c.GetChannel())
		declined = declined || c.GetDeclinedVisit()
	}
	if met {
		out = append(out, cFaceToFace)
	} else if declined {
		out = append(out, cDeclinedNoVisit)
	}
	if outcome, ok := ratingOutcome(replies); ok {
		out = append(out, outcome)
	}
	if len(replies) > 0 {
		if closed := replies[len(replies)-1].GetRatingPeriodClose(); closed != nil {
			out = append(out, cUnreturnedParts)
			for range closed.GetRatingsNotReturned() {
				out = append(out, cUnreturnedRatings)
			}
		}
	}
	if len(replies) > 0 {
		if outcome, ok := ratingOutcome(replies[:1]); ok {
			out = append(out, map[int]int{cSatisfied: cFirstSatisfied, cBasic: cFirstBasic, cUnsatisfied: cFirstUnsatisfied}[outcome])
		}
	}
	if a.GetRound() > 1 {
		out = append(out, cRehandled)
	}
	return out
}

// ratingOutcome is the outcome of the latest rated reply: unsatisfied if
// any rating of it is, else basically satisfied if any is, else satisfied.
// A reply whose rating period closed counts its missing ratings as the
// session said then: as satisfied, or not at all (and with none returned,
// the part has no outcome, whatever earlier rounds had).
func ratingOutcome(replies []*banliv1.Reply) (int, bool) {
	for i := len(replies) - 1; i >= 0; i-- {
		ratings := replies[i].GetRatings()
		closed := replies[i].GetRatingPeriodClose()
		if len(ratings) == 0 && closed != nil {
			return cSatisfied, closed.GetCountedAs() == banliv1.UnreturnedRatings_UNRETURNED_RATINGS_SATISFIED
		}
		if len(ratings) == 0 {
			continue
		}
		outcome := cSatisfied
		for _, r := range ratings {
			switch r.GetSatisfaction() {
			case banliv1.Satisfaction_SATISFACTION_UNSATISFIED:
				return cUnsatisfied, true
			case banliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED:
				outcome = cBasic
			}
		}
		return outcome, true
	}
	return 0, false
}

// stageProposal stages a case with its event and the change it makes to
// the statistics (after less before; before is nil for a new case). Every
// write of a case goes through here, so the counters cannot drift.
func stageProposal(tx store.Tx, id uint64, before contribution, p *banliv1.Proposal, ev *banliv1.Event) {
	stageCounters(tx, before, p)
	tx.PutProposal(id, p, ev)
}

// stageCounters stages the change case p makes to the statistics, from
// its contribution before (nil for a new case).
func stageCounters(tx store.Tx, before contribution, p *banliv1.Proposal) {
	after := contributions(p)
	for key, vec := range after {
		delta := slices.Clone(vec)
		for i, n := range before[key] {
			delta[i] -= n
		}
		if !allZero(delta) {
			tx.AddCounters(key, delta)
		}
	}
	for key, vec := range before {
		if _, kept := after[key]; !kept {
			delta := make([]int64, len(vec))
			for i, n := range vec {
				delta[i] = -n
			}
			tx.AddCounters(key, delta)
		}
	}
}

func allZero(v []int64) bool {
	for _, n := range v {
		if n != 0 {
			return false
		}
	}
	return true
}

func rate(num, den int64) *banliv1.Rate {
	r := &banliv1.Rate{Numerator: num, Denominator: den}
	if den > 0 {
		r.Rate = float64(num) / float64(den)
	}
	return r
}

// statistics turns a counter vector into the API's figures: a unit's
// (ofUnit), or the office's (or a split's), whose cases and parts differ.
func statistics(v []int64, ofUnit bool) *banliv1.Statistics {
	if len(v) < numCounters {
		v = append(v, make([]int64, numCounters-len(v))...)
	}
	replying := v[cLead] + v[cSplit]
	rated := v[cSatisfied] + v[cBasic] + v[cUnsatisfied]
	handled := v[cCases] - v[cCasesNotFiled] - v[cCasesWithdrawn] - v[cCasesMerged]
	if ofUnit {
		handled = v[cLead] + v[cSplit] + v[cCo] // one part of a case per unit
	}
	return &banliv1.Statistics{
		HandledCases: handled,
		Cases:        v[cCases], CasesNotFiled: v[cCasesNotFiled], CasesWithdrawn: v[cCasesWithdrawn], CasesMerged: v[cCasesMerged],
		LeadParts: v[cLead], SplitParts: v[cSplit], CoHandlingParts: v[cCo],
		NpcSuggestionParts: v[cNPC], CppccProposalParts: v[cCPPCC], KeyParts: v[cKey],
		CrossYearLeadParts: v[cCrossLead], CrossYearSplitParts: v[cCrossSplit], CrossYearCoHandlingParts: v[cCrossCo],
		OnTimeSignIn:           rate(v[cSignedOnTime], v[cSigned]),
		OnTimeReply:            rate(v[cRepliedOnTime], v[cReplied]),
		OnTimeOpinion:          rate(v[cOpinionsOnTime], v[cOpinions]),
		Reply:                  rate(v[cReplied], replying),
		FaceToFace:             rate(v[cFaceToFace], replying-v[cDeclinedNoVisit]),
		Satisfied:              v[cSatisfied],
		BasicallySatisfied:     v[cBasic],
		Unsatisfied:            v[cUnsatisfied],
		Rehandled:              v[cRehandled],
		Satisfaction:           rate(v[cSatisfied]+v[cBasic], rated),
		FirstRoundSatisfaction: rate(v[cFirstSatisfied]+v[cFirstBasic], v[cFirstSatisfied]+v[cFirstBasic]+v[cFirstUnsatisfied]),
		CategoryA:              v[cCatA], CategoryB: v[cCatB], CategoryC: v[cCatC], CategoryD: v[cCatD],
		Disclosure:           rate(v[cPublished], v[cPublished]+v[cPubOverdue]+v[cPubWithdrawn]),
		Published:            v[cPublished],
		Withheld:             v[cWithheld],
		PublicationOverdue:   v[cPubOverdue],
		PublicationWithdrawn: v[cPubWithdrawn],

		PartsWithRatingsNotReturned: v[cUnreturnedParts],
		RatingsNotReturned:          v[cUnreturnedRatings],
		CasesByState:                casesByState(v),
	}
}

// casesByState reads the state counters of a vector: the states with
// cases, in state order.
func casesByState(v []int64) []*banliv1.CaseStateCount {
	var out []*banliv1.CaseStateCount
	for i := range 8 {
		if n := v[cStateReceived+i]; n != 0 {
			out = append(out, &banliv1.CaseStateCount{State: banliv1.ProposalState(int(received) + i), Cases: n})
		}
	}
	return out
}

// figureScope is what a figures request counts: the cases of one session,
// or of a year (all its sessions, or one body's).
type figureScope struct {
	session string
	// sessionTitle is the session's display name, for a summary's title.
	sessionTitle string
	year         int32
	body         banliv1.Body
	// sessions, for a body, are its sessions of the year.
	sessions []string
}

// validateScope checks a request's unit, session, year and body.
func validateScope(v *violations, unit, session string, year int32, body banliv1.Body) {
	if unit != "" {
		v.unitID("unit", unit)
	}
	v.enum("body", body, false)
	switch {
	case session != "":
		v.sessionID("session", session)
		if year != 0 {
			v.add("year", "give a session or a year, not both")
		}
		if body != 0 {
			v.add("body", "give a body with a year: a session is of one body already")
		}
	case year < 1949 || year > 2200:
		v.add("year", "required without a session: a year from 1949 to 2200")
	}
}

// resolveScope reads what a scope needs: a session's year; a body's
// sessions of the year, or those c acts on (sessionsInReach).
func resolveScope(r store.Reader, c *Caller, session string, year int32, body banliv1.Body) (figureScope, error) {
	out := figureScope{session: session, year: year, body: body}
	if session != "" {
		sess, err := r.Session(idOf(session, sessionsCollection))
		if err != nil {
			return out, notFoundOr(err, session, "session")
		}
		out.year, out.sessionTitle = sess.GetYear(), sess.GetDisplayName()
		return out, nil
	}
	if body != 0 || c.bodyBound() {
		out.sessions = []string{}
		err := eachSession(r, func(sess *banliv1.Session) bool {
			if sess.GetYear() == year && (body == 0 || sess.GetBody() == body) && c.reachesSession(sess) {
				out.sessions = append(out.sessions, sess.GetName())
			}
			return false
		})
		return out, err
	}
	return out, nil
}

// counters adds up what scope (a unit, the office, a split's value) has
// counted in the figure scope.
func (f figureScope) counters(r store.Reader, scope string) ([]int64, error) {
	switch {
	case f.session != "":
		return r.Counters(store.StatsKey{Scope: scope, Year: f.year, Session: f.session})
	case f.sessions != nil:
		var sum []int64
		for _, sess := range f.sessions {
			v, err := r.Counters(store.StatsKey{Scope: scope, Year: f.year, Session: sess})
			if err != nil {
				return nil, err
			}
			sum = addCounters(sum, v)
		}
		return sum, nil
	}
	return r.SumCounters(scope, f.year)
}

// holds reports whether a counter key falls in the figure scope.
func (f figureScope) holds(key store.StatsKey) bool {
	switch {
	case key.Year != f.year:
		return false
	case f.session != "":
		return key.Session == f.session
	case f.sessions != nil:
		return slices.Contains(f.sessions, key.Session)
	}
	return true
}

// figures turns a scope's counters into the API's figures.
func (f figureScope) figures(v []int64, unit string) *banliv1.Statistics {
	st := statistics(v, unit != "")
	st.Unit, st.Session, st.Year, st.Body = unit, f.session, f.year, f.body
	return st
}

// addCounters adds v to sum, position by position, and returns the sum.
func addCounters(sum, v []int64) []int64 {
	if len(sum) < len(v) {
		sum = append(sum, make([]int64, len(v)-len(sum))...)
	}
	for i, n := range v {
		sum[i] += n
	}
	return sum
}

// GetStatistics returns the figures of a unit or the office, for a session
// or a year.
func (s *Server) GetStatistics(ctx context.Context, req *banliv1.GetStatisticsRequest) (*banliv1.Statistics, error) {
	v := &violations{}
	validateScope(v, req.GetUnit(), req.GetSession(), req.GetYear(), req.GetBody())
	if err := v.err(); err != nil {
		return nil, err
	}
	var out *banliv1.Statistics
	err := s.store.View(func(r store.Reader) error {
		var err error
		c, _ := CallerFrom(ctx)
		out, err = readStatistics(r, c, req.GetUnit(), req.GetSession(), req.GetYear(), req.GetBody(), req.GetIncludePredecessors())
		return err
	})
	return out, err
}

// readStatistics reads the figures of a unit (or the office, for "") in a
// scope, with its predecessors' if asked.
func readStatistics(r store.Reader, c *Caller, unit, session string, year int32, body banliv1.Body, predecessors bool) (*banliv1.Statistics, error) {
	f, err := resolveScope(r, c, session, year, body)
	if err != nil {
		return nil, err
	}
	return f.unitFigures(r, unit, predecessors)
}

func (f figureScope) unitFigures(r store.Reader, unit string, predecessors bool) (*banliv1.Statistics, error) {
	scope := unit
	if scope == "" {
		scope = officeScope
	}
	total, err := f.counters(r, scope)
	if err != nil || !predecessors || unit == "" {
		return f.figures(total, unit), err
	}
	total, err = f.withPredecessors(r, unit, total)
	return f.figures(total, unit), err
}

// withPredecessors adds to a unit's counters those of the units merged into
// it, and of theirs; rates are then computed from the sums.
func (f figureScope) withPredecessors(r store.Reader, unit string, total []int64) ([]int64, error) {
	seen := map[string]bool{unit: true}
	queue := []string{unit}
	for len(queue) > 0 && len(seen) < 1000 {
		u, err := r.Unit(idOf(queue[0], unitsCollection))
		queue = queue[1:]
		if err != nil {
			return nil, notFoundOr(err, unit, "unit")
		}
		for _, p := range u.GetPredecessors() {
			if seen[p] {
				continue
			}
			seen[p] = true
			queue = append(queue, p)
			v, err := f.counters(r, p)
			if err != nil {
				return nil, err
			}
			total = addCounters(total, v)
		}
	}
	return total, nil
}

// statisticsVersion names what contributions counts. Change it whenever
// contributions changes what it returns: a server that opens data counted
// under another version recounts every case first (recountStatistics).
const statisticsVersion = 7

// versionStatistics is the name statisticsVersion is recorded under.
const versionStatistics = "statistics"

// recountStatistics brings the stored counters to what contributions says
// of every case, if they were counted under another version. It writes no
// event: the counters are derived from the cases, which do not change.
func recountStatistics(ctx context.Context, b store.Backend) error {
	var counted int
	if err := b.View(func(r store.Reader) (err error) { counted, err = r.Version(versionStatistics); return err }); err != nil || counted == statisticsVersion {
		return err // most starts: nothing to recount, and no write
	}
	_, err := b.Write(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
		if v, err := tx.Version(versionStatistics); err != nil || v == statisticsVersion {
			return nil, err
		}
		want, err := recount(tx)
		if err != nil {
			return nil, err
		}
		err = tx.ForEachCounters(func(key store.StatsKey, got []int64) error {
			exp := want[key]
			if exp == nil {
				exp = make([]int64, numCounters)
			}
			delta := make([]int64, max(len(got), numCounters))
			for i := range delta {
				if i < len(exp) {
					delta[i] = exp[i]
				}
				if i < len(got) {
					delta[i] -= got[i]
				}
			}
			if !allZero(delta) {
				tx.AddCounters(key, delta)
			}
			delete(want, key)
			return nil
		})
		if err != nil {
			return nil, err
		}
		for key, vec := range want {
			if !allZero(vec) {
				tx.AddCounters(key, vec)
			}
		}
		tx.SetVersion(versionStatistics, statisticsVersion)
		return nil, nil
	})
	return err
}

// recount adds up what every case contributes.
func recount(r store.Reader) (contribution, error) {
	want := contribution{}
	err := r.ForEachProposal(func(p *banliv1.Proposal) error {
		for key, vec := range contributions(p) {
			sum := want[key]
			if sum == nil {
				sum = make([]int64, numCounters)
				want[key] = sum
			}
			for i, n := range vec {
				sum[i] += n
			}
		}
		return nil
	})
	return want, err
}

// CheckStatistics recounts every case and compares the result with the
// stored counters, naming the first difference. It reads everything: a
// test and repair tool, not a request path. Counters kept under another
// statisticsVersion are not compared: a server recounts them when it
// opens the data.
func CheckStatistics(r store.Reader) error {
	if v, err := r.Version(versionStatistics); err != nil || v != statisticsVersion {
		return err
	}
	want, err := recount(r)
	if err != nil {
		return err
	}
	err = r.ForEachCounters(func(key store.StatsKey, got []int64) error {
		exp := want[key]
		if exp == nil {
			exp = make([]int64, numCounters)
		}
		got = append(got, make([]int64, max(0, numCounters-len(got)))...)
		if !slices.Equal(got[:numCounters], exp) {
			return fmt.Errorf("counters of %+v: stored %v, recounted %v", key, got, exp)
		}
		delete(want, key)
		return nil
	})
	if err != nil {
		return err
	}
	for key, vec := range want {
		if !allZero(vec) {
			return fmt.Errorf("counters of %+v: none stored, recounted %v", key, vec)
		}
	}
	return nil
}

// CasesByState counts every case by its current state, from the counters.
func (s *Server) CasesByState() (map[string]int64, error) {
	out := map[string]int64{}
	err := s.store.View(func(r store.Reader) error {
		v, err := r.SumScope(officeScope)
		if err != nil {
			return err
		}
		v = append(v, make([]int64, max(0, numCounters-len(v)))...)
		for i := range 8 {
			out[stateName(banliv1.ProposalState(int(received)+i))] = 0
		}
		for _, c := range casesByState(v) {
			out[stateName(c.GetState())] = c.GetCases()
		}
		return nil
	})
	return out, err
}

// OverdueParts counts the parts whose current deadline has passed.
func (s *Server) OverdueParts() (int64, error) {
	var n int64
	err := s.store.View(func(r store.Reader) error {
		var err error
		n, err = r.CountDue(s.now().Unix())
		return err
	})
	return n, err
}
