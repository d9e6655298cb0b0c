package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

const maxImportRows = 10000

// errDiscard makes the store drop a batch's writes: a dry run, or an
// all-or-nothing batch with a bad row.
var errDiscard = errors.New("discard the batch")

const (
	importCreated   = banliv1.ImportOutcome_IMPORT_OUTCOME_CREATED
	importUnchanged = banliv1.ImportOutcome_IMPORT_OUTCOME_UNCHANGED
	importConflict  = banliv1.ImportOutcome_IMPORT_OUTCOME_CONFLICT
	importInvalid   = banliv1.ImportOutcome_IMPORT_OUTCOME_INVALID
)

// importInFlight is how many batches of one stream are decided at once:
// while one commits, the next is received and checked. Answers go back in
// the order the batches came.
const importInFlight = 2

// ImportProposals imports a stream of batches.
func (s *Server) ImportProposals(stream grpc.BidiStreamingServer[banliv1.ImportProposalsRequest, banliv1.ImportProposalsResponse]) error {
	type result struct {
		resp *banliv1.ImportProposalsResponse
		err  error
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	pending := make(chan chan result, importInFlight)
	sent := make(chan error, 1)
	go func() { // answers, in order
		for next := range pending {
			r := <-next
			if r.err == nil {
				r.err = stream.Send(r.resp)
			}
			if r.err != nil {
				cancel()
				for next := range pending { // let the deciders finish
					<-next
				}
				sent <- r.err
				return
			}
		}
		sent <- nil
	}()
	var recvErr error
	for {
		req, err := stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				recvErr = err
			}
			break
		}
		next := make(chan result, 1)
		pending <- next // blocks while importInFlight batches are being decided
		go func() {
			resp, err := s.importBatch(ctx, banliv1.ImportService_ImportProposals_FullMethodName, req)
			next <- result{resp, err}
		}()
	}
	close(pending)
	if err := <-sent; err != nil {
		return err
	}
	return recvErr
}

// BulkImportProposals imports one batch.
func (s *Server) BulkImportProposals(ctx context.Context, req *banliv1.BulkImportProposalsRequest) (*banliv1.ImportProposalsResponse, error) {
	return s.importBatch(ctx, banliv1.ImportService_BulkImportProposals_FullMethodName, req.GetBatch())
}

// importBatch decides a batch's rows in one transaction. Rows are checked
// as CreateProposal and AssignProposal would check them; a valid row whose
// session and number are taken is compared with the case there.
func (s *Server) importBatch(ctx context.Context, method string, req *banliv1.ImportProposalsRequest) (*banliv1.ImportProposalsResponse, error) {
	v := &violations{}
	if n := len(req.GetRows()); n == 0 || n > maxImportRows {
		v.add("rows", "1 to %d rows a batch", maxImportRows)
	}
	v.enum("atomicity", req.GetAtomicity(), false)
	if err := v.err(); err != nil {
		return nil, err
	}
	if err := s.refuseOnStandby(); err != nil {
		return nil, err
	}

	// Check each row on its own first, outside the transaction.
	results := make([]*banliv1.ImportRowResult, len(req.GetRows()))
	firstRow := map[string]int64{} // session and number -> row
	for i, row := range req.GetRows() {
		res := &banliv1.ImportRowResult{Row: row.GetRow()}
		results[i] = res
		rv := &violations{}
		if err := validateCreateProposal(&banliv1.CreateProposalRequest{Proposal: row.GetProposal()}); err != nil {
			var ve *ValidationError
			errors.As(err, &ve)
			rv.list = ve.Violations
		}
		rv.unitAssignments(row.GetAssignments())
		key := row.GetProposal().GetSession() + "\x00" + row.GetProposal().GetNumber()
		if first, dup := firstRow[key]; dup {
			rv.add("proposal.number", "repeats row %d's number in the same session", first)
		} else {
			firstRow[key] = row.GetRow()
		}
		if len(rv.list) > 0 {
			res.Outcome = importInvalid
			for _, fv := range rv.list {
				res.Violations = append(res.Violations, &banliv1.ImportViolation{Field: fv.Field, Description: fv.Description})
			}
			res.Message = fmt.Sprintf("%d problems", len(rv.list))
		}
	}

	allOrNothing := req.GetAtomicity() == banliv1.ImportAtomicity_IMPORT_ATOMICITY_ALL_OR_NOTHING
	_, err := s.commit(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
		now := s.now()
		bad := false
		sessions := map[string]*banliv1.Session{}
		memo := &batchMemo{deadlines: map[string]*banliv1.Deadline{}, units: map[string]*banliv1.Unit{}}
		for i, row := range req.GetRows() {
			res := results[i]
			if res.GetOutcome() == importInvalid && len(res.GetViolations()) > 0 {
				bad = true
				continue
			}
			// The decision may run again (a retried commit): start afresh.
			res.Outcome, res.Proposal, res.Message, res.Violations = 0, "", "", nil
			if err := s.importRow(ctx, tx, now, row, res, sessions, memo); err != nil {
				return nil, err
			}
			bad = bad || res.GetOutcome() == importInvalid || res.GetOutcome() == importConflict
		}
		if req.GetDryRun() || (allOrNothing && bad) {
			return nil, errDiscard
		}
		tx.AppendAudit(&banliv1.AuditRecord{
			Time: timestamppb.New(now), Actor: Actor(ctx), Method: method, Outcome: "OK", Source: Source(ctx),
			Target: fmt.Sprintf("%d rows", len(req.GetRows())),
		})
		return &banliv1.ImportProposalsResponse{}, nil
	})
	if err != nil && !errors.Is(err, errDiscard) {
		return nil, err
	}
	if errors.Is(err, errDiscard) {
		// Nothing was written, but the caller learnt how its rows stand:
		// the trail shows that it asked.
		rec := auditRecord(ctx, method, nil, s.now())
		rec.Outcome, rec.Target = "OK", fmt.Sprintf("%d rows, dry run", len(req.GetRows()))
		if !req.GetDryRun() {
			rec.Target = fmt.Sprintf("%d rows, none written (all or nothing)", len(req.GetRows()))
		}
		s.appendAudit(ctx, rec)
	}
	resp := &banliv1.ImportProposalsResponse{Results: results, Committed: err == nil}
	for _, r := range results {
		switch r.GetOutcome() {
		case importCreated:
			resp.Created++
		case importUnchanged:
			resp.Unchanged++
		case importConflict:
			resp.Conflicts++
		case importInvalid:
			resp.Invalid++
		}
	}
	return resp, nil
}

