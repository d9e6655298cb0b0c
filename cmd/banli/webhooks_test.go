package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// receiver is a webhook receiver on loopback that checks every delivery
// as Standard Webhooks says a receiver should, written from the
// specification: the signature over id.timestamp.body with one of the
// secrets it was given, a timestamp within five minutes, and a body in
// the API's JSON mapping.
type receiver struct {
	srv *httptest.Server

	mu      sync.Mutex
	secrets [][]byte
	got     []received
	refused []string // deliveries whose signature or body did not check out
	// answer, if set, is the status a delivery gets (0: 204).
	answer func(p *banliv1.WebhookPayload) int
}

type received struct {
	id      string
	payload *banliv1.WebhookPayload
}

func newReceiver(t testing.TB) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) url() string { return r.srv.URL + "/hooks/banli" }

// trust adds a secret as CreateWebhook or RotateWebhookSecret showed it.
func (r *receiver) trust(t testing.TB, shown string) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(shown, "whsec_"))
	if err != nil || !strings.HasPrefix(shown, "whsec_") || len(b) < 24 {
		t.Fatalf("secret %q is not whsec_ and base64", shown)
	}
	r.mu.Lock()
	r.secrets = append(r.secrets, b)
	r.mu.Unlock()
}

func (r *receiver) forget() {
	r.mu.Lock()
	r.secrets = nil
	r.mu.Unlock()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(req.Body, 8<<20))
	id, ts, sigs := req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"), req.Header.Get("webhook-signature")
	r.mu.Lock()
	defer r.mu.Unlock()
	// Not told the secret yet (the webhook's creation is delivered as the
	// call that made it answers): wait for it a while.
	for wait := 0; len(r.secrets) == 0 && wait < 100; wait++ {
		r.mu.Unlock()
		time.Sleep(20 * time.Millisecond)
		r.mu.Lock()
	}
	refuse := func(why string) {
		r.refused = append(r.refused, id+": "+why)
		w.WriteHeader(http.StatusUnauthorized)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		refuse("timestamp " + ts)
		return
	}
	valid := false
	for _, secret := range r.secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write([]byte(id + "." + ts + "."))
		mac.Write(body)
		want := mac.Sum(nil)
		for _, sig := range strings.Fields(sigs) {
			version, b64, _ := strings.Cut(sig, ",")
			got, err := base64.StdEncoding.DecodeString(b64)
			valid = valid || version == "v1" && err == nil && hmac.Equal(got, want)
		}
	}
	if !valid {
		refuse("signature " + sigs)
		return
	}
	p := &banliv1.WebhookPayload{}
	if err := protojson.Unmarshal(body, p); err != nil || req.Header.Get("Content-Type") != "application/json" {
		refuse("body: " + err.Error())
		return
	}
	if p.GetType() != p.GetData().GetAction() || p.GetData().GetSequence() == 0 {
		refuse("payload " + string(body))
		return
	}
	status := http.StatusNoContent
	if r.answer != nil {
		status = cmp0(r.answer(p), status)
	}
	if status < 300 {
		r.got = append(r.got, received{id: id, payload: p})
	}
	w.WriteHeader(status)
}

func cmp0(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// sequences is the sequences received, first arrivals only, in arrival
// order.
func (r *receiver) sequences() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []uint64
	seen := map[uint64]bool{}
	for _, g := range r.got {
		if s := g.payload.GetData().GetSequence(); !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// byResource is the first arrivals, per resource, in arrival order.
func (r *receiver) byResource() map[string][]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string][]uint64{}
	seen := map[uint64]bool{}
	for _, g := range r.got {
		ev := g.payload.GetData()
		if !seen[ev.GetSequence()] {
			seen[ev.GetSequence()] = true
			out[ev.GetResource()] = append(out[ev.GetResource()], ev.GetSequence())
		}
	}
	return out
}

func (r *receiver) refusals() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.refused)
}

