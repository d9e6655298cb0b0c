package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/webhook"
	"github.com/banli/banli/store"
)

// How webhooks are delivered. The event log is the outbox: an event is
// written in the transaction of its change, so it cannot be lost, and
// each webhook keeps its place in the log (WebhookOutbox.scanned_sequence)
// with the deliveries not yet finished. One deliverer per webhook reads
// the events after its place as the webhook's owner may read them, posts
// them (several resources at once, one event at a time per resource, so
// that each case's events arrive in order), and records what became of
// each. Its bookkeeping is written at most every outboxFlushEvery, apart
// from the writes it never waits on: a crash delivers the events since
// the last flush again (at least once; webhook-id tells the receiver),
// and a write never waits on a delivery.

const (
	// maxAttempts is how often a delivery is tried before it is a dead
	// letter.
	maxAttempts = 10
	// defaultRetryBase is the wait after the first failure; each later
	// wait doubles, so that the 10 attempts span about 24 hours
	// (169 s × (2⁹ − 1) ≈ 24 h).
	defaultRetryBase = 169 * time.Second
	// retryJitter spreads retries a fifth either way, so that the
	// deliveries a receiver's outage failed together do not come back
	// together.
	retryJitter = 0.2
	// maxPending bounds a webhook's unfinished deliveries: past it, the
	// deliverer stops reading the log (its place holds) until the
	// receiver catches up.
	maxPending = 1000
	// postsInFlight bounds a webhook's concurrent posts (each of another
	// resource).
	postsInFlight = 8
	// readAhead bounds the deliveries read from the log ahead of the
	// posts: decoding events no post can take yet is wasted work.
	readAhead = 4 * postsInFlight
	// keptDelivered and keptDead bound the outbox's log.
	keptDelivered = 100
	keptDead      = 10000
	// outboxFlushEvery is how often the bookkeeping is written while it
	// changes.
	outboxFlushEvery = 200 * time.Millisecond
	// webhookBackstop is how often a deliverer looks again without being
	// woken, and the runner for webhooks made or changed on a primary it
	// follows (a standby's) or after its promotion.
	webhookBackstop = 5 * time.Second
	maxLastErrorLen = 300
	// scanEvery is how often at most a deliverer reads the log: a burst
	// of commits is read in one go rather than one read per commit.
	scanEvery = 20 * time.Millisecond
	// webhookReread is how often a deliverer reads its webhook and its
	// owner again without being told they changed (a standby's applied
	// changes, an account disabled).
	webhookReread = time.Second
	// bodiesKept is how many encoded deliveries the runner keeps for the
	// other webhooks of the same owner, which post the same body.
	bodiesKept = 4096
	// DefaultWebhookRate is Options.WebhookRate's default: posts a second,
	// all webhooks together.
	DefaultWebhookRate = 300
)

// webhookRunner runs a deliverer for each live webhook, on a primary.
type webhookRunner struct {
	s         *Server
	poster    *webhook.Poster
	retryBase time.Duration
	changed   chan struct{}
	// posts caps the posts a second of every webhook together: on two
	// cores, posting each of 5,000 creates a second to three receivers
	// takes more CPU than the creates (BenchmarkWebhooks: 2,100 creates
	// a second against 5,500 uncapped); capped at 300, a burst of writes
	// goes on within about a tenth of its speed and its deliveries catch
	// up after it. 300 a second is a million deliveries an hour, far
	// beyond an agency's steady rate.
	posts *rateLimiter

	mu      sync.Mutex
	running map[uint64]*deliverer

	// bodies holds the latest encoded deliveries by event and owner:
	// webhooks of one owner post the same body, encoded once.
	bodiesMu sync.Mutex
	bodies   map[bodyKey][]byte
	order    [bodiesKept]bodyKey // a ring: the next to go is at next
	next     int
}

type bodyKey struct {
	sequence uint64
	owner    string
}

