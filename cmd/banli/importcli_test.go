package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/banli/banli/cmd/banli/cli"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

const csvFile = "届次,案号,案由,内容,提案人,联名人,主办单位,会办单位,主题,联系电话,提出时间\n" +
	"市政协七届一次会议,20210001,关于加快数字政府建设的提案,建议……,王委员,\"李委员、张委员\",市数据局,市财政局,数字政府,13800000001,大会期间\n" +
	"市政协七届一次会议,20210002,关于支持民营经济发展的提案,建议……,民建市委会,,市发展改革委,,营商环境,,闭会期间\n" +
	"市政协七届一次会议,20210003,=HYPERLINK(\"http://x\"),建议……,经济界,,市教育局,,,,\n" +
	"市政协七届一次会议,20210004,关于无主办单位的提案,建议……,赵委员,,不存在的局,,,,\n" +
	"市政协七届一次会议,20210005,,没有案由,钱委员,,,,,,\n"

// TestImportCommand imports office spreadsheets the way an office would.
func TestImportCommand(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	run := func(args ...string) (int, string, string) {
		var out, errs strings.Builder
		code := cli.ImportCommand(append([]string{"-addr", f.addrs.GRPCAddr, "-token-file", f.clientAs(t, f.officeKey(t)).TokenFile}, args...), &out, &errs)
		return code, out.String(), errs.String()
	}

	// UTF-8 with a BOM, as Excel saves it.
	utf8File := filepath.Join(dir, "cases.csv")
	os.WriteFile(utf8File, append([]byte("\xef\xbb\xbf"), csvFile...), 0o600)
	report := filepath.Join(dir, "report.csv")
	code, out, _ := run("-report", report, utf8File)
	if code != 1 || !strings.Contains(out, "created 3, unchanged 0, conflict 0, invalid 2") {
		t.Fatalf("first import: exit %d, %q", code, out)
	}
	rep, _ := os.ReadFile(report)
	golden := filepath.Join("testdata", "import-report.golden.csv")
	if *update {
		os.WriteFile(golden, rep, 0o644)
	}
	if want, err := os.ReadFile(golden); err != nil || !bytes.Equal(rep, want) {
		t.Errorf("the import report differs from %s (%v):\n%s", golden, err, rep)
	}
	list := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{View: banliv1.ProposalView_PROPOSAL_VIEW_FULL}))(t).GetProposals()
	if len(list) != 3 {
		t.Fatalf("%d cases imported", len(list))
	}
	first, party, formula := list[0], list[1], list[2]
	if len(first.GetProposers()) != 3 || first.GetProposers()[0].GetPhone() != "13800000001" || len(first.GetAssignments()) != 2 {
		t.Errorf("row 2 became %v", first)
	}
	if party.GetProposers()[0].GetType() != banliv1.ProposerType_PROPOSER_TYPE_PARTY || party.GetPeriod() != banliv1.SubmissionPeriod_SUBMISSION_PERIOD_BETWEEN_MEETINGS {
		t.Errorf("row 3 became %v", party)
	}
	if formula.GetTitle() != `=HYPERLINK("http://x")` || formula.GetProposers()[0].GetType() != banliv1.ProposerType_PROPOSER_TYPE_SECTOR {
		t.Errorf("a formula cell is text, never evaluated: %v", formula)
	}

	// Again: nothing changes.
	code, out, _ = run(utf8File)
	if code != 1 || !strings.Contains(out, "created 0, unchanged 3, conflict 0, invalid 2") {
		t.Errorf("second import: exit %d, %q", code, out)
	}

	// The same rows saved as GBK, with new numbers, are read by detection.
	gbk, _ := simplifiedchinese.GBK.NewEncoder().Bytes([]byte(strings.ReplaceAll(csvFile, ",2021000", ",2022000")))
	gbkFile := filepath.Join(dir, "gbk.csv")
	os.WriteFile(gbkFile, gbk, 0o600)
	if code, out, _ = run(gbkFile); !strings.Contains(out, "created 3,") {
		t.Errorf("GBK import: exit %d, %q", code, out)
	}

	// JSON lines, keyed by English fields.
	jsonl := filepath.Join(dir, "cases.jsonl")
	os.WriteFile(jsonl, []byte(`{"session":"市政协七届一次会议","number":"J1","title":"t","content":"c","proposer":"孙委员","lead_unit":"市数据局","topics":["教育","医疗卫生"]}`+"\n\n"+
		`{"session":"sessions/1","number":"J2","title":"t2","content":"c","proposer":"周委员"}`+"\n"), 0o600)
	if code, out, _ = run(jsonl); code != 0 || !strings.Contains(out, "created 2, unchanged 0, conflict 0, invalid 0") {
		t.Errorf("JSONL import: exit %d, %q", code, out)
	}

	// Files that cannot be read at all.
	empty := filepath.Join(dir, "empty.csv")
	os.WriteFile(empty, nil, 0o600)
	if code, _, errs := run(empty); code != 1 || !strings.Contains(errs, "empty") {
		t.Errorf("empty file: %d %q", code, errs)
	}
	noTitle := filepath.Join(dir, "notitle.csv")
	os.WriteFile(noTitle, []byte("届次,案号,内容,提案人\nx,1,c,p\n"), 0o600)
	if code, _, errs := run(noTitle); code != 1 || !strings.Contains(errs, "no column for title") {
		t.Errorf("missing column: %d %q", code, errs)
	}
	// A dry run writes nothing.
	dry := filepath.Join(dir, "dry.csv")
	os.WriteFile(dry, bytes.ReplaceAll([]byte(csvFile), []byte(",2021000"), []byte(",2023000")), 0o600)
	before := len(must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{PageSize: 100}))(t).GetProposals())
	run("-dry-run", dry)
	if after := len(must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{PageSize: 100}))(t).GetProposals()); after != before {
		t.Errorf("a dry run wrote %d cases", after-before)
	}
	// Flags after the file, as before it.
	if code, out, _ = run(dry, "-dry-run"); !strings.Contains(out, "dry run") {
		t.Errorf("flags after the file: exit %d, %q", code, out)
	}
	// The report opens in Excel on Chinese Windows as UTF-8, rows in order.
	if !bytes.HasPrefix(rep, []byte("\xef\xbb\xbf")) {
		t.Errorf("the report has no BOM: %q", rep[:min(len(rep), 20)])
	}
	// A workbook named .csv is named as what it is, not printed.
	renamed := filepath.Join(dir, "renamed.csv")
	os.WriteFile(renamed, []byte("PK\x03\x04\x14\x00\x06\x00binary"), 0o600)
	if code, _, errs := run(renamed); code != 1 || !strings.Contains(errs, "is an XLSX workbook") || len(errs) > 300 {
		t.Errorf("an XLSX named .csv: %d %q", code, errs)
	}
	// An export to a folder that is not there names the file asked for.
	var errs strings.Builder
	target := filepath.Join(dir, "missing", "ledger.xlsx")
	if code := cli.ExportCommand([]string{"-addr", f.addrs.GRPCAddr, "-token-file", f.clientAs(t, f.officeKey(t)).TokenFile, "-o", target}, new(strings.Builder), &errs); code != 1 ||
		!strings.Contains(errs.String(), "cannot write "+target) || strings.Contains(errs.String(), ".banli-receive") {
		t.Errorf("export to a missing folder: %d %q", code, errs.String())
	}
}