// hookFixture is a server that allows r's URL, with retries after
// retryBase (doubling) rather than minutes.
func hookFixture(t *testing.T, r *receiver, retryBase time.Duration) (*fixture, banliv1.WebhookServiceClient) {
	f := newFixture(t, func(c *server.Config) {
		c.WebhookAllow = mustAllow(r.srv.URL + "/hooks/")
		c.WebhookRetryBase = retryBase
	})
	return f, banliv1.NewWebhookServiceClient(f.conn)
}

// eventsAfter is every event after seq, as the admin reads them.
func (f *fixture) eventsAfter(t testing.TB, seq uint64) []*banliv1.Event {
	var out []*banliv1.Event
	for {
		page := must(f.events.ListEvents(as(f.adminKey), &banliv1.ListEventsRequest{AfterSequence: seq, PageSize: 1000}))(t)
		out = append(out, page.GetEvents()...)
		if page.GetNextAfterSequence() == seq || len(page.GetEvents()) == 0 {
			return out
		}
		seq = page.GetNextAfterSequence()
	}
}

// TestWebhookDeliveriesAreSigned: every step reaches the receiver, signed
// with the secret shown once, in the API's JSON; after a rotation both
// secrets sign for a while, and with the old one revoked only the new.
// The secret is in no answer and no event a caller reads.
func TestWebhookDeliveriesAreSigned(t *testing.T) {
	r := newReceiver(t)
	f, hooks := hookFixture(t, r, 20*time.Millisecond)
	admin := as(f.adminKey)
	created := must(hooks.CreateWebhook(admin, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url(), DisplayName: "短信平台"}}))(t)
	r.trust(t, created.GetSecret())
	w := created.GetWebhook()
	p := f.receive(t)
	p = f.assign(t, p, part(f.unit(0), roleLead))
	f.sign(t, p.GetAssignments()[0].GetName())
	want := f.eventsAfter(t, w.GetStartSequence())
	waitFor(t, func() bool { return len(r.sequences()) >= len(want) })
	if got := r.sequences(); !slices.Equal(sorted(got), sequencesOf(want)) {
		t.Errorf("delivered %v, want every event after the start: %v", got, sequencesOf(want))
	}
	if refused := r.refusals(); len(refused) > 0 {
		t.Fatalf("the receiver refused deliveries: %v", refused)
	}
	r.mu.Lock()
	first := r.got[len(r.got)-1]
	r.mu.Unlock()
	if first.id != "msg_banli_1_"+strconv.FormatUint(first.payload.GetData().GetSequence(), 10) {
		t.Errorf("webhook-id %q", first.id)
	}

	// The secret is shown once: not by Get or List, nor in a delivery of
	// the webhook's own creation.
	var own string
	r.mu.Lock()
	for _, g := range r.got {
		if g.payload.GetData().GetResource() == w.GetName() {
			own = protojson.Format(g.payload)
		}
	}
	r.mu.Unlock()
	if own == "" {
		t.Fatal("the webhook's creation was not delivered")
	}
	for _, text := range []string{
		protojson.Format(must(hooks.GetWebhook(admin, &banliv1.GetWebhookRequest{Name: w.GetName()}))(t)),
		protojson.Format(must(hooks.ListWebhooks(admin, &banliv1.ListWebhooksRequest{}))(t)),
		own,
	} {
		if secret := strings.TrimPrefix(created.GetSecret(), "whsec_"); strings.Contains(text, secret) || strings.Contains(text, `"secret"`) {
			t.Errorf("the secret is shown again:\n%.400s", text)
		}
	}

	// Rotated: the receiver that knows only the new secret accepts.
	rotated := must(hooks.RotateWebhookSecret(admin, &banliv1.RotateWebhookSecretRequest{Name: w.GetName()}))(t)
	r.forget()
	r.trust(t, rotated.GetSecret())
	f.consult(t, p.GetAssignments()[0].GetName())
	waitFor(t, func() bool { return len(r.sequences()) == len(f.eventsAfter(t, w.GetStartSequence())) })
	// Revoked: a receiver that knows only the old one refuses.
	revoked := must(hooks.RotateWebhookSecret(admin, &banliv1.RotateWebhookSecretRequest{Name: w.GetName(), RevokePrevious: true}))(t)
	r.forget()
	r.trust(t, rotated.GetSecret()) // now the previous secret
	f.reply(t, p.GetAssignments()[0].GetName())
	waitFor(t, func() bool { return len(r.refusals()) > 0 })
	r.forget()
	r.trust(t, revoked.GetSecret())
	waitFor(t, func() bool { return len(r.sequences()) == len(f.eventsAfter(t, w.GetStartSequence())) })
	if r.answer = nil; len(r.refusals()) == 0 {
		t.Error("the revoked secret still signs")
	}
}

