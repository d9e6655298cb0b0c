package service

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Deadlines follow their rules. When a session's policy is amended, or a
// calendar year is loaded or corrected, every deadline its rules set is
// recomputed: the change records the work (Session.pending_recompute) in
// its own transaction, and RunRecomputes does it in batches, each batch
// one transaction that rewrites the cases it changes (each with its
// event) and moves the session's cursor on. A crash between batches loses
// nothing: the next run starts after the last batch that committed.

// recomputeCases is how many cases one transaction recomputes.
const recomputeCases = 500

// recomputing serializes RunRecomputes: the call that caused the work and
// the scheduled loop may both start it.
var recomputing sync.Mutex

// queueRecompute records in sess that its deadlines are to be recomputed,
// from the first case again if a recompute was under way.
func queueRecompute(sess *banliv1.Session, reason string, now time.Time) {
	job := sess.GetPendingRecompute()
	if job == nil {
		job = &banliv1.RecomputeJob{RequestTime: timestampOf(now)}
	}
	job.Reasons = append(job.Reasons, reason)
	job.AfterCase = 0
	sess.PendingRecompute = job
}

// deadlinePolicy are the policy fields that set deadlines: amending one
// recomputes the deadlines of the session's cases (recomputeDeadlines
// reads them).
var deadlinePolicy = []string{"sign_in_working_days", "reassignment_working_days", "opinion_months", "reply_months",
	"reply_max_months", "rereply_months", "disclosure_working_days", "rating_working_days", "reply_due_date", "reply_due_dates", "calendar_region"}

