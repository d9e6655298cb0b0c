package ui

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/spreadsheet"
)

// ledgerHeader is the download's columns: the ledger table's, in its order.
var ledgerHeader = []string{"案号", "案由", "届次", "承办单位", "办理方式", "办理状态", "责任处室", "责任人", "当前期限", "期限规则", "是否逾期", "重点件", "督办领导"}

func ledgerCells(e *banliv1.LedgerEntry) []string {
	yes := func(b bool) string {
		if b {
			return "是"
		}
		return ""
	}
	d := e.GetCurrentDeadline()
	return []string{
		e.GetNumber(), e.GetTitle(), e.GetSessionDisplayName(), e.GetUnitDisplayName(), label(e.GetRole()), label(e.GetState()),
		e.GetDepartmentDisplayName(), e.GetResponsiblePerson(), d.GetDueDate(), d.GetRuleZh(), yes(e.GetOverdue()), yes(e.GetKey()),
		keyLeaders(e),
	}
}

// keyLeaders names a key case's leaders, or its supervising leader as text.
func keyLeaders(e *banliv1.LedgerEntry) string {
	var names []string
	for _, l := range e.GetKeyLeaders() {
		names = append(names, l.GetDisplayName())
	}
	if len(names) == 0 {
		return e.GetSupervisingLeader()
	}
	return strings.Join(names, "、")
}

// maxDownloadRows caps a download: a ledger of every part of every case
// of a large office, and no more.
const maxDownloadRows = 200000

// ledgerDownload writes the ledger as the page shows it, with the same
// filters, every page of it: CSV or XLSX (the default). The file is made
// whole before it is sent, so that an error is an error page, not half a
// file.
func (h *Handler) ledgerDownload(w http.ResponseWriter, r *http.Request, c *caller) {
	f := readLedgerFilter(r.URL.Query(), c)
	var body bytes.Buffer
	var out spreadsheet.Writer
	format, mediaType := r.URL.Query().Get("format"), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	if format == "csv" {
		out, mediaType = spreadsheet.NewCSV(&body), "text/csv; charset=utf-8"
	} else {
		format = "xlsx"
		var err error
		if out, err = spreadsheet.NewXLSX("台账"); err != nil {
			h.fail(w, r, c, err)
			return
		}
	}
	if err := out.Row(ledgerHeader); err != nil {
		h.fail(w, r, c, err)
		return
	}
	ledger := banliv1.NewSupervisionServiceClient(h.conn)
	rows := 0
	for token := ""; ; {
		resp, err := ledger.ListLedgerEntries(c.ctx, f.request(1000, token))
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		for _, e := range resp.GetEntries() {
			if err := out.Row(ledgerCells(e)); err != nil {
				h.fail(w, r, c, err)
				return
			}
		}
		rows += len(resp.GetEntries())
		if token = resp.GetNextPageToken(); token == "" || rows >= maxDownloadRows {
			break
		}
	}
	if err := out.Finish(&body); err != nil {
		h.fail(w, r, c, err)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"ledger.%s\"; filename*=UTF-8''%%E5%%8F%%B0%%E8%%B4%%A6.%s", format, format))
	w.Write(body.Bytes())
}
