package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// platformCase is a case a submission platform sent in, taken through the
// steps whose events a platform sees whole, sees the outcome of, or does
// not see: assigned to a lead and a co-handling unit, signed, reminded,
// consulted, the co-handling opinion sent, an extension asked for and
// granted, replied.
func platformCase(t *testing.T, f *fixture, platform string) *banliv1.Proposal {
	t.Helper()
	req := f.receiveRequest("P1")
	p := must(f.proposals.CreateProposal(as(platform), req))(t)
	p = f.assign(t, p, part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	lead, co := p.Assignments[0].GetName(), p.Assignments[1].GetName()
	f.sign(t, lead)
	f.sign(t, co)
	must(f.proposals.RecordReminder(office, &banliv1.RecordReminderRequest{Name: p.GetName(), Assignment: lead, Message: "请抓紧办理（内部催办）"}))(t)
	f.consult(t, lead)
	must(f.proposals.SubmitOpinion(office, &banliv1.SubmitOpinionRequest{Name: co, Opinion: &banliv1.Opinion{Text: "会办意见（内部）", Signer: "王处长"}}))(t)
	must(f.proposals.RequestExtension(office, &banliv1.RequestExtensionRequest{Name: lead, Reason: "需跨部门协调（内部理由）", RequestedDueDate: "2021-07-15"}))(t)
	must(f.proposals.DecideExtension(office, &banliv1.DecideExtensionRequest{Name: lead, Decision: banliv1.Decision_DECISION_APPROVED, Note: "同意延期（内部意见）"}))(t)
	f.reply(t, lead)
	return p
}

// TestEventsAsEachAccountSeesThem: the history is read by every account
// that reads cases, each its own part of it, and a platform the case as
// the deputy may see it, by the redaction table (#17, item 2).
func TestEventsAsEachAccountSeesThem(t *testing.T) {
	f := newFixture(t)
	platform := f.account(t, "platform", banliv1.Role_ROLE_PROPOSER, "")
	other := f.account(t, "other-platform", banliv1.Role_ROLE_PROPOSER, "")
	p := platformCase(t, f, platform)
	elsewhere := f.assign(t, f.receive(t), part(f.unit(2), roleLead)) // the office's, not the platform's

	all := func(ctx context.Context, req *banliv1.ListEventsRequest) []*banliv1.Event {
		t.Helper()
		var out []*banliv1.Event
		for {
			resp := must(f.events.ListEvents(ctx, req))(t)
			out = append(out, resp.GetEvents()...)
			if resp.GetNextAfterSequence() == resp.GetLatestSequence() {
				return out
			}
			req.AfterSequence = resp.GetNextAfterSequence()
		}
	}
	actions := func(events []*banliv1.Event) []string {
		var out []string
		for _, ev := range events {
			out = append(out, ev.GetAction())
		}
		return out
	}

	// The platform reads its case's road, and nothing internal.
	seen := all(as(platform), &banliv1.ListEventsRequest{PageSize: 3})
	want := []string{"CreateProposal", "AssignProposal", "SignAssignment", "SignAssignment", "RecordConsultation", "DecideExtension (approve)", "SubmitReply"}
	if got := actions(seen); !slices.Equal(got, want) {
		t.Errorf("the platform's history: %v, want %v", got, want)
	}
	history := must(f.events.ListProposalEvents(as(platform), &banliv1.ListProposalEventsRequest{Parent: p.GetName()}))(t).GetEvents()
	if got := actions(history); !slices.Equal(got, want) {
		t.Errorf("the platform's case history: %v, want %v", got, want)
	}
	for _, ev := range seen {
		text := ev.String()
		for _, internal := range []string{"内部", "王处长"} {
			if strings.Contains(text, internal) {
				t.Errorf("the platform's %s event shows an internal matter (%s): %v", ev.GetAction(), internal, ev)
			}
		}
		if ev.GetResource() != p.GetName() {
			t.Errorf("the platform reads an event of %s", ev.GetResource())
		}
		if ev.GetAction() != "CreateProposal" && ev.GetActor() != "" {
			t.Errorf("the platform is told who took %s: %q", ev.GetAction(), ev.GetActor())
		}
		if a := ev.GetProposal().GetAssignments(); len(a) > 1 && a[1].GetOpinion() != nil {
			t.Errorf("the %s event's case carries the co-handling opinion", ev.GetAction())
		}
	}
	// And the case itself the same way.
	read := must(f.proposals.GetProposal(as(platform), &banliv1.GetProposalRequest{Name: p.GetName()}))(t)
	if len(read.GetReminders()) != 0 || read.GetAssignments()[1].GetOpinion() != nil || len(read.GetAssignments()[0].GetExtensionRequests()) != 0 {
		t.Errorf("GetProposal shows the platform internal matters: %v", read)
	}
	if office := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t); len(office.GetReminders()) != 1 {
		t.Fatalf("the office's case lost its reminder: %v", office.GetReminders())
	}

	// Another platform reads none of it; a filter on the case is refused.
	if got := all(as(other), &banliv1.ListEventsRequest{}); len(got) != 0 {
		t.Errorf("another platform reads %v", actions(got))
	}
	_, err := f.events.ListEvents(as(other), &banliv1.ListEventsRequest{Proposal: p.GetName()})
	wantDeniedField(t, err, "proposal")

	// A unit reads the events of its cases, whole; the office all cases'.
	staff := f.account(t, "staff-2", banliv1.Role_ROLE_UNIT_STAFF, f.unit(2))
	unitSees := all(as(staff), &banliv1.ListEventsRequest{})
	if len(unitSees) != 2 || unitSees[0].GetResource() != elsewhere.GetName() {
		t.Errorf("unit 2 reads %v", actions(unitSees))
	}
	officeSees := all(office, &banliv1.ListEventsRequest{Actions: []string{"RecordReminder", "SubmitOpinion"}})
	if got := actions(officeSees); !slices.Equal(got, []string{"RecordReminder", "SubmitOpinion"}) || !strings.Contains(officeSees[0].GetDetails()+officeSees[0].String(), "内部催办") {
		t.Errorf("the office's reminders and opinions: %v", got)
	}
	for _, ev := range all(office, &banliv1.ListEventsRequest{}) {
		if ev.GetAccount() != nil {
			t.Errorf("the office reads an account's event: %s %s", ev.GetAction(), ev.GetResource())
		}
	}
	// The admin reads the history as stored, accounts included.
	if got := all(as(f.adminKey), &banliv1.ListEventsRequest{Actions: []string{"CreateAccount"}}); len(got) < 3 {
		t.Errorf("the admin reads %d account creations", len(got))
	}
}

