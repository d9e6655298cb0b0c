package service

import (
	"errors"
	"slices"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// What each caller reads of the event history (ListEvents, WatchEvents):
// the access table says who may call them; eventScope says which events,
// and how much of each, the caller reads. ListProposalEvents, one case's
// history, goes through the same scope.

// proposerSight is what a proposer (a submission platform, for the
// deputy or member it serves) sees of a step taken on its case.
type proposerSight int

const (
	// notShown: an internal matter of the office or the units.
	notShown proposerSight = iota
	// shown: the event, with its case as the proposer reads it.
	shown
	// outcomeOnly: the event without its details and changes, which
	// carry the reasons (why the unit changed, why a deadline moved).
	outcomeOnly
)

// proposerSights is the redaction table of events: for every action an
// event records, what a proposer sees of it. Reference data and accounts
// are never a proposer's to see; they are listed so that the table is
// whole (TestEveryActionHasAProposerSight).
var proposerSights = map[string]proposerSight{
	// The case's own road, which the deputy follows.
	"CreateProposal": shown, "ImportProposal": shown, "UpdateProposal": shown, "AssignProposal": shown,
	"RefuseFiling": shown, "WithdrawProposal": shown, "MergeProposals": shown, "MergeProposals (as a source)": shown,
	"RemoveAssignment": shown, "ChangeAssignmentRole": shown, "MergeUnit (the part moves to the successor)": shown,
	"SignAssignment": shown, "RecordConsultation": shown, "SubmitReply": shown, "RecordDelivery": shown,
	"CorrectReplyCategory":                         shown,
	"RateReply (satisfied or basically satisfied)": shown, "RateReply (unsatisfied)": shown,
	"RateReply (more ratings due)": shown, "RateReply (unsatisfied, to the office)": shown,
	"CloseRatingPeriod (ratings not returned)": shown,
	"DecideUnsatisfied (re-handle)":            shown, "DecideUnsatisfied (explain and close)": shown,
	"ReportFollowUp": shown, "ReportFollowUp (final reply)": shown, "CloseFollowUp": shown,
	"CarryOverFollowUp (a new year)": shown,
	// Publication, as the public sees it.
	"PublishReply": shown, "ReviewPublication (approve)": shown, "CorrectPublication": shown, "WithdrawPublication": shown,
	// Shown, but not why: the unit changed, the deadline moved, the reply
	// was withheld or accepted by the office.
	"DecideReassignment (approve)": outcomeOnly, "DecideExtension (approve)": outcomeOnly,
	"WithholdReply": outcomeOnly, "ReviewReply (accept)": outcomeOnly,
	// Internal matters: reminders, requests to change the unit, co-handling
	// opinions, drafts and their reviews, the office's review, supervision,
	// working files, extensions asked for or refused, the publication
	// queue, and the server's own bookkeeping.
	"RecordReminder": notShown, "NoticeOverdue": notShown, "RequestReassignment": notShown, "DecideReassignment (refuse)": notShown,
	"SubmitOpinion": notShown, "SaveReplyDraft": notShown, "ReturnReplyDraft": notShown, "CountersignReply": notShown,
	"RecordCollectiveReview": notShown, "SubmitReply (to the office's review)": notShown,
	"ReviewReply (return for re-handling)": notShown, "RecordSupervision": notShown, "MarkKey": notShown,
	"UploadFile": notShown, "DelegateAssignment": notShown, "RequestExtension": notShown, "DecideExtension (refuse)": notShown,
	"PublishReply (to the office's approval)": notShown, "ReviewPublication (return)": notShown,
	"ClosePublicationPeriod (not published in time)":                                        notShown,
	"a new round (RateReply unsatisfied, DecideUnsatisfied re-handle) supersedes the reply": notShown,
	"RecomputeDeadlines": notShown, "RecomputeDeadlines (queued)": notShown,
	// Not cases at all.
	"CreateSession": notShown, "UpdateSession": notShown, "CreateUnit": notShown, "UpdateUnit": notShown,
	"DeactivateUnit": notShown, "MergeUnit": notShown, "MergeUnit (the successor)": notShown,
	"MergeUnit (the department moves)": notShown, "MergeUnit (the account)": notShown, "CreateLeader": notShown,
	"UpdateLeader": notShown, "LoadCalendarYear": notShown, "LoadRegionalCalendar": notShown,
	"SaveScoringPolicy": notShown, "CreateAccount": notShown, "RotateAccountKey": notShown, "DisableAccount": notShown,
	"EnableAccount": notShown, "BootstrapAdmin": notShown, "CreateWebhook": notShown, "UpdateWebhook": notShown,
	"DeleteWebhook": notShown, "RotateWebhookSecret": notShown,
}

// eventFilter is what a caller asks of the history: the filters of
// ListEvents and WatchEvents.
type eventFilter struct {
	actions                 []string
	session, unit, proposal string
}

func (f eventFilter) narrowsToCases() bool {
	return f.session != "" || f.unit != "" || f.proposal != ""
}

// eventScope reads events as one caller may read them, in one read
// transaction: each case is read once, as it is now, for the filters and
// the caller's reach.
type eventScope struct {
	r      store.Reader
	c      *Caller
	filter eventFilter
	reach  []string // sessionsInReach
	cases  map[uint64]*banliv1.Proposal
}

func newEventScope(r store.Reader, c *Caller, f eventFilter) (*eventScope, error) {
	reach, err := sessionsInReach(r, c)
	return &eventScope{r: r, c: c, filter: f, reach: reach, cases: map[uint64]*banliv1.Proposal{}}, err
}

// readsWholeHistory reports whether c reads every event as stored: the
// admin, and a standby, which rebuilds the service from them.
func readsWholeHistory(c *Caller) bool { return c == nil || c.Role == admin || c.Role == standby }

// show is ev as the scope's caller may read it, or nil if it may not, or
// if the filters leave it out.
func (s *eventScope) show(ev *banliv1.Event) (*banliv1.Event, error) {
	if len(s.filter.actions) > 0 && !slices.Contains(s.filter.actions, ev.GetAction()) {
		return nil, nil
	}
	ids, isCase := parseNamePrefix(ev.GetResource())
	if !isCase {
		// Reference data (and accounts and webhooks, which are the
		// admin's): no case filter matches them, and no confined caller
		// reads them here.
		switch {
		case s.filter.narrowsToCases():
			return nil, nil
		case readsWholeHistory(s.c):
			return ev, nil
		case s.c.Role == office && ev.GetAccount() == nil && ev.GetWebhook() == nil:
			return ev, nil
		}
		return nil, nil
	}
	if !s.filter.narrowsToCases() && (readsWholeHistory(s.c) || s.c.Role == office && s.reach == nil) {
		return ev, nil // every case's events, unfiltered: no need to read the case
	}
	p, err := s.caseOf(ids[0])
	if err != nil || p == nil {
		return nil, err
	}
	if !s.matches(ev, p) {
		return nil, nil
	}
	switch {
	case readsWholeHistory(s.c):
		return ev, nil
	case s.c.Role == office:
		if s.reach != nil && !slices.Contains(s.reach, p.GetSession()) {
			return nil, nil
		}
		return ev, nil
	case !mayRead(s.r, s.c, p):
		return nil, nil
	case s.c.Role == proposer:
		return asProposerSees(s.c, ev), nil
	}
	return ev, nil
}

// withoutSecrets is ev without the keys that travel in the history so
// that a standby can take over (an account's key hash, a webhook's
// secrets): as a webhook posts it. The admin and a standby read them in
// the history (a standby may follow with an admin's key); they never
// leave the server in a delivery.
func withoutSecrets(ev *banliv1.Event) *banliv1.Event {
	if ev.GetAccount() == nil && ev.GetWebhook() == nil {
		return ev
	}
	out := proto.Clone(ev).(*banliv1.Event)
	if a := out.GetAccount(); a != nil {
		a.KeySha256 = nil
	}
	if w := out.GetWebhook(); w != nil {
		w.Secret, w.PreviousSecret, w.PreviousSecretExpireTime = nil, nil, nil
	}
	return out
}

// matches applies the case filters to an event of case p.
func (s *eventScope) matches(ev *banliv1.Event, p *banliv1.Proposal) bool {
	f := s.filter
	switch {
	case f.proposal != "" && ev.GetResource() != f.proposal:
		return false
	case f.session != "" && p.GetSession() != f.session:
		return false
	case f.unit != "":
		return slices.ContainsFunc(p.GetAssignments(), func(a *banliv1.Assignment) bool { return isCurrent(a) && partOf(a, f.unit) })
	}
	return true
}

// caseOf is case id as it is now (nil if there is none: a case is never
// deleted, so only a damaged store lacks one).
func (s *eventScope) caseOf(id uint64) (*banliv1.Proposal, error) {
	if p, ok := s.cases[id]; ok {
		return p, nil
	}
	p, err := s.r.Proposal(id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	s.cases[id] = p
	return p, nil
}

// asProposerSees is ev as a proposer reads it (proposerSights): nil for
// an internal matter; otherwise a copy with the case narrowed as the
// proposer reads it (unseen), without the request id of someone else's
// call, and, for an outcome only, without its details and changes. The
// actor is named only when it is the proposer itself: the officials'
// accounts are the office's business; the description names the unit.
func asProposerSees(c *Caller, ev *banliv1.Event) *banliv1.Event {
	sight := proposerSights[ev.GetAction()]
	if sight == notShown {
		return nil
	}
	out := proto.Clone(ev).(*banliv1.Event)
	if p := out.GetProposal(); p != nil {
		unseen(c).Clear(p.ProtoReflect())
	}
	if out.GetActor() != c.Account {
		out.Actor, out.RequestId = "", ""
	}
	if sight == outcomeOnly {
		out.Details, out.Changes = "", nil
	}
	return out
}
