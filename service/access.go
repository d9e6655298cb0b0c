package service

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Who may call what. Every RPC has exactly one rule in the table below;
// a method without one is refused (deny by default), and the access matrix
// test fails for it. A rule names the roles that may call the method and,
// for callers whose role is confined to part of the data (a unit's cases, a
// proposer's own cases), how the request is confined.

const (
	admin     = banliv1.Role_ROLE_ADMIN
	office    = banliv1.Role_ROLE_OFFICE
	unitStaff = banliv1.Role_ROLE_UNIT_STAFF
	unitHead  = banliv1.Role_ROLE_UNIT_HEAD
	proposer  = banliv1.Role_ROLE_PROPOSER
	viewer    = banliv1.Role_ROLE_VIEWER
	auditor   = banliv1.Role_ROLE_AUDITOR
	standby   = banliv1.Role_ROLE_STANDBY
	monitor   = banliv1.Role_ROLE_MONITOR
	leader    = banliv1.Role_ROLE_LEADER
)

// Rule is the access rule of one RPC.
type Rule struct {
	// Roles may call the method.
	Roles []banliv1.Role
	// Confine, if set, checks or narrows a request of a confined caller
	// (see confined) to what that caller may reach.
	Confine confinement
}

// confinement checks a request against a confined caller's reach, or
// narrows it there (a list without a unit filter gets the caller's unit).
// It reads through r.
type confinement func(r store.Reader, c *Caller, req proto.Message) error

var (
	everyone  = []banliv1.Role{admin, office, unitStaff, unitHead, proposer, viewer, auditor, standby, leader}
	unitRoles = []banliv1.Role{unitStaff, unitHead}
	readers   = []banliv1.Role{office, unitStaff, unitHead, viewer}
	// caseReaders read cases: the office all, the others their own (a
	// unit its parts', a proposer what it submitted, a leader its key
	// cases).
	caseReaders = []banliv1.Role{office, unitStaff, unitHead, proposer, leader}
	// eventReaders read the history: the admin and a standby whole, the
	// case readers the events of their cases.
	eventReaders = append(roles(admin, standby), caseReaders...)
	// webhookKeepers keep webhooks: the admin any, a proposer its own.
	webhookKeepers = roles(admin, proposer)
)

func roles(list ...banliv1.Role) []banliv1.Role { return list }

