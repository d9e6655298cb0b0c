package main

import (
	"bytes"
	"encoding/csv"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/banli/banli/cmd/banli/cli"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestExportRoundTrip imports a file, exports the ledger as CSV and XLSX,
// and imports each export back: nothing changes. The CSV is compared
// with a golden file.
func TestExportRoundTrip(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "cases.csv")
	os.WriteFile(in, []byte(csvFile), 0o600)
	var out, errs strings.Builder
	cli.ImportCommand([]string{"-addr", f.addrs.GRPCAddr, "-token-file", f.clientAs(t, f.officeKey(t)).TokenFile, in}, &out, &errs)
	// Move one case along, so that the handling columns have something.
	p := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{}))(t).GetProposals()[0]
	f.sign(t, p.GetAssignments()[0].GetName())

	for _, name := range []string{"ledger.csv", "ledger.xlsx"} {
		path := filepath.Join(dir, name)
		out.Reset()
		if code := cli.ExportCommand([]string{"-addr", f.addrs.GRPCAddr, "-token-file", f.clientAs(t, f.officeKey(t)).TokenFile, "-o", path}, &out, &errs); code != 0 {
			t.Fatalf("export %s: %d %s", name, code, errs.String())
		}
		out.Reset()
		code := cli.ImportCommand([]string{"-addr", f.addrs.GRPCAddr, "-token-file", f.clientAs(t, f.officeKey(t)).TokenFile, path}, &out, &errs)
		if code != 0 || !strings.Contains(out.String(), "created 0, unchanged 3, conflict 0, invalid 0") {
			t.Errorf("import of the exported %s: %d %q %s", name, code, out.String(), errs.String())
		}
	}

	got, _ := os.ReadFile(filepath.Join(dir, "ledger.csv"))
	golden := filepath.Join("testdata", "ledger.golden.csv")
	if *update {
		os.MkdirAll("testdata", 0o755)
		os.WriteFile(golden, got, 0o644)
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/banli -run TestExportRoundTrip -args -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("the CSV export differs from %s:\n%s", golden, got)
	}
	if !bytes.Contains(got, []byte(`'=HYPERLINK`)) {
		t.Error("a formula-looking cell must be guarded in CSV")
	}

	// REST: a download, and English headers.
	req, _ := http.NewRequest("GET", "http://"+f.addrs.HTTPAddr+"/v1/ledger:export?format=EXPORT_FORMAT_CSV&englishHeaders=true&state=PROPOSAL_STATE_ASSIGNED", nil)
	req.Header.Set("Authorization", "Bearer "+f.officeKey(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	records, _ := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") ||
		!bytes.HasPrefix(body, []byte("\xef\xbb\xbfsession,number,kind")) || len(records) != 4 {
		t.Errorf("REST export: %d %s, %d records:\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), len(records), body)
	}
}