func sorted(s []uint64) []uint64 { s = slices.Clone(s); slices.Sort(s); return s }

func sequencesOf(events []*banliv1.Event) []uint64 {
	out := make([]uint64, len(events))
	for i, ev := range events {
		out[i] = ev.GetSequence()
	}
	return out
}

// TestWebhookReceiverDownGetsEverythingInOrder: while the receiver
// answers 503, steps go on at once; once it is back, every event arrives,
// each case's in the order they happened.
func TestWebhookReceiverDownGetsEverythingInOrder(t *testing.T) {
	r := newReceiver(t)
	var down sync.Mutex
	isDown := true
	r.answer = func(*banliv1.WebhookPayload) int {
		down.Lock()
		defer down.Unlock()
		if isDown {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	f, hooks := hookFixture(t, r, 20*time.Millisecond)
	created := must(hooks.CreateWebhook(as(f.adminKey), &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url()}}))(t)
	r.trust(t, created.GetSecret())
	var cases []*banliv1.Proposal
	for range 5 {
		cases = append(cases, f.receive(t))
	}
	for i, p := range cases { // interleaved: each case's steps between the others'
		cases[i] = f.assign(t, p, part(f.unit(0), roleLead))
	}
	for _, p := range cases {
		f.sign(t, p.GetAssignments()[0].GetName())
	}
	name := created.GetWebhook().GetName()
	waitFor(t, func() bool {
		list := must(hooks.ListWebhookDeliveries(as(f.adminKey), &banliv1.ListWebhookDeliveriesRequest{Parent: name}))(t)
		return slices.ContainsFunc(list.GetDeliveries(), func(d *banliv1.WebhookDelivery) bool { return d.GetAttempts() >= 3 })
	})
	down.Lock()
	isDown = false
	down.Unlock()
	want := f.eventsAfter(t, created.GetWebhook().GetStartSequence())
	waitFor(t, func() bool { return len(r.sequences()) == len(want) })
	got := r.byResource()
	for _, p := range cases {
		if seqs := got[p.GetName()]; len(seqs) != 3 || !slices.IsSorted(seqs) {
			t.Errorf("%s arrived as %v, want its 3 events in order", p.GetName(), seqs)
		}
	}
	list := must(hooks.ListWebhookDeliveries(as(f.adminKey), &banliv1.ListWebhookDeliveriesRequest{Parent: name, State: banliv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DELIVERED}))(t)
	retried := 0
	for _, d := range list.GetDeliveries() {
		if d.GetAttempts() > 1 {
			retried++
			if d.GetLastStatusCode() != http.StatusNoContent || d.GetLastError() != "" || d.GetLastLatency() == nil {
				t.Errorf("delivered after retries, logged as %v", d)
			}
		}
	}
	if retried == 0 {
		t.Errorf("no delivery logged with its retries: %v", list)
	}
}

