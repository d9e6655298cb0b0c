package service

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Migration (补录) brings in cases with the history they already have. A
// row's case and every one of its steps run in one transaction: the steps
// go through the same handlers as live calls (their validation, the
// lifecycle table, the guards), with two differences that a migration
// context carries: write runs them inside the row's transaction instead
// of one of their own, and at the step's stated time instead of the
// clock's. So deadlines and on-time figures come from the dates the office
// states, on those years' calendars, and a refused step leaves nothing of
// its case.

// maxMigrationRows bounds one MigrateProposals call.
const maxMigrationRows = 500

// migration is the transaction of one migrated case, and the stated time
// of the step running in it.
type migration struct {
	tx       store.Tx
	at       time.Time
	recorded time.Time
}

type migrationKey struct{}

// migrationOf is the migration ctx runs in, or nil.
func migrationOf(ctx context.Context) *migration {
	m, _ := ctx.Value(migrationKey{}).(*migration)
	return m
}

// errDryRun rolls a dry run's row back once every step has passed.
var errDryRun = errors.New("dry run")

// stepError is a refused step of a row: -1 for the case itself.
type stepError struct {
	step  int
	field string // the step's field in MigrationStep, e.g. "reply"
	err   error
}

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }

// MigrateProposals brings in cases with their history, a row at a time.
func (s *Server) MigrateProposals(ctx context.Context, req *banliv1.MigrateProposalsRequest) (*banliv1.MigrateProposalsResponse, error) {
	if err := s.refuseOnStandby(); err != nil {
		return nil, err
	}
	if err := validateMigration(req, s.now()); err != nil {
		return nil, err
	}
	resp := &banliv1.MigrateProposalsResponse{Committed: !req.GetDryRun()}
	for _, row := range req.GetRows() {
		result := s.migrateRow(ctx, row, req.GetDryRun())
		switch result.GetOutcome() {
		case banliv1.ImportOutcome_IMPORT_OUTCOME_CREATED:
			resp.Migrated++
		case banliv1.ImportOutcome_IMPORT_OUTCOME_UNCHANGED:
			resp.Unchanged++
		default:
			resp.Refused++
		}
		resp.Results = append(resp.Results, result)
	}
	// A follow-up migrated from an earlier year is carried up to this one
	// now, not at the next round of the scheduled steps.
	if resp.GetMigrated() > 0 && !req.GetDryRun() {
		if _, err := s.CarryOverFollowUps(context.WithoutCancel(ctx)); err != nil {
			return nil, err
		}
	}
	// One audit record for the whole migration, naming its source.
	_, err := s.commit(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
		rec := auditRecord(ctx, banliv1.ImportService_MigrateProposals_FullMethodName, nil, s.now())
		rec.Target = "sha256:" + req.GetSourceSha256()
		rec.Outcome = fmt.Sprintf("OK: %d migrated, %d unchanged, %d refused of %d rows", resp.GetMigrated(), resp.GetUnchanged(), resp.GetRefused(), len(req.GetRows()))
		if req.GetDryRun() {
			rec.Outcome += " (dry run)"
		}
		tx.AppendAudit(rec)
		return &banliv1.MigrateProposalsResponse{}, nil
	})
	return resp, err
}

func validateMigration(req *banliv1.MigrateProposalsRequest, now time.Time) error {
	v := &violations{}
	switch n := len(req.GetRows()); {
	case n == 0:
		v.add("rows", "required: at least one case")
	case n > maxMigrationRows:
		v.add("rows", "at most %d a call", maxMigrationRows)
	}
	if h := req.GetSourceSha256(); h != "" && !store.ValidSHA256(h) {
		v.add("source_sha256", "must be 64 lower-case hex digits")
	}
	return v.err()
}

// migrateRow migrates one case and its steps in one transaction.
func (s *Server) migrateRow(ctx context.Context, row *banliv1.MigrationRow, dryRun bool) *banliv1.MigrationRowResult {
	result := &banliv1.MigrationRowResult{Row: row.GetRow(), Step: -1}
	refuse := func(step int, err error) *banliv1.MigrationRowResult {
		result.Outcome, result.Step, result.Message = banliv1.ImportOutcome_IMPORT_OUTCOME_INVALID, int32(step), err.Error()
		var ve *ValidationError
		if errors.As(err, &ve) {
			// A step's fields are named within the row: steps[3].reply.reply_time.
			prefix := ""
			if se := (*stepError)(nil); errors.As(err, &se) && se.step >= 0 && se.field != "" {
				prefix = fmt.Sprintf("steps[%d].%s.", se.step, se.field)
			}
			for _, fv := range ve.Violations {
				result.Violations = append(result.Violations, &banliv1.ImportViolation{Field: prefix + fv.Field, Description: fv.Description})
			}
		}
		return result
	}
	if err := checkStepTimes(row, s.now()); err != nil {
		return refuse(err.step, err)
	}
	// A second run finds the case it made.
	var found *banliv1.Proposal
	if err := s.store.View(func(r store.Reader) error {
		id, err := r.ProposalByNumber(row.GetProposal().GetSession(), row.GetProposal().GetNumber())
		if err != nil || id == 0 {
			return err
		}
		found, err = r.Proposal(id)
		return err
	}); err != nil {
		return refuse(-1, err)
	}
	if found != nil {
		result.Proposal = found.GetName()
		if !found.GetMigrated() {
			result.Outcome, result.Message = banliv1.ImportOutcome_IMPORT_OUTCOME_CONFLICT, "the number is taken by a case that was not migrated"
			return result
		}
		result.Outcome = banliv1.ImportOutcome_IMPORT_OUTCOME_UNCHANGED
		return result
	}
	recorded := s.now()
	_, err := s.commit(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
		m := &migration{tx: tx, at: row.GetReceiveTime().AsTime(), recorded: recorded}
		in := context.WithValue(ctx, migrationKey{}, m)
		p, err := s.CreateProposal(in, &banliv1.CreateProposalRequest{Proposal: row.GetProposal()})
		if err != nil {
			return nil, &stepError{step: -1, err: err}
		}
		result.Proposal = p.GetName()
		for i, st := range row.GetSteps() {
			m.at = st.GetTime().AsTime()
			if err := s.migrateStep(in, st, p.GetName()); err != nil {
				field := ""
				if oneof := st.ProtoReflect().WhichOneof(st.ProtoReflect().Descriptor().Oneofs().ByName("step")); oneof != nil {
					field = string(oneof.Name())
				}
				return nil, &stepError{step: i, field: field, err: err}
			}
		}
		if dryRun {
			return nil, errDryRun
		}
		return p, nil
	})
	switch se := (*stepError)(nil); {
	case err == nil, errors.Is(err, errDryRun):
		result.Outcome = banliv1.ImportOutcome_IMPORT_OUTCOME_CREATED
		if dryRun {
			result.Proposal = ""
		}
		return result
	case errors.As(err, &se):
		return refuse(se.step, err)
	}
	return refuse(-1, err)
}

