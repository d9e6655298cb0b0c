package service

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"io"
	"strings"

	"github.com/xuri/excelize/v2"
	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// ledgerColumns are the export's columns: Chinese header, English header.
// The first ones are those `banli import` reads, under the same headers.
var ledgerColumns = [][2]string{
	{"届次", "session"}, {"案号", "number"}, {"类别", "kind"}, {"提出时间", "period"}, {"案由", "title"}, {"内容", "content"},
	{"主题", "topics"}, {"提案人", "proposer"}, {"联系电话", "phone"}, {"界别", "affiliation"}, {"联名人", "co_signers"},
	{"主办单位", "lead_unit"}, {"分办单位", "split_units"}, {"会办单位", "co_handling_units"},
	{"状态", "state"}, {"承办处室", "departments"}, {"责任人", "responsible_persons"}, {"签收期限", "sign_due"},
	{"答复期限", "reply_due"}, {"当前期限", "current_due"}, {"答复类别", "reply_categories"}, {"评价", "ratings"},
	{"重点", "key"}, {"督办领导", "supervising_leader"},
}

var stateLabels = map[banliv1.ProposalState]string{
	received: "已接收", assigned: "已交办", consulted: "已沟通", replied: "已答复", rated: "已评价",
	notFiled: "不立案", withdrawn: "已撤回", merged: "已并案",
}

var satisfactionLabels = map[int]string{cSatisfied: "满意", cBasic: "基本满意", cUnsatisfied: "不满意"}

// ExportLedger streams the ledger as a file.
func (s *Server) ExportLedger(req *banliv1.ExportLedgerRequest, stream grpc.ServerStreamingServer[httpbody.HttpBody]) error {
	v := &violations{}
	v.enum("format", req.GetFormat(), false)
	v.enum("state", req.GetState(), false)
	if req.GetSession() != "" {
		v.sessionID("session", req.GetSession())
	}
	if req.GetUnit() != "" {
		v.unitID("unit", req.GetUnit())
	}
	if y := req.GetYear(); y != 0 && (y < 1949 || y > 2200) {
		v.add("year", "must be from 1949 to 2200")
	}
	if err := v.err(); err != nil {
		return toStatus(err)
	}
	contentType := "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	if req.GetFormat() == banliv1.ExportFormat_EXPORT_FORMAT_CSV {
		contentType = "text/csv; charset=utf-8"
	}
	w := &chunkWriter{send: func(b []byte) error {
		return stream.Send(&httpbody.HttpBody{ContentType: contentType, Data: b})
	}}
	header := make([]string, len(ledgerColumns))
	for i, c := range ledgerColumns {
		header[i] = c[0]
		if req.GetEnglishHeaders() {
			header[i] = c[1]
		}
	}
	var out ledgerWriter
	if req.GetFormat() == banliv1.ExportFormat_EXPORT_FORMAT_CSV {
		out = newCSVLedger(w)
	} else {
		var err error
		if out, err = newXLSXLedger(); err != nil {
			return toStatus(err)
		}
	}
	if err := out.row(header); err != nil {
		return toStatus(err)
	}
	err := s.store.View(func(r *store.Reader) error {
		names, err := ledgerNames(r)
		if err != nil {
			return err
		}
		sessions, err := sessionsMatching(r, req.GetSession(), 0, req.GetYear())
		if err != nil {
			return err
		}
		q := store.ProposalQuery{Sessions: sessions, Unit: req.GetUnit(), State: req.GetState()}
		var after uint64
		for {
			page, more, err := r.ListProposals(q, after, maxPageSize)
			if err != nil {
				return err
			}
			for _, p := range page {
				if err := out.row(ledgerRow(p, names)); err != nil {
					return err
				}
			}
			if !more || len(page) == 0 {
				return nil
			}
			after = idOf(page[len(page)-1].GetName(), proposalsCollection)
		}
	})
	if err != nil {
		return toStatus(err)
	}
	if err := out.finish(w); err != nil {
		return toStatus(err)
	}
	return toStatus(w.flush())
}

// ledgerNames maps session and unit names to their display names.
func ledgerNames(r *store.Reader) (map[string]string, error) {
	names := map[string]string{}
	sessions, _, err := r.ListSessions(0, 1<<20)
	if err != nil {
		return nil, err
	}
	for _, s := range sessions {
		names[s.GetName()] = s.GetDisplayName()
	}
	units, _, err := r.ListUnits(0, 1<<20, nil)
	if err != nil {
		return nil, err
	}
	for _, u := range units {
		names[u.GetName()] = u.GetDisplayName()
	}
	return names, nil
}

