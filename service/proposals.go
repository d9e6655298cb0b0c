package service

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// CreateProposal receives a case.
func (s *Server) CreateProposal(ctx context.Context, req *banliv1.CreateProposalRequest) (*banliv1.Proposal, error) {
	if err := validateCreateProposal(req); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.ProposalService_CreateProposal_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Proposal, error) {
		in := req.GetProposal()
		sess, err := tx.Session(idOf(in.GetSession(), sessionsCollection))
		if err != nil {
			return nil, notFoundOr(err, in.GetSession(), "proposal.session")
		}
		if want := KindOfBody(sess.GetBody()); in.GetKind() != want {
			return nil, invalidField("proposal.kind", "%s is a %s session: its cases are %s", sess.GetName(),
				trimEnum(sess.GetBody().String(), "BODY_"), want)
		}
		if err := proposersFitTheBody(sess, in.GetProposers()); err != nil {
			return nil, err
		}
		existing, err := tx.ProposalByNumber(in.GetSession(), in.GetNumber())
		if err != nil {
			return nil, err
		}
		if existing != 0 {
			return nil, numberTaken(ctx, tx, in, existing)
		}
		id, err := tx.NewID(store.KindProposal)
		if err != nil {
			return nil, err
		}
		p := newProposal(id, in, sess, now)
		p.Submitter = callerAccount(ctx)
		p.Migrated = migrationOf(ctx) != nil
		stageProposal(tx, id, nil, p, newEvent(ctx, p.GetCreateTime(), "CreateProposal", "", "", stateName(received), "number "+p.GetNumber()))
		return p, nil
	})
}

// numberTaken refuses a case whose number is taken in its session, naming
// the case that has it only to a caller who may read that case.
func numberTaken(ctx context.Context, r store.Reader, in *banliv1.Proposal, existing uint64) error {
	c, _ := CallerFrom(ctx)
	if p, err := r.Proposal(existing); err == nil && mayRead(r, c, p) {
		return &existsError{resource: p.GetName(), what: fmt.Sprintf("case number %s in %s", in.GetNumber(), in.GetSession())}
	}
	return fmt.Errorf("case number %s in %s is taken: %w", in.GetNumber(), in.GetSession(), ErrAlreadyExists)
}

// newProposal is a received case made from a client's proposal. The input
// fields are copied one by one: output-only fields a client sent are
// ignored (AIP-203), never stored.
func newProposal(id uint64, in *banliv1.Proposal, sess *banliv1.Session, now time.Time) *banliv1.Proposal {
	p := &banliv1.Proposal{
		Name:        proposalName(id),
		Session:     in.GetSession(),
		Kind:        in.GetKind(),
		Number:      in.GetNumber(),
		Serial:      in.GetSerial(),
		Period:      in.GetPeriod(),
		Title:       in.GetTitle(),
		Content:     in.GetContent(),
		Topics:      in.GetTopics(),
		Attachments: in.GetAttachments(),
		State:       received,
		Year:        sess.GetYear(),
		CreateTime:  timestampOf(now),
		UpdateTime:  timestampOf(now),
		Etag:        nextEtag(""),
	}
	for i, pr := range in.GetProposers() {
		pr = proto.Clone(pr).(*banliv1.Proposer)
		pr.Id = int32(i + 1)
		pr.MergedFrom, pr.Submitter = "", "" // the server's: a merge sets them
		p.Proposers = append(p.Proposers, pr)
	}
	return p
}

// KindOfBody is the kind of case a body's sessions take: NPC deputies'
// suggestions (建议) or CPPCC members' proposals (提案).
func KindOfBody(b banliv1.Body) banliv1.ProposalKind {
	if b == banliv1.Body_BODY_NPC {
		return banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION
	}
	return banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL
}