// queueDeadlineRecompute records, with an amendment of a deadline rule of
// a session that has cases, that their deadlines are to be recomputed.
func queueDeadlineRecompute(r store.Reader, sess *banliv1.Session, before *banliv1.SessionPolicy, now time.Time) error {
	after := sess.GetPolicy().ProtoReflect()
	var changed []string
	for _, name := range deadlinePolicy {
		fd := after.Descriptor().Fields().ByName(protoreflect.Name(name))
		if !after.Get(fd).Equal(before.ProtoReflect().Get(fd)) {
			changed = append(changed, "policy."+name)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	q := store.Query{}
	q.And(sessionTerm(sess.GetName()))
	cases, _, err := r.ListProposals(q, 0, 1)
	if err != nil || len(cases) == 0 {
		return err
	}
	queueRecompute(sess, strings.Join(changed, ", ")+" amended", now)
	return nil
}

// queueEverySession records a recompute on every session with cases that
// counts on the region's calendar, in tx: a calendar year may touch any
// case's deadlines (a later round's, a follow-up's), and sessions are few.
// region "" is the national schedule, which every session counts on.
func queueEverySession(ctx context.Context, tx store.Tx, now time.Time, region, reason string) error {
	var sessions []*banliv1.Session
	err := eachSession(tx, func(sess *banliv1.Session) bool {
		if region == "" || storedPolicy(sess.GetPolicy()).GetCalendarRegion() == region {
			sessions = append(sessions, sess)
		}
		return false
	})
	if err != nil {
		return err
	}
	for _, sess := range sessions {
		q := store.Query{}
		q.And(sessionTerm(sess.GetName()))
		cases, _, err := tx.ListProposals(q, 0, 1)
		if err != nil {
			return err
		}
		if len(cases) == 0 {
			continue
		}
		queueRecompute(sess, reason, now)
		sess.Etag = nextEtag(sess.GetEtag())
		tx.PutSession(idOf(sess.GetName(), sessionsCollection), sess, newEvent(ctx, timestampOf(now), "RecomputeDeadlines (queued)", "", "", "", reason))
	}
	return nil
}

// RunRecomputes does the recomputes the sessions record, batch by batch,
// and returns how many cases it changed. A standby does none: its cases
// come from the primary.
func (s *Server) RunRecomputes(ctx context.Context) (int, error) {
	if s.refuseOnStandby() != nil {
		return 0, nil
	}
	recomputing.Lock()
	defer recomputing.Unlock()
	var pending []uint64
	err := s.store.View(func(r store.Reader) error {
		return eachSession(r, func(sess *banliv1.Session) bool {
			if sess.GetPendingRecompute() != nil {
				pending = append(pending, idOf(sess.GetName(), sessionsCollection))
			}
			return false
		})
	})
	if err != nil {
		return 0, err
	}
	ctx = WithCaller(ctx, serverCaller)
	changed := 0
	for _, id := range pending {
		for {
			n, done, err := s.recomputeBatch(ctx, id)
			changed += n
			if err != nil {
				return changed, err
			}
			if done {
				break
			}
		}
	}
	return changed, nil
}

// recomputeBatch recomputes the next batch of a session's cases and moves
// its cursor on, in one transaction; done says the session has no more.
func (s *Server) recomputeBatch(ctx context.Context, sessionID uint64) (changed int, done bool, err error) {
	_, err = s.commit(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
		changed, done = 0, false
		now := s.now()
		sess, err := tx.Session(sessionID)
		if err != nil {
			return nil, err
		}
		job := sess.GetPendingRecompute()
		if job == nil {
			done = true
			return &banliv1.Session{}, nil
		}
		policy := storedPolicy(sess.GetPolicy())
		q := store.Query{}
		q.And(sessionTerm(sess.GetName()))
		page, more, err := tx.ListProposals(q, job.GetAfterCase(), recomputeCases)
		if err != nil {
			return nil, err
		}
		why := strings.Join(job.GetReasons(), "; ")
		for _, p := range page {
			id := idOf(p.GetName(), proposalsCollection)
			c := &caseChange{ctx: ctx, tx: tx, now: now, clock: s.clock.in(policy.GetCalendarRegion()), id: id, p: p, from: p.GetState(), step: "RecomputeDeadlines", details: why, before: contributions(p), policy: policy}
			if c.recomputeDeadlines(policy) {
				c.commit()
				changed++
			}
			job.AfterCase = id
		}
		job.CasesChanged += int64(changed)
		details := fmt.Sprintf("%d cases changed, up to case %d: %s", job.GetCasesChanged(), job.GetAfterCase(), why)
		action := Step("RecomputeDeadlines (batch)")
		if !more || len(page) == 0 {
			sess.PendingRecompute, done, action = nil, true, "RecomputeDeadlines (done)"
		}
		sess.Etag = nextEtag(sess.GetEtag())
		tx.PutSession(sessionID, sess, newEvent(ctx, timestampOf(now), action, "", "", "", details))
		return &banliv1.Session{}, nil
	})
	return changed, done, err
}

// recomputeDeadlines recomputes every deadline of the case that a rule
// set, under policy's counts and the calendar in force, and reports
// whether any changed. A date the office set (an approved extension) is
// kept. On-time follows the recomputed deadlines.
func (c *caseChange) recomputeDeadlines(policy *banliv1.SessionPolicy) bool {
	changed := false
	redo := func(d **banliv1.Deadline, workingDays, months int32, fixed string) {
		if *d == nil || (*d).GetExtended() || (*d).GetStartTime() == nil {
			return
		}
		next := proto.Clone(*d).(*banliv1.Deadline)
		switch {
		case next.GetWorkingDays() > 0 && workingDays > 0:
			next.WorkingDays = workingDays
		case next.GetMonths() > 0 && months > 0:
			next.Months, next.FixedDate = months, fixed
		}
		next = c.clock.recompute(next)
		if !proto.Equal(next, *d) {
			*d, changed = next, true
		}
	}
	for _, a := range c.p.GetAssignments() {
		if !isCurrent(a) {
			continue
		}
		redo(&a.SignDeadline, policy.GetSignInWorkingDays(), 0, "")
		redo(&a.ReassignmentDeadline, policy.GetReassignmentWorkingDays(), 0, "")
		redo(&a.ResponseDeadline, 0, responseMonths(policy, a.GetRole(), a.GetRound()), responseFixedDate(policy, c.p, a.GetRole(), a.GetRound()))
		for _, r := range a.GetReplies() {
			redo(&r.Deadline, 0, responseMonths(policy, a.GetRole(), r.GetRound()), responseFixedDate(policy, c.p, a.GetRole(), r.GetRound()))
			redo(&r.DisclosureDeadline, policy.GetDisclosureWorkingDays(), 0, "")
			redo(&r.RatingDeadline, policy.GetRatingWorkingDays(), 0, "")
			if r.GetDeadline() != nil && r.GetRecordTime() != nil {
				r.OnTime = !r.GetRecordTime().AsTime().After(r.GetDeadline().GetDueTime().AsTime())
			}
		}
		if o := a.GetOpinion(); o != nil && a.GetResponseDeadline() != nil {
			o.OnTime = !o.GetSubmitTime().AsTime().After(a.GetResponseDeadline().GetDueTime().AsTime())
		}
	}
	return changed
}

// responseMonths is the months a part's reply (or opinion) of round has:
// a co-handling opinion's, a first reply's, or a later round's.
func responseMonths(policy *banliv1.SessionPolicy, role banliv1.AssignmentRole, round int32) int32 {
	switch {
	case role == coHandling:
		return policy.GetOpinionMonths()
	case round > 1:
		return policy.GetRereplyMonths()
	}
	return policy.GetReplyMonths()
}

// responseFixedDate is the fixed day a part's reply of round has, if any:
// a first reply's (fixedReplyDate); opinions and later rounds have none.
func responseFixedDate(policy *banliv1.SessionPolicy, p *banliv1.Proposal, role banliv1.AssignmentRole, round int32) string {
	if role == coHandling || round > 1 {
		return ""
	}
	return fixedReplyDate(policy, p)
}