// rules is the access table: full gRPC method name to its rule. The README's
// access table is this table in prose; change both.
var rules = map[string]Rule{
	// Reference data every signed-in caller needs to make sense of a case.
	banliv1.SessionService_GetSession_FullMethodName:         {Roles: everyone},
	banliv1.SessionService_ListSessions_FullMethodName:       {Roles: everyone},
	banliv1.UnitService_GetUnit_FullMethodName:               {Roles: everyone},
	banliv1.UnitService_ListUnits_FullMethodName:             {Roles: everyone},
	banliv1.LeaderService_GetLeader_FullMethodName:           {Roles: everyone},
	banliv1.LeaderService_ListLeaders_FullMethodName:         {Roles: everyone},
	banliv1.CalendarService_GetCalendarYear_FullMethodName:   {Roles: everyone},
	banliv1.CalendarService_ListCalendarYears_FullMethodName: {Roles: everyone},
	banliv1.AccountService_GetCaller_FullMethodName:          {Roles: append(roles(monitor), everyone...)},
	banliv1.AccountService_ListAccessRules_FullMethodName:    {Roles: everyone},
	banliv1.LabelService_ListLabels_FullMethodName:           {Roles: everyone},
	// No sign-in at all (publicMethods): anyone, signed in or not.
	banliv1.PublicationService_ListPublishedReplies_FullMethodName: {Roles: append(roles(monitor), everyone...)},
	banliv1.SessionService_CreateSession_FullMethodName:            {Roles: roles(admin)},
	banliv1.UnitService_CreateUnit_FullMethodName:                  {Roles: roles(admin)},
	banliv1.UnitService_DeactivateUnit_FullMethodName:              {Roles: roles(admin)},
	banliv1.UnitService_UpdateUnit_FullMethodName:                  {Roles: roles(admin)},
	banliv1.UnitService_MergeUnit_FullMethodName:                   {Roles: roles(admin)},
	banliv1.SessionService_UpdateSession_FullMethodName:            {Roles: roles(admin)},
	banliv1.LeaderService_UpdateLeader_FullMethodName:              {Roles: roles(admin, office)},
	// The office keeps its leaders as the admin keeps units: it names
	// them on key cases.
	banliv1.LeaderService_CreateLeader_FullMethodName:              {Roles: roles(admin, office)},
	banliv1.CalendarService_LoadCalendarYear_FullMethodName:        {Roles: roles(admin)},
	banliv1.CalendarService_LoadRegionalCalendar_FullMethodName:    {Roles: roles(admin)},
	banliv1.AccountService_CreateAccount_FullMethodName:            {Roles: roles(admin)},
	banliv1.AccountService_GetAccount_FullMethodName:               {Roles: roles(admin)},
	banliv1.AccountService_ListAccounts_FullMethodName:             {Roles: roles(admin)},
	banliv1.AccountService_DisableAccount_FullMethodName:           {Roles: roles(admin)},
	banliv1.AccountService_EnableAccount_FullMethodName:            {Roles: roles(admin)},
	banliv1.AccountService_RotateAccountKey_FullMethodName:         {Roles: roles(admin)},
	banliv1.BackupService_Backup_FullMethodName:                    {Roles: roles(admin)},
	banliv1.ReplicationService_GetReplicationStatus_FullMethodName: {Roles: roles(admin)},
	banliv1.ReplicationService_Promote_FullMethodName:              {Roles: roles(admin)},
	// The history: each caller reads the events of what it may read
	// (eventScope), a proposer as the redaction table says
	// (proposerSights).
	banliv1.EventService_ListEvents_FullMethodName:      {Roles: eventReaders, Confine: confineEventFilter},
	banliv1.EventService_WatchEvents_FullMethodName:     {Roles: eventReaders, Confine: confineEventFilter},
	banliv1.ReplicationService_FetchFile_FullMethodName: {Roles: roles(admin, standby)},
	// Webhooks: the admin keeps any; a submission platform its own, which
	// post what it may read of the history (its event scope).
	banliv1.WebhookService_CreateWebhook_FullMethodName:              {Roles: webhookKeepers, Confine: confineToOwnWebhook},
	banliv1.WebhookService_GetWebhook_FullMethodName:                 {Roles: webhookKeepers, Confine: confineToOwnWebhook},
	banliv1.WebhookService_ListWebhooks_FullMethodName:               {Roles: webhookKeepers, Confine: confineToOwnWebhook},
	banliv1.WebhookService_UpdateWebhook_FullMethodName:              {Roles: webhookKeepers, Confine: confineToOwnWebhook},
	banliv1.WebhookService_DeleteWebhook_FullMethodName:              {Roles: webhookKeepers, Confine: confineToOwnWebhook},
	banliv1.WebhookService_RotateWebhookSecret_FullMethodName:        {Roles: webhookKeepers, Confine: confineToOwnWebhook},
	banliv1.WebhookService_ListWebhookDeliveries_FullMethodName:      {Roles: webhookKeepers, Confine: confineToOwnWebhook},
	banliv1.WebhookService_RedeliverWebhookDeliveries_FullMethodName: {Roles: webhookKeepers, Confine: confineToOwnWebhook},
	banliv1.AuditService_ListAuditRecords_FullMethodName:             {Roles: roles(auditor)},
	banliv1.AuditService_VerifyAudit_FullMethodName:                  {Roles: roles(auditor)},
	// Not an RPC: the Prometheus endpoint of the HTTP listener, which names
	// units and counts cases (see AdmitHTTP).
	MetricsRoute: {Roles: roles(admin, monitor)},

	// Cases: reading.
	banliv1.ProposalService_GetProposal_FullMethodName:         {Roles: caseReaders, Confine: confineToCase},
	banliv1.ProposalService_GetProposalByNumber_FullMethodName: {Roles: caseReaders, Confine: confineLookup},
	banliv1.ProposalService_ListProposals_FullMethodName:       {Roles: caseReaders, Confine: confineList},
	banliv1.EventService_ListProposalEvents_FullMethodName:     {Roles: caseReaders, Confine: confineToCase},
	banliv1.StatisticsService_GetStatistics_FullMethodName:     {Roles: readers, Confine: confineToUnitField},
	banliv1.StatisticsService_GetYearSummary_FullMethodName:    {Roles: readers, Confine: confineToUnitField},
	// Units side by side, and the office's splits: the office's view, not
	// one unit's.
	banliv1.StatisticsService_ListUnitStatistics_FullMethodName:     {Roles: roles(office, viewer), Confine: confineToWholeOffice},
	banliv1.StatisticsService_GetStatisticsBreakdown_FullMethodName: {Roles: roles(office, viewer), Confine: confineToWholeOffice},
	// Scoring rules are no secret: whoever reads a summary reads them.
	banliv1.StatisticsService_GetScoringPolicy_FullMethodName:    {Roles: readers},
	banliv1.StatisticsService_ListScoringPolicies_FullMethodName: {Roles: readers},
	banliv1.StatisticsService_SaveScoringPolicy_FullMethodName:   {Roles: roles(office)},
	banliv1.SupervisionService_ListLedgerEntries_FullMethodName:  {Roles: append(roles(leader), readers...), Confine: confineLedger},
	banliv1.SupervisionService_GetAttention_FullMethodName:       {Roles: readers, Confine: confineToUnitField},
	banliv1.SupervisionService_ExportLedger_FullMethodName:       {Roles: readers, Confine: confineToUnitField},

	// Cases: the office's steps.
	banliv1.ProposalService_CreateProposal_FullMethodName:    {Roles: roles(office, proposer)},
	banliv1.ImportService_ImportProposals_FullMethodName:     {Roles: roles(office, proposer), Confine: confineImport},
	banliv1.ImportService_BulkImportProposals_FullMethodName: {Roles: roles(office, proposer), Confine: confineImport},
	// Migration (补录) states past times: the office's, or the admin's.
	banliv1.ImportService_MigrateProposals_FullMethodName: {Roles: roles(office, admin)},
	banliv1.ProposalService_AssignProposal_FullMethodName: {Roles: roles(office)},
	// The office corrects what it received (and what a platform sent).
	banliv1.ProposalService_UpdateProposal_FullMethodName:       {Roles: roles(office)},
	banliv1.ProposalService_RemoveAssignment_FullMethodName:     {Roles: roles(office)},
	banliv1.ProposalService_ChangeAssignmentRole_FullMethodName: {Roles: roles(office)},
	banliv1.ProposalService_DecideReassignment_FullMethodName:   {Roles: roles(office)},
	banliv1.ProposalService_DecideExtension_FullMethodName:      {Roles: roles(office)},
	banliv1.ProposalService_CloseFollowUp_FullMethodName:        {Roles: roles(office)},
	banliv1.ProposalService_RecordReminder_FullMethodName:       {Roles: roles(office)},
	banliv1.ProposalService_RefuseFiling_FullMethodName:         {Roles: roles(office)},
	banliv1.ProposalService_MergeProposals_FullMethodName:       {Roles: roles(office)},
	banliv1.ProposalService_MarkKey_FullMethodName:              {Roles: roles(office)},
	banliv1.ProposalService_RecordSupervision_FullMethodName:    {Roles: roles(office)},
	// The office decides unsatisfied ratings, where the session asks.
	banliv1.ProposalService_DecideUnsatisfied_FullMethodName: {Roles: roles(office)},
	// The office reviews signed-off replies, where the session asks.
	banliv1.ProposalService_ReviewReply_FullMethodName: {Roles: roles(office)},
	// The office may correct the category a unit gave its reply.
	banliv1.ProposalService_CorrectReplyCategory_FullMethodName: {Roles: roles(office)},

	// Cases: the units' steps, on their own assignments only.
	banliv1.ProposalService_SignAssignment_FullMethodName:      {Roles: unitRoles, Confine: confineToCase},
	banliv1.ProposalService_DelegateAssignment_FullMethodName:  {Roles: unitRoles, Confine: confineToUnitPart},
	banliv1.ProposalService_RequestReassignment_FullMethodName: {Roles: unitRoles, Confine: confineToCase},
	banliv1.ProposalService_RequestExtension_FullMethodName:    {Roles: unitRoles, Confine: confineToCase},
	banliv1.ProposalService_RecordConsultation_FullMethodName:  {Roles: unitRoles, Confine: confineToCase},
	banliv1.ProposalService_SubmitOpinion_FullMethodName:       {Roles: unitRoles, Confine: confineToCase},
	banliv1.ProposalService_ReportFollowUp_FullMethodName:      {Roles: unitRoles, Confine: confineToCase},
	// A reply is signed off (签发) by the unit's head: staff draft it, the
	// head submits it.
	banliv1.ProposalService_SubmitReply_FullMethodName:            {Roles: roles(unitHead), Confine: confineToCase},
	banliv1.ProposalService_SaveReplyDraft_FullMethodName:         {Roles: unitRoles, Confine: confineToCase},
	banliv1.ProposalService_ReturnReplyDraft_FullMethodName:       {Roles: roles(unitHead), Confine: confineToCase},
	banliv1.ProposalService_RecordCollectiveReview_FullMethodName: {Roles: unitRoles, Confine: confineToCase},
	// 会签 is the co-handling unit's, on its own part.
	banliv1.ProposalService_CountersignReply_FullMethodName: {Roles: unitRoles, Confine: confineToCase},
	// Publication is the replying unit's act, which the office may also do.
	banliv1.ProposalService_PublishReply_FullMethodName:  {Roles: roles(office, unitStaff, unitHead), Confine: confineToCase},
	banliv1.ProposalService_WithholdReply_FullMethodName: {Roles: roles(office, unitStaff, unitHead), Confine: confineToCase},
	// The publisher reads the masked text first; only the office approves
	// a publication (where the session asks), and whoever publishes may
	// correct or withdraw.
	banliv1.ProposalService_PreviewPublication_FullMethodName:  {Roles: roles(office, unitStaff, unitHead), Confine: confineToCase},
	banliv1.ProposalService_ReviewPublication_FullMethodName:   {Roles: roles(office)},
	banliv1.ProposalService_CorrectPublication_FullMethodName:  {Roles: roles(office, unitStaff, unitHead), Confine: confineToCase},
	banliv1.ProposalService_WithdrawPublication_FullMethodName: {Roles: roles(office, unitStaff, unitHead), Confine: confineToCase},
	// Delivery (送达) is the replying unit's, which the office may record too.
	banliv1.ProposalService_RecordDelivery_FullMethodName: {Roles: roles(office, unitStaff, unitHead), Confine: confineToCase},

	// Files: whoever works on the case uploads to it; a proposer downloads
	// only what is attached to what it reads (confineToFile).
	banliv1.ProposalService_UploadFile_FullMethodName:   {Roles: roles(office, unitStaff, unitHead, proposer), Confine: confineUpload},
	banliv1.ProposalService_DownloadFile_FullMethodName: {Roles: caseReaders, Confine: confineToFile},

	// Cases: the proposer's steps, on its own cases only. The office may
	// record a rating or a withdrawal received on paper.
	banliv1.ProposalService_RateReply_FullMethodName:        {Roles: roles(office, proposer), Confine: confineRating},
	banliv1.ProposalService_WithdrawProposal_FullMethodName: {Roles: roles(office, proposer), Confine: confineToCase},
}

