// Package sheet reads the spreadsheets offices keep cases in (XLSX, CSV in
// UTF-8 or GBK, or JSON lines) into import rows, by column headers in Chinese or
// English. It only reads values: a cell that looks like a formula is taken
// as the text it is, never evaluated.
package sheet

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"golang.org/x/text/transform"
)

// The fields a row can carry, by their English key.
const (
	FieldSession     = "session"
	FieldNumber      = "number"
	FieldSerial      = "serial"
	FieldKind        = "kind"
	FieldPeriod      = "period"
	FieldTitle       = "title"
	FieldContent     = "content"
	FieldTopics      = "topics"
	FieldProposer    = "proposer"
	FieldPhone       = "phone"
	FieldCoSigners   = "co_signers"
	FieldLeadUnit    = "lead_unit"
	FieldSplitUnits  = "split_units"
	FieldCoUnits     = "co_handling_units"
	FieldAffiliation = "affiliation"
	// The replying part's history, for migration (banli import -history),
	// as the ledger export writes it.
	FieldAssignTime   = "assign_time"
	FieldSignTime     = "sign_time"
	FieldConsultTime  = "consult_time"
	FieldReplyTime    = "reply_time"
	FieldDeliveryTime = "delivery_time"
	FieldRatingTime   = "rating_time"
	FieldCategories   = "reply_categories"
	FieldRatings      = "ratings"
	FieldChannel      = "consult_channel"
	FieldReplyText    = "reply_text"
	FieldReplySigner  = "reply_signer"
	FieldReplyContact = "reply_contact"
	FieldReplyPhone   = "reply_phone"
	FieldDisclosure   = "disclosure_intent"
)

// DefaultMapping maps the headers offices use to fields. Headers are
// matched without surrounding spaces and case-insensitively.
var DefaultMapping = map[string]string{
	"届次": FieldSession, "会议": FieldSession, "session": FieldSession,
	"案号": FieldNumber, "编号": FieldNumber, "number": FieldNumber,
	"流水号": FieldSerial, "serial": FieldSerial,
	"类别": FieldKind, "类型": FieldKind, "kind": FieldKind,
	"提出时间": FieldPeriod, "提交时间": FieldPeriod, "period": FieldPeriod,
	"案由": FieldTitle, "标题": FieldTitle, "题目": FieldTitle, "title": FieldTitle,
	"内容": FieldContent, "正文": FieldContent, "content": FieldContent,
	"主题": FieldTopics, "分类": FieldTopics, "topics": FieldTopics,
	"提案人": FieldProposer, "领衔代表": FieldProposer, "第一提案人": FieldProposer, "提出人": FieldProposer, "proposer": FieldProposer,
	"联系电话": FieldPhone, "电话": FieldPhone, "phone": FieldPhone,
	"联名人": FieldCoSigners, "附议人": FieldCoSigners, "co_signers": FieldCoSigners,
	"界别": FieldAffiliation, "代表团": FieldAffiliation, "affiliation": FieldAffiliation,
	"主办单位": FieldLeadUnit, "lead_unit": FieldLeadUnit,
	"分办单位": FieldSplitUnits, "split_units": FieldSplitUnits,
	"会办单位": FieldCoUnits, "协办单位": FieldCoUnits, "co_handling_units": FieldCoUnits,
	"交办时间": FieldAssignTime, "交办日期": FieldAssignTime, "assign_time": FieldAssignTime,
	"签收时间": FieldSignTime, "签收日期": FieldSignTime, "sign_time": FieldSignTime,
	"沟通时间": FieldConsultTime, "沟通日期": FieldConsultTime, "consult_time": FieldConsultTime,
	"答复时间": FieldReplyTime, "答复日期": FieldReplyTime, "reply_time": FieldReplyTime,
	"送达时间": FieldDeliveryTime, "送达日期": FieldDeliveryTime, "delivery_time": FieldDeliveryTime,
	"评价时间": FieldRatingTime, "评价日期": FieldRatingTime, "rating_time": FieldRatingTime,
	"答复类别": FieldCategories, "reply_categories": FieldCategories,
	"评价": FieldRatings, "满意度": FieldRatings, "ratings": FieldRatings,
	"沟通方式": FieldChannel, "consult_channel": FieldChannel,
	"答复正文": FieldReplyText, "答复内容": FieldReplyText, "reply_text": FieldReplyText,
	"签发人": FieldReplySigner, "reply_signer": FieldReplySigner,
	"答复联系人": FieldReplyContact, "reply_contact": FieldReplyContact,
	"答复联系电话": FieldReplyPhone, "reply_phone": FieldReplyPhone,
	"公开属性": FieldDisclosure, "disclosure_intent": FieldDisclosure,
}