// TestDeadLetterIsRedelivered: a delivery the receiver refuses every time
// is a dead letter after 10 attempts, while the other cases' go on; it is
// listed, and delivered once redelivered.
func TestDeadLetterIsRedelivered(t *testing.T) {
	r := newReceiver(t)
	f, hooks := hookFixture(t, r, time.Millisecond) // 10 attempts within half a second
	poison := f.receive(t)
	var mu sync.Mutex
	refuse := true
	r.answer = func(p *banliv1.WebhookPayload) int {
		mu.Lock()
		defer mu.Unlock()
		if refuse && p.GetData().GetResource() == poison.GetName() {
			return http.StatusInternalServerError
		}
		return 0
	}
	admin := as(f.adminKey)
	created := must(hooks.CreateWebhook(admin, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url(), Actions: []string{"AssignProposal"}}}))(t)
	r.trust(t, created.GetSecret())
	name := created.GetWebhook().GetName()
	f.assign(t, poison, part(f.unit(0), roleLead))
	other := f.assign(t, f.receive(t), part(f.unit(1), roleLead))
	var dead []*banliv1.WebhookDelivery
	waitFor(t, func() bool {
		dead = must(hooks.ListWebhookDeliveries(admin, &banliv1.ListWebhookDeliveriesRequest{Parent: name, State: banliv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_DEAD}))(t).GetDeliveries()
		return len(dead) == 1
	})
	if d := dead[0]; d.GetResource() != poison.GetName() || d.GetAttempts() != 10 || d.GetLastStatusCode() != 500 || d.GetLastError() != "HTTP 500" {
		t.Errorf("dead letter %v", d)
	}
	if got := r.byResource(); len(got[other.GetName()]) != 1 || len(got[poison.GetName()]) != 0 {
		t.Errorf("delivered %v: want the other case's assignment only", got)
	}
	_, err := hooks.RedeliverWebhookDeliveries(admin, &banliv1.RedeliverWebhookDeliveriesRequest{Parent: name, EventSequences: []uint64{1}})
	wantCode(t, err, codes.InvalidArgument, "event_sequences[0]")
	mu.Lock()
	refuse = false
	mu.Unlock()
	again := must(hooks.RedeliverWebhookDeliveries(admin, &banliv1.RedeliverWebhookDeliveriesRequest{Parent: name}))(t)
	if len(again.GetDeliveries()) != 1 || again.GetDeliveries()[0].GetState() != banliv1.WebhookDeliveryState_WEBHOOK_DELIVERY_STATE_PENDING {
		t.Errorf("redelivered %v", again)
	}
	waitFor(t, func() bool { return len(r.byResource()[poison.GetName()]) == 1 })
	// A retried call does no harm.
	must(hooks.RedeliverWebhookDeliveries(admin, &banliv1.RedeliverWebhookDeliveriesRequest{Parent: name}))(t)
}

// TestPlatformWebhookSeesWhatThePlatformReads: a platform's webhook
// delivers its cases' events exactly as ListEvents shows them to it
// (the redaction table), and nothing of other cases.
func TestPlatformWebhookSeesWhatThePlatformReads(t *testing.T) {
	r := newReceiver(t)
	f, hooks := hookFixture(t, r, 20*time.Millisecond)
	platformKey := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	platform := as(platformKey)
	created := must(hooks.CreateWebhook(platform, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url()}}))(t)
	r.trust(t, created.GetSecret())
	mine := must(f.proposals.CreateProposal(platform, f.receiveRequest("P1")))(t)
	f.receive(t) // the office's: not the platform's
	mine = f.assign(t, mine, part(f.unit(0), roleLead))
	lead := mine.GetAssignments()[0].GetName()
	must(f.proposals.RecordReminder(office, &banliv1.RecordReminderRequest{Name: mine.GetName(), Message: "请抓紧办理"}))(t)
	f.sign(t, lead)
	f.consult(t, lead)
	f.reply(t, lead)
	seen := must(f.events.ListEvents(platform, &banliv1.ListEventsRequest{AfterSequence: created.GetWebhook().GetStartSequence()}))(t).GetEvents()
	waitFor(t, func() bool { return len(r.sequences()) >= len(seen) })
	time.Sleep(100 * time.Millisecond) // nothing more comes
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != len(seen) {
		t.Fatalf("delivered %d events, the platform reads %d", len(r.got), len(seen))
	}
	for i, g := range r.got {
		if got, want := protojson.Format(g.payload.GetData()), protojson.Format(seen[i]); got != want {
			t.Errorf("delivery %d:\n%s\nwant as ListEvents shows it:\n%s", i, got, want)
		}
		if g.payload.GetData().GetAction() == "RecordReminder" || g.payload.GetData().GetResource() != mine.GetName() {
			t.Errorf("delivered %s of %s", g.payload.GetData().GetAction(), g.payload.GetData().GetResource())
		}
	}
}

