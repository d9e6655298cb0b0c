// Package service holds Banli's gRPC handlers and its domain rules: request
// validation (validate.go), the lifecycle state machine (lifecycle.go),
// deadlines (deadline.go, policy.go) and the mapping of errors to gRPC
// codes (errors.go).
//
// Each handler is thin: it validates the request, runs one decision in one
// store transaction, and maps the error. A decision reads what it needs,
// asks the lifecycle table whether the step is allowed, applies the step's
// data, and stages the changed resource with its event.
package service

import (
	"cmp"
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/calendar"
	"github.com/banli/banli/service/webhook"
	"github.com/banli/banli/store"
)

// Options configure a Server. The zero value uses the wall clock.
type Options struct {
	// Now returns the current time; tests inject a fixed clock.
	Now func() time.Time
	// RateLimit is how many calls per second one identity may make on
	// average, with bursts up to RateBurst; 0 means no limit.
	RateLimit float64
	RateBurst int
	// PublicFeedOff turns the public disclosure feed off
	// (ListPublishedReplies answers NOT_FOUND).
	PublicFeedOff bool
	// MaxStreamsPerAccount caps the streams one account holds open at
	// once; 0 means no cap.
	MaxStreamsPerAccount int
	// SendTimeout is how long one streamed message may wait for a reader
	// that has stopped reading before the stream is ended; 0 means
	// DefaultSendTimeout.
	SendTimeout time.Duration
	// SpoolDir is where a backup is copied before it is streamed (the data
	// file's directory is best: it has room for a copy); "" is the
	// system's temporary directory.
	SpoolDir string
	// Files keeps uploaded files' contents; nil: the server takes no
	// uploads. New finishes what a crash left of uploads (RecoverFiles).
	Files store.Files
	// WebhookAllow is the URLs webhooks may post to (-webhook-allow);
	// empty, no webhook can be made.
	WebhookAllow webhook.AllowList
	// WebhookRetryBase is the wait after a delivery's first failure; 0
	// means about 3 minutes (tests shorten it).
	WebhookRetryBase time.Duration
	// WebhookRate caps the posts a second of all webhooks together; 0
	// means DefaultWebhookRate.
	WebhookRate float64
}

// DefaultSendTimeout is Options.SendTimeout's default.
const DefaultSendTimeout = 30 * time.Second

// Server implements every banli.v1 service.
type Server struct {
	banliv1.UnimplementedSessionServiceServer
	banliv1.UnimplementedUnitServiceServer
	banliv1.UnimplementedLeaderServiceServer
	banliv1.UnimplementedLabelServiceServer
	banliv1.UnimplementedPublicationServiceServer
	banliv1.UnimplementedProposalServiceServer
	banliv1.UnimplementedEventServiceServer
	banliv1.UnimplementedCalendarServiceServer
	banliv1.UnimplementedSupervisionServiceServer
	banliv1.UnimplementedStatisticsServiceServer
	banliv1.UnimplementedBackupServiceServer
	banliv1.UnimplementedReplicationServiceServer
	banliv1.UnimplementedAuditServiceServer
	banliv1.UnimplementedImportServiceServer
	banliv1.UnimplementedAccountServiceServer
	banliv1.UnimplementedWebhookServiceServer

	store store.Backend
	// webhookAllow and hooks are the webhooks' outbound half.
	webhookAllow webhook.AllowList
	hooks        *webhookRunner
	// commits wakes the watchers (WatchEvents) after each write.
	commits  commitSignal
	now      func() time.Time
	calendar *calendar.Calendar
	clock    deadlineClock
	repl     replication
	limiter  *rateLimiter
	// publicLimiter limits the public feed, per address.
	publicLimiter *rateLimiter
	publicFeedOff bool
	streams       streamCounter
	signIns       accountCache
	// auditBacklog holds audit records the disk could not take yet.
	auditBacklog auditBacklog
	// auditListings makes an auditor's listing of the trail one record.
	auditListings auditListings

	sendTimeout time.Duration
	spoolDir    string
	files       store.Files
}

