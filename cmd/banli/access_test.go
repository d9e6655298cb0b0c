package main

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
)

// The callers of the access matrix. A case, proposals/1, is submitted by
// "platform", led by units/1 (whose department is units/7) and co-handled
// by units/2; units/3 has nothing to do with it. It is a key case that
// "leader" (leaders/1) supervises; "other-leader" (leaders/2) has none.
var matrixCallers = []string{
	"admin", "office", "lead-staff", "lead-head", "dept-staff", "co-staff", "co-head", "other-staff", "other-head",
	"platform", "other-platform", "viewer-all", "viewer-lead", "viewer-other", "auditor", "standby", "monitor",
	"leader", "other-leader",
}

// Groups of callers, to keep the expected table readable.
var (
	anyone    = slices.DeleteFunc(slices.Clone(matrixCallers), func(c string) bool { return c == "monitor" })
	leadUnit  = []string{"lead-staff", "lead-head"}
	caseUnits = []string{"lead-staff", "lead-head", "co-staff", "co-head"} // every unit on the case
	// statisticsReaders read figures at all (of their own unit, for most).
	statisticsReaders = []string{"office", "lead-staff", "lead-head", "dept-staff", "co-staff", "co-head", "other-staff", "other-head",
		"viewer-all", "viewer-lead", "viewer-other"}
)

func callers(groups ...[]string) []string { return slices.Concat(groups...) }

// eventReaders read the history, each its own part of it; the matrix's
// requests ask for units/1's, which other units' staff may not.
var eventReaders = []string{"admin", "standby", "office", "lead-staff", "lead-head", "platform", "other-platform", "leader", "other-leader"}