// TestWebhookURLsAreTheOperators: a URL outside the allow-list is refused
// with the field named; an allowed name that resolves to loopback is not
// dialled; a redirect is not followed; another platform's webhook is not
// reachable; without an allow-list there are no webhooks.
func TestWebhookURLsAreTheOperators(t *testing.T) {
	r := newReceiver(t)
	port := r.srv.Listener.Addr().String()[strings.LastIndex(r.srv.Listener.Addr().String(), ":"):]
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
	}))
	defer redirector.Close()
	f := newFixture(t, func(c *server.Config) {
		c.WebhookAllow = mustAllow(r.srv.URL + "/hooks/,http://localhost" + port + "/," + redirector.URL + "/")
	})
	hooks := banliv1.NewWebhookServiceClient(f.conn)
	admin := as(f.adminKey)
	for _, url := range []string{r.srv.URL + "/other", "http://169.254.169.254/latest/meta-data/", "https://platform.example.test/", "http://user:pw@" + strings.TrimPrefix(r.srv.URL, "http://") + "/hooks/"} {
		_, err := hooks.CreateWebhook(admin, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: url}})
		wantCode(t, err, codes.InvalidArgument, "webhook.url")
	}
	local := must(hooks.CreateWebhook(admin, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: "http://localhost" + port + "/hooks/banli"}}))(t).GetWebhook()
	redirected := must(hooks.CreateWebhook(admin, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: redirector.URL + "/moved"}}))(t).GetWebhook()
	f.receive(t)
	lastError := func(name string) (string, int32) {
		for _, d := range must(hooks.ListWebhookDeliveries(admin, &banliv1.ListWebhookDeliveriesRequest{Parent: name}))(t).GetDeliveries() {
			if d.GetAttempts() > 0 {
				return d.GetLastError(), d.GetLastStatusCode()
			}
		}
		return "", 0
	}
	waitFor(t, func() bool { e, _ := lastError(local.GetName()); return e != "" })
	if e, _ := lastError(local.GetName()); !strings.Contains(e, "loopback") {
		t.Errorf("localhost, which resolves to loopback: %q", e)
	}
	waitFor(t, func() bool { e, _ := lastError(redirected.GetName()); return e != "" })
	if e, code := lastError(redirected.GetName()); e != "HTTP 302" || code != http.StatusFound {
		t.Errorf("a redirect: %q, %d; want it not followed", e, code)
	}

	// Another platform's webhook: refused as one that does not exist.
	mineKey := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	theirs := as(f.account(t, "other-platform", banliv1.Role_ROLE_PROPOSER, ""))
	mine := must(hooks.CreateWebhook(as(mineKey), &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url()}}))(t).GetWebhook()
	for _, err := range []error{
		second(hooks.GetWebhook(theirs, &banliv1.GetWebhookRequest{Name: mine.GetName()})),
		second(hooks.GetWebhook(theirs, &banliv1.GetWebhookRequest{Name: "webhooks/999"})),
		second(hooks.UpdateWebhook(theirs, &banliv1.UpdateWebhookRequest{Webhook: &banliv1.Webhook{Name: mine.GetName(), Url: r.url() + "x"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"url"}}})),
	} {
		wantCode(t, err, codes.PermissionDenied, "")
	}
	if list := must(hooks.ListWebhooks(theirs, &banliv1.ListWebhooksRequest{}))(t); len(list.GetWebhooks()) != 0 {
		t.Errorf("another platform lists %v", list)
	}
	// A filter on a case it may not read.
	_, err := hooks.CreateWebhook(theirs, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url(), Proposal: "proposals/1"}})
	wantDeniedField(t, err, "webhook.proposal")
	// Paused, updated, deleted.
	paused := must(hooks.UpdateWebhook(as(mineKey), &banliv1.UpdateWebhookRequest{Webhook: &banliv1.Webhook{Name: mine.GetName(), Paused: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"paused"}}}))(t)
	if !paused.GetPaused() {
		t.Errorf("not paused: %v", paused)
	}
	_, err = hooks.UpdateWebhook(as(mineKey), &banliv1.UpdateWebhookRequest{Webhook: &banliv1.Webhook{Name: mine.GetName(), Owner: "accounts/other-platform"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"owner"}}})
	wantCode(t, err, codes.InvalidArgument, "update_mask.paths[0]")
	must(hooks.DeleteWebhook(as(mineKey), &banliv1.DeleteWebhookRequest{Name: mine.GetName()}))(t)
	_, err = hooks.GetWebhook(as(mineKey), &banliv1.GetWebhookRequest{Name: mine.GetName()})
	wantCode(t, err, codes.NotFound, "")

	// No allow-list, no webhooks.
	g := newFixture(t, func(c *server.Config) { c.WebhookAllow = mustAllow("") })
	_, err = banliv1.NewWebhookServiceClient(g.conn).CreateWebhook(as(g.adminKey), &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url()}})
	wantCode(t, err, codes.FailedPrecondition, "")
}