// checkStepTimes checks a row's times: each given, none in the future,
// none before the one before it (the receipt first).
func checkStepTimes(row *banliv1.MigrationRow, now time.Time) *stepError {
	bad := func(step int, field, format string, args ...any) *stepError {
		return &stepError{step: step, err: invalidField(field, format, args...)}
	}
	if row.GetReceiveTime() == nil || row.GetReceiveTime().CheckValid() != nil {
		return bad(-1, "receive_time", "required: when the case was received")
	}
	last := row.GetReceiveTime().AsTime()
	if last.After(now) {
		return bad(-1, "receive_time", "in the future")
	}
	for i, st := range row.GetSteps() {
		field := fmt.Sprintf("steps[%d].time", i)
		switch {
		case st.GetTime() == nil || st.GetTime().CheckValid() != nil:
			return bad(i, field, "required: when the step happened")
		case st.GetTime().AsTime().After(now):
			return bad(i, field, "in the future")
		case st.GetTime().AsTime().Before(last):
			return bad(i, field, "before the step before it (%s): the steps go in the order they happened", last.In(chinaTime).Format(time.DateTime))
		}
		last = st.GetTime().AsTime()
	}
	return nil
}

// migrateStep takes one step of a migrated case through its handler, its
// names pointing at the case just made.
func (s *Server) migrateStep(ctx context.Context, st *banliv1.MigrationStep, caseName string) error {
	var err error
	switch x := proto.Clone(st).(*banliv1.MigrationStep).GetStep().(type) {
	case *banliv1.MigrationStep_Assign:
		_, err = s.AssignProposal(ctx, named(x.Assign, caseName))
	case *banliv1.MigrationStep_Sign:
		_, err = s.SignAssignment(ctx, named(x.Sign, caseName))
	case *banliv1.MigrationStep_Consult:
		_, err = s.RecordConsultation(ctx, named(x.Consult, caseName))
	case *banliv1.MigrationStep_Opinion:
		_, err = s.SubmitOpinion(ctx, named(x.Opinion, caseName))
	case *banliv1.MigrationStep_Reply:
		_, err = s.SubmitReply(ctx, named(x.Reply, caseName))
	case *banliv1.MigrationStep_Deliver:
		_, err = s.RecordDelivery(ctx, named(x.Deliver, caseName))
	case *banliv1.MigrationStep_Rate:
		_, err = s.RateReply(ctx, named(x.Rate, caseName))
	case *banliv1.MigrationStep_DecideUnsatisfied:
		_, err = s.DecideUnsatisfied(ctx, named(x.DecideUnsatisfied, caseName))
	case *banliv1.MigrationStep_Publish:
		_, err = s.PublishReply(ctx, named(x.Publish, caseName))
	case *banliv1.MigrationStep_ReportFollowUp:
		_, err = s.ReportFollowUp(ctx, named(x.ReportFollowUp, caseName))
	case *banliv1.MigrationStep_CloseFollowUp:
		_, err = s.CloseFollowUp(ctx, named(x.CloseFollowUp, caseName))
	case *banliv1.MigrationStep_MarkKey:
		_, err = s.MarkKey(ctx, named(x.MarkKey, caseName))
	default:
		err = invalidField("step", "required: the step that happened")
	}
	return err
}

// migratedCase is how a migration row's steps name their case.
const migratedCase = "proposals/-"

// named points every name in m that starts with proposals/- at caseName.
func named[M proto.Message](m M, caseName string) M {
	rename(m.ProtoReflect(), caseName)
	return m
}

func rename(m protoreflect.Message, caseName string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Kind() == protoreflect.StringKind && fd.IsList():
			l := v.List()
			for i := range l.Len() {
				l.Set(i, protoreflect.ValueOfString(renamed(l.Get(i).String(), caseName)))
			}
		case fd.Kind() == protoreflect.StringKind:
			m.Set(fd, protoreflect.ValueOfString(renamed(v.String(), caseName)))
		case fd.Kind() == protoreflect.MessageKind && fd.IsList():
			for i := range v.List().Len() {
				rename(v.List().Get(i).Message(), caseName)
			}
		case fd.Kind() == protoreflect.MessageKind && !fd.IsMap():
			rename(v.Message(), caseName)
		}
		return true
	})
}

func renamed(s, caseName string) string {
	if s == migratedCase || strings.HasPrefix(s, migratedCase+"/") {
		return caseName + strings.TrimPrefix(s, migratedCase)
	}
	return s
}