// publicMethods need no sign-in: health checks, which orchestrators make
// without credentials and which reveal nothing.
var publicMethods = map[string]bool{
	// The public disclosure feed: published replies, which the public may
	// read; it limits each address itself (publicfeed.go).
	banliv1.PublicationService_ListPublishedReplies_FullMethodName: true,
	"/grpc.health.v1.Health/Check":                                 true,
	"/grpc.health.v1.Health/Watch":                                 true,
	"/grpc.health.v1.Health/List":                                  true,
}

// reflectionMethods let a signed-in caller's tools (grpcurl) discover the
// API, which the proto files publish anyway.
var reflectionMethods = []string{
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
}

func init() {
	for _, m := range reflectionMethods {
		rules[m] = Rule{Roles: everyone}
	}
}

// Public reports whether a method needs no sign-in.
func Public(method string) bool { return publicMethods[method] }

// Rules returns a copy of the access table, for tools that act for several
// roles (the load tool) and for the access matrix test.
func Rules() map[string]Rule {
	out := make(map[string]Rule, len(rules))
	for method, r := range rules {
		out[method] = Rule{Roles: slices.Clone(r.Roles), Confine: r.Confine}
	}
	return out
}

// RuleFor returns the rule of one method, if it has one.
func RuleFor(method string) (Rule, bool) {
	r, ok := rules[method]
	return Rule{Roles: slices.Clone(r.Roles), Confine: r.Confine}, ok
}

