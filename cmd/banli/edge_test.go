package main

import (
	"net/http"
	"strings"
	"testing"
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
