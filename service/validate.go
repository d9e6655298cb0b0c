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

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Limits on requests. The README lists them; change them there too.
const (
	maxNameLen         = 100    // display names of sessions, units, proposers
	maxTitleLen        = 200    // 案由
	maxContentLen      = 50000  // a case's content
	maxReplyLen        = 100000 // a reply or opinion text
	maxNoteLen         = 2000   // reasons and notes
	maxSummaryLen      = 5000   // consultation summaries, rating opinions
	maxPersonLen       = 50     // people's names and posts
	maxPhoneLen        = 32
	maxEmailLen        = 254
	maxAddressLen      = 200
	maxNumberLen       = 32 // 案号 and 流水号
	maxTopics          = 20
	maxTopicLen        = 32
	maxProposers       = 500
	maxAttachments     = 50
	maxContacts        = 20
	maxParticipants    = 50
	maxAssignments     = 50 // units in one AssignProposal
	maxMergeSources    = 50
	maxRequestIDLen    = 128
	maxEtagLen         = 64
	maxPageSize        = 1000
	defaultPageSize    = 50
	defaultEventPage   = 100
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

func validateCreateSession(r *banliv1.CreateSessionRequest) error {
	v := &violations{}
	v.requestID(r.GetRequestId())
	s := r.GetSession()
	if s == nil {
		v.add("session", "required")
		return v.err()
	}
	v.enum("session.body", s.GetBody(), true)
	v.enum("session.level", s.GetLevel(), true)
	if s.GetTerm() < 1 || s.GetTerm() > 99 {
		v.add("session.term", "must be from 1 to 99")
	}
	if s.GetMeeting() < 1 || s.GetMeeting() > 99 {
		v.add("session.meeting", "must be from 1 to 99")
	}
	if s.GetYear() < 1949 || s.GetYear() > 2200 {
		v.add("session.year", "must be from 1949 to 2200")
	}
	v.line("session.display_name", s.GetDisplayName(), maxNameLen, true)
	validatePolicy(v, "session.policy", s.GetPolicy())
	return v.err()
}

func validateContacts(v *violations, field string, contacts []*banliv1.Contact) {
	if len(contacts) > maxContacts {
		v.add(field, "at most %d contacts", maxContacts)
		return
	}
	for i, c := range contacts {
		f := fmt.Sprintf("%s[%d]", field, i)
		v.line(f+".display_name", c.GetDisplayName(), maxPersonLen, true)
		v.line(f+".title", c.GetTitle(), maxPersonLen, false)
		v.phone(f+".phone", c.GetPhone(), false)
		v.email(f+".email", c.GetEmail())
	}
}

func validateCreateUnit(r *banliv1.CreateUnitRequest) error {
	v := &violations{}
	v.requestID(r.GetRequestId())
	u := r.GetUnit()
	if u == nil {
		v.add("unit", "required")
		return v.err()
	}
	v.line("unit.display_name", u.GetDisplayName(), maxNameLen, true)
	if u.GetParent() != "" {
		v.unitID("unit.parent", u.GetParent())
	}
	validateContacts(v, "unit.contacts", u.GetContacts())
	return v.err()
}

func validateCreateProposal(r *banliv1.CreateProposalRequest) error {
	v := &violations{}
	v.requestID(r.GetRequestId())
	p := r.GetProposal()
	if p == nil {
		v.add("proposal", "required")
		return v.err()
	}
	v.sessionID("proposal.session", p.GetSession())
	v.enum("proposal.kind", p.GetKind(), true)
	v.caseNumber("proposal.number", p.GetNumber(), true)
	v.caseNumber("proposal.serial", p.GetSerial(), false)
	v.enum("proposal.period", p.GetPeriod(), true)
	v.line("proposal.title", p.GetTitle(), maxTitleLen, true)
	v.paragraph("proposal.content", p.GetContent(), maxContentLen, true)
	if len(p.GetTopics()) > maxTopics {
		v.add("proposal.topics", "at most %d topics", maxTopics)
	} else {
		seen := map[string]bool{}
		for i, t := range p.GetTopics() {
			f := fmt.Sprintf("proposal.topics[%d]", i)
			v.line(f, t, maxTopicLen, true)
			if seen[t] {
				v.add(f, "repeats %q", t)
			}
			seen[t] = true
		}
	}
	switch n := len(p.GetProposers()); {
	case n == 0:
		v.add("proposal.proposers", "required: at least the first proposer")
	case n > maxProposers:
		v.add("proposal.proposers", "at most %d proposers", maxProposers)
	default:
		for i, pr := range p.GetProposers() {
			f := fmt.Sprintf("proposal.proposers[%d]", i)
			v.enum(f+".type", pr.GetType(), true)
			v.line(f+".display_name", pr.GetDisplayName(), maxNameLen, true)
			v.line(f+".affiliation", pr.GetAffiliation(), maxNameLen, false)
			v.phone(f+".phone", pr.GetPhone(), false)
			v.email(f+".email", pr.GetEmail())
			v.paragraph(f+".address", pr.GetAddress(), maxAddressLen, false)
		}
	}
	if len(p.GetAttachments()) > maxAttachments {
		v.add("proposal.attachments", "at most %d attachments", maxAttachments)
	} else {
		for i, a := range p.GetAttachments() {
			f := fmt.Sprintf("proposal.attachments[%d]", i)
			v.line(f+".file_name", a.GetFileName(), maxNameLen*2, true)
			v.line(f+".media_type", a.GetMediaType(), maxMediaTypeLen, false)
			if a.GetSizeBytes() < 0 {
				v.add(f+".size_bytes", "must not be negative")
			}
			if h := a.GetSha256(); h != "" && !isHex(h, 64) {
				v.add(f+".sha256", "must be 64 hexadecimal digits")
			}
			v.line(f+".uri", a.GetUri(), maxURILen, false)
		}
	}
	return v.err()
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
			return false
		}
	}
	return true
}