// body is the delivery of ev as owner reads it, encoded once for all of
// owner's webhooks.
func (r *webhookRunner) body(owner string, ev *banliv1.Event) ([]byte, error) {
	key := bodyKey{ev.GetSequence(), owner}
	r.bodiesMu.Lock()
	b, ok := r.bodies[key]
	r.bodiesMu.Unlock()
	if ok {
		return b, nil
	}
	b, err := protojson.Marshal(&banliv1.WebhookPayload{Type: ev.GetAction(), Timestamp: ev.GetTime(), Data: withoutSecrets(ev)})
	if err != nil {
		return nil, err
	}
	r.bodiesMu.Lock()
	defer r.bodiesMu.Unlock()
	if _, ok := r.bodies[key]; !ok {
		delete(r.bodies, r.order[r.next])
		r.bodies[key], r.order[r.next] = b, key
		r.next = (r.next + 1) % bodiesKept
	}
	return b, nil
}

func newWebhookRunner(s *Server, retryBase time.Duration, rate float64) *webhookRunner {
	rate = cmp.Or(rate, DefaultWebhookRate)
	return &webhookRunner{
		s: s, poster: webhook.NewPoster(), retryBase: cmp.Or(retryBase, defaultRetryBase),
		posts:   newRateLimiter(rate, int(max(1, rate/10))),
		changed: make(chan struct{}, 1), running: map[uint64]*deliverer{}, bodies: map[bodyKey][]byte{},
	}
}

// DeliverWebhooks delivers every webhook's events until ctx ends. A
// standby delivers none; promoted, it starts within webhookBackstop.
func (s *Server) DeliverWebhooks(ctx context.Context) {
	r := s.hooks
	defer r.stopAll()
	for {
		if s.refuseOnStandby() == nil {
			if err := r.reconcile(ctx); err != nil && ctx.Err() == nil {
				slog.Warn("webhooks: list", "err", err)
			}
		} else {
			r.stopAll()
		}
		select {
		case <-ctx.Done():
			return
		case <-r.changed:
		case <-time.After(webhookBackstop):
		}
	}
}

// poke tells the runner, and webhook id's deliverer, that it changed.
func (r *webhookRunner) poke(id uint64) {
	select {
	case r.changed <- struct{}{}:
	default:
	}
	if d := r.deliverer(id); d != nil {
		d.wake()
	}
}

func (r *webhookRunner) deliverer(id uint64) *deliverer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running[id]
}

// reconcile starts a deliverer for each live webhook without one, and
// stops those of deleted webhooks.
func (r *webhookRunner) reconcile(ctx context.Context) error {
	live := map[uint64]bool{}
	err := r.s.store.View(func(rd store.Reader) error {
		for after := uint64(0); ; {
			page, more, err := rd.ListWebhooks(after, 1000)
			if err != nil {
				return err
			}
			for _, w := range page {
				after = idOf(w.GetName(), webhooksCollection)
				live[after] = w.GetDeleteTime() == nil
			}
			if !more || len(page) == 0 {
				return nil
			}
		}
	})
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, d := range r.running {
		if !live[id] {
			d.halt()
			delete(r.running, id)
		}
	}
	for id, ok := range live {
		if ok && r.running[id] == nil {
			d := newDeliverer(r, id)
			dctx, cancel := context.WithCancel(ctx)
			d.cancel = cancel
			r.running[id] = d
			go d.run(dctx)
		}
	}
	return nil
}

func (r *webhookRunner) stopAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, d := range r.running {
		d.halt()
		delete(r.running, id)
	}
}

// retryAfter is the wait after a delivery's n-th failed attempt.
func (r *webhookRunner) retryAfter(n int32) time.Duration {
	wait := float64(r.retryBase) * float64(int64(1)<<(n-1))
	return time.Duration(wait * (1 + retryJitter*(2*rand.Float64()-1)))
}

// deliverer delivers one webhook's events.
type deliverer struct {
	id      uint64
	r       *webhookRunner
	kick    chan struct{}
	results chan postResult
	cancel  context.CancelFunc
	done    chan struct{}

	// flushing orders the outbox's writes: a later copy is never
	// overwritten by an earlier one.
	flushing sync.Mutex
	// mu guards what the RPCs read and change (ListWebhookDeliveries,
	// RedeliverWebhookDeliveries) beside the run loop.
	mu        sync.Mutex
	outbox    *banliv1.WebhookOutbox
	dirty     bool
	lastFlush time.Time

	// The run loop's own.
	inflight map[string]bool
	// budgetAt is when the posts' budget has room again, if it ran out.
	budgetAt time.Time
	// ready is how many deliveries could be posted now but wait for a
	// free slot or the budget: past readAhead, the log is not read on.
	ready int
	// first is launch's: the resources it has seen a delivery of.
	first map[string]bool
	shown map[uint64]*banliv1.Event // events read and not yet delivered
}