func second[A any](_ A, err error) error { return err }

// TestWebhookCrashLosesNoDelivery runs the real server as a child process
// with a webhook, kills it with SIGKILL at random moments while it writes
// and delivers (the crash test's method), and restarts it: in the end the
// receiver has every event of every acknowledged write, each case's in
// order of first arrival.
func TestWebhookCrashLosesNoDelivery(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newReceiver(t)
	data := filepath.Join(t.TempDir(), "banli.db")
	env := "BANLI_WEBHOOK_ALLOW=" + r.srv.URL + "/hooks/"
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	var session, unit string
	var start uint64
	var mu sync.Mutex
	var acks []*banliv1.Proposal
	for cycle := range 3 {
		p := startProcess(t, data, env)
		conn := p.dial(t)
		if cycle == 0 {
			session = must(banliv1.NewSessionServiceClient(conn).CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
				Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "crash"}}))(t).GetName()
			unit = must(banliv1.NewUnitServiceClient(conn).CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "市数据局"}}))(t).GetName()
			created := must(banliv1.NewWebhookServiceClient(conn).CreateWebhook(office, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url()}}))(t)
			r.trust(t, created.GetSecret())
			start = created.GetWebhook().GetStartSequence()
		}
		proposals := banliv1.NewProposalServiceClient(conn)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		for c := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ctx.Err() == nil; i++ {
					steps, err := driveCase(ctx, proposals, session, unit, fmt.Sprintf("W%d-%d-%d", cycle, c, i))
					mu.Lock()
					for _, s := range steps {
						acks = append(acks, s.answer)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}()
		}
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond) // a random moment
		if err := p.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		p.cmd.Wait()
		wg.Wait()
		cancel()
		conn.Close()
	}
	p := startProcess(t, data, env)
	conn := p.dial(t)
	defer conn.Close()
	var latest uint64
	for after := start; ; {
		page := must(banliv1.NewEventServiceClient(conn).ListEvents(office, &banliv1.ListEventsRequest{AfterSequence: after, PageSize: 1000}))(t)
		if len(page.GetEvents()) == 0 {
			break
		}
		after, latest = page.GetNextAfterSequence(), page.GetNextAfterSequence()
	}
	deadline := time.Now().Add(60 * time.Second)
	for len(r.sequences()) < int(latest-start) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := map[string]map[string]bool{} // resource → etags delivered
	r.mu.Lock()
	for _, g := range r.got {
		ev := g.payload.GetData()
		if got[ev.GetResource()] == nil {
			got[ev.GetResource()] = map[string]bool{}
		}
		got[ev.GetResource()][ev.GetProposal().GetEtag()] = true
	}
	r.mu.Unlock()
	lost := 0
	for _, a := range acks {
		if !got[a.GetName()][a.GetEtag()] {
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged %s at revision %s: no delivery of it", a.GetName(), a.GetEtag())
			}
		}
	}
	if n := len(r.sequences()); n != int(latest-start) {
		t.Errorf("delivered %d events of the %d after the webhook's start", n, latest-start)
	}
	for resource, seqs := range r.byResource() {
		if !slices.IsSorted(seqs) {
			t.Errorf("%s arrived as %v", resource, seqs)
		}
	}
	r.mu.Lock()
	deliveries := len(r.got)
	r.mu.Unlock()
	t.Logf("3 kills, %d acknowledged writes, %d events, %d deliveries (%d again after a crash), %d lost", len(acks), latest-start, deliveries, deliveries-len(r.sequences()), lost)
}