// expectedAccess is who may make each call on the matrix's requests. It
// is written out here, apart from the server's table, so that a change to
// either shows. Requests on the lead unit's part name units/1's assignment;
// requests with a unit name units/1.
var expectedAccess = map[string][]string{
	"SessionService/GetSession": anyone, "SessionService/ListSessions": anyone, "SessionService/CreateSession": {"admin"},
	"UnitService/GetUnit": anyone, "UnitService/ListUnits": anyone, "UnitService/CreateUnit": {"admin"}, "UnitService/DeactivateUnit": {"admin"},
	"CalendarService/GetCalendarYear": anyone, "CalendarService/ListCalendarYears": anyone, "CalendarService/LoadCalendarYear": {"admin"}, "CalendarService/LoadRegionalCalendar": {"admin"},
	"AccountService/GetCaller": callers(anyone, []string{"monitor"}), "AccountService/CreateAccount": {"admin"}, "AccountService/GetAccount": {"admin"},
	"AccountService/ListAccounts": {"admin"}, "AccountService/DisableAccount": {"admin"}, "AccountService/EnableAccount": {"admin"},
	"AccountService/RotateAccountKey": {"admin"}, "AccountService/ListAccessRules": anyone, "LabelService/ListLabels": anyone,
	"BackupService/Backup":                    {"admin"},
	"ReplicationService/GetReplicationStatus": {"admin"}, "ReplicationService/Promote": {"admin"},
	"EventService/ListEvents":  eventReaders,
	"EventService/WatchEvents": eventReaders,
	// The public feed needs no sign-in at all.
	"PublicationService/ListPublishedReplies": callers(anyone, []string{"monitor"}),
	"AuditService/ListAuditRecords":           {"auditor"}, "AuditService/VerifyAudit": {"auditor"},
	"ProposalService/GetProposal": callers([]string{"office", "platform", "leader"}, caseUnits),
	// The matrix names no number: a confined caller is refused as for a
	// case not its own (TestLookupByNumber reads its own).
	"ProposalService/GetProposalByNumber": {"office"},
	"ProposalService/ListProposals":       callers([]string{"office", "platform", "other-platform", "leader", "other-leader"}, leadUnit),
	"EventService/ListProposalEvents":     callers([]string{"office", "platform", "leader"}, caseUnits),
	"LeaderService/CreateLeader":          {"admin", "office"},
	"LeaderService/UpdateLeader":          {"admin", "office"}, "UnitService/UpdateUnit": {"admin"}, "UnitService/MergeUnit": {"admin"}, "SessionService/UpdateSession": {"admin"},
	"ProposalService/UpdateProposal":   {"office"},
	"ProposalService/RemoveAssignment": {"office"}, "ProposalService/ChangeAssignmentRole": {"office"},
	"LeaderService/GetLeader": anyone, "LeaderService/ListLeaders": anyone,
	"StatisticsService/GetStatistics":  callers([]string{"office", "viewer-all", "viewer-lead"}, leadUnit),
	"StatisticsService/GetYearSummary": callers([]string{"office", "viewer-all", "viewer-lead"}, leadUnit),
	// Every unit side by side is the office's view (and a viewer's of
	// every unit).
	"StatisticsService/ListUnitStatistics": {"office", "viewer-all"}, "StatisticsService/GetStatisticsBreakdown": {"office", "viewer-all"},
	"StatisticsService/SaveScoringPolicy": {"office"},
	"StatisticsService/GetScoringPolicy":  statisticsReaders, "StatisticsService/ListScoringPolicies": statisticsReaders,
	// The matrix asks the ledger for its key cases, the view a leader reads.
	"SupervisionService/ListLedgerEntries": callers([]string{"office", "viewer-all", "viewer-lead", "leader", "other-leader"}, leadUnit),
	"SupervisionService/GetAttention":      callers([]string{"office", "viewer-all", "viewer-lead"}, leadUnit),
	"SupervisionService/ExportLedger":      callers([]string{"office", "viewer-all", "viewer-lead"}, leadUnit),
	"ProposalService/CreateProposal":       {"office", "platform", "other-platform"},
	"ImportService/ImportProposals":        {"office", "platform", "other-platform"},
	"ImportService/BulkImportProposals":    {"office", "platform", "other-platform"},
	"ImportService/MigrateProposals":       {"admin", "office"},
	"ProposalService/AssignProposal":       {"office"}, "ProposalService/DecideReassignment": {"office"},
	"ProposalService/DecideExtension": {"office"}, "ProposalService/CloseFollowUp": {"office"},
	"ProposalService/RecordReminder": {"office"}, "ProposalService/RefuseFiling": {"office"},
	"ProposalService/MergeProposals": {"office"}, "ProposalService/MarkKey": {"office"}, "ProposalService/RecordSupervision": {"office"}, "ProposalService/CorrectReplyCategory": {"office"}, "ProposalService/ReviewReply": {"office"}, "ProposalService/DecideUnsatisfied": {"office"},
	"ProposalService/SignAssignment":         leadUnit,
	"ProposalService/DelegateAssignment":     leadUnit,
	"ProposalService/RequestReassignment":    leadUnit,
	"ProposalService/RequestExtension":       leadUnit,
	"ProposalService/RecordConsultation":     leadUnit,
	"ProposalService/SubmitOpinion":          leadUnit,
	"ProposalService/CountersignReply":       leadUnit,
	"ProposalService/ReportFollowUp":         leadUnit,
	"ProposalService/SubmitReply":            {"lead-head"},
	"ProposalService/SaveReplyDraft":         leadUnit,
	"ProposalService/RecordCollectiveReview": leadUnit,
	"ProposalService/ReturnReplyDraft":       {"lead-head"},
	"ProposalService/PublishReply":           callers([]string{"office"}, leadUnit),
	"ProposalService/WithholdReply":          callers([]string{"office"}, leadUnit),
	"ProposalService/PreviewPublication":     callers([]string{"office"}, leadUnit),
	"ProposalService/ReviewPublication":      {"office"},
	"ProposalService/CorrectPublication":     callers([]string{"office"}, leadUnit),
	"ProposalService/WithdrawPublication":    callers([]string{"office"}, leadUnit),
	"ProposalService/RecordDelivery":         callers([]string{"office"}, leadUnit),
	"ProposalService/RateReply":              {"office", "platform"},
	"ProposalService/WithdrawProposal":       {"office", "platform"},
	"ProposalService/UploadFile":             callers([]string{"office", "platform"}, caseUnits),
	// The matrix's file is attached to nothing the proposer reads.
	"ProposalService/DownloadFile": callers([]string{"office", "leader"}, caseUnits),
	"ReplicationService/FetchFile": {"admin", "standby"},
	// webhooks/1 is the platform's (matrixAccounts): the admin keeps any
	// webhook, a platform its own.
	"WebhookService/CreateWebhook": {"admin", "platform", "other-platform"}, "WebhookService/ListWebhooks": {"admin", "platform", "other-platform"},
	"WebhookService/GetWebhook": {"admin", "platform"}, "WebhookService/UpdateWebhook": {"admin", "platform"},
	"WebhookService/DeleteWebhook": {"admin", "platform"}, "WebhookService/RotateWebhookSecret": {"admin", "platform"},
	"WebhookService/ListWebhookDeliveries": {"admin", "platform"}, "WebhookService/RedeliverWebhookDeliveries": {"admin", "platform"},
}

