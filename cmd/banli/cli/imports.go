package cli

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/banli/banli/cmd/banli/dial"
	"github.com/banli/banli/cmd/banli/sheet"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// importCommand is `banli import FILE`.
func ImportCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := dial.AddFlags(fs)
	encoding := fs.String("encoding", "auto", "CSV text encoding: auto, utf-8 or gbk")
	format := fs.String("format", "auto", "xlsx, csv, jsonl, or auto (by the file's extension)")
	mappingFile := fs.String("mapping", "", "a JSON file of header-to-field pairs, added to the default mapping")
	report := fs.String("report", "", "write every bad row here, as CSV (row, column, reason)")
	dryRun := fs.Bool("dry-run", false, "check every row, write nothing")
	allOrNothing := fs.Bool("all-or-nothing", false, "write each batch only if all its rows are good")
	batch := fs.Int("batch", 1000, "rows per batch (one transaction each), 1 to 10000")
	history := fs.Bool("history", false, "migrate cases with their history (补录): a JSONL file, one banli.v1.MigrationRow per line")
	files, err := dial.Parse(fs, args)
	if err != nil || len(files) != 1 || *batch < 1 || *batch > 10000 {
		fmt.Fprintln(stderr, "usage: banli import [-addr host:port] [-format auto|xlsx|csv|jsonl] [-encoding auto|utf-8|gbk] [-mapping FILE] [-report FILE] [-dry-run] [-all-or-nothing] [-history] FILE")
		return 2
	}
	file := files[0]
	if *history {
		return migrateCommand(client, file, *format, *encoding, *dryRun, *report, stdout, stderr)
	}
	mapping := map[string]string{}
	for k, v := range sheet.DefaultMapping {
		mapping[k] = v
	}
	if *mappingFile != "" {
		raw, err := os.ReadFile(*mappingFile)
		extra := map[string]string{}
		if err == nil {
			err = json.Unmarshal(raw, &extra)
		}
		if err != nil {
			fmt.Fprintln(stderr, "banli import: -mapping:", err)
			return 2
		}
		for k, v := range extra {
			mapping[strings.ToLower(strings.TrimSpace(k))] = v
		}
	}
	progress, endProgress := progressPrinter(stderr)
	opts := importOptions{batch: *batch, dryRun: *dryRun, allOrNothing: *allOrNothing, progress: progress}
	sum, err := importFile(context.Background(), client, file, *format, *encoding, mapping, opts)
	endProgress()
	if err != nil {
		fmt.Fprintln(stderr, "banli import:", err)
		return 1
	}
	fmt.Fprintf(stdout, "created %d, unchanged %d, conflict %d, invalid %d", sum.created, sum.unchanged, sum.conflicts, sum.invalid)
	if *dryRun {
		fmt.Fprint(stdout, " (dry run: nothing written)")
	}
	fmt.Fprintln(stdout)
	if *report != "" {
		if err := writeReport(*report, sum.problems); err != nil {
			fmt.Fprintln(stderr, "banli import: report:", err)
			return 1
		}
	}
	for _, p := range byRow(sum.problems) {
		fmt.Fprintf(stderr, "row %d, %s: %s\n", p.row, p.column, p.reason)
	}
	if sum.conflicts+sum.invalid > 0 {
		return 1
	}
	return 0
}

type importOptions struct {
	batch        int
	dryRun       bool
	allOrNothing bool
	progress     func(rows int)
}

type importProblem struct {
	row    int64
	column string
	reason string
}

type importSummary struct {
	created, unchanged, conflicts, invalid int64
	problems                               []importProblem
}

