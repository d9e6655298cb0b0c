package main

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The hostile-caller suite. Every RPC, over gRPC, and every REST route is
// called as every kind of caller of the access matrix (each role, a unit
// on the case and units that are not, a department, the case's proposer
// and another, viewers of every scope, the auditor, the standby, a
// monitor), on a case that has gone through its lifecycle and carries
// marked ("canary") text in its content, its proposer's name and phone,
// a consultation, an opinion and its reply. Then the replays: another
// account's request ids, page tokens and cursors. Every answer is read
// whole (status, message, details, body), and none of the canaries may
// reach a caller who may not read the case.

// canaries are marks that only readers of the case may ever see.
var canaries = []string{"内容CANARY7731", "王CANARY委员", "13977310000", "沟通CANARY", "会办CANARY", "答复CANARY"}

// mayKnowTheCase are the matrix callers who may read the case whole:
// those GetProposal admits, and the admin and the standby, who read the
// global event stream (and the admin the backup).
var mayKnowTheCase = []string{"office", "platform", "lead-staff", "lead-head", "co-staff", "co-head", "admin", "standby", "leader"}

// publishedCanary is the reply's canary, which the public feed may show
// anyone once a probe has published the reply (PublishReply is among the
// calls the suite makes): a published reply is public.
var publishedCanary = canaries[5]

// publicFeed reports whether a method or route is the public feed's.
func publicFeed(short string) bool { return short == "PublicationService/ListPublishedReplies" }

// leaked names the canary a text holds, if any.
func leaked(text string) string {
	for _, c := range canaries {
		if strings.Contains(text, c) {
			return c
		}
	}
	return ""
}

// hostileFixture is the access matrix's server, callers and case, the case
// moved along to replied with canaries in every text.
type hostileFixture struct {
	*fixture
	keys       map[string]string
	caseName   string
	lead, co   string
	platformID string // request_id the platform used
}

func newHostileFixture(t *testing.T) *hostileFixture {
	f := newFixture(t)
	h := &hostileFixture{fixture: f, keys: matrixAccounts(t, f), platformID: "platform-req-1"}
	platform := as(h.keys["platform"])
	req := f.receiveRequest("H1")
	req.RequestId = h.platformID
	req.Proposal.Content = "一、" + canaries[0]
	req.Proposal.Proposers = []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: canaries[1], Phone: canaries[2]}}
	p := must(f.proposals.CreateProposal(platform, req))(t)
	// A second case of the platform's, so that its lists have pages.
	must(f.proposals.CreateProposal(platform, f.receiveRequest("H2")))(t)
	p = f.assign(t, p, part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	h.caseName, h.lead, h.co = p.GetName(), p.GetAssignments()[0].GetName(), p.GetAssignments()[1].GetName()
	ctxOf := func(who string) context.Context { return as(h.keys[who]) }
	must(f.proposals.SignAssignment(ctxOf("lead-staff"), &banliv1.SignAssignmentRequest{Name: h.lead, ResponsiblePerson: "李明"}))(t)
	must(f.proposals.SignAssignment(ctxOf("co-staff"), &banliv1.SignAssignmentRequest{Name: h.co}))(t)
	must(f.proposals.RecordConsultation(ctxOf("lead-staff"), &banliv1.RecordConsultationRequest{Name: h.lead, Consultation: &banliv1.Consultation{
		Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT, Summary: canaries[3],
	}}))(t)
	must(f.proposals.SubmitOpinion(ctxOf("co-staff"), &banliv1.SubmitOpinionRequest{Name: h.co, Opinion: &banliv1.Opinion{Text: canaries[4], Signer: "王处长"}}))(t)
	reply := load.ReplyRequest(h.lead, banliv1.ReplyCategory_REPLY_CATEGORY_A)
	reply.Reply.Text = "一、" + canaries[5]
	must(f.proposals.SubmitReply(ctxOf("lead-head"), reply))(t)
	markMatrixKeyCase(t, f, h.caseName) // after the reply: a key case's would need a collective review
	return h
}