// TestEveryMethodHasARule: every RPC in the API has a rule in the server's
// access table and a row in the matrix's expectations; a new RPC without
// either fails here.
func TestEveryMethodHasARule(t *testing.T) {
	rules := service.Rules()
	for _, m := range apiMethods(t) {
		if _, ok := rules[m.full]; !ok {
			t.Errorf("%s has no access rule in service/access.go", m.full)
		}
		if _, ok := expectedAccess[m.short]; !ok {
			t.Errorf("%s has no row in expectedAccess", m.short)
		}
	}
}

// TestAccessMatrix calls every RPC as every kind of caller, in and out of
// its scope, and checks that exactly the expected callers get past the
// access check (any answer but PERMISSION_DENIED).
func TestAccessMatrix(t *testing.T) {
	f := newFixture(t)
	keys := matrixAccounts(t, f)
	// The case: submitted by the platform, led by units/1, co-handled by units/2.
	in := f.receive(t)
	in.Name = ""
	p := must(f.proposals.CreateProposal(as(keys["platform"]), &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: in.GetSession(), Kind: in.GetKind(), Number: "M1", Period: in.GetPeriod(), Title: in.GetTitle(),
		Content: in.GetContent(), Proposers: in.GetProposers(),
	}}))(t)
	f.assign(t, p, part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	markMatrixKeyCase(t, f, p.GetName())
	lead := p.GetName() + "/assignments/1"

	for _, m := range apiMethods(t) {
		want := expectedAccess[m.short]
		for _, who := range matrixCallers {
			req := matrixRequest(m, p.GetName(), lead, f.unit(0))
			err := invokeAny(as(keys[who]), f.conn, m, req)
			got := status.Code(err) != codes.PermissionDenied && status.Code(err) != codes.Unauthenticated
			if got != slices.Contains(want, who) {
				t.Errorf("%s as %s: %v, want allowed=%v", m.short, who, err, !got)
			}
		}
	}
}

// TestAccessRulesAnswerTheTable: ListAccessRules, which clients read to
// pick an account for a step, names every RPC once, and no role it omits
// is let through where the matrix says so; confined rules are those whose
// callers in and out of scope are told apart.
func TestAccessRulesAnswerTheTable(t *testing.T) {
	f := newFixture(t)
	keys := matrixAccounts(t, f)
	accounts := banliv1.NewAccountServiceClient(f.conn)
	roleOf := map[string]banliv1.Role{}
	for who, key := range keys {
		roleOf[who] = must(accounts.GetCaller(as(key), &banliv1.GetCallerRequest{}))(t).GetRole()
	}
	table := must(accounts.ListAccessRules(as(keys["platform"]), &banliv1.ListAccessRulesRequest{}))(t)
	byMethod := map[string]*banliv1.AccessRule{}
	for _, r := range table.GetRules() {
		if byMethod[r.GetMethod()] != nil {
			t.Errorf("%s listed twice", r.GetMethod())
		}
		byMethod[r.GetMethod()] = r
	}
	methods := apiMethods(t)
	banli := 0
	for m := range byMethod {
		if strings.HasPrefix(m, "/banli.v1.") {
			banli++
		}
	}
	if banli != len(methods) {
		t.Errorf("%d rules for %d methods", banli, len(methods))
	}
	for _, m := range methods {
		rule := byMethod[m.full]
		if rule == nil {
			t.Errorf("%s has no rule in the answer", m.full)
			continue
		}
		for who, role := range roleOf {
			if slices.Contains(expectedAccess[m.short], who) && !slices.Contains(rule.GetRoles(), role) {
				t.Errorf("%s: %s (%s) may call it, but the answer leaves %s out", m.short, who, role, role)
			}
		}
	}
	sign := byMethod[banliv1.ProposalService_SignAssignment_FullMethodName]
	if !sign.GetConfined() || !slices.Equal(sign.GetRoles(), []banliv1.Role{banliv1.Role_ROLE_UNIT_STAFF, banliv1.Role_ROLE_UNIT_HEAD}) {
		t.Errorf("SignAssignment's rule: %v", sign)
	}
}

