package service

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Limits on requests. The README lists them; change them there too.
const (
	maxNameLen      = 100    // display names of sessions, units, proposers
	maxTitleLen     = 200    // 案由
	maxContentLen   = 50000  // a case's content
	maxReplyLen     = 100000 // a reply or opinion text
	maxNoteLen      = 2000   // reasons and notes
	maxSummaryLen   = 5000   // consultation summaries, rating opinions
	maxPersonLen    = 50     // people's names and posts
	maxPhoneLen     = 32
	maxEmailLen     = 254
	maxAddressLen   = 200
	maxNumberLen    = 32 // 案号 and 流水号
	maxTopics       = 20
	maxTopicLen     = 32
	maxProposers    = 500
	maxAttachments  = 50
	maxContacts     = 20
	maxParticipants = 50
	maxAssignments  = 50 // units in one AssignProposal
	maxMergeSources = 50
	// A delivery's proposers and copies in one RecordDelivery.
	maxDeliveryProposers = 100
	maxCopies            = 20
	maxRequestIDLen      = 128
	maxEtagLen           = 64
	maxPageSize          = 1000
	defaultPageSize      = 50
	defaultEventPage     = 100
	// The event filters: how many actions, and how long each.
	maxEventActions    = 50
	maxActionLen       = 100
	maxURILen          = 2000
	maxMediaTypeLen    = 100
	maxDocumentNumLen  = 64
	maxFutureClockSkew = 5 * time.Minute
)

// violations collects the problems of one request; err returns them as one
// ValidationError, or nil.
type violations struct {
	list []FieldViolation
}

func (v *violations) add(field, format string, args ...any) {
	v.list = append(v.list, FieldViolation{Field: field, Description: fmt.Sprintf(format, args...)})
}

func (v *violations) err() error {
	if len(v.list) == 0 {
		return nil
	}
	return &ValidationError{Violations: v.list}
}

// line checks a one-line text: valid UTF-8, no control characters, at most
// max characters (runes), present if required. Leading and trailing space
// is refused so that "市数据局" and "市数据局 " are never two units.
func (v *violations) line(field, s string, max int, required bool) {
	v.text(field, s, max, required, false)
}

// paragraph checks a multi-line text: like line, but newlines and tabs are
// allowed.
func (v *violations) paragraph(field, s string, max int, required bool) {
	v.text(field, s, max, required, true)
}

func (v *violations) text(field, s string, max int, required, multiline bool) {
	switch {
	case s == "":
		if required {
			v.add(field, "required")
		}
		return
	case !utf8.ValidString(s):
		v.add(field, "not valid UTF-8")
		return
	case strings.TrimSpace(s) == "":
		v.add(field, "must not be blank")
		return
	case !multiline && strings.TrimSpace(s) != s:
		v.add(field, "must not start or end with white space")
		return
	}
	if n := utf8.RuneCountInString(s); n > max {
		v.add(field, "at most %d characters (got %d)", max, n)
		return
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			v.add(field, "must not contain control characters (found %U)", r)
			return
		}
		if disguises(r, multiline) {
			v.add(field, "must not contain invisible formatting characters (found %U): they can disguise a title or a name", r)
			return
		}
	}
}

// disguises reports whether r is an invisible character that can make
// text read otherwise than it is stored: bidirectional controls reorder
// what follows them (a title that reads backwards in a ledger), anywhere;
// in a one-line field also line and paragraph separators, zero-width
// characters and the byte order mark, which hide in names and make two
// names that look the same. Multi-line text keeps the zero-width joiners
// that some scripts and emoji need.
func disguises(r rune, multiline bool) bool {
	switch {
	case r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069', r == '\u200e', r == '\u200f', r == '\u061c':
		return true
	case multiline:
		return false
	}
	switch r {
	case '\u2028', '\u2029', '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return true
	}
	return false
}

// enum checks that e is a declared value, and not UNSPECIFIED if required.
func (v *violations) enum(field string, e protoreflect.Enum, required bool) {
	n := e.Number()
	if n == 0 {
		if required {
			v.add(field, "required")
		}
		return
	}
	if e.Descriptor().Values().ByNumber(n) == nil {
		v.add(field, "unknown value %d", n)
	}
}