// TestSMSGatewayHearsRemindersAndOverdueParts: an agency's SMS gateway,
// subscribed to reminders and overdue notices, hears of the office's
// reminder and, once, of a part whose deadline passed.
func TestSMSGatewayHearsRemindersAndOverdueParts(t *testing.T) {
	r := newReceiver(t)
	f := newFixture(t, func(c *server.Config) {
		c.WebhookAllow = mustAllow(r.srv.URL + "/hooks/")
		c.ScheduledEvery = 20 * time.Millisecond
	})
	hooks := banliv1.NewWebhookServiceClient(f.conn)
	created := must(hooks.CreateWebhook(as(f.adminKey), &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{
		Url: r.url(), DisplayName: "短信平台", Actions: []string{"RecordReminder", "NoticeOverdue"}}}))(t)
	r.trust(t, created.GetSecret())
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	must(f.proposals.RecordReminder(office, &banliv1.RecordReminderRequest{Name: p.GetName(), Message: "请尽快签收"}))(t)
	waitFor(t, func() bool { return len(r.sequences()) == 1 })
	due := p.GetAssignments()[0].GetCurrentDeadline().GetDueTime().AsTime()
	f.clock.Set(due.Add(time.Hour))
	waitFor(t, func() bool { return len(r.sequences()) == 2 })
	time.Sleep(100 * time.Millisecond) // several more runs of the server's steps: announced once
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.got) != 2 {
		t.Fatalf("delivered %d, want the reminder and one overdue notice", len(r.got))
	}
	notice := r.got[1].payload.GetData()
	a := notice.GetProposal().GetAssignments()[0]
	if notice.GetAction() != "NoticeOverdue" || notice.GetTarget() != a.GetName() || !strings.Contains(notice.GetDetails(), "overdue") ||
		!a.GetOverdueNoticedDueTime().AsTime().Equal(due) || notice.GetDescriptionZh() == "" {
		t.Errorf("the notice: %v", notice)
	}
}

// TestWebhooksStopBeforeTheDataFile: on SIGTERM while deliveries are
// under way, each webhook writes where it got to before the data file
// closes, and after a restart every event is delivered.
func TestWebhooksStopBeforeTheDataFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	r := newReceiver(t)
	data := filepath.Join(t.TempDir(), "banli.db")
	env := "BANLI_WEBHOOK_ALLOW=" + r.srv.URL + "/hooks/"
	p := startProcess(t, data, env)
	conn := p.dial(t)
	session := must(banliv1.NewSessionServiceClient(conn).CreateSession(office, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: 1, Year: 2021, DisplayName: "stop"}}))(t).GetName()
	created := must(banliv1.NewWebhookServiceClient(conn).CreateWebhook(office, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: r.url()}}))(t)
	r.trust(t, created.GetSecret())
	proposals := banliv1.NewProposalServiceClient(conn)
	for i := range 50 {
		must(proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
			Session: session, Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL, Number: fmt.Sprintf("S%d", i),
			Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING, Title: "关于停机的提案", Content: "一、……",
			Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员"}},
		}}))(t)
	}
	conn.Close()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	<-p.logDone
	for _, line := range p.log {
		if strings.Contains(line, "webhooks:") {
			t.Errorf("on the way out: %s", line)
		}
	}
	p = startProcess(t, data, env)
	conn = p.dial(t)
	defer conn.Close()
	latest := must(banliv1.NewEventServiceClient(conn).ListEvents(office, &banliv1.ListEventsRequest{PageSize: 1}))(t).GetLatestSequence()
	want := int(latest - created.GetWebhook().GetStartSequence())
	waitFor(t, func() bool { return len(r.sequences()) == want })
}