// GetProposal returns one case.
func (s *Server) GetProposal(ctx context.Context, req *banliv1.GetProposalRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	id := v.proposalID("name", req.GetName())
	if req.GetVersion() < 0 {
		v.add("version", "must be 0 (the case as it is) or a version, from 1")
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	var p *banliv1.Proposal
	err := s.store.View(func(r store.Reader) error {
		var err error
		p, err = r.Proposal(id)
		if err != nil {
			return notFoundOr(err, req.GetName(), "")
		}
		if n := req.GetVersion(); n > 0 {
			p, err = proposalVersion(r, req.GetName(), strconv.FormatInt(n, 10))
		}
		return err
	})
	return p, err
}

// proposalVersion reads a case as the change that gave it etag left it,
// from its history.
func proposalVersion(r store.Reader, name, etag string) (*banliv1.Proposal, error) {
	for after := uint64(0); ; {
		page, more, err := r.ListResourceEvents(name, after, defaultEventPage)
		if err != nil {
			return nil, err
		}
		for _, ev := range page {
			if p := ev.GetProposal(); p.GetEtag() == etag {
				return p, nil
			}
		}
		if !more || len(page) == 0 {
			return nil, invalidField("version", "%s has no version %s", name, etag)
		}
		after = page[len(page)-1].GetSequence()
	}
}

// ListProposals lists cases by filter.
func (s *Server) ListProposals(ctx context.Context, req *banliv1.ListProposalsRequest) (*banliv1.ListProposalsResponse, error) {
	after, err := validateListProposals(req)
	if err != nil {
		return nil, err
	}
	f := caseFilter{state: req.GetState(), unit: req.GetUnit(), role: req.GetRole(), key: req.Key, topic: req.GetTopic(),
		submitter: req.GetSubmitter(), handler: req.GetHandler(), keyLeader: req.GetLeader()}
	resp := &banliv1.ListProposalsResponse{}
	c, _ := CallerFrom(ctx)
	err = s.store.View(func(r store.Reader) error {
		sessions, err := sessionsMatching(r, req.GetSession(), req.GetKind(), req.GetYear())
		if err != nil {
			return err
		}
		f.sessions = sessions
		if f.reach, err = sessionsInReach(r, c); err != nil {
			return err
		}
		if req.GetYear() != 0 && req.GetSession() == "" {
			f.carriedYear = req.GetYear() // cross-year cases count in the year they are carried to
		}
		skip := basicView
		if req.GetView() == banliv1.ProposalView_PROPOSAL_VIEW_FULL {
			skip = nil
		}
		if c, _ := CallerFrom(ctx); unseen(c) != nil {
			skip = unseen(c).With(skip)
		}
		var page []byte
		var named []string
		limit, taken := pageSize(req.GetPageSize(), defaultPageSize), 0
		gather := pageOfCases{
			full: func() bool { return taken == limit },
			take: func(record []byte) error {
				if taken == limit || len(page) > 0 && len(page)+len(record) > maxPageBytes {
					return store.ErrPageFull // the page ends here; the token goes on from the last case in it
				}
				page = appendEncodedProposal(page, record)
				named = appendNamed(named, record)
				taken++
				return nil
			},
		}
		var last uint64
		var more bool
		if req.GetOrderBy() == orderByUpdate {
			last, more, err = casesByUpdate(r, f.query(), skip, req.GetUpdatedAfter(), after, gather)
		} else {
			last, more, err = casesInOrder(r, f.query(), skip, req.GetUpdatedAfter(), after, limit, gather)
		}
		if err != nil {
			return err
		}
		resp.ProtoReflect().SetUnknown(page)
		slices.Sort(named)
		names := newDisplayNames(r)
		for _, name := range slices.Compact(named) {
			if n := names.of(name); n != "" {
				resp.DisplayNames = append(resp.DisplayNames, &banliv1.DisplayName{Name: name, DisplayName: n})
			}
		}
		if more && last != after {
			resp.NextPageToken = pageToken(req, last)
		}
		return nil
	})
	return resp, err
}

// A page of cases is sent in the wire form it is stored in, not decoded
// and encoded again: that was half the server's work for a list. A stored
// record is the API's Proposal message, and a repeated message field on
// the wire is just each element tagged and length-prefixed, so the page is
// appended to the response as its "proposals" field's encoding, in the
// response's unknown fields. Marshalling copies them out, and every
// receiver - gRPC clients, the REST gateway - decodes them as proposals.
// (Go code in this process would see an empty resp.Proposals until the
// response is marshalled and decoded; nothing in Banli reads it there.)
var proposalsField = func() protowire.Number {
	return protowire.Number((&banliv1.ListProposalsResponse{}).ProtoReflect().Descriptor().Fields().ByName("proposals").Number())
}()

// The fields of a stored case that name a session or a unit, which
// appendNamed reads from its wire form.
var (
	proposalFields   = (&banliv1.Proposal{}).ProtoReflect().Descriptor().Fields()
	assignmentFields = (&banliv1.Assignment{}).ProtoReflect().Descriptor().Fields()
	sessionField     = proposalFields.ByName("session").Number()
	updateTimeField  = proposalFields.ByName("update_time").Number()
	assignmentsField = proposalFields.ByName("assignments").Number()
	unitField        = assignmentFields.ByName("unit").Number()
	departmentField  = assignmentFields.ByName("department").Number()
)

// appendNamed appends the session and the parts' units and departments
// that a case's wire form names, read without decoding the case (a list
// sends the stored form as it is).
func appendNamed(names []string, record []byte) []string {
	eachBytesField(record, func(num protowire.Number, v []byte) {
		switch num {
		case sessionField:
			names = append(names, string(v))
		case assignmentsField:
			eachBytesField(v, func(num protowire.Number, v []byte) {
				if num == unitField || num == departmentField {
					names = append(names, string(v))
				}
			})
		}
	})
	return names
}

// eachBytesField calls fn with each length-delimited field of a message's
// wire form, and skips the others.
func eachBytesField(b []byte, fn func(num protowire.Number, v []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		if typ == protowire.BytesType {
			v, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return
			}
			fn(num, v)
			b = b[m:]
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return
		}
		b = b[m:]
	}
}

