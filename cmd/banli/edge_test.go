package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestRESTEdges: a misspelt query parameter is refused by its name, not
// ignored (which answered every case); a body over the limit is HTTP 413
// (#15, item 6).
func TestRESTEdges(t *testing.T) {
	f := newFixture(t)
	f.receive(t)
	code, raw := f.restRaw(t, f.officeKey(t), "GET", "/v1/proposals?sesion=sessions/1", "")
	if code != http.StatusBadRequest || !strings.Contains(raw, `"field":"sesion"`) {
		t.Errorf("a misspelt parameter: %d %s", code, raw)
	}
	code, _ = f.restAs(t, f.officeKey(t), "GET", "/v1/proposals?session=sessions/1&pageSize=10", "")
	if code != http.StatusOK {
		t.Errorf("known parameters: %d", code)
	}
	big := `{"proposal":{"title":"` + strings.Repeat("长", 2<<20) + `"}}`
	code, raw = f.restRaw(t, f.officeKey(t), "POST", "/v1/proposals", big)
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 6 MiB body: %d %.200s", code, raw)
	}
}

// TestLookupByNumber: a case is found by its session and number, over
// gRPC and REST, by those who may read it; to a confined caller a number
// that is not its case's reads the same as one that is not taken (#15,
// item 6).
func TestLookupByNumber(t *testing.T) {
	f := newFixture(t)
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	got := must(f.proposals.GetProposalByNumber(office, &banliv1.GetProposalByNumberRequest{Session: p.GetSession(), Number: p.GetNumber()}))(t)
	if got.GetName() != p.GetName() {
		t.Fatalf("found %s, want %s", got.GetName(), p.GetName())
	}
	_, err := f.proposals.GetProposalByNumber(office, &banliv1.GetProposalByNumberRequest{Session: p.GetSession(), Number: "NONE"})
	wantCode(t, err, codes.NotFound, "")
	staff := as(f.account(t, "lookup-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	must(f.proposals.GetProposalByNumber(staff, &banliv1.GetProposalByNumberRequest{Session: p.GetSession(), Number: p.GetNumber()}))(t)
	other := as(f.account(t, "lookup-other", banliv1.Role_ROLE_UNIT_STAFF, f.unit(1)))
	_, errTaken := f.proposals.GetProposalByNumber(other, &banliv1.GetProposalByNumberRequest{Session: p.GetSession(), Number: p.GetNumber()})
	_, errFree := f.proposals.GetProposalByNumber(other, &banliv1.GetProposalByNumberRequest{Session: p.GetSession(), Number: "NONE"})
	if status.Code(errTaken) != codes.PermissionDenied || status.Code(errFree) != codes.PermissionDenied {
		t.Errorf("another unit's lookups: %v and %v", errTaken, errFree)
	}
	code, body := f.restAs(t, f.officeKey(t), "GET", "/v1/"+p.GetSession()+"/proposals:lookup?number="+p.GetNumber(), "")
	if code != http.StatusOK || body["name"] != p.GetName() {
		t.Errorf("REST lookup: %d %v", code, body)
	}
}

// TestRESTBodyEdges: a body with text that is not UTF-8 (GBK, say) is
// refused naming the field, at any depth and whichever part of the
// request the body is; a filter value that is no value of its parameter
// names the parameter; a body sent in chunks, with no length, is 413 once
// it runs past the limit (#15, item 6).
func TestRESTBodyEdges(t *testing.T) {
	f := newFixture(t)
	gbk := "\xb9\xd8\xd3\xda" // 关于 in GBK
	for _, c := range []struct{ path, body, field string }{
		{"/v1/proposals", `{"session":"` + f.session.GetName() + `","title":"` + gbk + `"}`, "proposal.title"},
		{"/v1/proposals", `{"title":"ok","proposers":[{"displayName":"王"},{"displayName":"` + gbk + `"}]}`, "proposal.proposers[1].display_name"},
		{"/v1/accounts", `{"displayName":"` + gbk + `","role":"ROLE_VIEWER"}`, "account.display_name"},
	} {
		key := f.officeKey(t)
		if strings.HasPrefix(c.path, "/v1/accounts") {
			key = f.adminKey
		}
		code, raw := f.restRaw(t, key, "POST", c.path, c.body)
		if code != http.StatusBadRequest || !strings.Contains(raw, `"field":"`+c.field+`"`) || !strings.Contains(raw, "UTF-8") {
			t.Errorf("POST %s with GBK text: %d %s; want 400 naming %s", c.path, code, raw, c.field)
		}
	}
	code, raw := f.restRaw(t, f.officeKey(t), "GET", "/v1/proposals?state=PROPOSAL_STATE_NOPE", "")
	if code != http.StatusBadRequest || !strings.Contains(raw, `"field":"state"`) {
		t.Errorf("an unknown filter value: %d %s", code, raw)
	}

	// In chunks: the client does not know the length ahead.
	big := io.MultiReader(strings.NewReader(`{"proposal":{"title":"`), strings.NewReader(strings.Repeat("长", 2<<20)), strings.NewReader(`"}}`))
	req, err := http.NewRequest("POST", "http://"+f.addrs.HTTPAddr+"/v1/proposals", big)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.officeKey(t))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
		t.Errorf("a 6 MiB body in chunks: %d (length sent %d)", resp.StatusCode, req.ContentLength)
	}
}