// importFile streams a file's rows to the server in batches and gathers
// the results. Rows that cannot even be made into a request (an unknown
// session or unit name) are counted invalid here.
func importFile(ctx context.Context, client *dial.Flags, path, format, encoding string, mapping map[string]string, opts importOptions) (*importSummary, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if format == "auto" {
		format = "csv"
		switch strings.ToLower(filepath.Ext(path)) {
		case ".jsonl", ".ndjson":
			format = "jsonl"
		case ".xlsx":
			format = "xlsx"
		}
	}
	if err := contentMatches(f, path, format); err != nil {
		return nil, err
	}
	var rows sheet.Reader
	switch format {
	case "csv":
		rows, err = sheet.NewCSV(f, encoding, mapping)
	case "jsonl":
		rows, err = sheet.NewJSONL(f, mapping)
	case "xlsx":
		rows, err = sheet.NewXLSX(f, mapping)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		return nil, err
	}

	conn, err := client.Dial()
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	names, err := loadNames(ctx, conn)
	if err != nil {
		return nil, err
	}
	stream, err := banliv1.NewImportServiceClient(conn).ImportProposals(ctx)
	if err != nil {
		return nil, err
	}
	sum := &importSummary{}
	atomicity := banliv1.ImportAtomicity_IMPORT_ATOMICITY_PER_ROW
	if opts.allOrNothing {
		atomicity = banliv1.ImportAtomicity_IMPORT_ATOMICITY_ALL_OR_NOTHING
	}
	// Answers are read while batches are still being sent, so the server
	// can decide one batch while it receives the next.
	answers := make(chan error, 1)
	go func() {
		done := 0
		for {
			resp, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				answers <- nil
				return
			}
			if err != nil {
				answers <- err
				return
			}
			sum.add(resp)
			done += len(resp.GetResults())
			if opts.progress != nil {
				opts.progress(done)
			}
		}
	}()
	var pending []*banliv1.ImportRow
	seen := map[string]int64{} // session and number -> row, across batches
	flush := func() error {
		if len(pending) == 0 {
			return nil
		}
		err := stream.Send(&banliv1.ImportProposalsRequest{Rows: pending, DryRun: opts.dryRun, Atomicity: atomicity})
		pending = nil // the sent slice belongs to the stream now
		return err
	}
	local := &importSummary{}
	for {
		rec, err := rows.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			local.invalid++
			local.problems = append(local.problems, importProblem{row: int64(rec.Line), column: "-", reason: err.Error()})
			continue
		}
		row, problem := names.row(rec)
		if problem == nil {
			key := row.GetProposal().GetSession() + "\x00" + row.GetProposal().GetNumber()
			if first, dup := seen[key]; dup {
				problem = &importProblem{row: int64(rec.Line), column: sheet.FieldNumber, reason: fmt.Sprintf("repeats row %d's number", first)}
			} else {
				seen[key] = int64(rec.Line)
			}
		}
		if problem != nil {
			local.invalid++
			local.problems = append(local.problems, *problem)
			continue
		}
		pending = append(pending, row)
		if len(pending) == opts.batch {
			if err := flush(); err != nil {
				break // the receiver has the stream's error
			}
		}
	}
	if err := flush(); err == nil {
		stream.CloseSend()
	}
	if err := <-answers; err != nil {
		return nil, err
	}
	sum.invalid += local.invalid
	sum.problems = append(local.problems, sum.problems...)
	return sum, nil
}

func (s *importSummary) add(resp *banliv1.ImportProposalsResponse) {
	s.created += resp.GetCreated()
	s.unchanged += resp.GetUnchanged()
	s.conflicts += resp.GetConflicts()
	s.invalid += resp.GetInvalid()
	for _, r := range resp.GetResults() {
		switch r.GetOutcome() {
		case banliv1.ImportOutcome_IMPORT_OUTCOME_CONFLICT:
			s.problems = append(s.problems, importProblem{row: r.GetRow(), column: sheet.FieldNumber, reason: r.GetMessage()})
		case banliv1.ImportOutcome_IMPORT_OUTCOME_INVALID:
			for _, v := range r.GetViolations() {
				s.problems = append(s.problems, importProblem{row: r.GetRow(), column: v.GetField(), reason: v.GetDescription()})
			}
		}
	}
}