// accessTable is rules as the API shows it, in method order.
func accessTable() *banliv1.ListAccessRulesResponse {
	resp := &banliv1.ListAccessRulesResponse{}
	for _, method := range slices.Sorted(maps.Keys(rules)) {
		r := rules[method]
		resp.Rules = append(resp.Rules, &banliv1.AccessRule{Method: method, Roles: slices.Clone(r.Roles), Confined: r.Confine != nil})
	}
	return resp
}

// isReference reports whether the rule is reference data's (sessions,
// units, leaders, the calendar), which every signed-in caller reads
// whole.
func (r Rule) isReference() bool { return slices.Equal(r.Roles, everyone) && r.Confine == nil }

// Allows reports whether role may call the method at all.
func (r Rule) Allows(role banliv1.Role) bool { return slices.Contains(r.Roles, role) }

// confined reports whether c sees only part of the cases: a unit's staff and
// head see their unit's; a proposer its own; a viewer with a unit that
// unit's.
func (c *Caller) confined() bool {
	switch c.Role {
	case unitStaff, unitHead, proposer, leader:
		return true
	case viewer:
		return c.Unit != ""
	}
	return false
}

// authorize applies the method's rule to a signed-in caller's request.
func (s *Server) authorize(c *Caller, method string, req proto.Message) error {
	rule, ok := rules[method]
	if !ok {
		return denied("%s has no access rule, so no one may call it", method)
	}
	if !rule.Allows(c.Role) {
		return denied("%s may not call %s", accountRoleName(c.Role), shortMethod(method))
	}
	if c.bodyBound() && req != nil && !rule.isReference() {
		if err := s.store.View(func(r store.Reader) error { return confineToBody(r, c, req) }); err != nil {
			return err
		}
	}
	if rule.Confine == nil || !c.confined() || req == nil {
		return nil
	}
	return s.store.View(func(r store.Reader) error { return rule.Confine(r, c, req) })
}

// bodyBound reports whether c is an office bound to one body's sessions
// (Account.body), and perhaps one level's.
func (c *Caller) bodyBound() bool { return c != nil && c.Role == office && c.Body != 0 }

// reachesSession reports whether c acts on sess: any caller but a
// body-bound office does; that office, on its body's (and level's)
// sessions.
func (c *Caller) reachesSession(sess *banliv1.Session) bool {
	return !c.bodyBound() || sess.GetBody() == c.Body && (c.Level == 0 || sess.GetLevel() == c.Level)
}

// sessionsInReach lists the sessions c acts on, or nil for every session
// (any caller but a body-bound office). Sessions are few.
func sessionsInReach(r store.Reader, c *Caller) ([]string, error) {
	if !c.bodyBound() {
		return nil, nil
	}
	reach := []string{}
	err := eachSession(r, func(sess *banliv1.Session) bool {
		if c.reachesSession(sess) {
			reach = append(reach, sess.GetName())
		}
		return false
	})
	return reach, err
}

// referenceFields are the fields through which a request names a case or
// a session, at any depth: a case's name, a history's parent, a list's or
// a new case's session, a merge's sources.
var referenceFields = map[protoreflect.Name]bool{"name": true, "parent": true, "session": true, "sources": true}