type postResult struct {
	sequence uint64
	resource string
	at       time.Time
	attempt  webhook.Attempt
	// skipped: the event is no longer the owner's to read, and was not
	// posted.
	skipped bool
}

func newDeliverer(r *webhookRunner, id uint64) *deliverer {
	return &deliverer{
		id: id, r: r, kick: make(chan struct{}, 1), results: make(chan postResult, postsInFlight), done: make(chan struct{}),
		inflight: map[string]bool{}, shown: map[uint64]*banliv1.Event{}, first: map[string]bool{},
	}
}

func (d *deliverer) wake() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// halt stops the deliverer and waits until its bookkeeping is written.
func (d *deliverer) halt() {
	d.cancel()
	<-d.done
}

func (d *deliverer) run(ctx context.Context) {
	defer close(d.done)
	defer func() {
		for len(d.inflight) > 0 { // posts end with ctx; their outcome is not recorded
			res := <-d.results
			delete(d.inflight, res.resource)
		}
		if err := d.flush(); err != nil {
			slog.Warn("webhooks: keep the outbox", "webhook", webhookName(d.id), "err", err)
		}
	}()
	if err := d.load(); err != nil {
		slog.Warn("webhooks: read the outbox", "webhook", webhookName(d.id), "err", err)
		return // the runner starts it again
	}
	var w *banliv1.Webhook
	var owner *Caller
	var readAt, scannedAt time.Time
	reread, rescan := true, true
	for {
		woken := d.r.s.commits.wait()
		if reread || time.Since(readAt) >= webhookReread {
			nw, no, err := d.read()
			switch {
			case err != nil:
				slog.Warn("webhooks: read the webhook", "webhook", webhookName(d.id), "err", err)
			case nw == nil:
				return // deleted
			default:
				w, owner, readAt, reread, rescan = nw, no, time.Now(), false, true
			}
		}
		active := w != nil && owner != nil && !w.GetPaused()
		if active && rescan && time.Since(scannedAt) >= scanEvery && d.ready < readAhead {
			behind, err := d.scan(w, owner)
			if err != nil {
				slog.Warn("webhooks: read the events", "webhook", w.GetName(), "err", err)
			}
			scannedAt, rescan = time.Now(), behind
		}
		if active {
			d.ready = d.launch(ctx, w, owner)
		}
		flushAt := d.flushAt()
		if !time.Now().Before(flushAt) {
			if err := d.flush(); err != nil && ctx.Err() == nil {
				slog.Warn("webhooks: keep the outbox", "webhook", webhookName(d.id), "err", err)
			}
		}
		wait := webhookBackstop
		if next, ok := d.nextRetry(); ok {
			wait = min(wait, time.Until(next))
		}
		if d.isDirty() {
			wait = min(wait, time.Until(flushAt))
		}
		if rescan && active {
			wait = min(wait, time.Until(scannedAt.Add(scanEvery)))
		}
		if active && time.Now().Before(d.budgetAt) {
			wait = min(wait, time.Until(d.budgetAt))
		}
		if rescan || !active || !d.mayScan() {
			woken = nil // a scan is due anyway, or new events wait (paused, or the receiver is behind)
		}
		select {
		case <-ctx.Done():
			return
		case res := <-d.results:
			d.finish(res)
		case <-d.kick:
			reread = true
		case <-woken:
			rescan = true
		case <-time.After(max(wait, time.Millisecond)):
			rescan = true
		}
	}
}

// load reads the outbox, or starts one at the webhook's start.
func (d *deliverer) load() error {
	return d.r.s.store.View(func(r store.Reader) error {
		o, err := r.WebhookOutbox(d.id)
		if errors.Is(err, store.ErrNotFound) {
			w, werr := r.Webhook(d.id)
			if werr != nil {
				return werr
			}
			o, err = &banliv1.WebhookOutbox{ScannedSequence: w.GetStartSequence()}, nil
		}
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.outbox = o
		d.mu.Unlock()
		return nil
	})
}