// names resolves the names offices write (a session's or unit's display
// name) to resource names.
type names struct {
	sessions map[string]*banliv1.Session
	units    map[string]string
}

func loadNames(ctx context.Context, conn *grpc.ClientConn) (*names, error) {
	n := &names{sessions: map[string]*banliv1.Session{}, units: map[string]string{}}
	sessions, err := banliv1.NewSessionServiceClient(conn).ListSessions(ctx, &banliv1.ListSessionsRequest{PageSize: 1000})
	if err != nil {
		return nil, err
	}
	for _, s := range sessions.GetSessions() {
		n.sessions[s.GetName()], n.sessions[s.GetDisplayName()] = s, s
	}
	// A unit is found by its present name first, then by a name it had
	// before a rename, then, merged away, by its name as its successor's:
	// a spreadsheet written before a reorganisation still imports.
	var all []*banliv1.Unit
	units := banliv1.NewUnitServiceClient(conn)
	req := &banliv1.ListUnitsRequest{PageSize: 1000, ShowInactive: true}
	for {
		page, err := units.ListUnits(ctx, req)
		if err != nil {
			return nil, err
		}
		all = append(all, page.GetUnits()...)
		if page.GetNextPageToken() == "" {
			break
		}
		req.PageToken = page.GetNextPageToken()
	}
	add := func(name, unit string) {
		if _, taken := n.units[name]; !taken {
			n.units[name] = unit
		}
	}
	for _, u := range all {
		if u.GetActive() {
			add(u.GetName(), u.GetName())
			add(u.GetDisplayName(), u.GetName())
		}
	}
	for _, u := range all {
		for _, former := range u.GetFormerNames() {
			if u.GetActive() {
				add(former, u.GetName())
			}
		}
	}
	for _, u := range all {
		if successor := u.GetMergedInto(); successor != "" {
			add(u.GetDisplayName(), successor)
			for _, former := range u.GetFormerNames() {
				add(former, successor)
			}
		}
	}
	return n, nil
}

// row turns a record into an import row, or says which cell is wrong.
func (n *names) row(rec sheet.Record) (*banliv1.ImportRow, *importProblem) {
	v := rec.Values
	bad := func(column, format string, args ...any) *importProblem {
		return &importProblem{row: int64(rec.Line), column: column, reason: fmt.Sprintf(format, args...)}
	}
	sess, ok := n.sessions[v[sheet.FieldSession]]
	if !ok {
		return nil, bad(sheet.FieldSession, "no session named %q", v[sheet.FieldSession])
	}
	kind := sess.GetCaseKind()
	switch k := v[sheet.FieldKind]; {
	case k == "":
	case strings.Contains(k, "提案") || strings.EqualFold(k, "cppcc"):
		kind = banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL
	case strings.Contains(k, "建议") || strings.EqualFold(k, "npc"):
		kind = banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION
	default:
		return nil, bad(sheet.FieldKind, "%q is neither 提案 nor 建议", k)
	}
	period := banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING
	if p := v[sheet.FieldPeriod]; strings.Contains(p, "闭会") || strings.Contains(p, "平时") || strings.EqualFold(p, "between") {
		period = banliv1.SubmissionPeriod_SUBMISSION_PERIOD_BETWEEN_MEETINGS
	}
	p := &banliv1.Proposal{
		Session: sess.GetName(), Kind: kind, Number: v[sheet.FieldNumber], Serial: v[sheet.FieldSerial], Period: period,
		Title: v[sheet.FieldTitle], Content: v[sheet.FieldContent], Topics: sheet.List(v[sheet.FieldTopics]),
	}
	if first := v[sheet.FieldProposer]; first != "" {
		p.Proposers = append(p.Proposers, &banliv1.Proposer{Type: proposerType(first), DisplayName: first, Phone: v[sheet.FieldPhone], Affiliation: v[sheet.FieldAffiliation]})
	}
	for _, name := range sheet.List(v[sheet.FieldCoSigners]) {
		p.Proposers = append(p.Proposers, &banliv1.Proposer{Type: proposerType(name), DisplayName: name})
	}
	row := &banliv1.ImportRow{Row: int64(rec.Line), Proposal: p}
	for _, col := range []struct {
		field string
		role  banliv1.AssignmentRole
	}{{sheet.FieldLeadUnit, roleLead}, {sheet.FieldSplitUnits, roleSplit}, {sheet.FieldCoUnits, roleCo}} {
		for _, name := range sheet.List(v[col.field]) {
			unit, ok := n.units[name]
			if !ok {
				return nil, bad(col.field, "no unit named %q", name)
			}
			row.Assignments = append(row.Assignments, &banliv1.UnitAssignment{Unit: unit, Role: col.role})
		}
	}
	return row, nil
}