// Required are the fields a file must have a column for.
var Required = []string{FieldSession, FieldNumber, FieldTitle, FieldContent, FieldProposer}

// Record is one data row: its line (1 is the header), and its values by
// field.
type Record struct {
	Line   int
	Values map[string]string
}

// Reader yields records one at a time, never holding the whole file.
type Reader interface {
	// Next returns the next record, or io.EOF.
	Next() (Record, error)
}

// ErrEncoding: the file is in neither UTF-8 nor GB18030.
var ErrEncoding = errors.New("unknown text encoding")

// decode returns r as UTF-8. encoding is "auto" (a UTF-8 BOM, or text that
// is valid UTF-8, is UTF-8; anything else is read as GB18030, which covers
// GBK), "utf-8" or "gbk"/"gb18030".
func decode(r io.Reader, encoding string) (io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(64 << 10)
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	switch strings.ToLower(encoding) {
	case "", "auto":
		if bytes.HasPrefix(mustPeek(br, 3), []byte("\xef\xbb\xbf")) {
			br.Discard(3)
			return br, nil
		}
		if validUTF8Prefix(head) {
			return br, nil
		}
		return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder()), nil
	case "utf-8", "utf8":
		if bytes.HasPrefix(mustPeek(br, 3), []byte("\xef\xbb\xbf")) {
			br.Discard(3)
		}
		return br, nil
	case "gbk", "gb18030", "gb2312":
		return transform.NewReader(br, simplifiedchinese.GB18030.NewDecoder()), nil
	}
	return nil, fmt.Errorf("%w %q: use auto, utf-8 or gbk", ErrEncoding, encoding)
}

func mustPeek(br *bufio.Reader, n int) []byte {
	b, _ := br.Peek(n)
	return b
}

// validUTF8Prefix is utf8.Valid, allowing a rune cut off at the end.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < 4 && len(b) > 0 && !utf8.Valid(b); i++ {
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

// headerFields maps a header row to fields; it reports a header it does
// not know, and a required field with no column.
func headerFields(header []string, mapping map[string]string) ([]string, error) {
	fields := make([]string, len(header))
	have := map[string]bool{}
	for i, h := range header {
		key := strings.ToLower(strings.TrimSpace(h))
		if f, ok := mapping[key]; ok {
			fields[i] = f
			have[f] = true
		} else if f, ok := mapping[strings.TrimSpace(h)]; ok {
			fields[i] = f
			have[f] = true
		}
	}
	var missing []string
	for _, f := range Required {
		if !have[f] {
			missing = append(missing, f)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("no column for %s (headers: %s)", strings.Join(missing, ", "), strings.Join(header, ", "))
	}
	return fields, nil
}

type csvReader struct {
	r      *csv.Reader
	fields []string
	line   int
}

// NewCSV reads a CSV file whose first row is the header.
func NewCSV(r io.Reader, encoding string, mapping map[string]string) (Reader, error) {
	text, err := decode(r, encoding)
	if err != nil {
		return nil, err
	}
	c := csv.NewReader(text)
	c.FieldsPerRecord = -1
	c.LazyQuotes = true
	header, err := c.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	fields, err := headerFields(header, mapping)
	if err != nil {
		return nil, err
	}
	return &csvReader{r: c, fields: fields, line: 1}, nil
}

func (c *csvReader) Next() (Record, error) {
	for {
		row, err := c.r.Read()
		c.line++
		if err != nil {
			if errors.Is(err, io.EOF) {
				return Record{}, io.EOF
			}
			return Record{Line: c.line}, fmt.Errorf("line %d: %w", c.line, err)
		}
		if rec, ok := record(c.line, c.fields, row); ok {
			return rec, nil
		}
	}
}

// record makes a row's cells into a record; false for a blank row.
func record(line int, fields, cells []string) (Record, bool) {
	rec := Record{Line: line, Values: map[string]string{}}
	empty := true
	for i, v := range cells {
		if i < len(fields) && fields[i] != "" {
			v = unguard(strings.TrimSpace(v))
			rec.Values[fields[i]] = v
			empty = empty && v == ""
		}
	}
	return rec, !empty
}

// FormulaLeaders are the first characters of a cell that a spreadsheet
// reads as a formula, which ExportLedger's contract guards with an
// apostrophe (the service's export uses the same set; a test holds them
// together).
const FormulaLeaders = "=+-@\t\r\n"

// unguard removes the apostrophe an export puts before a cell that a
// spreadsheet would otherwise read as a formula.
func unguard(v string) string {
	if len(v) > 1 && v[0] == '\'' && strings.ContainsRune(FormulaLeaders, rune(v[1])) {
		return v[1:]
	}
	return v
}

type xlsxReader struct {
	rows   *excelize.Rows
	fields []string
	line   int
	closer io.Closer
}

// NewXLSX reads the first sheet of a workbook whose first row is the
// header. It reads the values stored in the cells; formulas are never
// evaluated.
func NewXLSX(r io.Reader, mapping map[string]string) (Reader, error) {
	f, err := excelize.OpenReader(r)
	if err != nil {
		return nil, fmt.Errorf("not an XLSX workbook: %w", err)
	}
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, errors.New("the workbook has no sheet")
	}
	rows, err := f.Rows(sheets[0])
	if err != nil {
		return nil, err
	}
	if !rows.Next() {
		return nil, errors.New("the file is empty")
	}
	header, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	fields, err := headerFields(header, mapping)
	if err != nil {
		return nil, err
	}
	return &xlsxReader{rows: rows, fields: fields, line: 1, closer: f}, nil
}