// validateListProposals checks a list request and returns where its page
// starts.
func validateListProposals(r *banliv1.ListProposalsRequest) (uint64, error) {
	v := &violations{}
	after := v.page(r, r.GetPageSize(), r.GetPageToken())
	if r.GetSession() != "" {
		v.sessionID("session", r.GetSession())
	}
	if r.GetUnit() != "" {
		v.unitID("unit", r.GetUnit())
	}
	if r.GetSubmitter() != "" {
		v.accountID("submitter", r.GetSubmitter())
	}
	v.enum("kind", r.GetKind(), false)
	v.enum("state", r.GetState(), false)
	v.enum("role", r.GetRole(), false)
	if y := r.GetYear(); y != 0 && (y < 1949 || y > 2200) {
		v.add("year", "must be from 1949 to 2200")
	}
	v.line("topic", r.GetTopic(), maxTopicLen, false)
	v.enum("view", r.GetView(), false)
	return after, v.err()
}

func validateAssign(r *banliv1.AssignProposalRequest) error {
	v := &violations{}
	v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	if len(r.GetAssignments()) == 0 {
		v.add("assignments", "required: at least one unit")
	}
	v.unitAssignments(r.GetAssignments())
	return v.err()
}

// unitAssignments checks a list of units to assign: each named once, each
// with a role, one lead at most.
func (v *violations) unitAssignments(list []*banliv1.UnitAssignment) {
	switch n := len(list); {
	case n == 0:
	case n > maxAssignments:
		v.add("assignments", "at most %d units at once", maxAssignments)
	default:
		seen := map[string]bool{}
		leads := 0
		for i, a := range list {
			f := fmt.Sprintf("assignments[%d]", i)
			v.unitID(f+".unit", a.GetUnit())
			v.enum(f+".role", a.GetRole(), true)
			if seen[a.GetUnit()] {
				v.add(f+".unit", "%s is named twice", a.GetUnit())
			}
			seen[a.GetUnit()] = true
			if a.GetRole() == lead {
				leads++
			}
		}
		if leads > 1 {
			v.add("assignments", "a case has one lead unit; %d were named", leads)
		}
	}
}

func validateSign(r *banliv1.SignAssignmentRequest) error {
	v := &violations{}
	v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	if r.GetDepartment() != "" {
		v.unitID("department", r.GetDepartment())
	}
	v.line("responsible_person", r.GetResponsiblePerson(), maxPersonLen, false)
	v.phone("responsible_phone", r.GetResponsiblePhone(), false)
	return v.err()
}

func validateRequestReassignment(r *banliv1.RequestReassignmentRequest) error {
	v := &violations{}
	v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("reason", r.GetReason(), maxNoteLen, true)
	if r.GetSuggestedUnit() != "" {
		v.unitID("suggested_unit", r.GetSuggestedUnit())
	}
	return v.err()
}

func validateDecideReassignment(r *banliv1.DecideReassignmentRequest) error {
	v := &violations{}
	v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.enum("decision", r.GetDecision(), true)
	switch {
	case r.GetDecision() == banliv1.Decision_DECISION_APPROVED:
		v.unitID("new_unit", r.GetNewUnit())
	case r.GetNewUnit() != "":
		v.add("new_unit", "only with an approval")
	}
	v.paragraph("note", r.GetNote(), maxNoteLen, false)
	return v.err()
}

