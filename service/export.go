package service

import (
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/api/httpbody"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/spreadsheet"
	"github.com/banli/banli/store"
)

// ledgerColumn is a column of the export: its Chinese and English
// headers, and whether it shows what only a reader of the case may see.
type ledgerColumn struct {
	chinese, english string
	// caseOnly columns (the content, the proposers and their contact
	// details) go only to callers who may read the case itself
	// (mayReadCases); a viewer's ledger is the supervision ledger alone.
	caseOnly bool
}

// ledgerColumns are the export's columns, in the order ledgerRow gives
// its cells. The first ones are those `banli import` reads, under the same
// headers.
var ledgerColumns = []ledgerColumn{
	{"届次", "session", false}, {"案号", "number", false}, {"类别", "kind", false}, {"提出时间", "period", false},
	{"案由", "title", false}, {"内容", "content", true}, {"主题", "topics", false}, {"提案人", "proposer", true},
	{"联系电话", "phone", true}, {"界别", "affiliation", true}, {"联名人", "co_signers", true},
	{"主办单位", "lead_unit", false}, {"分办单位", "split_units", false}, {"会办单位", "co_handling_units", false},
	{"状态", "state", false}, {"承办处室", "departments", false}, {"责任人", "responsible_persons", false},
	{"签收期限", "sign_due", false}, {"答复期限", "reply_due", false}, {"当前期限", "current_due", false},
	{"答复类别", "reply_categories", false}, {"评价", "ratings", false}, {"重点", "key", false},
	{"督办领导", "supervising_leader", false},
	// The replying part's history, as `banli import -history` reads it
	// back (补录): when each step was taken, China time.
	{"交办时间", "assign_time", false}, {"签收时间", "sign_time", false}, {"沟通时间", "consult_time", false},
	{"答复时间", "reply_time", false}, {"送达时间", "delivery_time", false}, {"评价时间", "rating_time", false},
	{"沟通方式", "consult_channel", false}, {"答复正文", "reply_text", true}, {"签发人", "reply_signer", false},
	// The reply's contact details are withheld as the proposers' are:
	// a viewer's ledger is the supervision ledger alone.
	{"答复联系人", "reply_contact", true}, {"答复联系电话", "reply_phone", true}, {"公开属性", "disclosure_intent", false},
}

// channelLabels and disclosureLabels are how the export writes a
// consultation's channel and a reply's disclosure intent, and how
// `banli import -history` reads them back.
var (
	channelLabels = map[banliv1.ConsultationChannel]string{
		banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE: "电话", banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT: "当面",
		banliv1.ConsultationChannel_CONSULTATION_CHANNEL_FORUM: "座谈", banliv1.ConsultationChannel_CONSULTATION_CHANNEL_JOINT_RESEARCH: "联合调研",
		banliv1.ConsultationChannel_CONSULTATION_CHANNEL_MESSAGE: "书面", banliv1.ConsultationChannel_CONSULTATION_CHANNEL_OTHER: "其他",
	}
	disclosureLabels = map[banliv1.DisclosureIntent]string{
		banliv1.DisclosureIntent_DISCLOSURE_INTENT_FULL: "全文公开", banliv1.DisclosureIntent_DISCLOSURE_INTENT_SUMMARY: "摘要公开",
		banliv1.DisclosureIntent_DISCLOSURE_INTENT_NONE: "不公开",
	}
)