// TestWatchResumesWithoutGapOrDuplicate: a watch sends every event after
// its starting point, then each new one; cut and resumed from the last
// sequence received, it sends each later event exactly once (#17, item 1).
func TestWatchResumesWithoutGapOrDuplicate(t *testing.T) {
	f := newFixture(t)
	f.officeKey(t) // the office's account exists before the watch: its creation is the admin's to read
	// visible lists the sequences after `after` the office may read: all
	// but the accounts' events.
	visible := func(after uint64) []uint64 {
		var out []uint64
		for _, ev := range must(f.events.ListEvents(as(f.adminKey), &banliv1.ListEventsRequest{AfterSequence: after, PageSize: 1000}))(t).GetEvents() {
			if ev.GetAccount() == nil {
				out = append(out, ev.GetSequence())
			}
		}
		return out
	}
	receive := func(stream interface {
		Recv() (*banliv1.WatchEventsResponse, error)
	}, n int) []uint64 {
		t.Helper()
		var got []uint64
		for len(got) < n {
			msg, err := stream.Recv()
			if err != nil {
				t.Fatalf("after %d events: %v", len(got), err)
			}
			if ev := msg.GetEvent(); ev != nil {
				got = append(got, ev.GetSequence())
			}
		}
		return got
	}

	ctx, cancel := context.WithCancel(office)
	stream := must(f.events.WatchEvents(ctx, &banliv1.WatchEventsRequest{}))(t)
	for range 3 {
		f.receive(t)
	}
	want := visible(0)
	got := receive(stream, len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("the first watch: %v, want %v", got, want)
	}
	cancel()

	// Cut off, it resumes after the last sequence it received.
	resumeAfter := got[len(got)-1]
	for range 4 {
		f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	}
	resumed := must(f.events.WatchEvents(office, &banliv1.WatchEventsRequest{AfterSequence: resumeAfter, HeartbeatSeconds: 1}))(t)
	want = visible(resumeAfter)
	if got := receive(resumed, len(want)); !slices.Equal(got, want) {
		t.Errorf("resumed after %d: %v, want %v", resumeAfter, got, want)
	}
	// Then a heartbeat while nothing happens, saying how far it read.
	for {
		msg, err := resumed.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if ev := msg.GetEvent(); ev != nil {
			t.Fatalf("an event after the last: %v", ev.GetSequence())
		}
		if hb := msg.GetHeartbeat(); hb != nil {
			if hb.GetWatchedSequence() != want[len(want)-1] || hb.GetLatestSequence() < hb.GetWatchedSequence() {
				t.Errorf("heartbeat %v, the last event %d", hb, want[len(want)-1])
			}
			break
		}
	}
}