// proposerType tells a collective proposer by its name, as offices write
// them; anyone else is a person.
func proposerType(name string) banliv1.ProposerType {
	for _, party := range []string{"民革", "民盟", "民建", "民进", "农工党", "致公党", "九三学社", "台盟", "党派"} {
		if strings.Contains(name, party) {
			return banliv1.ProposerType_PROPOSER_TYPE_PARTY
		}
	}
	switch {
	case strings.HasSuffix(name, "界"), strings.HasSuffix(name, "界别"):
		return banliv1.ProposerType_PROPOSER_TYPE_SECTOR
	case strings.HasSuffix(name, "小组"):
		return banliv1.ProposerType_PROPOSER_TYPE_MEMBER_GROUP
	case strings.HasSuffix(name, "专委会"), strings.HasSuffix(name, "专门委员会"):
		return banliv1.ProposerType_PROPOSER_TYPE_SPECIAL_COMMITTEE
	}
	for _, group := range []string{"工商联", "妇联", "总工会", "团市委", "共青团", "科协", "侨联", "青联", "台联"} {
		if strings.Contains(name, group) {
			return banliv1.ProposerType_PROPOSER_TYPE_GROUP
		}
	}
	return banliv1.ProposerType_PROPOSER_TYPE_PERSON
}

// progressPrinter reports progress: one rewritten line on a terminal,
// plain lines otherwise. end ends the rewritten line, so that what is
// printed next starts a line of its own.
func progressPrinter(w io.Writer) (progress func(int), end func()) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	printed := false
	progress = func(rows int) {
		if tty {
			fmt.Fprintf(w, "\rimported %d rows", rows)
			printed = true
		} else if rows%10000 == 0 {
			fmt.Fprintf(w, "imported %d rows\n", rows)
		}
	}
	end = func() {
		if printed {
			fmt.Fprintln(w)
			printed = false
		}
	}
	return progress, end
}

// byRow is problems in the order of their rows (a batch's answers come as
// the server decides them).
func byRow(problems []importProblem) []importProblem {
	sorted := slices.Clone(problems)
	slices.SortStableFunc(sorted, func(a, b importProblem) int { return cmp.Compare(a.row, b.row) })
	return sorted
}

// utf8BOM starts the report, so that Excel on Chinese Windows opens it as
// UTF-8 rather than GBK.
const utf8BOM = "\ufeff"