// confineToBody admits a body-bound office's request only if every case
// and session it names is of the office's body (and level): a case of
// another body is refused as another's is (AIP-211), with the field named.
// Lists, ledgers and figures it asks for are narrowed where they choose
// their sessions (sessionsMatching, resolveScope).
func confineToBody(r store.Reader, c *Caller, req proto.Message) error {
	sessions := map[string]bool{}
	reaches := func(session string) (bool, error) {
		if ok, seen := sessions[session]; seen {
			return ok, nil
		}
		sess, err := r.Session(idOf(session, sessionsCollection))
		if errors.Is(err, store.ErrNotFound) {
			return true, nil // validation or the call itself says it does not exist
		}
		if err != nil {
			return false, err
		}
		sessions[session] = c.reachesSession(sess)
		return sessions[session], nil
	}
	var refusal error
	check := func(path, value string) error {
		session := ""
		parts := strings.SplitN(value, "/", 3)
		if ids, ok := parseName(strings.Join(parts[:min(2, len(parts))], "/"), proposalsCollection); ok {
			// A case, or anything below it: a part, a reply, a file.
			p, err := r.Proposal(ids[0])
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			session = p.GetSession()
		} else if _, ok := parseName(value, sessionsCollection); ok {
			session = value
		} else {
			return nil
		}
		ok, err := reaches(session)
		if err == nil && !ok && refusal == nil {
			refusal = deniedField(path, "%s is not within the reach of %s, an office of the %s's sessions", value, c.Account, bodyName(c.Body))
		}
		return err
	}
	if err := walkReferences(req.ProtoReflect(), "", check); err != nil {
		return err
	}
	return refusal
}

// walkReferences calls check with every value of a reference field of m,
// at any depth, and its path ("rows[3].proposal.session").
func walkReferences(m protoreflect.Message, prefix string, check func(path, value string) error) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		path := prefix + string(fd.Name())
		switch {
		case fd.Kind() == protoreflect.StringKind && referenceFields[fd.Name()] && fd.IsList():
			for i := range v.List().Len() {
				if err = check(fmt.Sprintf("%s[%d]", path, i), v.List().Get(i).String()); err != nil {
					return false
				}
			}
		case fd.Kind() == protoreflect.StringKind && referenceFields[fd.Name()] && !fd.IsMap():
			err = check(path, v.String())
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			for i := range v.List().Len() {
				if err = walkReferences(v.List().Get(i).Message(), fmt.Sprintf("%s[%d].", path, i), check); err != nil {
					return false
				}
			}
		case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
			err = walkReferences(v.Message(), path+".", check)
		}
		return err == nil
	})
	return err
}

// bodyName is a body as the API's messages say it.
func bodyName(b banliv1.Body) string { return trimEnum(b.String(), "BODY_") }

// confineToCase admits a request naming a case, or a part of one, in its
// name (or parent) field: a proposer's own case; for a unit, an assignment
// of its unit (or of one of its departments), or, for a request on the
// whole case, a case with a current assignment there. A case or part that
// does not exist is refused the same way as another's (AIP-211): whether
// it exists is not the caller's to learn.
func confineToCase(r store.Reader, c *Caller, req proto.Message) error {
	name := stringField(req, "name")
	if name == "" {
		name = stringField(req, "parent") // a case's history
	}
	ids, _ := parseNamePrefix(name)
	if ids == nil {
		return nil // malformed: validation refuses it with the field named
	}
	refuse := denied("%s is not within the reach of %s", name, c.Account)
	p, err := caseOrRefusal(r, ids[0], refuse)
	if err != nil {
		return err
	}
	if c.Role == proposer || c.Role == leader || len(ids) < 2 {
		if !mayRead(r, c, p) {
			return refuse
		}
		return nil
	}
	for _, a := range p.GetAssignments() {
		if a.GetName() == assignmentName(ids[0], int(ids[1])) && reachesPart(r, c, a) {
			return nil
		}
	}
	return refuse
}

// caseOrRefusal reads case id for a confinement: a case that does not
// exist is refused as another's is (AIP-211).
func caseOrRefusal(r store.Reader, id uint64, refuse error) (*banliv1.Proposal, error) {
	p, err := r.Proposal(id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, refuse
	}
	return p, err
}