func validateConsultation(r *banliv1.RecordConsultationRequest, now time.Time) error {
	v := &violations{}
	v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	c := r.GetConsultation()
	if c == nil {
		v.add("consultation", "required")
		return v.err()
	}
	v.enum("consultation.phase", c.GetPhase(), true)
	v.enum("consultation.channel", c.GetChannel(), true)
	v.pastTime("consultation.time", c.GetTime(), now)
	if len(c.GetParticipants()) > maxParticipants {
		v.add("consultation.participants", "at most %d participants", maxParticipants)
	} else {
		for i, p := range c.GetParticipants() {
			v.line(fmt.Sprintf("consultation.participants[%d]", i), p, maxPersonLen, true)
		}
	}
	v.paragraph("consultation.summary", c.GetSummary(), maxSummaryLen, true)
	return v.err()
}

func validateOpinion(r *banliv1.SubmitOpinionRequest) error {
	v := &violations{}
	v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	o := r.GetOpinion()
	if o == nil {
		v.add("opinion", "required")
		return v.err()
	}
	v.paragraph("opinion.text", o.GetText(), maxReplyLen, true)
	v.line("opinion.signer", o.GetSigner(), maxPersonLen, true)
	v.line("opinion.contact_person", o.GetContactPerson(), maxPersonLen, false)
	v.phone("opinion.contact_phone", o.GetContactPhone(), false)
	return v.err()
}

func validateReply(r *banliv1.SubmitReplyRequest, now time.Time) error {
	v := &violations{}
	v.assignmentRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	rp := r.GetReply()
	if rp == nil {
		v.add("reply", "required")
		return v.err()
	}
	v.enum("reply.category", rp.GetCategory(), true)
	v.paragraph("reply.text", rp.GetText(), maxReplyLen, true)
	v.line("reply.document_number", rp.GetDocumentNumber(), maxDocumentNumLen, false)
	v.line("reply.signer", rp.GetSigner(), maxPersonLen, true)
	v.date("reply.collective_review_date", rp.GetCollectiveReviewDate())
	v.line("reply.contact_person", rp.GetContactPerson(), maxPersonLen, true)
	v.phone("reply.contact_phone", rp.GetContactPhone(), true)
	v.pastTime("reply.reply_time", rp.GetReplyTime(), now)
	v.enum("reply.disclosure_intent", rp.GetDisclosureIntent(), true)
	return v.err()
}

func validateRate(r *banliv1.RateReplyRequest) error {
	v := &violations{}
	v.replyRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	if r.GetProposerId() < 1 || r.GetProposerId() > maxProposers*maxMergeSources {
		v.add("proposer_id", "required: the id of a proposer of the case")
	}
	v.enum("satisfaction", r.GetSatisfaction(), true)
	unsatisfied := r.GetSatisfaction() == banliv1.Satisfaction_SATISFACTION_UNSATISFIED
	v.paragraph("opinion", r.GetOpinion(), maxSummaryLen, unsatisfied)
	return v.err()
}

func validatePublish(r *banliv1.PublishReplyRequest) error {
	v := &violations{}
	v.replyRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("published_text", r.GetPublishedText(), maxReplyLen, false)
	return v.err()
}

func validateWithhold(r *banliv1.WithholdReplyRequest) error {
	v := &violations{}
	v.replyRef("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("reason", r.GetReason(), maxNoteLen, true)
	return v.err()
}

func validateRefuseFiling(r *banliv1.RefuseFilingRequest) error {
	v := &violations{}
	v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.enum("reason", r.GetReason(), true)
	other := r.GetReason() == banliv1.NotFiledReason_NOT_FILED_REASON_OTHER
	v.paragraph("note", r.GetNote(), maxNoteLen, other)
	return v.err()
}

func validateWithdraw(r *banliv1.WithdrawProposalRequest) error {
	v := &violations{}
	v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.paragraph("reason", r.GetReason(), maxNoteLen, false)
	return v.err()
}

func validateMerge(r *banliv1.MergeProposalsRequest) error {
	v := &violations{}
	target := v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	switch n := len(r.GetSources()); {
	case n == 0:
		v.add("sources", "required: at least one case to merge")
	case n > maxMergeSources:
		v.add("sources", "at most %d cases at once", maxMergeSources)
	default:
		seen := map[uint64]bool{}
		for i, s := range r.GetSources() {
			f := fmt.Sprintf("sources[%d]", i)
			id := v.proposalID(f, s)
			switch {
			case id != 0 && id == target:
				v.add(f, "a case cannot be merged into itself")
			case id != 0 && seen[id]:
				v.add(f, "%s is named twice", s)
			}
			seen[id] = true
		}
	}
	return v.err()
}

func validateMarkKey(r *banliv1.MarkKeyRequest) error {
	v := &violations{}
	v.proposalID("name", r.GetName())
	v.mutation(r.GetEtag(), r.GetRequestId())
	v.line("supervising_leader", r.GetSupervisingLeader(), maxPersonLen, r.GetKey())
	if !r.GetKey() && r.GetSupervisingLeader() != "" {
		v.add("supervising_leader", "only when marking a key case")
	}
	return v.err()
}