// TestListWebhooksPages: the admin pages through every live webhook, a
// platform through its own, and a deleted one is in no page.
func TestListWebhooksPages(t *testing.T) {
	f := newFixture(t)
	hooks := banliv1.NewWebhookServiceClient(f.conn)
	admin, platform := as(f.adminKey), as(f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, ""))
	var names []string
	for i, ctx := range []context.Context{admin, platform, admin, platform, platform} {
		w := must(hooks.CreateWebhook(ctx, &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: fmt.Sprintf("https://platform.example.test/%d", i)}}))(t).GetWebhook()
		names = append(names, w.GetName())
	}
	must(hooks.DeleteWebhook(platform, &banliv1.DeleteWebhookRequest{Name: names[3]}))(t)
	pages := func(ctx context.Context) []string {
		var got []string
		for token := ""; ; {
			page := must(hooks.ListWebhooks(ctx, &banliv1.ListWebhooksRequest{PageSize: 1, PageToken: token}))(t)
			for _, w := range page.GetWebhooks() {
				got = append(got, w.GetName())
			}
			if token = page.GetNextPageToken(); token == "" {
				return got
			}
		}
	}
	if got, want := pages(admin), []string{names[0], names[1], names[2], names[4]}; !slices.Equal(got, want) {
		t.Errorf("the admin pages through %v, want %v", got, want)
	}
	if got, want := pages(platform), []string{names[1], names[4]}; !slices.Equal(got, want) {
		t.Errorf("the platform pages through %v, want %v", got, want)
	}
}

// TestOverdueNoticeIsTheOfficesMatter: the platform that submitted a case
// reads neither the overdue notice's event nor its mark on the part, as
// it reads no reminder.
func TestOverdueNoticeIsTheOfficesMatter(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.ScheduledEvery = 20 * time.Millisecond })
	platform := as(f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, ""))
	p := must(f.proposals.CreateProposal(platform, f.receiveRequest("O1")))(t)
	p = f.assign(t, p, part(f.unit(0), roleLead))
	f.clock.Set(p.GetAssignments()[0].GetCurrentDeadline().GetDueTime().AsTime().Add(time.Hour))
	waitFor(t, func() bool {
		got := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
		return got.GetAssignments()[0].GetOverdueNoticedDueTime() != nil
	})
	if got := must(f.proposals.GetProposal(platform, &banliv1.GetProposalRequest{Name: p.GetName()}))(t); got.GetAssignments()[0].GetOverdueNoticedDueTime() != nil {
		t.Errorf("the platform reads the overdue notice's mark: %v", got.GetAssignments()[0].GetOverdueNoticedDueTime())
	}
	for _, ev := range must(f.events.ListEvents(platform, &banliv1.ListEventsRequest{}))(t).GetEvents() {
		if ev.GetAction() == "NoticeOverdue" {
			t.Errorf("the platform reads the event %d NoticeOverdue", ev.GetSequence())
		}
		for _, a := range ev.GetProposal().GetAssignments() {
			if a.GetOverdueNoticedDueTime() != nil {
				t.Errorf("the platform reads the mark in event %d %s", ev.GetSequence(), ev.GetAction())
			}
		}
	}
}