func writeReport(path string, problems []importProblem) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.WriteString(f, utf8BOM); err != nil {
		f.Close()
		return err
	}
	w := csv.NewWriter(f)
	w.Write([]string{"行号 row", "列 column", "原因 reason"})
	for _, p := range byRow(problems) {
		w.Write([]string{fmt.Sprint(p.row), p.column, p.reason})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// exportCommand is `banli export -o FILE`.
func ExportCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := dial.AddFlags(fs)
	out := fs.String("o", "", "the file to write (required); .csv writes CSV, anything else XLSX")
	session := fs.String("session", "", "only this session, sessions/{id}")
	unit := fs.String("unit", "", "only this unit's cases, units/{id}")
	state := fs.String("state", "", "only cases in this state, e.g. REPLIED")
	year := fs.Int("year", 0, "only this year's cases")
	english := fs.Bool("english", false, "English column headers")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || *out == "" {
		fmt.Fprintln(stderr, "usage: banli export -o FILE [-session S] [-unit U] [-state STATE] [-year Y] [-english]")
		return 2
	}
	req := &banliv1.ExportLedgerRequest{Format: banliv1.ExportFormat_EXPORT_FORMAT_XLSX, Session: *session, Unit: *unit, Year: int32(*year), EnglishHeaders: *english}
	if strings.EqualFold(filepath.Ext(*out), ".csv") {
		req.Format = banliv1.ExportFormat_EXPORT_FORMAT_CSV
	}
	if *state != "" {
		v, ok := banliv1.ProposalState_value["PROPOSAL_STATE_"+strings.ToUpper(strings.TrimPrefix(*state, "PROPOSAL_STATE_"))]
		if !ok {
			fmt.Fprintf(stderr, "banli export: unknown state %q\n", *state)
			return 2
		}
		req.State = banliv1.ProposalState(v)
	}
	n, err := export(context.Background(), client, req, *out)
	if err != nil {
		fmt.Fprintln(stderr, "banli export:", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %d bytes to %s\n", n, *out)
	return 0
}

// export writes the server's ledger export to path, through a temporary
// file.
func export(ctx context.Context, client *dial.Flags, req *banliv1.ExportLedgerRequest, path string) (int64, error) {
	conn, err := client.Dial()
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stream, err := banliv1.NewSupervisionServiceClient(conn).ExportLedger(ctx, req)
	if err != nil {
		return 0, err
	}
	return receiveFile(stream, path, nil)
}

// migrationBatch is how many rows one MigrateProposals call carries.
const migrationBatch = 500

// migrateCommand is `banli import -history FILE`: a JSONL file of
// banli.v1.MigrationRow in protobuf JSON, or a spreadsheet (CSV, XLSX)
// with the ledger export's history columns; the rows go to
// MigrateProposals in batches, with the file's SHA-256 for the audit
// record.
func migrateCommand(client *dial.Flags, path, format, encoding string, dryRun bool, report string, stdout, stderr io.Writer) int {
	raw, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "banli import:", err)
		return 1
	}
	sum := sha256.Sum256(raw)
	conn, err := client.Dial()
	if err != nil {
		fmt.Fprintln(stderr, "banli import:", err)
		return 1
	}
	defer conn.Close()
	var total importSummary
	var rows []*banliv1.MigrationRow
	if ext := strings.ToLower(filepath.Ext(path)); format == "jsonl" || (format == "auto" && (ext == ".jsonl" || ext == ".ndjson")) {
		for n, line := range strings.Split(string(raw), "\n") {
			if strings.TrimSpace(line) == "" {
				continue
			}
			row := &banliv1.MigrationRow{}
			if err := protojson.Unmarshal([]byte(line), row); err != nil {
				fmt.Fprintf(stderr, "banli import: line %d: %v\n", n+1, err)
				return 1
			}
			if row.Row == 0 {
				row.Row = int64(n + 1)
			}
			rows = append(rows, row)
		}
	} else {
		rows, err = historyRows(context.Background(), conn, bytes.NewReader(raw), path, format, encoding, &total)
		if err != nil {
			fmt.Fprintln(stderr, "banli import:", err)
			return 1
		}
	}
	imports := banliv1.NewImportServiceClient(conn)
	for start := 0; start < len(rows); start += migrationBatch {
		resp, err := imports.MigrateProposals(context.Background(), &banliv1.MigrateProposalsRequest{
			Rows: rows[start:min(start+migrationBatch, len(rows))], DryRun: dryRun, SourceSha256: hex.EncodeToString(sum[:])})
		if err != nil {
			fmt.Fprintln(stderr, "banli import:", err)
			return 1
		}
		total.created += resp.GetMigrated()
		total.unchanged += resp.GetUnchanged()
		for _, r := range resp.GetResults() {
			if r.GetOutcome() == banliv1.ImportOutcome_IMPORT_OUTCOME_CREATED || r.GetOutcome() == banliv1.ImportOutcome_IMPORT_OUTCOME_UNCHANGED {
				continue
			}
			total.invalid++
			column := fmt.Sprintf("step %d", r.GetStep())
			if r.GetStep() < 0 {
				column = "case"
			}
			if len(r.GetViolations()) == 0 {
				total.problems = append(total.problems, importProblem{row: r.GetRow(), column: column, reason: r.GetMessage()})
			}
			for _, v := range r.GetViolations() {
				total.problems = append(total.problems, importProblem{row: r.GetRow(), column: v.GetField(), reason: v.GetDescription()})
			}
		}
	}
	fmt.Fprintf(stdout, "migrated %d, unchanged %d, refused %d", total.created, total.unchanged, total.invalid)
	if dryRun {
		fmt.Fprint(stdout, " (dry run: nothing written)")
	}
	fmt.Fprintln(stdout)
	if report != "" {
		if err := writeReport(report, total.problems); err != nil {
			fmt.Fprintln(stderr, "banli import: report:", err)
			return 1
		}
	}
	for _, p := range total.problems {
		fmt.Fprintf(stderr, "row %d, %s: %s\n", p.row, p.column, p.reason)
	}
	if total.invalid > 0 {
		return 1
	}
	return 0
}