// TestHostileCallers is the suite; see the top of the file.
func TestHostileCallers(t *testing.T) {
	start := time.Now()
	h := newHostileFixture(t)
	probes := 0

	// Every RPC over gRPC, as every caller.
	for _, m := range apiMethods(t) {
		want := expectedAccess[m.short]
		for _, who := range matrixCallers {
			probes++
			req := matrixRequest(m, h.caseName, h.lead, h.unit(0))
			if export, ok := req.(*banliv1.ExportLedgerRequest); ok {
				export.Format = banliv1.ExportFormat_EXPORT_FORMAT_CSV // text, which the canary check can read
			}
			answer, err := invokeAnswer(as(h.keys[who]), h, m, req)
			text := answer + statusText(err)
			allowed := status.Code(err) != codes.PermissionDenied && status.Code(err) != codes.Unauthenticated
			if allowed != slices.Contains(want, who) {
				t.Errorf("%s as %s: %v, want allowed=%v", m.short, who, err, !allowed)
			}
			if c := leaked(text); c != "" && !slices.Contains(mayKnowTheCase, who) && !(c == publishedCanary && publicFeed(m.short)) {
				t.Errorf("%s as %s: the answer holds %q:\n%.600s", m.short, who, c, text)
			}
		}
	}

	// Every REST route, as every caller: the same rule over the gateway,
	// and no canary in any body but those of the case's readers.
	for _, route := range restProbeRoutes(t, h) {
		for _, who := range matrixCallers {
			probes++
			code, body := h.restRaw(t, h.keys[who], route.verb, route.path, route.body)
			allowed := code != http.StatusForbidden && code != http.StatusUnauthorized
			if allowed != slices.Contains(expectedAccess[route.short], who) {
				t.Errorf("REST %s %s as %s: %d %.200s, want allowed=%v", route.verb, route.path, who, code, body, !allowed)
			}
			if c := leaked(body); c != "" && !slices.Contains(mayKnowTheCase, who) && !(c == publishedCanary && publicFeed(route.short)) {
				t.Errorf("REST %s %s as %s: the body holds %q:\n%.600s", route.verb, route.path, who, c, body)
			}
		}
	}

	// No caller learns whether a case it may not reach exists: another's
	// case and one that does not exist are refused alike.
	for _, who := range []string{"other-staff", "dept-staff", "other-platform"} {
		for _, name := range []string{h.caseName, "proposals/999"} {
			probes++
			_, err := h.proposals.GetProposal(as(h.keys[who]), &banliv1.GetProposalRequest{Name: name})
			if status.Code(err) != codes.PermissionDenied {
				t.Errorf("GetProposal %s as %s: %v, want PERMISSION_DENIED whether or not it exists", name, who, err)
			}
		}
	}

	// Replays of the platform's request id and body by another proposer:
	// a request of its own, which never returns the platform's case.
	req := h.receiveRequest("H1")
	req.RequestId = h.platformID
	probes++
	resp, err := h.proposals.CreateProposal(as(h.keys["other-platform"]), req)
	if err == nil || strings.Contains(statusText(err), h.caseName) || resp.GetName() == h.caseName {
		t.Errorf("another proposer replaying the platform's request: %v %v", resp, err)
	}

	// The platform's page tokens and cursors, used by others.
	page := must(h.proposals.ListProposals(as(h.keys["platform"]), &banliv1.ListProposalsRequest{PageSize: 1}))(t)
	if page.GetNextPageToken() == "" {
		t.Fatal("the platform's first page has no next page token")
	}
	for _, who := range []string{"other-platform", "lead-staff", "other-staff"} {
		probes++
		next, err := h.proposals.ListProposals(as(h.keys[who]), &banliv1.ListProposalsRequest{PageSize: 1, PageToken: page.GetNextPageToken()})
		if c := leaked(prototext.Format(next) + statusText(err)); c != "" || (err == nil && len(next.GetProposals()) > 0 && who != "lead-staff") {
			t.Errorf("%s paging on with the platform's token: %v %v", who, next, err)
		}
	}
	history := must(h.events.ListProposalEvents(as(h.keys["office"]), &banliv1.ListProposalEventsRequest{Parent: h.caseName, PageSize: 1}))(t)
	for _, who := range []string{"other-staff", "other-platform", "viewer-all"} {
		probes++
		_, err := h.events.ListProposalEvents(as(h.keys[who]), &banliv1.ListProposalEventsRequest{Parent: h.caseName, PageSize: 1, PageToken: history.GetNextPageToken()})
		if status.Code(err) != codes.PermissionDenied || leaked(statusText(err)) != "" {
			t.Errorf("%s with the office's history token: %v", who, err)
		}
	}
	for _, who := range []string{"office", "lead-staff", "platform", "viewer-all", "auditor"} {
		probes++
		// A cursor past the end reads nothing; those who may not read the
		// history are refused whatever the cursor.
		resp, err := h.events.ListEvents(as(h.keys[who]), &banliv1.ListEventsRequest{AfterSequence: 1<<64 - 1})
		readsHistory := slices.Contains(expectedAccess["EventService/ListEvents"], who)
		if readsHistory && (err != nil || len(resp.GetEvents()) != 0) || !readsHistory && status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s reading the event stream from a forged cursor: %v %v", who, resp.GetEvents(), err)
		}
	}
	t.Logf("hostile-caller suite: %d probes (%d RPCs and %d REST routes × %d callers, and replays) in %s",
		probes, len(apiMethods(t)), len(restProbeRoutes(t, h)), len(matrixCallers), time.Since(start).Round(time.Millisecond))
	// Every record the probes left names what was called on, denied calls
	// and empty requests included (#15, item 5).
	untargeted := map[string]int{}
	for _, rec := range h.auditTrail(t) {
		if rec.GetTarget() == "" {
			untargeted[rec.GetMethod()]++
		}
	}
	if len(untargeted) > 0 {
		t.Errorf("audit records without a target, by method: %v", untargeted)
	}
}