// importRow decides one valid-looking row inside the batch's transaction
// and records its outcome. It returns an error only for a storage failure;
// a row that cannot be imported is INVALID or CONFLICT.
func (s *Server) importRow(ctx context.Context, tx store.Tx, now time.Time, row *banliv1.ImportRow, res *banliv1.ImportRowResult, sessions map[string]*banliv1.Session, memo *batchMemo) error {
	in := row.GetProposal()
	invalid := func(field, format string, args ...any) {
		res.Outcome = importInvalid
		res.Message = fmt.Sprintf(format, args...)
		res.Violations = append(res.Violations, &banliv1.ImportViolation{Field: field, Description: res.GetMessage()})
	}
	sess, ok := sessions[in.GetSession()]
	if !ok {
		var err error
		if sess, err = tx.Session(idOf(in.GetSession(), sessionsCollection)); err != nil {
			invalid("proposal.session", "%s does not exist", in.GetSession())
			return nil
		}
		sessions[in.GetSession()] = sess
	}
	if want := KindOfBody(sess.GetBody()); in.GetKind() != want {
		invalid("proposal.kind", "%s takes %s cases", sess.GetName(), want)
		return nil
	}
	var ve *ValidationError
	if err := proposersFitTheBody(sess, in.GetProposers()); errors.As(err, &ve) {
		invalid(ve.Violations[0].Field, "%s", ve.Violations[0].Description)
		return nil
	}
	existing, err := tx.ProposalByNumber(in.GetSession(), in.GetNumber())
	if err != nil {
		return err
	}
	if existing != 0 {
		p, err := tx.Proposal(existing)
		if err != nil {
			return err
		}
		if c, _ := CallerFrom(ctx); !mayRead(tx, c, p) {
			// Another's case: neither its name nor whether it holds the
			// same content is the caller's to learn.
			res.Outcome = importConflict
			res.Message = fmt.Sprintf("number %s is taken in %s", in.GetNumber(), in.GetSession())
			return nil
		}
		res.Proposal = p.GetName()
		if sameImport(p, newProposal(0, in, sess, now), row.GetAssignments()) {
			res.Outcome = importUnchanged
		} else {
			res.Outcome = importConflict
			res.Message = fmt.Sprintf("number %s is taken by %s, whose content differs", in.GetNumber(), p.GetName())
		}
		return nil
	}
	id, err := tx.NewID(store.KindProposal)
	if err != nil {
		return err
	}
	p := newProposal(id, in, sess, now)
	p.Submitter = callerAccount(ctx)
	c := &caseChange{ctx: ctx, tx: tx, now: now, clock: s.clock.in(storedPolicy(sess.GetPolicy()).GetCalendarRegion()), id: id, p: p, step: "ImportProposal", batch: memo}
	if len(row.GetAssignments()) > 0 {
		c.policy = storedPolicy(sess.GetPolicy())
		if err := checkCaseStep(StepAssign, guardInput{p: c.p, now: now, plan: row.GetAssignments()}); err != nil {
			invalid("assignments", "%v", err)
			return nil
		}
		for i, ua := range row.GetAssignments() {
			field := fmt.Sprintf("assignments[%d].unit", i)
			if err := c.checkActiveUnit(ua.GetUnit(), field); err != nil {
				invalid(field, "%v", err)
				return nil
			}
			c.p.Assignments = append(c.p.Assignments, c.newAssignment(ua.GetUnit(), ua.GetRole(), c.policy))
		}
	}
	c.p.Etag = "" // commit makes it the first revision
	c.details = fmt.Sprintf("row %d, number %s", row.GetRow(), in.GetNumber())
	c.commit()
	res.Outcome, res.Proposal = importCreated, c.p.GetName()
	return nil
}

// sameImport says whether case p already holds what a row would create:
// the same case fields, and, if the row names units, the same current
// units and roles.
func sameImport(p, row *banliv1.Proposal, units []*banliv1.UnitAssignment) bool {
	fields := func(x *banliv1.Proposal) *banliv1.Proposal {
		out := &banliv1.Proposal{
			Session: x.GetSession(), Kind: x.GetKind(), Number: x.GetNumber(), Serial: x.GetSerial(), Period: x.GetPeriod(),
			Title: x.GetTitle(), Content: x.GetContent(), Topics: x.GetTopics(), Attachments: x.GetAttachments(),
		}
		for _, pr := range x.GetProposers() {
			if pr.GetMergedFrom() == "" {
				out.Proposers = append(out.Proposers, pr)
			}
		}
		return out
	}
	if !proto.Equal(fields(p), fields(row)) {
		return false
	}
	if len(units) == 0 {
		return true
	}
	var have, want []string
	for _, a := range p.GetAssignments() {
		if isCurrent(a) {
			have = append(have, a.GetUnit()+"|"+a.GetRole().String())
		}
	}
	for _, ua := range units {
		want = append(want, ua.GetUnit()+"|"+ua.GetRole().String())
	}
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(have, want)
}