// matrixAccounts makes an account for each caller of the matrix (a
// department of units/1 for dept-staff) and returns their keys, the
// admin's included.
func matrixAccounts(t testing.TB, f *fixture) map[string]string {
	t.Helper()
	dept := must(f.units.CreateUnit(context.Background(), &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: "数字政府处", Parent: f.unit(0)}}))(t)
	roles := map[string]struct {
		role banliv1.Role
		unit string
	}{
		"office": {banliv1.Role_ROLE_OFFICE, ""}, "lead-staff": {banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)},
		"lead-head": {banliv1.Role_ROLE_UNIT_HEAD, f.unit(0)}, "dept-staff": {banliv1.Role_ROLE_UNIT_STAFF, dept.GetName()},
		"co-staff": {banliv1.Role_ROLE_UNIT_STAFF, f.unit(1)}, "co-head": {banliv1.Role_ROLE_UNIT_HEAD, f.unit(1)},
		"other-staff": {banliv1.Role_ROLE_UNIT_STAFF, f.unit(2)}, "other-head": {banliv1.Role_ROLE_UNIT_HEAD, f.unit(2)},
		"platform": {banliv1.Role_ROLE_PROPOSER, ""}, "other-platform": {banliv1.Role_ROLE_PROPOSER, ""},
		"viewer-all": {banliv1.Role_ROLE_VIEWER, ""}, "viewer-lead": {banliv1.Role_ROLE_VIEWER, f.unit(0)},
		"viewer-other": {banliv1.Role_ROLE_VIEWER, f.unit(2)}, "auditor": {banliv1.Role_ROLE_AUDITOR, ""},
		"standby": {banliv1.Role_ROLE_STANDBY, ""}, "monitor": {banliv1.Role_ROLE_MONITOR, ""},
	}
	keys := map[string]string{"admin": f.adminKey}
	for id, r := range roles {
		keys[id] = f.account(t, id, r.role, r.unit)
	}
	leaders := banliv1.NewLeaderServiceClient(f.conn)
	for _, id := range []string{"leader", "other-leader"} { // leaders/1, leaders/2
		l := must(leaders.CreateLeader(office, &banliv1.CreateLeaderRequest{Leader: &banliv1.Leader{
			DisplayName: id, Title: "市政协副主席", Body: banliv1.LeaderBody_LEADER_BODY_CPPCC}}))(t)
		keys[id] = f.leaderAccount(t, id, l.GetName())
	}
	// webhooks/1, the platform's.
	must(banliv1.NewWebhookServiceClient(f.conn).CreateWebhook(as(keys["platform"]), &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: matrixWebhookURL}}))(t)
	return keys
}

// matrixWebhookURL is allowed and never answers (startServerActing).
const matrixWebhookURL = "https://platform.example.test/hooks"

// markMatrixKeyCase makes the matrix's case a key case that leaders/1
// supervises.
func markMatrixKeyCase(t testing.TB, f *fixture, caseName string) {
	t.Helper()
	must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: caseName, Key: true, Leaders: matrixKeyLeaders}))(t)
}

var matrixKeyLeaders = []*banliv1.KeyCaseLeader{{Leader: "leaders/1", Role: banliv1.KeyCaseRole_KEY_CASE_ROLE_SUPERVISING}}

type apiMethod struct {
	full, short string
	desc        protoreflect.MethodDescriptor
}

// apiMethods lists every RPC of the banli.v1 services.
func apiMethods(t testing.TB) []apiMethod {
	var out []apiMethod
	protoregistry.GlobalFiles.RangeFilesByPackage("banli.v1", func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			sd := fd.Services().Get(i)
			for j := range sd.Methods().Len() {
				md := sd.Methods().Get(j)
				short := string(sd.Name()) + "/" + string(md.Name())
				out = append(out, apiMethod{full: "/banli.v1." + short, short: short, desc: md})
			}
		}
		return true
	})
	if len(out) < 50 {
		t.Fatalf("found only %d methods", len(out))
	}
	return out
}

