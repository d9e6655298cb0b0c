package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service/i18n"
)

// china is the time zone dates are shown in.
var china = time.FixedZone("CST", 8*3600)

// page is what the layout shows around every page.
type page struct {
	Title string
	// Nav is the section the page belongs to, for the menu.
	Nav     string
	session *session
	Flash   *flash
}

// Account is the signed-in account, or nil on the sign-in page.
func (p *page) Account() *banliv1.Account {
	if p.session == nil {
		return nil
	}
	return p.session.account
}

// CSRF is the token the page's forms carry.
func (p *page) CSRF() string {
	if p.session == nil {
		return ""
	}
	return p.session.csrf
}

// errorData is what the error page shows.
type errorData struct {
	Status  int
	Message string
	Details []string
}

// funcs are the words and numbers templates need.
var funcs = template.FuncMap{
	"label": label,
	"time":  showTime,
	"rate":  showRate,
	"due":   showDeadline,
	"roleOf": func(a *banliv1.Account) string {
		return label(a.GetRole())
	},
	"add":     func(a, b int) int { return a + b },
	"summary": summaryBlocks,
	// requestID is a fresh idempotency key for a form: posted twice, the
	// step is taken once.
	"requestID": randomToken,
}

// enumLabel is the Chinese label of an enum value by its name.
func enumLabel(name string) string {
	if l := i18n.Label(i18n.Chinese, name); l != "" {
		return l
	}
	return name
}

// label is the Chinese label of an enum value ("主办", "满意"), or "" for
// the zero value.
func label(v protoreflect.Enum) string {
	if v == nil || v.Number() == 0 {
		return ""
	}
	value := v.Descriptor().Values().ByNumber(v.Number())
	if value == nil {
		return ""
	}
	return enumLabel(string(value.Name()))
}

func showTime(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().In(china).Format("2006-01-02 15:04")
}

// showRate writes a rate as people read it: 92.3%（12/13）, or — when
// nothing was counted.
func showRate(r *banliv1.Rate) string {
	if r.GetDenominator() == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%（%d/%d）", r.GetRate()*100, r.GetNumerator(), r.GetDenominator())
}

// showDeadline writes a deadline with its rule in words.
func showDeadline(d *banliv1.Deadline) string {
	if d == nil {
		return ""
	}
	out := d.GetDueDate()
	if rule := d.GetRuleZh(); rule != "" {
		out += "（" + rule + "）"
	}
	if d.GetProvisional() {
		out += " 暂定"
	}
	return out
}

// parsePages parses each page's template with the layout.
func parsePages() (map[string]*template.Template, error) {
	layout, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/chart.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard templates: %w", err)
	}
	names, err := fs.Glob(files, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := strings.TrimSuffix(path.Base(name), ".html")
		if base == "layout" || base == "chart" {
			continue
		}
		t, err := template.Must(layout.Clone()).ParseFS(files, name)
		if err != nil {
			return nil, fmt.Errorf("dashboard template %s: %w", name, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// render writes a page: the layout around the named template, given data.
// It is written to a buffer first, so that a template that fails sends a
// clean error, not half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, code int, name string, p *page, data any) {
	if p.session != nil && p.Flash == nil {
		p.Flash = p.session.takeFlash()
	}
	var buf bytes.Buffer
	err := h.pages[name].ExecuteTemplate(&buf, "layout.html", struct {
		*page
		Data any
	}{p, data})
	if err != nil {
		slog.Error("dashboard page", "page", name, "err", err)
		http.Error(w, "页面生成失败", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// fail shows the error page for a call's error: its HTTP status, and the
// server's message in Chinese (the LocalizedMessage) with the fields at
// fault.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, c *caller, err error) {
	code, message, details := explain(err)
	title := "出错了"
	switch code {
	case http.StatusForbidden:
		title = "无权访问"
	case http.StatusNotFound:
		title = "未找到"
	}
	h.render(w, r, code, "error", &page{Title: title, session: c.session}, errorData{Status: code, Message: message, Details: details})
}

// explain reads a call's error as people should: the HTTP status, the
// Chinese message, and each field violation in Chinese.
func explain(err error) (int, string, []string) {
	st := status.Convert(err)
	code := runtime.HTTPStatusFromCode(st.Code())
	message := ""
	var details []string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.LocalizedMessage:
			message = d.GetMessage()
		case *errdetails.BadRequest:
			for _, v := range d.GetFieldViolations() {
				text := v.GetDescription()
				if lm := v.GetLocalizedMessage(); lm != nil {
					text = lm.GetMessage()
				}
				details = append(details, v.GetField()+"："+text)
			}
		}
	}
	if message == "" {
		message = map[codes.Code]string{
			codes.DeadlineExceeded: "服务器繁忙，请稍后重试。",
			codes.Unavailable:      "服务器暂时不可用，请稍后重试。",
		}[st.Code()]
	}
	if message == "" {
		message = st.Message()
	}
	return code, message, details
}

// block is a heading, a list item or a paragraph of the year's summary.
type block struct {
	Heading, Item bool
	Text          string
}

// summaryBlocks reads the summary's text (lines: "# " and "## " headings,
// "- " items, the rest paragraphs) for the page to show as such.
func summaryBlocks(text string) []block {
	var out []block
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case strings.HasPrefix(line, "#"):
			out = append(out, block{Heading: true, Text: strings.TrimSpace(strings.TrimLeft(line, "#"))})
		case strings.HasPrefix(line, "- "):
			out = append(out, block{Item: true, Text: strings.TrimPrefix(line, "- ")})
		default:
			out = append(out, block{Text: line})
		}
	}
	return out
}