// New returns a Server on st. Its calendar holds the shipped schedules,
// replaced by any year loaded into st.
func New(st store.Backend, opts Options) (*Server, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	official, err := calendar.Official()
	if err != nil {
		return nil, fmt.Errorf("shipped calendar: %w", err)
	}
	cal := calendar.New(official...)
	err = st.View(func(r store.Reader) error {
		loaded, err := r.CalendarYears()
		for _, cy := range loaded {
			cal.Set(cy)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("stored calendar: %w", err)
	}
	if err := recountStatistics(context.Background(), st); err != nil {
		return nil, fmt.Errorf("recount the statistics: %w", err)
	}
	if opts.Files != nil {
		if _, err := RecoverFiles(st, opts.Files); err != nil {
			return nil, fmt.Errorf("recover uploaded files: %w", err)
		}
	}
	s := &Server{
		store: st, now: opts.Now, calendar: cal, clock: deadlineClock{cal: cal},
		limiter:       newRateLimiter(opts.RateLimit, opts.RateBurst),
		publicLimiter: newRateLimiter(publicRate, publicBurst), publicFeedOff: opts.PublicFeedOff,
		streams: streamCounter{max: opts.MaxStreamsPerAccount},

		sendTimeout:  cmp.Or(opts.SendTimeout, DefaultSendTimeout),
		spoolDir:     opts.SpoolDir,
		files:        opts.Files,
		webhookAllow: opts.WebhookAllow,
	}
	s.hooks = newWebhookRunner(s, opts.WebhookRetryBase, opts.WebhookRate)
	return s, nil
}

// Register adds every service to a gRPC server.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	banliv1.RegisterSessionServiceServer(g, s)
	banliv1.RegisterUnitServiceServer(g, s)
	banliv1.RegisterLeaderServiceServer(g, s)
	banliv1.RegisterLabelServiceServer(g, s)
	banliv1.RegisterProposalServiceServer(g, s)
	banliv1.RegisterEventServiceServer(g, s)
	banliv1.RegisterCalendarServiceServer(g, s)
	banliv1.RegisterSupervisionServiceServer(g, s)
	banliv1.RegisterStatisticsServiceServer(g, s)
	banliv1.RegisterBackupServiceServer(g, s)
	banliv1.RegisterReplicationServiceServer(g, s)
	banliv1.RegisterAuditServiceServer(g, s)
	banliv1.RegisterImportServiceServer(g, s)
	banliv1.RegisterAccountServiceServer(g, s)
	banliv1.RegisterWebhookServiceServer(g, s)
	banliv1.RegisterPublicationServiceServer(g, s)
}

// write runs one decision for a mutating request and returns its answer
// (or the first answer, for a replayed request_id) as T. The call's audit
// record commits with the decision's writes; a refused call is recorded by
// the interceptor (auditAfter).
func write[T proto.Message](ctx context.Context, s *Server, method string, req mutatingRequest, decide func(tx store.Tx, now time.Time) (T, error)) (T, error) {
	var zero T
	if err := s.refuseOnStandby(); err != nil {
		return zero, err
	}
	if m := migrationOf(ctx); m != nil {
		// A step of a migrated case: inside the row's transaction, at the
		// step's stated time, audited once for the whole migration.
		res, err := decide(m.tx, m.at)
		if err == nil {
			err = checkAnswer(res)
		}
		return res, err
	}
	replay := zero.ProtoReflect().New().Interface()
	res, err := s.commit(ctx, idempotency(ctx, method, req, replay), func(tx store.Tx) (proto.Message, error) {
		// The clock is read inside the transaction so that times follow
		// commit order.
		now := s.now()
		res, err := decide(tx, now)
		if err == nil {
			err = checkAnswer(res)
		}
		if err != nil {
			return nil, err
		}
		rec := auditRecord(ctx, method, req, now)
		rec.Outcome = "OK"
		if rec.Target == "" {
			rec.Target = stringField(res, "name")
		}
		tx.AppendAudit(rec)
		return res, nil
	})
	if err != nil {
		return zero, err // the interceptor records the refusal
	}
	return res.(T), nil
}

// checkAnswer refuses a decision whose case would outgrow its bounds.
func checkAnswer(res proto.Message) error {
	if p, isCase := res.(*banliv1.Proposal); isCase {
		return checkCaseLimits(p)
	}
	return nil
}

// caseChange is one decision on one proposal: the proposal as loaded, the
// step's bookkeeping, and what the event will say.
type caseChange struct {
	ctx     context.Context
	tx      store.Tx
	now     time.Time
	clock   deadlineClock
	id      uint64
	p       *banliv1.Proposal
	from    banliv1.ProposalState
	step    Step
	target  string
	details string
	// changes are the fields a correction changed, for the event.
	changes []*banliv1.FieldChange
	policy  *banliv1.SessionPolicy
	// before is the case's contribution to the statistics as loaded.
	before contribution
	// batch, when set, is shared by the rows of one import batch: they are
	// decided at one moment, so their deadlines and units are the same.
	batch *batchMemo
}

// batchMemo holds what the rows of one import batch share.
type batchMemo struct {
	deadlines map[string]*banliv1.Deadline
	units     map[string]*banliv1.Unit
}

func (c *caseChange) nowProto() *timestamppb.Timestamp { return timestamppb.New(c.now) }

// newCaseChange starts a change of case p, with its session's policy and
// its deadlines counted in the session's region (calendar_region).
func newCaseChange(ctx context.Context, tx store.Tx, now time.Time, clock deadlineClock, id uint64, p *banliv1.Proposal, step Step) (*caseChange, error) {
	c := &caseChange{ctx: ctx, tx: tx, now: now, clock: clock, id: id, p: p, from: p.GetState(), step: step, before: contributions(p)}
	policy, err := c.sessionPolicy()
	if err != nil {
		return nil, err
	}
	c.clock = clock.in(policy.GetCalendarRegion())
	return c, nil
}

// sessionPolicy returns the policy of the case's session.
func (c *caseChange) sessionPolicy() (*banliv1.SessionPolicy, error) {
	if c.policy != nil {
		return c.policy, nil
	}
	sess, err := c.tx.Session(idOf(c.p.GetSession(), sessionsCollection))
	if err != nil {
		return nil, fmt.Errorf("the session of %s: %w", c.p.GetName(), err)
	}
	c.policy = storedPolicy(sess.GetPolicy())
	return c.policy, nil
}

// updateProposal runs apply on the proposal named by id: it loads it,
// checks the etag, lets apply change it, derives the case state, and stages
// it with its event. It is the frame of every step on one case.
func updateProposal(ctx context.Context, s *Server, method string, req mutatingRequest, id uint64, etag string, step Step,
	apply func(c *caseChange) error,
) (*banliv1.Proposal, error) {
	return write(ctx, s, method, req, func(tx store.Tx, now time.Time) (*banliv1.Proposal, error) {
		p, err := tx.Proposal(id)
		if err != nil {
			return nil, notFoundOr(err, proposalName(id), "")
		}
		if err := checkEtag(etag, p.GetEtag(), p.GetName()); err != nil {
			return nil, err
		}
		c, err := newCaseChange(ctx, tx, now, s.clock, id, p, step)
		if err != nil {
			return nil, err
		}
		if err := apply(c); err != nil {
			return nil, err
		}
		c.commit()
		return c.p, nil
	})
}

// commit derives the case's state, bumps its version and stages it.
func (c *caseChange) commit() {
	if to, ok := fixedTarget(c.step); ok {
		c.p.State = to
	}
	c.p.State = deriveProposalState(c.p)
	for _, a := range c.p.GetAssignments() {
		if d := currentDeadline(c.p.GetState(), a); d != nil {
			a.CurrentDeadline = proto.Clone(d).(*banliv1.Deadline)
		} else {
			a.CurrentDeadline = nil
		}
	}
	c.p.UpdateTime = c.nowProto()
	c.p.Etag = nextEtag(c.p.GetEtag())
	c.p.Migrated = c.p.GetMigrated() || migrationOf(c.ctx) != nil
	from := ""
	if c.from != stateUnderived {
		from = stateName(c.from)
	}
	ev := newEvent(c.ctx, c.nowProto(), c.step, c.target, from, stateName(c.p.GetState()), c.details)
	ev.Changes = c.changes
	ev.DescriptionZh = describeCaseZH(c.tx, c.p, c.step, c.target)
	stageProposal(c.tx, c.id, c.before, c.p, ev)
}
