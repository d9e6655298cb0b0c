package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDeployNamesRealMetrics: every banli_ metric the alert rules and the
// Grafana dashboard in deploy/ ask for is one the server exports, so that
// a renamed metric cannot leave an alert that never fires.
func TestDeployNamesRealMetrics(t *testing.T) {
	f := newFixture(t)
	f.receive(t)
	req, _ := http.NewRequest("GET", "http://"+f.addrs.HTTPAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+f.adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	exported, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var dashboard struct {
		Panels []struct {
			Targets []struct{ Expr string }
		}
	}
	raw, err := os.ReadFile("../../deploy/grafana/banli-dashboard.json")
	if err != nil || json.Unmarshal(raw, &dashboard) != nil || len(dashboard.Panels) == 0 {
		t.Fatalf("the dashboard: %v", err)
	}
	var exprs []string
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
		}
	}
	rules, err := os.ReadFile("../../deploy/prometheus/banli-alerts.yml")
	if err != nil {
		t.Fatal(err)
	}
	exprs = append(exprs, string(rules))
	name := regexp.MustCompile(`\b(banli_[a-z_]+|grpc_server_[a-z_]+)`)
	seen := 0
	for _, expr := range exprs {
		for _, m := range name.FindAllString(expr, -1) {
			seen++
			if !strings.Contains(string(exported), "\n"+m) {
				t.Errorf("deploy/ asks for %s, which /metrics does not export", m)
			}
		}
	}
	if seen < 8 {
		t.Errorf("found %d metric names in deploy/: the test reads the wrong files", seen)
	}
}
