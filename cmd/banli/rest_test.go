package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// restOK sends a request that must succeed and returns the answer.
func (ts *testServer) restOK(t testing.TB, method, path string, body any) map[string]any {
	t.Helper()
	code, out := ts.rest(t, method, path, body)
	if code != http.StatusOK {
		t.Fatalf("%s %s: HTTP %d %v", method, path, code, out)
	}
	return out
}

// wantHTTP checks an error answer: its status, and for 400s that a field
// violation names field.
func wantHTTP(t testing.TB, code int, out map[string]any, wantCode int, field string) {
	t.Helper()
	if code != wantCode {
		t.Fatalf("HTTP %d %v, want %d", code, out, wantCode)
	}
	if field == "" {
		return
	}
	raw, _ := json.Marshal(out["details"])
	if !strings.Contains(string(raw), `"field":"`+field+`"`) {
		t.Fatalf("no field violation names %q: %s", field, raw)
	}
}

func assignmentOf(p map[string]any, i int) map[string]any {
	return p["assignments"].([]any)[i].(map[string]any)
}

// TestLifecycleOverREST takes a case from received to rated through the
// gateway, with the JSON a REST client would write by hand.
func TestLifecycleOverREST(t *testing.T) {
	ts := startServer(t)
	sess := ts.restOK(t, "POST", "/v1/sessions", map[string]any{
		"body": "BODY_NPC", "level": "LEVEL_CITY", "term": 6, "meeting": 7, "year": 2021, "displayName": "市六届人大七次会议",
	})
	lead := ts.restOK(t, "POST", "/v1/units", map[string]any{"displayName": "市数据局", "contacts": []any{map[string]any{"displayName": "李明", "phone": "0755-88000000"}}})
	co := ts.restOK(t, "POST", "/v1/units", map[string]any{"displayName": "市财政局"})
	dept := ts.restOK(t, "POST", "/v1/units", map[string]any{"displayName": "数字政府处", "parent": lead["name"]})

	p := ts.restOK(t, "POST", "/v1/proposals", map[string]any{
		"session": sess["name"], "kind": "PROPOSAL_KIND_NPC_SUGGESTION", "number": "20190320",
		"period": "SUBMISSION_PERIOD_DURING_MEETING", "title": "关于推进智慧城市建设的建议", "content": "建议如下……",
		"topics":    []string{"智慧城市"},
		"proposers": []any{map[string]any{"type": "PROPOSER_TYPE_PERSON", "displayName": "刘代表", "affiliation": "南山代表团"}},
	})
	name := p["name"].(string)
	if p["state"] != "PROPOSAL_STATE_RECEIVED" || p["etag"] != "1" {
		t.Fatalf("created %v", p)
	}
	p = ts.restOK(t, "POST", "/v1/"+name+":assign", map[string]any{"etag": p["etag"], "assignments": []any{
		map[string]any{"unit": lead["name"], "role": "ASSIGNMENT_ROLE_LEAD"},
		map[string]any{"unit": co["name"], "role": "ASSIGNMENT_ROLE_CO_HANDLING"},
	}})
	leadPart, coPart := assignmentOf(p, 0)["name"].(string), assignmentOf(p, 1)["name"].(string)
	ts.restOK(t, "POST", "/v1/"+leadPart+":sign", map[string]any{"department": dept["name"], "responsiblePerson": "李明"})
	ts.restOK(t, "POST", "/v1/"+coPart+":sign", map[string]any{})
	ts.restOK(t, "POST", "/v1/"+leadPart+":recordConsultation", map[string]any{"consultation": map[string]any{
		"phase": "CONSULTATION_PHASE_BEFORE", "channel": "CONSULTATION_CHANNEL_FORUM", "summary": "座谈交流", "participants": []string{"刘代表"},
	}})
	ts.restOK(t, "POST", "/v1/"+coPart+":submitOpinion", map[string]any{"opinion": map[string]any{"text": "同意主办单位意见", "signer": "王处长"}})
	p = ts.restOK(t, "POST", "/v1/"+leadPart+":submitReply", map[string]any{"reply": map[string]any{
		"category": "REPLY_CATEGORY_B", "text": "正在推进……", "signer": "张局长", "contactPerson": "李明",
		"contactPhone": "0755-88000000", "disclosureIntent": "DISCLOSURE_INTENT_SUMMARY", "collectiveReviewDate": "2021-03-01",
	}})
	if p["state"] != "PROPOSAL_STATE_REPLIED" {
		t.Fatalf("after reply: %v", p["state"])
	}
	p = ts.restOK(t, "POST", "/v1/"+leadPart+"/replies/1:rate", map[string]any{"proposerId": 1, "satisfaction": "SATISFACTION_BASICALLY_SATISFIED"})
	if p["state"] != "PROPOSAL_STATE_RATED" {
		t.Fatalf("after rating: %v", p["state"])
	}
	p = ts.restOK(t, "POST", "/v1/"+leadPart+"/replies/1:publish", map[string]any{"publishedText": "摘要：正在推进。"})

	got := ts.restOK(t, "GET", "/v1/"+name, nil)
	if got["etag"] != p["etag"] || assignmentOf(got, 0)["department"] != dept["name"] {
		t.Errorf("GET differs from the last answer: %v", got)
	}
	list := ts.restOK(t, "GET", "/v1/proposals?unit="+lead["name"].(string)+"&role=ASSIGNMENT_ROLE_LEAD&state=PROPOSAL_STATE_RATED&topic=智慧城市", nil)
	if n := len(list["proposals"].([]any)); n != 1 {
		t.Errorf("filtered list has %d cases", n)
	}
	for query, want := range map[string]int{
		"year=2021": 1, "year=2020": 0, "kind=PROPOSAL_KIND_NPC_SUGGESTION": 1, "kind=PROPOSAL_KIND_CPPCC_PROPOSAL": 0,
		"key=false&year=2021": 1, "key=true": 0, "session=" + sess["name"].(string) + "&year=2021": 1,
	} {
		list := ts.restOK(t, "GET", "/v1/proposals?"+query, nil)
		got, _ := list["proposals"].([]any)
		if len(got) != want {
			t.Errorf("%s: %d cases, want %d", query, len(got), want)
		}
	}
	evs := ts.restOK(t, "GET", "/v1/"+name+"/events", nil)
	if n := len(evs["events"].([]any)); n != 9 {
		t.Errorf("%d events, want 9", n)
	}
	first := evs["events"].([]any)[0].(map[string]any)
	if first["actor"] != "accounts/test-office" {
		t.Errorf("actor %v, want the signed-in account", first["actor"])
	}
}