// TestSlowWatcherIsCutOff: a watcher that never reads holds up no write;
// once its messages have waited unread for the send timeout, its watch
// ends with RESOURCE_EXHAUSTED, saying where to resume.
func TestSlowWatcherIsCutOff(t *testing.T) {
	f := newFixture(t, func(c *server.Config) { c.SendTimeout = time.Second })
	stalled := must(f.events.WatchEvents(office, &banliv1.WatchEventsRequest{}))(t)
	// Enough events to fill the transport's windows: each carries its case.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 400 {
			f.receive(t)
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("writes stalled behind a watcher that does not read")
	}
	time.Sleep(2 * time.Second) // the send timeout passes
	var err error
	for err == nil {
		_, err = stalled.Recv()
	}
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("the stalled watch ended with %v", err)
	}
	var resume string
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetReason() == "WATCHER_TOO_SLOW" {
			resume = info.GetMetadata()["resume_after_sequence"]
		}
	}
	if n, err := strconv.ParseUint(resume, 10, 64); err != nil || n == 0 {
		t.Errorf("no resume point in %v", st.Details())
	}
}

// TestWatchOverREST: the watch as newline-delimited JSON, and as
// Server-Sent Events resumed by Last-Event-ID.
func TestWatchOverREST(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	get := func(accept, lastID string) (*http.Response, *bufio.Reader) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+f.addrs.HTTPAddr+"/v1/events:watch?proposal="+p.GetName()+"&heartbeatSeconds=1", nil)
		req.Header.Set("Authorization", "Bearer "+f.officeKey(t))
		req.Header.Set("Accept", accept)
		if lastID != "" {
			req.Header.Set("Last-Event-ID", lastID)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp, bufio.NewReader(resp.Body)
	}

	resp, lines := get("application/json", "")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("NDJSON watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	line, err := lines.ReadString('\n')
	var first struct {
		Result struct {
			Event struct {
				Sequence string `json:"sequence"`
				Action   string `json:"action"`
			} `json:"event"`
		} `json:"result"`
	}
	if err != nil || json.Unmarshal([]byte(line), &first) != nil || first.Result.Event.Action != "CreateProposal" {
		t.Fatalf("first line %q: %v", line, err)
	}
	f.assign(t, p, part(f.unit(0), roleLead))
	line, _ = lines.ReadString('\n')
	if !strings.Contains(line, `"action":"AssignProposal"`) {
		t.Errorf("the next line: %q", line)
	}

	// Server-Sent Events, resumed after the first event: the assignment next.
	resp, events := get("text/event-stream", first.Result.Event.Sequence)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("SSE watch: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var block []string
	for {
		line, err := events.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == "\n" {
			break
		}
		block = append(block, strings.TrimSpace(line))
	}
	seq, _ := strconv.Atoi(first.Result.Event.Sequence)
	if len(block) != 3 || block[0] != "id: "+strconv.Itoa(seq+1) || block[1] != "event: event" || !strings.Contains(block[2], "AssignProposal") {
		t.Errorf("the first event after Last-Event-ID %d: %q", seq, block)
	}

	// Refused before it starts: an HTTP error like any call's.
	req, _ := http.NewRequest("GET", "http://"+f.addrs.HTTPAddr+"/v1/events:watch?bogus=1", nil)
	req.Header.Set("Authorization", "Bearer "+f.officeKey(t))
	bad, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(bad.Body)
	bad.Body.Close()
	if bad.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "bogus") {
		t.Errorf("a watch with an unknown parameter: %d %s", bad.StatusCode, body)
	}
	if errors.Is(err, io.EOF) {
		t.Fatal(err)
	}
}