func (v *violations) phone(field, s string, required bool) {
	if s == "" {
		if required {
			v.add(field, "required")
		}
		return
	}
	if len(s) > maxPhoneLen {
		v.add(field, "at most %d characters", maxPhoneLen)
		return
	}
	digits := 0
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case strings.ContainsRune("+-() ", r):
		default:
			v.add(field, "only digits, spaces and + - ( ) are allowed")
			return
		}
	}
	if digits < 3 {
		v.add(field, "must contain a phone number")
	}
}

func (v *violations) email(field, s string) {
	if s == "" {
		return
	}
	if len(s) > maxEmailLen || !utf8.ValidString(s) {
		v.add(field, "at most %d characters of valid UTF-8", maxEmailLen)
		return
	}
	if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
		v.add(field, "not an email address like name@example.org")
	}
}

// date checks a YYYY-MM-DD date.
func (v *violations) date(field, s string) {
	if s == "" {
		return
	}
	if _, err := time.Parse(time.DateOnly, s); err != nil {
		v.add(field, "not a date like 2026-03-05")
	}
}

// pastDate checks a YYYY-MM-DD date of an event that already happened
// (China time), required or not.
func (v *violations) pastDate(field, s string, now time.Time, required bool) {
	switch {
	case s == "" && required:
		v.add(field, "required")
	case s > chinaDate(now):
		v.add(field, "must not be in the future")
	}
	v.date(field, s)
}

// participants checks a list of people who took part: at most
// maxParticipants names, each a line of at most maxPersonLen.
func (v *violations) participants(field string, names []string) {
	if len(names) > maxParticipants {
		v.add(field, "at most %d participants", maxParticipants)
		return
	}
	for i, p := range names {
		v.line(fmt.Sprintf("%s[%d]", field, i), p, maxPersonLen, true)
	}
}

// pastTime checks an optional time of an event that already happened.
func (v *violations) pastTime(field string, t *timestamppb.Timestamp, now time.Time) {
	if t == nil {
		return
	}
	if err := t.CheckValid(); err != nil {
		v.add(field, "not a valid time")
		return
	}
	if t.AsTime().After(now.Add(maxFutureClockSkew)) {
		v.add(field, "must not be in the future")
	}
	if t.AsTime().Year() < 1949 {
		v.add(field, "must not be before 1949")
	}
}

func (v *violations) requestID(s string) {
	if len(s) > maxRequestIDLen {
		v.add("request_id", "at most %d characters", maxRequestIDLen)
		return
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			v.add("request_id", "only printable ASCII without spaces is allowed")
			return
		}
	}
}

func (v *violations) etag(s string) {
	if len(s) > maxEtagLen || !utf8.ValidString(s) {
		v.add("etag", "not an etag returned by this service")
	}
}

func (v *violations) pageSize(n int32) {
	if n < 0 || n > maxPageSize {
		v.add("page_size", "must be from 0 to %d", maxPageSize)
	}
}

// caseNumber checks 案号 and 流水号: letters, digits and - _ / . only.
func (v *violations) caseNumber(field, s string, required bool) {
	if s == "" {
		if required {
			v.add(field, "required")
		}
		return
	}
	if len(s) > maxNumberLen {
		v.add(field, "at most %d characters", maxNumberLen)
		return
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("-_/.", r)) {
			v.add(field, "only letters, digits and - _ / . are allowed")
			return
		}
	}
}

// mutation checks the fields every mutating request has.
func (v *violations) mutation(etag, requestID string) {
	v.etag(etag)
	v.requestID(requestID)
}

// caseFilters checks the filters that lists of cases share, each
// optional: a session, a unit and a year.
func (v *violations) caseFilters(session, unit string, year int32) {
	if session != "" {
		v.sessionID("session", session)
	}
	if unit != "" {
		v.unitID("unit", unit)
	}
	if year != 0 && (year < 1949 || year > 2200) {
		v.add("year", "must be from 1949 to 2200")
	}
}