// invokeAnswer makes one call of m and returns its answer as text (every
// streamed message, for a stream).
func invokeAnswer(ctx context.Context, h *hostileFixture, m apiMethod, req proto.Message) (string, error) {
	out, _ := protoregistry.GlobalTypes.FindMessageByName(m.desc.Output().FullName())
	if !m.desc.IsStreamingClient() && !m.desc.IsStreamingServer() {
		resp := out.New().Interface()
		err := h.conn.Invoke(ctx, m.full, req, resp)
		return prototext.Format(resp), err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := h.conn.NewStream(ctx, streamDesc, m.full)
	if err != nil {
		return "", err
	}
	if err := stream.SendMsg(req); err != nil && err != io.EOF {
		return "", err
	}
	stream.CloseSend()
	var text strings.Builder
	for {
		resp := out.New().Interface()
		if err := stream.RecvMsg(resp); err != nil {
			if err == io.EOF {
				err = nil
			}
			return text.String(), err
		}
		text.WriteString(prototext.Format(resp))
		if w, ok := resp.(*banliv1.WatchEventsResponse); ok && w.GetHeartbeat() != nil {
			return text.String(), nil // a watch never ends: it has caught up
		}
		if b, ok := resp.(interface{ GetData() []byte }); ok {
			text.Write(b.GetData()) // a download's bytes, CSV or a data file
		}
	}
}

var streamDesc = &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}

// statusText is an error's whole status: code, message and details.
func statusText(err error) string {
	if err == nil {
		return ""
	}
	return prototext.Format(status.Convert(err).Proto())
}

type restProbe struct {
	verb, path, short, body string
}

// restProbeRoutes is every route of the OpenAPI document, with its path
// parameters filled in as matrixRequest fills the gRPC request: the case,
// the lead unit's part and its reply, units/1, and a unit filter.
func restProbeRoutes(t testing.TB, h *hostileFixture) []restProbe {
	params := regexp.MustCompile(`\{[^}]*\}`)
	var out []restProbe
	for _, r := range restRoutes() {
		short := strings.TrimPrefix(r.method, "/banli.v1.")
		values := map[string]string{
			"{proposal}": strings.TrimPrefix(h.caseName, "proposals/"), "{assignment}": "1", "{reply}": "1",
			"{account}": "nobody", "{unit}": strings.TrimPrefix(h.unit(0), "units/"), "{session}": "1", "{calendar}": "2021",
			"{file}": "1", "{sha256}": strings.Repeat("0", 64), "{leader}": "1", "{scoringPolicie}": "city-2021", "{webhook}": "1",
		}
		path := params.ReplaceAllStringFunc(r.template, func(p string) string { return values[p] })
		// A unit filter, as matrixRequest sets it, on a GET whose request
		// has one.
		if _, msg := restMethod(t, r.verb, path); r.verb == "GET" && msg.ProtoReflect().Descriptor().Fields().ByName("unit") != nil {
			path += "?unit=" + h.unit(0)
		}
		if short == "SupervisionService/ExportLedger" {
			path += "&format=EXPORT_FORMAT_CSV"
		}
		if short == "EventService/WatchEvents" {
			path += "&heartbeatSeconds=1" // caught up, it says so at once (restRaw reads it to there)
		}
		if short == "SupervisionService/ListLedgerEntries" {
			path += "&view=LEDGER_VIEW_KEY_CASES" // as matrixRequest asks it
		}
		body := ""
		if r.verb == "POST" {
			body = "{}"
		}
		if short == "StatisticsService/GetYearSummary" && r.verb == "POST" { // the unit filter, in the body
			body = `{"unit":"` + h.unit(0) + `"}`
		}
		if short == "ProposalService/MarkKey" { // the case stays the leader's key case
			body = `{"key":true,"leaders":[{"leader":"leaders/1","role":"KEY_CASE_ROLE_SUPERVISING"}]}`
		}
		out = append(out, restProbe{verb: r.verb, path: path, short: short, body: body})
	}
	return out
}