// read is the webhook (nil once deleted) and its owner as a caller (nil
// while the owner's account is disabled).
func (d *deliverer) read() (w *banliv1.Webhook, owner *Caller, err error) {
	err = d.r.s.store.View(func(r store.Reader) error {
		if w, err = r.Webhook(d.id); err != nil {
			return err
		}
		if w.GetDeleteTime() != nil {
			w = nil
			return nil
		}
		a, err := r.Account(accountIDOf(w.GetOwner()))
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err == nil && a.GetActive() {
			owner = callerOf(a)
		}
		return err
	})
	return w, owner, err
}

func filterOf(w *banliv1.Webhook) eventFilter {
	return eventFilter{actions: w.GetActions(), session: w.GetSession(), unit: w.GetUnit(), proposal: w.GetProposal()}
}

func (d *deliverer) mayScan() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.outbox.GetPending()) < maxPending
}

// flushAt is when the bookkeeping may next be written.
func (d *deliverer) flushAt() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastFlush.Add(outboxFlushEvery)
}

func (d *deliverer) isDirty() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dirty
}

// scan reads a batch of the events after the webhook's place, as its
// owner may read them, into pending deliveries, and reports whether more
// are there to read.
func (d *deliverer) scan(w *banliv1.Webhook, owner *Caller) (behind bool, err error) {
	if !d.mayScan() {
		return false, nil
	}
	d.mu.Lock()
	after := d.outbox.GetScannedSequence()
	d.mu.Unlock()
	var events []*banliv1.Event
	var latest, scanned uint64
	err = d.r.s.store.View(func(r store.Reader) error {
		var err error
		if latest, err = r.LatestEvent(); err != nil {
			return err
		}
		events, scanned, err = d.r.s.scopedEvents(r, owner, filterOf(w), after, readAhead)
		return err
	})
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, ev := range events {
		seq := ev.GetSequence()
		d.outbox.Pending = append(d.outbox.Pending, &banliv1.WebhookDelivery{
			EventSequence: seq, Resource: ev.GetResource(), Action: ev.GetAction(), // named when listed (shownDelivery)
			State: banliv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING,
		})
		d.shown[seq] = ev
	}
	if scanned > d.outbox.GetScannedSequence() {
		d.outbox.ScannedSequence = scanned
		d.dirty = true
	}
	return scanned < latest && scanned != after, nil
}

// launch posts each resource's first pending delivery whose time has
// come, up to postsInFlight at once, and returns how many more could be
// posted now.
func (d *deliverer) launch(ctx context.Context, w *banliv1.Webhook, owner *Caller) (ready int) {
	now := time.Now()
	d.mu.Lock()
	var due []*banliv1.WebhookDelivery
	first := d.first
	clear(first)
	for _, p := range d.outbox.GetPending() {
		if first[p.GetResource()] {
			continue // behind an earlier event of its resource
		}
		first[p.GetResource()] = true
		if d.inflight[p.GetResource()] || (p.GetNextAttemptTime() != nil && now.Before(p.GetNextAttemptTime().AsTime())) {
			continue
		}
		if len(d.inflight)+len(due) < postsInFlight && !now.Before(d.budgetAt) {
			due = append(due, proto.Clone(p).(*banliv1.WebhookDelivery))
		} else {
			ready++
		}
	}
	d.mu.Unlock()
	for i, p := range due {
		if ok, wait := d.r.posts.take("", now); !ok {
			d.budgetAt = now.Add(wait)
			return ready + len(due) - i
		}
		ev, err := d.event(p.GetEventSequence(), w, owner)
		if err != nil {
			slog.Warn("webhooks: read an event", "webhook", w.GetName(), "sequence", p.GetEventSequence(), "err", err)
			continue
		}
		d.inflight[p.GetResource()] = true
		if ev == nil {
			// No longer the owner's to read (the case moved out of its
			// reach): nothing to post, and nothing to wait for.
			d.results <- postResult{sequence: p.GetEventSequence(), resource: p.GetResource(), at: now, skipped: true}
			continue
		}
		body, err := d.r.body(owner.Account, ev)
		if err != nil {
			delete(d.inflight, p.GetResource())
			continue
		}
		url, id, secrets := w.GetUrl(), messageID(d.id, p.GetEventSequence()), signingSecrets(w, now)
		go func() {
			at := time.Now()
			d.results <- postResult{sequence: p.GetEventSequence(), resource: p.GetResource(), at: at, attempt: d.r.poster.Post(ctx, url, id, at, body, secrets...)}
		}()
	}
	return ready
}