// TestErrorsOverREST: each refusal's HTTP status and details.
func TestErrorsOverREST(t *testing.T) {
	ts := startServer(t)
	sess := ts.restOK(t, "POST", "/v1/sessions", map[string]any{"body": "BODY_CPPCC", "level": "LEVEL_CITY", "term": 7, "meeting": 1, "year": 2021, "displayName": "s"})
	unit := ts.restOK(t, "POST", "/v1/units", map[string]any{"displayName": "市数据局"})
	body := map[string]any{
		"session": sess["name"], "kind": "PROPOSAL_KIND_CPPCC_PROPOSAL", "number": "1", "period": "SUBMISSION_PERIOD_BETWEEN_MEETINGS",
		"title": "t", "content": "c", "proposers": []any{map[string]any{"type": "PROPOSER_TYPE_SECTOR", "displayName": "经济界"}},
	}
	p := ts.restOK(t, "POST", "/v1/proposals", body)
	name := p["name"].(string)

	tests := []struct {
		name, method, path string
		body               any
		status             int
		field              string
	}{
		{"duplicate number", "POST", "/v1/proposals", body, http.StatusConflict, ""},
		{"the office signing for a unit", "POST", "/v1/" + name + "/assignments/1:sign", map[string]any{}, http.StatusForbidden, ""},
		{"illegal step on the case", "POST", "/v1/" + name + ":withdraw", map[string]any{"etag": "1"}, http.StatusOK, ""},
		{"step after withdrawal", "POST", "/v1/" + name + ":assign", map[string]any{"assignments": []any{map[string]any{"unit": unit["name"], "role": "ASSIGNMENT_ROLE_LEAD"}}}, http.StatusBadRequest, ""},
		{"stale etag", "POST", "/v1/" + name + ":markKey", map[string]any{"etag": "1", "key": false}, http.StatusConflict, ""},
		{"unknown case", "GET", "/v1/proposals/404", nil, http.StatusNotFound, ""},
		{"bad id", "GET", "/v1/proposals/abc", nil, http.StatusBadRequest, "name"},
		{"missing fields", "POST", "/v1/proposals", map[string]any{"session": sess["name"]}, http.StatusBadRequest, "proposal.title"},
		{"wrong JSON type", "POST", "/v1/units/1:deactivate", `{"etag": 5}`, http.StatusBadRequest, ""},
		{"unknown JSON field", "POST", "/v1/units", `{"displayName": "x", "colour": "red"}`, http.StatusBadRequest, ""},
		{"malformed JSON", "POST", "/v1/units", `{"displayName": `, http.StatusBadRequest, ""},
		{"invalid UTF-8", "POST", "/v1/units", "{\"displayName\": \"\xff\xfe\"}", http.StatusBadRequest, ""},
		{"control character", "POST", "/v1/units", map[string]any{"displayName": "a\u0000b"}, http.StatusBadRequest, "unit.display_name"},
		{"page size", "GET", "/v1/proposals?pageSize=5000", nil, http.StatusBadRequest, "page_size"},
		{"foreign page token", "GET", "/v1/proposals?pageToken=AQAAAAAAAAABAAAAAAAAAAA", nil, http.StatusBadRequest, "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := ts.rest(t, tt.method, tt.path, tt.body)
			wantHTTP(t, code, out, tt.status, tt.field)
			if code >= 400 && out["message"] == nil {
				t.Errorf("error without a message: %v", out)
			}
		})
	}

	// A body over the limit is refused before it is read whole.
	big := `{"displayName": "` + strings.Repeat("x", 5<<20) + `"}`
	code, _ := ts.rest(t, "POST", "/v1/units", big)
	if code < 400 || code >= 500 {
		t.Errorf("oversized body: HTTP %d", code)
	}
}