func appendEncodedProposal(page, record []byte) []byte {
	page = protowire.AppendTag(page, proposalsField, protowire.BytesType)
	return protowire.AppendBytes(page, record)
}

// basicView is what a list leaves out of each case by default (AIP-157):
// the content, attachments, reminders and supervision activities,
// proposers' contact details, and each assignment's history
// (consultations, opinion, replies with their drafts and reviews, requests,
// follow-up reports). It is given by field name and applied to the stored
// bytes, so the skipped fields are never decoded or sent.
var basicView = store.SkipPaths(&banliv1.Proposal{},
	"content", "attachments", "reminders", "supervision_activities",
	"proposers.phone", "proposers.email", "proposers.address",
	"assignments.consultations", "assignments.opinion", "assignments.replies",
	"assignments.reassignment_requests", "assignments.extension_requests",
	"assignments.drafts", "assignments.collective_reviews", "assignments.pending_reply", "assignments.returned_replies",
	"assignments.follow_up.reports",
)

// sessionsMatching turns the session, kind and year filters of a list
// request into the set of sessions whose cases match (nil: no such
// filter). A case's kind and year are its session's, so they need no index
// of their own; sessions are few, so reading them all is cheap.
func sessionsMatching(r store.Reader, session string, kind banliv1.ProposalKind, year int32) ([]string, error) {
	if kind == 0 && year == 0 {
		if session == "" {
			return nil, nil
		}
		return []string{session}, nil
	}
	matching := []string{}
	var after uint64
	for {
		page, more, err := r.ListSessions(after, maxPageSize)
		if err != nil {
			return nil, err
		}
		for _, sess := range page {
			switch {
			case session != "" && sess.GetName() != session:
			case kind != 0 && KindOfBody(sess.GetBody()) != kind:
			case year != 0 && sess.GetYear() != year:
			default:
				matching = append(matching, sess.GetName())
			}
		}
		if !more || len(page) == 0 {
			return matching, nil
		}
		after = idOf(page[len(page)-1].GetName(), sessionsCollection)
	}
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
			if a.GetName() != "" || a.GetUploader() != "" || a.GetUnit() != "" || a.GetCreateTime() != nil {
				v.add(f+".name", "set by Banli for a file uploaded to the case (UploadFile); a case is received with files kept elsewhere (uri)")
			}
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
	v.caseFilters(r.GetSession(), r.GetUnit(), r.GetYear())
	if r.GetSubmitter() != "" {
		v.accountID("submitter", r.GetSubmitter())
	}
	if r.GetLeader() != "" {
		v.leaderID("leader", r.GetLeader())
	}
	if r.GetHandler() != "" {
		v.accountID("handler", r.GetHandler())
	}
	v.enum("kind", r.GetKind(), false)
	v.enum("state", r.GetState(), false)
	v.enum("role", r.GetRole(), false)
	v.line("topic", r.GetTopic(), maxTopicLen, false)
	v.enum("view", r.GetView(), false)
	if t := r.GetUpdatedAfter(); t != nil && t.CheckValid() != nil {
		v.add("updated_after", "not a valid time")
	}
	if o := r.GetOrderBy(); o != "" && o != orderByUpdate {
		v.add("order_by", "must be empty (case order) or %q", orderByUpdate)
	}
	return after, v.err()
}