// event is event seq as the owner reads it: as read by scan, or read
// again (after a restart, or for a retry).
func (d *deliverer) event(seq uint64, w *banliv1.Webhook, owner *Caller) (*banliv1.Event, error) {
	if ev, ok := d.shown[seq]; ok {
		return ev, nil
	}
	var ev *banliv1.Event
	err := d.r.s.store.View(func(r store.Reader) error {
		page, err := r.ListEvents(seq-1, 1)
		if err != nil || len(page) == 0 || page[0].GetSequence() != seq {
			return cmp.Or(err, fmt.Errorf("event %d: %w", seq, store.ErrNotFound))
		}
		scope, err := newEventScope(r, owner, eventFilter{}) // the filters chose it when it was read
		if err != nil {
			return err
		}
		ev, err = scope.show(page[0])
		return err
	})
	if ev != nil {
		d.shown[seq] = ev
	}
	return ev, err
}

// finish records what a post came to.
func (d *deliverer) finish(res postResult) {
	delete(d.inflight, res.resource)
	delete(d.shown, res.sequence) // read again for a retry: the owner's reach may change meanwhile
	d.mu.Lock()
	defer d.mu.Unlock()
	i := slices.IndexFunc(d.outbox.GetPending(), func(p *banliv1.WebhookDelivery) bool { return p.GetEventSequence() == res.sequence })
	if i < 0 {
		return
	}
	p := d.outbox.Pending[i]
	d.dirty = true
	if res.skipped {
		d.outbox.Pending = slices.Delete(d.outbox.Pending, i, i+1)
		return
	}
	a := res.attempt
	p.Attempts++
	at := timestamppb.New(res.at)
	if p.FirstAttemptTime == nil {
		p.FirstAttemptTime = at
	}
	p.LastAttemptTime, p.LastStatusCode, p.LastLatency, p.NextAttemptTime = at, int32(a.Status), durationpb.New(a.Latency), nil
	if a.Err == nil {
		p.State, p.LastError = banliv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED, ""
		d.outbox.Pending = slices.Delete(d.outbox.Pending, i, i+1)
		d.outbox.Recent = keepLast(append(d.outbox.Recent, p), keptDelivered)
		return
	}
	p.LastError = truncate(a.Err.Error(), maxLastErrorLen)
	if p.GetAttempts() < maxAttempts {
		p.NextAttemptTime = timestamppb.New(res.at.Add(d.r.retryAfter(p.GetAttempts())))
		return
	}
	p.State = banliv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DEAD
	d.outbox.Pending = slices.Delete(d.outbox.Pending, i, i+1)
	d.outbox.Dead = append(d.outbox.Dead, p)
	if over := len(d.outbox.Dead) - keptDead; over > 0 {
		d.outbox.Dead = slices.Delete(d.outbox.Dead, 0, over)
		d.outbox.DeadDropped += int64(over)
	}
	slog.Warn("webhooks: a delivery is a dead letter", "webhook", webhookName(d.id), "sequence", p.GetEventSequence(), "attempts", p.GetAttempts(), "err", p.GetLastError())
}

// nextRetry is when the soonest retry is due, if one is.
func (d *deliverer) nextRetry() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var next time.Time
	for _, p := range d.outbox.GetPending() {
		if t := p.GetNextAttemptTime(); t != nil && (next.IsZero() || t.AsTime().Before(next)) {
			next = t.AsTime()
		}
	}
	return next, !next.IsZero()
}

// flush writes the outbox if it changed since the last write.
func (d *deliverer) flush() error {
	d.flushing.Lock()
	defer d.flushing.Unlock()
	d.mu.Lock()
	if !d.dirty || d.outbox == nil {
		d.mu.Unlock()
		return nil
	}
	o := proto.Clone(d.outbox).(*banliv1.WebhookOutbox)
	d.dirty, d.lastFlush = false, time.Now()
	d.mu.Unlock()
	_, err := d.r.s.commit(context.Background(), store.Request{}, func(tx store.Tx) (proto.Message, error) {
		tx.PutWebhookOutbox(d.id, o)
		return nil, nil
	})
	if err != nil {
		d.mu.Lock()
		d.dirty = true
		d.mu.Unlock()
	}
	return err
}