// submitters are the accounts that submitted case p: its own submitter,
// and those of the cases merged into it (Proposer.submitter).
func submitters(p *banliv1.Proposal) []string {
	var out []string
	if p.GetSubmitter() != "" {
		out = append(out, p.GetSubmitter())
	}
	for _, pr := range p.GetProposers() {
		if s := pr.GetSubmitter(); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// submitterOf is the account that submitted proposer pr of case p.
func submitterOf(p *banliv1.Proposal, pr *banliv1.Proposer) string {
	if pr.GetSubmitter() != "" {
		return pr.GetSubmitter()
	}
	return p.GetSubmitter()
}

// confineRating admits a proposer's rating of a reply of a case it
// submitted, for a proposer it submitted: a platform whose case was
// merged into another (并案) rates for its own proposers, not for the
// others'. (Only a proposer is confined among those who may rate.)
func confineRating(r store.Reader, c *Caller, req proto.Message) error {
	rate := req.(*banliv1.RateReplyRequest)
	ids, ok := parseNamePrefix(rate.GetName())
	if !ok {
		return nil // malformed: validation refuses it with the field named
	}
	refuse := denied("%s is not within the reach of %s", rate.GetName(), c.Account)
	p, err := caseOrRefusal(r, ids[0], refuse)
	if err != nil {
		return err
	}
	if !mayRead(r, c, p) {
		return refuse
	}
	for _, pr := range p.GetProposers() {
		if pr.GetId() == rate.GetProposerId() && submitterOf(p, pr) != c.Account {
			return deniedField("proposer_id", "%s rates for the proposers it submitted; proposer %d came with %s", c.Account, pr.GetId(), submitterOf(p, pr))
		}
	}
	return nil
}

// confineToUnitPart admits a request on a part from an account of the
// part's unit itself (or of a unit above it), not of a department it is
// delegated to: delegating a part is the unit's act.
func confineToUnitPart(r store.Reader, c *Caller, req proto.Message) error {
	ids, _ := parseNamePrefix(stringField(req, "name"))
	if len(ids) < 2 {
		return nil // malformed: validation refuses it with the field named
	}
	refuse := denied("%s does not act for the unit of %s", c.Account, stringField(req, "name"))
	p, err := caseOrRefusal(r, ids[0], refuse)
	if err != nil {
		return err
	}
	for _, a := range p.GetAssignments() {
		if a.GetName() == assignmentName(ids[0], int(ids[1])) && inUnit(r, c.Unit, a.GetUnit()) {
			return nil
		}
	}
	return refuse
}

// confineLookup admits a lookup by number of a case the caller may read;
// a number not taken is refused the same way, so that a confined caller
// learns nothing of another's numbers.
func confineLookup(r store.Reader, c *Caller, req proto.Message) error {
	lookup := req.(*banliv1.GetProposalByNumberRequest)
	refuse := denied("no case numbered %s in %s is within the reach of %s", lookup.GetNumber(), lookup.GetSession(), c.Account)
	id, err := r.ProposalByNumber(lookup.GetSession(), lookup.GetNumber())
	switch {
	case err != nil:
		return err
	case id == 0:
		return refuse
	}
	p, err := caseOrRefusal(r, id, refuse)
	if err != nil {
		return err
	}
	if !mayRead(r, c, p) {
		return refuse
	}
	return nil
}

// confineUpload admits an upload to a case the caller may read (the
// first message names it; later ones carry bytes and name nothing).
func confineUpload(r store.Reader, c *Caller, req proto.Message) error {
	head := req.(*banliv1.UploadFileRequest).GetUpload()
	if head == nil {
		return nil
	}
	return confineToCase(r, c, &banliv1.GetProposalRequest{Name: head.GetParent()})
}

// confineToFile admits a download from a case the caller may read; a
// proposer's, only of a file attached to what it reads of its case (a
// sent reply, a consultation, its rating), never of the units' working
// files.
func confineToFile(r store.Reader, c *Caller, req proto.Message) error {
	name := req.(*banliv1.DownloadFileRequest).GetName()
	ids, ok := parseName(name, proposalsCollection, filesCollection)
	if !ok {
		return nil // malformed: validation refuses it with the field named
	}
	refuse := denied("%s is not within the reach of %s", name, c.Account)
	p, err := caseOrRefusal(r, ids[0], refuse)
	if err != nil {
		return err
	}
	if !mayRead(r, c, p) {
		return refuse
	}
	if skip := unseen(c); skip != nil {
		read := proto.Clone(p).(*banliv1.Proposal)
		skip.Clear(read.ProtoReflect())
		attached := map[string]bool{}
		attachedNames(read.ProtoReflect(), attached)
		if !attached[name] {
			return refuse
		}
	}
	return nil
}

// reachesPart reports whether a unit account reaches part a: an account of
// the part's unit (or of a unit above it), or of the department the part
// is delegated to (or of a unit above that, within the unit).
func reachesPart(r store.Reader, c *Caller, a *banliv1.Assignment) bool {
	for _, unit := range unitsOf(a) {
		if inUnit(r, c.Unit, unit) {
			return true
		}
	}
	return false
}

// mayRead reports whether c may read case p as GetProposal gives it: the
// office (and anyone unconfined) every case, a proposer the cases it
// submitted, a unit the cases with a current part of its own (or of one of
// its departments). Whatever tells of a case (an import's comparison, an
// error naming it) is told only to those who may read it.
func mayRead(r store.Reader, c *Caller, p *banliv1.Proposal) bool {
	if c == nil || !c.confined() {
		return true
	}
	switch c.Role {
	case proposer:
		return slices.Contains(submitters(p), c.Account)
	case leader:
		return p.GetKey() && isKeyLeader(p, c.Leader)
	case unitStaff, unitHead:
		for _, a := range p.GetAssignments() {
			if isCurrent(a) && reachesPart(r, c, a) {
				return true
			}
		}
	}
	return false
}

// internalMatters is what a proposer does not read of its own case, in
// GetProposal, lists and the history alike (proposerSights says which
// events): the unit's working papers (the files uploaded to the case, the
// reply's drafts and their collective reviews, a reply signed off but not
// sent yet, the replies the office returned), and the internal matters of
// the office and the units (reminders and the server's overdue notices,
// requests to change the unit and their reasons, extensions asked for,
// co-handling opinions, supervision). It reads what was sent to it, with
// the files attached to it.
var internalMatters = store.SkipPaths(&banliv1.Proposal{}, "files", "assignments.drafts", "assignments.pending_reply",
	"assignments.returned_replies", "assignments.collective_reviews", "reminders", "assignments.overdue_noticed_due_time",
	"assignments.reassignment_requests", "assignments.extension_requests", "assignments.opinion", "supervision_activities")

// unseen is what c may not read of a case it may read (nil: nothing).
func unseen(c *Caller) store.Skip {
	if c != nil && c.Role == proposer {
		return internalMatters
	}
	return nil
}

// narrowAnswer clears from an answer what its caller may not read of the
// cases it carries (unseen): a case, or the snapshots of a case's history.
// Lists leave it out as they read the stored records (ListProposals).
func narrowAnswer(c *Caller, resp any) {
	skip := unseen(c)
	if skip == nil {
		return
	}
	switch m := resp.(type) {
	case *banliv1.Proposal:
		skip.Clear(m.ProtoReflect())
	case *banliv1.ListEventsResponse:
		for _, ev := range m.GetEvents() {
			if p := ev.GetProposal(); p != nil {
				skip.Clear(p.ProtoReflect())
			}
		}
	}
}

// mayReadCases reports whether c's role may read cases at all (the rule of
// GetProposal), so that what a ledger or an export shows of a case beyond
// the supervision ledger goes to those roles only; confinement to their
// own cases applies on top.
func mayReadCases(c *Caller) bool {
	return c == nil || rules[banliv1.ProposalService_GetProposal_FullMethodName].Allows(c.Role)
}

// confineImport applies the access table to every field of an import row:
// a row that names units assigns them (交办), which only the office may do,
// so a proposer's row may carry the case alone.
func confineImport(_ store.Reader, c *Caller, req proto.Message) error {
	batch, prefix := req, ""
	if bulk, ok := req.(*banliv1.BulkImportProposalsRequest); ok {
		batch, prefix = bulk.GetBatch(), "batch."
	}
	for i, row := range batch.(*banliv1.ImportProposalsRequest).GetRows() {
		if len(row.GetAssignments()) > 0 {
			return deniedField(fmt.Sprintf("%srows[%d].assignments", prefix, i),
				"%s may not assign units: only the office assigns a case (交办); import the row without units", accountRoleName(c.Role))
		}
	}
	return nil
}

// confineList narrows ListProposals: a proposer lists its own cases; a unit
// lists its own unit's (or one of its departments').
func confineList(r store.Reader, c *Caller, req proto.Message) error {
	list := req.(*banliv1.ListProposalsRequest)
	if c.Role == leader {
		if list.Leader != "" && list.Leader != c.Leader {
			return denied("%s may list only the key cases of %s", c.Account, c.Leader)
		}
		list.Leader = c.Leader
		return nil
	}
	if c.Role == proposer {
		if list.Submitter != "" && list.Submitter != c.Account {
			return denied("%s may list only its own cases (submitter %s)", c.Account, c.Account)
		}
		list.Submitter = c.Account
		return nil
	}
	return confineToUnitField(r, c, req)
}

// confineLedger narrows the ledger: a leader reads the key cases it leads
// or supervises, and no other view; a unit its own unit's
// (confineToUnitField).
func confineLedger(r store.Reader, c *Caller, req proto.Message) error {
	if c.Role != leader {
		return confineToUnitField(r, c, req)
	}
	l := req.(*banliv1.ListLedgerEntriesRequest)
	if l.GetView() != banliv1.LedgerView_LEDGER_VIEW_KEY_CASES {
		return deniedField("view", "a leader reads the ledger of its key cases (LEDGER_VIEW_KEY_CASES) only")
	}
	if l.GetLeader() != "" && l.GetLeader() != c.Leader {
		return deniedField("leader", "%s reads the key cases of %s only", c.Account, c.Leader)
	}
	l.Leader = c.Leader
	return nil
}

// confineToUnitField narrows a request with a unit field (statistics,
// ledgers) to the caller's unit, or checks that the unit it names is the
// caller's or one of its departments.
func confineToUnitField(r store.Reader, c *Caller, req proto.Message) error {
	if c.Unit == "" {
		return denied("%s has no unit", c.Account)
	}
	m := req.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("unit")
	asked := m.Get(fd).String()
	if asked == "" {
		m.Set(fd, protoreflect.ValueOfString(c.Unit))
		return nil
	}
	if !inUnit(r, c.Unit, asked) {
		return denied("%s acts for %s and may not read %s", c.Account, c.Unit, asked)
	}
	return nil
}

// confineEventFilter holds a confined caller's event filters to its
// reach, as the case and unit reads hold them: a case it may not read is
// refused, and a unit's staff watch their own unit. Which events it then
// reads, eventScope decides.
func confineEventFilter(r store.Reader, c *Caller, req proto.Message) error {
	if name := stringField(req, "proposal"); name != "" {
		ids, ok := parseName(name, proposalsCollection)
		if !ok {
			return nil // malformed: validation refuses it with the field named
		}
		refuse := deniedField("proposal", "%s is not within the reach of %s", name, c.Account)
		p, err := caseOrRefusal(r, ids[0], refuse)
		if err != nil {
			return err
		}
		if !mayRead(r, c, p) {
			return refuse
		}
	}
	if c.Role == unitStaff || c.Role == unitHead {
		return confineToUnitField(r, c, req)
	}
	return nil
}

// confineToOwnWebhook keeps a proposer to its own webhooks (ListWebhooks
// lists only those, keepsWebhook), whose filters name only cases it may
// read. Another's webhook is refused as one that does not exist is
// (AIP-211).
func confineToOwnWebhook(r store.Reader, c *Caller, req proto.Message) error {
	name := cmp.Or(stringField(req, "name"), stringField(req, "parent"))
	var given *banliv1.Webhook
	switch m := req.(type) {
	case *banliv1.CreateWebhookRequest:
		given = m.GetWebhook()
	case *banliv1.UpdateWebhookRequest:
		given, name = m.GetWebhook(), m.GetWebhook().GetName()
	}
	if name != "" {
		ids, ok := parseName(name, webhooksCollection)
		if !ok {
			return nil // malformed: validation refuses it with the field named
		}
		w, err := r.Webhook(ids[0])
		switch {
		case errors.Is(err, store.ErrNotFound):
			w = nil
		case err != nil:
			return err
		}
		if w == nil || !keepsWebhook(c, w) {
			return denied("%s is not a webhook of %s", name, c.Account)
		}
	}
	if name := given.GetProposal(); name != "" {
		if ids, ok := parseName(name, proposalsCollection); ok {
			refuse := deniedField("webhook.proposal", "%s is not within the reach of %s", name, c.Account)
			p, err := caseOrRefusal(r, ids[0], refuse)
			if err != nil {
				return err
			}
			if !mayRead(r, c, p) {
				return refuse
			}
		}
	}
	return nil
}

// keepsWebhook reports whether c keeps w: the admin keeps every webhook,
// anyone else its own. ListWebhooks lists by it too.
func keepsWebhook(c *Caller, w *banliv1.Webhook) bool {
	return c == nil || c.Role == admin || w.GetOwner() == c.Account
}

// confineToWholeOffice refuses a confined caller (a viewer of one unit)
// the figures of every unit: it reads its own unit's (GetStatistics).
func confineToWholeOffice(_ store.Reader, c *Caller, _ proto.Message) error {
	return denied("%s reads the figures of %s only (GetStatistics), not every unit's", c.Account, c.Unit)
}

// inUnit reports whether unit is scope or one of its departments, at any
// depth.
func inUnit(r store.Reader, scope, unit string) bool {
	for depth := 0; unit != "" && depth < maxUnitDepth; depth++ {
		if unit == scope {
			return true
		}
		ids, ok := parseName(unit, unitsCollection)
		if !ok {
			return false
		}
		u, err := r.Unit(ids[0])
		if err != nil {
			return false
		}
		unit = u.GetParent()
	}
	return false
}

// maxUnitDepth bounds the walk up a unit's parents (a bureau, its
// departments, their sections …).
const maxUnitDepth = 8

// parseNamePrefix returns the ids of a name under proposals/: the case, and
// the assignment if the name goes that deep.
func parseNamePrefix(name string) ([]uint64, bool) {
	parts := strings.Split(name, "/")
	switch {
	case len(parts) >= 4:
		return parseName(strings.Join(parts[:4], "/"), proposalsCollection, assignmentsCollection)
	case len(parts) >= 2:
		return parseName(strings.Join(parts[:2], "/"), proposalsCollection)
	}
	return nil, false
}

func stringField(m proto.Message, name protoreflect.Name) string {
	if fd := m.ProtoReflect().Descriptor().Fields().ByName(name); fd != nil && fd.Kind() == protoreflect.StringKind {
		return m.ProtoReflect().Get(fd).String()
	}
	return ""
}

// accountRoleName is a role as people say it: "unit staff".
func accountRoleName(r banliv1.Role) string {
	return strings.ReplaceAll(strings.ToLower(trimEnum(r.String(), "ROLE_")), "_", " ")
}

// shortMethod is "ProposalService/SubmitReply" for a full method name.
func shortMethod(method string) string {
	if i := strings.LastIndex(method, "."); i >= 0 {
		return method[i+1:]
	}
	return method
}

func denied(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrPermissionDenied)...)
}

// deniedField refuses a request for one of its fields, which the refusal
// names (in ErrorInfo's metadata, "field").
func deniedField(field, format string, args ...any) error {
	return &fieldDenial{field: field, reason: fmt.Sprintf(format, args...)}
}

type fieldDenial struct{ field, reason string }

func (e *fieldDenial) Error() string { return e.field + ": " + e.reason }
func (e *fieldDenial) Unwrap() error { return ErrPermissionDenied }