// proposerTypes are the kinds of proposer each body's cases come from: an
// NPC suggestion from deputies or a delegation, a CPPCC proposal from
// members, parties, groups, sectors, member groups or special committees.
var proposerTypes = map[banliv1.Body][]banliv1.ProposerType{
	banliv1.Body_BODY_NPC: {banliv1.ProposerType_PROPOSER_TYPE_PERSON, banliv1.ProposerType_PROPOSER_TYPE_DELEGATION},
	banliv1.Body_BODY_CPPCC: {banliv1.ProposerType_PROPOSER_TYPE_PERSON, banliv1.ProposerType_PROPOSER_TYPE_PARTY, banliv1.ProposerType_PROPOSER_TYPE_GROUP,
		banliv1.ProposerType_PROPOSER_TYPE_SECTOR, banliv1.ProposerType_PROPOSER_TYPE_MEMBER_GROUP, banliv1.ProposerType_PROPOSER_TYPE_SPECIAL_COMMITTEE},
}

// proposersFitTheBody refuses a proposer of a kind the session's body
// does not take cases from.
func proposersFitTheBody(sess *banliv1.Session, proposers []*banliv1.Proposer) error {
	for i, pr := range proposers {
		if !slices.Contains(proposerTypes[sess.GetBody()], pr.GetType()) {
			return invalidField(fmt.Sprintf("proposal.proposers[%d].type", i), "%s is a %s session, whose cases do not come from a %s",
				sess.GetName(), trimEnum(sess.GetBody().String(), "BODY_"), strings.ToLower(trimEnum(pr.GetType().String(), "PROPOSER_TYPE_")))
		}
	}
	return nil
}

// GetProposalByNumber finds a case by its session and number.
func (s *Server) GetProposalByNumber(ctx context.Context, req *banliv1.GetProposalByNumberRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	v.sessionID("session", req.GetSession())
	v.caseNumber("number", req.GetNumber(), true)
	if err := v.err(); err != nil {
		return nil, err
	}
	var p *banliv1.Proposal
	err := s.store.View(func(r store.Reader) error {
		id, err := r.ProposalByNumber(req.GetSession(), req.GetNumber())
		if err != nil {
			return err
		}
		if id == 0 {
			return fmt.Errorf("no case numbered %s in %s: %w", req.GetNumber(), req.GetSession(), ErrNotFound)
		}
		p, err = r.Proposal(id)
		return err
	})
	return p, err
}