// deliveries is a copy of the outbox's deliveries, newest event first.
func (d *deliverer) deliveries() (list []*banliv1.WebhookDelivery, dropped int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return outboxDeliveries(d.id, d.outbox), d.outbox.GetDeadDropped()
}

// outboxDeliveries is every delivery webhook id's outbox keeps, as
// ListWebhookDeliveries shows them, newest event first.
func outboxDeliveries(id uint64, o *banliv1.WebhookOutbox) []*banliv1.WebhookDelivery {
	var list []*banliv1.WebhookDelivery
	for _, group := range [][]*banliv1.WebhookDelivery{o.GetPending(), o.GetDead(), o.GetRecent()} {
		for _, p := range group {
			list = append(list, shownDelivery(id, p))
		}
	}
	slices.SortFunc(list, func(a, b *banliv1.WebhookDelivery) int {
		return cmp.Compare(b.GetEventSequence(), a.GetEventSequence())
	})
	return list
}

// redeliver makes the dead letters of seqs (every one if none) pending
// again, and writes the outbox before it answers.
func (d *deliverer) redeliver(seqs []uint64) ([]*banliv1.WebhookDelivery, error) {
	d.mu.Lock()
	var out []*banliv1.WebhookDelivery
	for i, seq := range seqs {
		if !slices.ContainsFunc(d.outbox.GetDead(), func(p *banliv1.WebhookDelivery) bool { return p.GetEventSequence() == seq }) &&
			!slices.ContainsFunc(d.outbox.GetPending(), func(p *banliv1.WebhookDelivery) bool { return p.GetEventSequence() == seq }) {
			d.mu.Unlock()
			return nil, invalidField(fmt.Sprintf("event_sequences[%d]", i), "event %d has no dead letter at %s", seq, webhookName(d.id))
		}
	}
	again := func(p *banliv1.WebhookDelivery) bool {
		return len(seqs) == 0 || slices.Contains(seqs, p.GetEventSequence())
	}
	for _, p := range d.outbox.GetDead() {
		if again(p) {
			p.State, p.Attempts, p.NextAttemptTime = banliv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING, 0, nil
			d.outbox.Pending = append(d.outbox.Pending, p)
		}
	}
	d.outbox.Dead = slices.DeleteFunc(d.outbox.Dead, again)
	slices.SortStableFunc(d.outbox.Pending, func(a, b *banliv1.WebhookDelivery) int {
		return cmp.Compare(a.GetEventSequence(), b.GetEventSequence())
	})
	for _, p := range d.outbox.GetPending() {
		if again(p) {
			out = append(out, shownDelivery(d.id, p))
		}
	}
	d.dirty = true
	d.mu.Unlock()
	if err := d.flush(); err != nil {
		return nil, err
	}
	d.wake()
	return out, nil
}

// shownDelivery is a copy of p with its resource name, which the outbox
// does not store: it follows from the webhook and the event.
func shownDelivery(webhook uint64, p *banliv1.WebhookDelivery) *banliv1.WebhookDelivery {
	out := proto.Clone(p).(*banliv1.WebhookDelivery)
	out.Name = fmt.Sprintf("webhooks/%d/deliveries/%d", webhook, p.GetEventSequence())
	return out
}

// messageID is a delivery's webhook-id: the same on every attempt, so
// that a receiver drops a repeat.
func messageID(webhook, seq uint64) string { return fmt.Sprintf("msg_banli_%d_%d", webhook, seq) }

func keepLast[T any](list []T, n int) []T {
	if over := len(list) - n; over > 0 {
		return slices.Delete(list, 0, over)
	}
	return list
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

// WebhookBacklog is, over the webhooks delivered here, the deliveries not
// finished and the dead letters kept: for the metrics.
func (s *Server) WebhookBacklog() (pending, dead int) {
	s.hooks.mu.Lock()
	running := slices.Collect(maps.Values(s.hooks.running))
	s.hooks.mu.Unlock()
	for _, d := range running {
		d.mu.Lock()
		pending += len(d.outbox.GetPending())
		dead += len(d.outbox.GetDead())
		d.mu.Unlock()
	}
	return pending, dead
}