// TestOpenAPIAndProbes: the binary serves its OpenAPI 3 document, which
// names every REST route and the probes, the Swagger 2.0 one it is made
// from, and its probes.
func TestOpenAPIAndProbes(t *testing.T) {
	ts := startServer(t)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Swagger string                    `json:"swagger"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	for path, version := range map[string]string{"/openapi.json": "3.0.3", "/openapi-v2.json": "2.0"} {
		resp, err := http.Get("http://" + ts.addrs.HTTPAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		doc.OpenAPI, doc.Swagger, doc.Paths = "", "", nil
		err = json.NewDecoder(resp.Body).Decode(&doc)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if doc.OpenAPI+doc.Swagger != version {
			t.Errorf("%s is version %q%q, want %s", path, doc.OpenAPI, doc.Swagger, version)
		}
	}
	resp, err := http.Get("http://" + ts.addrs.HTTPAddr + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&doc)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/v1/proposals", "/v1/proposals/{proposal}:assign", "/v1/events", "/v1/units/{unit}:deactivate",
		"/v1/proposals/{proposal}/assignments/{assignment}/replies/{reply}:rate", "/v1/proposals/{proposal}/files:upload",
		"/v1/public/replies.atom", "/healthz", "/readyz", "/metrics", "/openapi.json", "/openapi-v2.json"} {
		if doc.Paths[path] == nil {
			t.Errorf("OpenAPI lacks %s", path)
		}
	}
	// Metrics: gRPC (REST included), commits, cases by state, the file.
	ts.restOK(t, "POST", "/v1/sessions", map[string]any{"body": "BODY_CPPCC", "level": "LEVEL_CITY", "term": 7, "meeting": 1, "year": 2021, "displayName": "s"})
	ts.restOK(t, "POST", "/v1/proposals", map[string]any{
		"session": "sessions/1", "kind": "PROPOSAL_KIND_CPPCC_PROPOSAL", "number": "1", "period": "SUBMISSION_PERIOD_BETWEEN_MEETINGS",
		"title": "t", "content": "c", "proposers": []any{map[string]any{"type": "PROPOSER_TYPE_SECTOR", "displayName": "经济界"}},
	})
	scrape, _ := http.NewRequest("GET", "http://"+ts.addrs.HTTPAddr+"/metrics", nil)
	scrape.Header.Set("Authorization", "Bearer "+ts.account(t, "prometheus", banliv1.Role_ROLE_MONITOR, ""))
	resp, err = http.DefaultClient.Do(scrape)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`grpc_server_handled_total{grpc_code="OK",grpc_method="CreateProposal",grpc_service="banli.v1.ProposalService",grpc_type="unary"} 1`,
		`banli_cases{state="RECEIVED"} 1`, "banli_commit_batch_size_count ", "banli_database_bytes ", "banli_overdue_parts 0",
		"banli_webhook_pending_deliveries 0", "banli_webhook_dead_letters 0", `banli_build_info{commit="`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/nope": 404} {
		resp, err := http.Get("http://" + ts.addrs.HTTPAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: HTTP %d, want %d", path, resp.StatusCode, want)
		}
	}
}