// matrixRequest is a request for m about the matrix's case: its name for a
// case method, the lead unit's part for a part method, its first reply for
// a reply method, units/1 for a unit filter.
func matrixRequest(m apiMethod, caseName, lead, unit string) proto.Message {
	mt, _ := protoregistry.GlobalTypes.FindMessageByName(m.desc.Input().FullName())
	msg := mt.New()
	fields := msg.Descriptor().Fields()
	set := func(field protoreflect.Name, v string) {
		if fd := fields.ByName(field); fd != nil && fd.Kind() == protoreflect.StringKind && fd.Cardinality() != protoreflect.Repeated {
			msg.Set(fd, protoreflect.ValueOfString(v))
		}
	}
	name := caseName
	switch {
	case strings.HasPrefix(m.short, "AccountService/"):
		name = "accounts/nobody"
	case strings.HasPrefix(m.short, "UnitService/"):
		name = unit
	case strings.HasPrefix(m.short, "SessionService/"):
		name = "sessions/1"
	case strings.HasPrefix(m.short, "CalendarService/"):
		name = "calendars/2021"
	case slices.Contains([]string{"RateReply", "PublishReply", "WithholdReply", "CorrectReplyCategory", "RecordDelivery", "DecideUnsatisfied",
		"PreviewPublication", "ReviewPublication", "CorrectPublication", "WithdrawPublication"}, string(m.desc.Name())):
		name = lead + "/replies/1"
	case slices.Contains([]string{"SignAssignment", "DelegateAssignment", "SaveReplyDraft", "ReturnReplyDraft", "RecordCollectiveReview", "CountersignReply", "ReviewReply", "RequestReassignment", "DecideReassignment", "RequestExtension", "DecideExtension",
		"RecordConsultation", "SubmitOpinion", "SubmitReply", "ReportFollowUp", "CloseFollowUp", "RemoveAssignment", "ChangeAssignmentRole"}, string(m.desc.Name())):
		name = lead
	}
	switch m.short {
	case "ProposalService/UploadFile":
		return &banliv1.UploadFileRequest{Part: &banliv1.UploadFileRequest_Upload{Upload: &banliv1.FileUpload{Parent: caseName, FileName: "matrix.pdf"}}}
	case "ProposalService/DownloadFile":
		name = caseName + "/files/1"
	case "ReplicationService/FetchFile":
		return &banliv1.FetchFileRequest{Sha256: strings.Repeat("0", 64)}
	}
	switch m.short {
	case "LeaderService/GetLeader":
		name = "leaders/1"
	case "StatisticsService/GetScoringPolicy":
		name = "scoringPolicies/city-2021"
	case "StatisticsService/ListUnitStatistics":
		return &banliv1.ListUnitStatisticsRequest{Year: 2021}
	case "StatisticsService/GetStatisticsBreakdown":
		return &banliv1.GetStatisticsBreakdownRequest{Year: 2021, By: banliv1.BreakdownDimension_BREAKDOWN_DIMENSION_TOPIC}
	case "StatisticsService/SaveScoringPolicy":
		return &banliv1.SaveScoringPolicyRequest{Policy: &banliv1.ScoringPolicy{Name: "matrix", Base: 90}}
	case "SupervisionService/ListLedgerEntries":
		return &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_KEY_CASES, Unit: unit}
	case "EventService/WatchEvents": // a caller with nothing to read hears a heartbeat at once
		return &banliv1.WatchEventsRequest{Unit: unit, HeartbeatSeconds: 1}
	case "ProposalService/MarkKey": // the case stays the leader's key case
		return &banliv1.MarkKeyRequest{Name: caseName, Key: true, Leaders: matrixKeyLeaders}
	case "WebhookService/CreateWebhook":
		return &banliv1.CreateWebhookRequest{Webhook: &banliv1.Webhook{Url: matrixWebhookURL}}
	case "WebhookService/UpdateWebhook":
		return &banliv1.UpdateWebhookRequest{Webhook: &banliv1.Webhook{Name: "webhooks/1", DisplayName: "矩阵"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"display_name"}}}
	}
	if strings.HasPrefix(m.short, "WebhookService/") {
		name, caseName = "webhooks/1", "webhooks/1"
	}
	set("name", name)
	set("parent", caseName)
	set("unit", unit)
	return msg.Interface()
}

// invokeAny makes one call of m with req, unary or streaming, and returns
// its error.
func invokeAny(ctx context.Context, conn *grpc.ClientConn, m apiMethod, req proto.Message) error {
	out, _ := protoregistry.GlobalTypes.FindMessageByName(m.desc.Output().FullName())
	if !m.desc.IsStreamingClient() && !m.desc.IsStreamingServer() {
		return conn.Invoke(ctx, m.full, req, out.New().Interface())
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, m.full)
	if err != nil {
		return err
	}
	if err := stream.SendMsg(req); err != nil && err != io.EOF {
		return err
	}
	stream.CloseSend()
	err = stream.RecvMsg(out.New().Interface())
	if err == io.EOF {
		return nil
	}
	return err
}