// historyRows reads a spreadsheet with history columns (as the ledger
// export writes them) into migration rows: the case, its units, and its
// replying part's steps, each at its time. Rows that cannot be made into
// one are counted in sum.
func historyRows(ctx context.Context, conn *grpc.ClientConn, r io.Reader, path, format, encoding string, sum *importSummary) ([]*banliv1.MigrationRow, error) {
	mapping := map[string]string{}
	for k, v := range sheet.DefaultMapping {
		mapping[k] = v
	}
	var rows sheet.Reader
	var err error
	if format == "xlsx" || (format == "auto" && strings.EqualFold(filepath.Ext(path), ".xlsx")) {
		rows, err = sheet.NewXLSX(r, mapping)
	} else {
		rows, err = sheet.NewCSV(r, encoding, mapping)
	}
	if err != nil {
		return nil, err
	}
	names, err := loadNames(ctx, conn)
	if err != nil {
		return nil, err
	}
	var out []*banliv1.MigrationRow
	for {
		rec, err := rows.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		var row *banliv1.MigrationRow
		problem := &importProblem{row: int64(rec.Line), column: "-"}
		if err == nil {
			row, problem = names.historyRow(rec)
		} else {
			problem.reason = err.Error()
		}
		if problem != nil {
			sum.invalid++
			sum.problems = append(sum.problems, *problem)
			continue
		}
		out = append(out, row)
	}
}

var (
	channels = map[string]banliv1.ConsultationChannel{
		"电话": banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE, "当面": banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT,
		"座谈": banliv1.ConsultationChannel_CONSULTATION_CHANNEL_FORUM, "联合调研": banliv1.ConsultationChannel_CONSULTATION_CHANNEL_JOINT_RESEARCH,
		"书面": banliv1.ConsultationChannel_CONSULTATION_CHANNEL_MESSAGE, "其他": banliv1.ConsultationChannel_CONSULTATION_CHANNEL_OTHER,
	}
	disclosures = map[string]banliv1.DisclosureIntent{
		"全文公开": banliv1.DisclosureIntent_DISCLOSURE_INTENT_FULL, "摘要公开": banliv1.DisclosureIntent_DISCLOSURE_INTENT_SUMMARY,
		"不公开": banliv1.DisclosureIntent_DISCLOSURE_INTENT_NONE,
	}
	satisfactions = map[string]banliv1.Satisfaction{
		"满意": banliv1.Satisfaction_SATISFACTION_SATISFIED, "基本满意": banliv1.Satisfaction_SATISFACTION_BASICALLY_SATISFIED,
		"不满意": banliv1.Satisfaction_SATISFACTION_UNSATISFIED,
	}
	chinaTime = time.FixedZone("CST", 8*3600)
)