// visibleCells keeps the cells of the columns the caller may read.
func visibleCells(cells []string, readsCases bool) []string {
	if readsCases {
		return cells
	}
	out := make([]string, 0, len(cells))
	for i, c := range ledgerColumns {
		if !c.caseOnly {
			out = append(out, cells[i])
		}
	}
	return out
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
	v.caseFilters(req.GetSession(), req.GetUnit(), req.GetYear())
	if err := v.err(); err != nil {
		return err
	}
	contentType := "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	if req.GetFormat() == banliv1.ExportFormat_EXPORT_FORMAT_CSV {
		contentType = "text/csv; charset=utf-8"
	}
	w := s.chunks(stream.Context(), contentType, stream.Send)
	caller, _ := CallerFrom(stream.Context())
	readsCases := mayReadCases(caller)
	header := make([]string, len(ledgerColumns))
	for i, c := range ledgerColumns {
		header[i] = c.chinese
		if req.GetEnglishHeaders() {
			header[i] = c.english
		}
	}
	header = visibleCells(header, readsCases)
	var out spreadsheet.Writer
	if req.GetFormat() == banliv1.ExportFormat_EXPORT_FORMAT_CSV {
		out = spreadsheet.NewCSV(w)
	} else {
		var err error
		if out, err = spreadsheet.NewXLSX("台账"); err != nil {
			return err
		}
	}
	if err := out.Row(header); err != nil {
		return err
	}
	// Each page is read in a transaction of its own, and written out after
	// it ends: a client that stops reading holds up only its own stream,
	// never the data file (an open read transaction keeps the file's map
	// from growing, and so holds up every write). A case changed between
	// pages shows as it is when its page is read.
	var names map[string]string
	var q store.Query
	err := s.store.View(func(r store.Reader) error {
		var err error
		if names, err = ledgerNames(r); err != nil {
			return err
		}
		sessions, err := sessionsMatching(r, req.GetSession(), 0, req.GetYear())
		if err != nil {
			return err
		}
		reach, err := sessionsInReach(r, caller)
		q = caseFilter{sessions: sessions, reach: reach, unit: req.GetUnit(), state: req.GetState()}.query()
		return err
	})
	if err != nil {
		return err
	}
	for after, more := uint64(0), true; more; {
		var rows [][]string
		err := s.store.View(func(r store.Reader) error {
			page, next, err := r.ListProposals(q, after, exportPageSize)
			for _, p := range page {
				rows = append(rows, visibleCells(ledgerRow(p, names), readsCases))
			}
			if more = next && len(page) > 0; more {
				after = idOf(page[len(page)-1].GetName(), proposalsCollection)
			}
			return err
		})
		if err != nil {
			return err
		}
		for _, row := range rows {
			if err := out.Row(row); err != nil {
				return err
			}
		}
	}
	if err := out.Finish(w); err != nil {
		return err
	}
	return w.flush()
}

// exportPageSize is how many cases one read transaction of an export
// reads.
const exportPageSize = 200

// ledgerNames maps session and unit names to their display names.
func ledgerNames(r store.Reader) (map[string]string, error) {
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
		if !isCurrent(a) {
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
	history := replyingHistory(p)
	return []string{
		names[p.GetSession()], p.GetNumber(), kind, period, p.GetTitle(), p.GetContent(),
		join(p.GetTopics()), first.GetDisplayName(), first.GetPhone(), first.GetAffiliation(), join(coSigners),
		join(units[lead]), join(units[split]), join(units[coHandling]),
		stateLabels[p.GetState()], join(departments), join(persons), join(signDue),
		join(replyDue), join(currentDue), join(categories), join(ratings),
		key, p.GetSupervisingLeader(),
		history[0], history[1], history[2], history[3], history[4], history[5],
		history[6], history[7], history[8], history[9], history[10], history[11],
	}
}

// replyingHistory is when the case's first replying part (its lead, or
// first split part) was assigned, signed for, first consulted, replied
// (the latest round), delivered to (the last proposer) and rated (the last
// rating), empty where it was not, China time to the second; then how it
// was consulted, and its latest reply's text, signer, contact and
// disclosure intent.
func replyingHistory(p *banliv1.Proposal) [12]string {
	var out [12]string
	at := func(t *timestamppb.Timestamp) string {
		if t == nil {
			return ""
		}
		return t.AsTime().In(chinaTime).Format(time.DateTime)
	}
	for _, a := range p.GetAssignments() {
		if !isCurrent(a) || a.GetRole() == coHandling {
			continue
		}
		out[0], out[1] = at(a.GetAssignTime()), at(a.GetSignTime())
		if cs := a.GetConsultations(); len(cs) > 0 {
			out[2], out[6] = at(cs[0].GetRecordTime()), channelLabels[cs[0].GetChannel()]
		}
		if rs := a.GetReplies(); len(rs) > 0 {
			r := rs[len(rs)-1]
			out[3] = at(r.GetRecordTime())
			out[7], out[8], out[9], out[10], out[11] = r.GetText(), r.GetSigner(), r.GetContactPerson(), r.GetContactPhone(), disclosureLabels[r.GetDisclosureIntent()]
			if ds := r.GetDeliveries(); len(ds) > 0 {
				out[4] = at(ds[len(ds)-1].GetTime())
			}
			if rts := r.GetRatings(); len(rts) > 0 {
				out[5] = at(rts[len(rts)-1].GetRateTime())
			}
		}
		break
	}
	return out
}