// ledgerRow is one case as the ledger shows it.
func ledgerRow(p *banliv1.Proposal, names map[string]string) []string {
	join := func(xs []string) string { return strings.Join(xs, "、") }
	kind, period := "提案", "大会期间"
	if p.GetKind() == banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION {
		kind = "建议"
	}
	if p.GetPeriod() == banliv1.SubmissionPeriod_SUBMISSION_PERIOD_BETWEEN_MEETINGS {
		period = "闭会期间"
	}
	var first *banliv1.Proposer
	var coSigners []string
	for i, pr := range p.GetProposers() {
		if i == 0 {
			first = pr
		} else if pr.GetMergedFrom() == "" {
			coSigners = append(coSigners, pr.GetDisplayName())
		}
	}
	units := map[banliv1.AssignmentRole][]string{}
	var departments, persons, signDue, replyDue, currentDue, categories, ratings []string
	for _, a := range p.GetAssignments() {
		if a.GetState() == aReassigned {
			continue
		}
		unit := names[a.GetUnit()]
		units[a.GetRole()] = append(units[a.GetRole()], unit)
		if a.GetDepartment() != "" {
			departments = append(departments, unit+"："+names[a.GetDepartment()])
		}
		if a.GetResponsiblePerson() != "" {
			persons = append(persons, unit+"："+a.GetResponsiblePerson())
		}
		signDue = append(signDue, unit+"："+a.GetSignDeadline().GetDueDate())
		replyDue = append(replyDue, unit+"："+a.GetResponseDeadline().GetDueDate())
		if d := a.GetCurrentDeadline(); d != nil {
			currentDue = append(currentDue, unit+"："+d.GetDueDate())
		}
		if n := len(a.GetReplies()); n > 0 {
			categories = append(categories, unit+"："+trimEnum(a.GetReplies()[n-1].GetCategory().String(), "REPLY_CATEGORY_"))
		}
		if outcome, ok := ratingOutcome(a.GetReplies()); ok {
			ratings = append(ratings, unit+"："+satisfactionLabels[outcome])
		}
	}
	key := ""
	if p.GetKey() {
		key = "是"
	}
	return []string{
		names[p.GetSession()], p.GetNumber(), kind, period, p.GetTitle(), p.GetContent(),
		join(p.GetTopics()), first.GetDisplayName(), first.GetPhone(), first.GetAffiliation(), join(coSigners),
		join(units[lead]), join(units[split]), join(units[coHandling]),
		stateLabels[p.GetState()], join(departments), join(persons), join(signDue),
		join(replyDue), join(currentDue), join(categories), join(ratings),
		key, p.GetSupervisingLeader(),
	}
}

// ledgerWriter writes rows in one file format.
type ledgerWriter interface {
	row(cells []string) error
	finish(w io.Writer) error
}

type csvLedger struct{ w *csv.Writer }

func newCSVLedger(w io.Writer) *csvLedger {
	w.Write([]byte("\xef\xbb\xbf")) // Excel reads UTF-8 only with a BOM
	return &csvLedger{w: csv.NewWriter(w)}
}

// row writes cells, guarding against CSV injection: a cell that a
// spreadsheet would read as a formula (starting = + - @) is prefixed with
// an apostrophe, which Excel shows as text and banli import removes.
func (c *csvLedger) row(cells []string) error {
	safe := make([]string, len(cells))
	for i, cell := range cells {
		if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
			cell = "'" + cell
		}
		safe[i] = cell
	}
	return c.w.Write(safe)
}

func (c *csvLedger) finish(io.Writer) error {
	c.w.Flush()
	return c.w.Error()
}

// xlsxLedger builds the workbook with excelize's stream writer, which keeps
// rows compact; the zip is written at the end.
type xlsxLedger struct {
	f    *excelize.File
	sw   *excelize.StreamWriter
	next int
}

func newXLSXLedger() (*xlsxLedger, error) {
	f := excelize.NewFile()
	f.SetSheetName("Sheet1", "台账")
	sw, err := f.NewStreamWriter("台账")
	if err != nil {
		return nil, err
	}
	return &xlsxLedger{f: f, sw: sw, next: 1}, nil
}

func (x *xlsxLedger) row(cells []string) error {
	values := make([]any, len(cells))
	for i, c := range cells {
		// Cells are text: a value that looks like a formula stays text.
		values[i] = excelize.Cell{Value: c}
	}
	cell, _ := excelize.CoordinatesToCellName(1, x.next)
	x.next++
	return x.sw.SetRow(cell, values)
}

func (x *xlsxLedger) finish(w io.Writer) error {
	if err := x.sw.Flush(); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := x.f.Write(&buf); err != nil {
		return fmt.Errorf("write workbook: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