// TestRESTSaysWhatIsWrong: a body with a member the API does not define
// names it by its path, a body that is not JSON says at which byte it
// breaks, and a method a path does not take is 405 with Allow.
func TestRESTSaysWhatIsWrong(t *testing.T) {
	f := newFixture(t)
	violation := func(body string) (field, description string) {
		t.Helper()
		code, out := f.restRaw(t, f.adminKey, "POST", "/v1/sessions", body)
		var st struct {
			Details []struct {
				FieldViolations []struct{ Field, Description string }
			}
		}
		if err := json.Unmarshal([]byte(out), &st); code != http.StatusBadRequest || err != nil {
			t.Fatalf("%s: HTTP %d %s", body, code, out)
		}
		for _, d := range st.Details {
			for _, v := range d.FieldViolations {
				return v.Field, v.Description
			}
		}
		t.Fatalf("%s: no field violation in %s", body, out)
		return "", ""
	}
	for body, want := range map[string]string{
		`{"bogus":1}`:                          "session.bogus",
		`{"displayName":"x","policy":{"x":1}}`: "session.policy.x",
		`{"policy":{"ratingRule":{"zz":2}}}`:   "session.policy.ratingRule",
	} {
		if field, _ := violation(body); field != want {
			t.Errorf("%s names %q, want %q", body, field, want)
		}
	}
	for body, want := range map[string]string{
		`{"displayName":`:      "byte 15 of 15",
		`{"displayName":"a",}`: "byte 20 of 20",
	} {
		if field, description := violation(body); field != "session" || !strings.Contains(description, want) {
			t.Errorf("%s: %s: %s, want the byte (%s)", body, field, description, want)
		}
	}
	for path, allow := range map[string]string{"/v1/sessions": "GET, POST", "/v1/proposals/7:assign": "POST", "/v1/proposals/7/events": "GET"} {
		req, _ := http.NewRequest("DELETE", "http://"+f.addrs.HTTPAddr+path, nil)
		if path == "/v1/proposals/7/events" {
			req.Method = "PATCH"
		}
		req.Header.Set("Authorization", "Bearer "+f.adminKey)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != allow {
			t.Errorf("%s %s: HTTP %d, Allow %q; want 405, Allow %q", req.Method, path, resp.StatusCode, resp.Header.Get("Allow"), allow)
		}
	}
	// A body that breaks off mid-read (a chunk size that is not hex) is
	// refused as every bad request is: a google.rpc.Status in JSON.
	conn, err := net.Dial("tcp", f.addrs.HTTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/sessions HTTP/1.1\r\nHost: banli\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"dis\r\nzz\r\n", f.adminKey)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	var st struct{ Code int }
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(answer, &st) != nil || st.Code != 3 {
		t.Errorf("a body broken mid-read: HTTP %d %s %s, want 400 with a google.rpc.Status", resp.StatusCode, resp.Header.Get("Content-Type"), answer)
	}
}
