package main

import (
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