// historyRow makes a record into a migration row.
func (n *names) historyRow(rec sheet.Record) (*banliv1.MigrationRow, *importProblem) {
	base, problem := n.row(rec)
	if problem != nil {
		return nil, problem
	}
	v := rec.Values
	bad := func(field, format string, args ...any) *importProblem {
		return &importProblem{row: int64(rec.Line), column: field, reason: fmt.Sprintf(format, args...)}
	}
	when := func(field string) (*timestamppb.Timestamp, *importProblem) {
		s := strings.TrimSpace(v[field])
		if s == "" {
			return nil, nil
		}
		for _, layout := range []string{time.DateTime, "2006-01-02 15:04", time.DateOnly, "2006/01/02"} {
			if t, err := time.ParseInLocation(layout, s, chinaTime); err == nil {
				return timestamppb.New(t), nil
			}
		}
		return nil, bad(field, "%q is not a time like 2021-03-01 09:30:00", s)
	}
	// Which assignment replies: the first lead or split unit, in the
	// order the row names them.
	part := 0
	for i, a := range base.GetAssignments() {
		if a.GetRole() != banliv1.AssignmentRole_ASSIGNMENT_ROLE_CO_HANDLING {
			part = i + 1
			break
		}
	}
	name := fmt.Sprintf("proposals/-/assignments/%d", part)
	reply := name + "/replies/1"
	row := &banliv1.MigrationRow{Row: int64(rec.Line), Proposal: base.GetProposal()}
	step := func(at *timestamppb.Timestamp, s *banliv1.MigrationStep) {
		s.Time = at
		row.Steps = append(row.Steps, s)
	}
	assigned, p := when(sheet.FieldAssignTime)
	if p != nil {
		return nil, p
	}
	if assigned == nil {
		return nil, bad(sheet.FieldAssignTime, "required for a case migrated with its history")
	}
	row.ReceiveTime = assigned
	step(assigned, &banliv1.MigrationStep{Step: &banliv1.MigrationStep_Assign{Assign: &banliv1.AssignProposalRequest{Name: "proposals/-", Assignments: base.GetAssignments()}}})
	for _, s := range []struct {
		field string
		make  func(at *timestamppb.Timestamp) (*banliv1.MigrationStep, *importProblem)
	}{
		{sheet.FieldSignTime, func(*timestamppb.Timestamp) (*banliv1.MigrationStep, *importProblem) {
			return &banliv1.MigrationStep{Step: &banliv1.MigrationStep_Sign{Sign: &banliv1.SignAssignmentRequest{Name: name}}}, nil
		}},
		{sheet.FieldConsultTime, func(at *timestamppb.Timestamp) (*banliv1.MigrationStep, *importProblem) {
			channel, ok := channels[v[sheet.FieldChannel]]
			if !ok {
				return nil, bad(sheet.FieldChannel, "%q is not a channel (%s)", v[sheet.FieldChannel], "电话, 当面, 座谈, 联合调研, 书面, 其他")
			}
			return &banliv1.MigrationStep{Step: &banliv1.MigrationStep_Consult{Consult: &banliv1.RecordConsultationRequest{Name: name, Consultation: &banliv1.Consultation{
				Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: channel, Time: at, Summary: "（补录）"}}}}, nil
		}},
		{sheet.FieldReplyTime, func(at *timestamppb.Timestamp) (*banliv1.MigrationStep, *importProblem) {
			category := lastLabel(v[sheet.FieldCategories])
			c, ok := banliv1.ReplyCategory_value["REPLY_CATEGORY_"+category]
			if !ok {
				return nil, bad(sheet.FieldCategories, "%q is not a reply category A to D", category)
			}
			return &banliv1.MigrationStep{Step: &banliv1.MigrationStep_Reply{Reply: &banliv1.SubmitReplyRequest{Name: name, Reply: &banliv1.Reply{
				Category: banliv1.ReplyCategory(c), Text: v[sheet.FieldReplyText], Signer: v[sheet.FieldReplySigner], ContactPerson: v[sheet.FieldReplyContact],
				ContactPhone: v[sheet.FieldReplyPhone], ReplyTime: at, DisclosureIntent: disclosures[v[sheet.FieldDisclosure]]}}}}, nil
		}},
		{sheet.FieldDeliveryTime, func(at *timestamppb.Timestamp) (*banliv1.MigrationStep, *importProblem) {
			return &banliv1.MigrationStep{Step: &banliv1.MigrationStep_Deliver{Deliver: &banliv1.RecordDeliveryRequest{Name: reply, AllProposers: true,
				Channel: banliv1.DeliveryChannel_DELIVERY_CHANNEL_POST, Time: at}}}, nil
		}},
	} {
		at, p := when(s.field)
		if p != nil {
			return nil, p
		}
		if at == nil {
			return row, nil // the case was no further along
		}
		st, p := s.make(at)
		if p != nil {
			return nil, p
		}
		step(at, st)
	}
	rated, p := when(sheet.FieldRatingTime)
	if p != nil || rated == nil {
		return row, p
	}
	satisfaction, ok := satisfactions[lastLabel(v[sheet.FieldRatings])]
	if !ok {
		return nil, bad(sheet.FieldRatings, "%q is not 满意, 基本满意 or 不满意", lastLabel(v[sheet.FieldRatings]))
	}
	// Every proposer rated as the row's outcome says; an unsatisfied one
	// was vetted by the office where the session says so, and closed.
	for id := range base.GetProposal().GetProposers() {
		opinion := ""
		if satisfaction == banliv1.Satisfaction_SATISFACTION_UNSATISFIED {
			opinion = "（补录）"
		}
		step(rated, &banliv1.MigrationStep{Step: &banliv1.MigrationStep_Rate{Rate: &banliv1.RateReplyRequest{Name: reply, ProposerId: int32(id + 1), Satisfaction: satisfaction, Opinion: opinion}}})
	}
	if satisfaction == banliv1.Satisfaction_SATISFACTION_UNSATISFIED && n.sessions[base.GetProposal().GetSession()].GetPolicy().GetOfficeVetsUnsatisfied() {
		step(rated, &banliv1.MigrationStep{Step: &banliv1.MigrationStep_DecideUnsatisfied{DecideUnsatisfied: &banliv1.DecideUnsatisfiedRequest{
			Name: reply, Decision: banliv1.UnsatisfiedDecision_UNSATISFIED_DECISION_CLOSE, Reason: "（补录）"}}})
	}
	return row, nil
}

// lastLabel is the value of a "unit：value" cell, of its last entry.
func lastLabel(cell string) string {
	entries := sheet.List(cell)
	if len(entries) == 0 {
		return strings.TrimSpace(cell)
	}
	last := entries[len(entries)-1]
	if _, after, ok := strings.Cut(last, "："); ok {
		return strings.TrimSpace(after)
	}
	return strings.TrimSpace(last)
}

// contentMatches refuses a file whose bytes are not its format's: an XLSX
// workbook (a zip) read as CSV or JSON lines would fill the screen with
// binary.
func contentMatches(f *os.File, path, format string) error {
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	isZip := n == 4 && string(head) == "PK\x03\x04"
	switch {
	case isZip && format != "xlsx":
		return fmt.Errorf("%s is an XLSX workbook (a zip file), not %s: name it .xlsx or pass -format xlsx", path, strings.ToUpper(format))
	case !isZip && format == "xlsx" && n > 0:
		return fmt.Errorf("%s is not an XLSX workbook (its first bytes are not a zip file's): name it .csv or .jsonl, or pass -format", path)
	}
	return nil
}