func (x *xlsxReader) Next() (Record, error) {
	for x.rows.Next() {
		x.line++
		cells, err := x.rows.Columns()
		if err != nil {
			return Record{Line: x.line}, fmt.Errorf("line %d: %w", x.line, err)
		}
		if rec, ok := record(x.line, x.fields, cells); ok {
			return rec, nil
		}
	}
	x.closer.Close()
	return Record{}, io.EOF
}

type jsonlReader struct {
	s       *bufio.Scanner
	mapping map[string]string
	line    int
}

// NewJSONL reads JSON lines: one object a line, keyed by headers or
// fields.
func NewJSONL(r io.Reader, mapping map[string]string) (Reader, error) {
	text, err := decode(r, "utf-8")
	if err != nil {
		return nil, err
	}
	s := bufio.NewScanner(text)
	s.Buffer(make([]byte, 0, 64<<10), 4<<20)
	return &jsonlReader{s: s, mapping: mapping}, nil
}

func (j *jsonlReader) Next() (Record, error) {
	for j.s.Scan() {
		j.line++
		line := bytes.TrimSpace(j.s.Bytes())
		if len(line) == 0 {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			return Record{Line: j.line}, fmt.Errorf("line %d: not a JSON object: %w", j.line, err)
		}
		rec := Record{Line: j.line, Values: map[string]string{}}
		for k, v := range obj {
			field, ok := j.mapping[strings.ToLower(strings.TrimSpace(k))]
			if !ok {
				field, ok = j.mapping[strings.TrimSpace(k)]
			}
			if !ok {
				continue
			}
			switch x := v.(type) {
			case string:
				rec.Values[field] = strings.TrimSpace(x)
			case []any:
				var parts []string
				for _, p := range x {
					parts = append(parts, fmt.Sprint(p))
				}
				rec.Values[field] = strings.Join(parts, "、")
			case nil:
			default:
				rec.Values[field] = fmt.Sprint(x)
			}
		}
		return rec, nil
	}
	if err := j.s.Err(); err != nil {
		return Record{Line: j.line + 1}, fmt.Errorf("line %d: %w", j.line+1, err)
	}
	return Record{}, io.EOF
}

// List splits a cell that lists several names: by 、，, ; ；or newlines.
func List(cell string) []string {
	parts := strings.FieldsFunc(cell, func(r rune) bool {
		return strings.ContainsRune("、，,;；\n", r)
	})
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
