package service

import (
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// A case is bounded as a whole as well as field by field: each field limit
// holds for one call, but calls add up. Without a bound, a unit within
// every field limit could grow one case past what the transports carry (it
// could then no longer be read, nor replicated to a standby), and every
// event, which holds the whole case, with it. The bounds are checked on
// the case a decision would write, before it is written, so that a call
// is either refused and writes nothing, or commits and is answered with a
// case that fits in its answer.
const (
	// maxCaseBytes is the most a case may take encoded: a quarter of the
	// 4 MiB message limit, so that a case, its event and a page holding it
	// always fit.
	maxCaseBytes = 1 << 20
	// maxCaseRevisions bounds a case's history (its etag counts them).
	maxCaseRevisions = 2000
	// maxCaseProposers bounds the proposers a case gathers by merging.
	maxCaseProposers = 2000
	// maxCaseAssignments bounds a case's parts, reassigned ones included.
	maxCaseAssignments = 100
	maxCaseReminders   = 200
	maxCaseFiles       = 200 // uploaded files (files.go)
	// Per part.
	maxPartConsultations = 100
	maxPartRounds        = 20 // replies: the first, and one per re-handling
	maxPartRequests      = 20 // changes of unit, and extensions, each
	maxPartReports       = 50 // follow-up progress reports
	// maxPageBytes bounds a page of a list, so that it fits the transports
	// whatever the page size asked for: a page ends early, with a next page
	// token, rather than fail.
	maxPageBytes = 3 << 20
)

// checkCaseLimits refuses a case that has outgrown one of its bounds.
func checkCaseLimits(p *banliv1.Proposal) error {
	over := func(what string, n, max int) error {
		if n > max {
			return &caseLimitError{resource: p.GetName(), what: what, max: max}
		}
		return nil
	}
	revision, _ := strconv.Atoi(p.GetEtag())
	errs := []error{
		over("revisions", revision, maxCaseRevisions),
		over("proposers", len(p.GetProposers()), maxCaseProposers),
		over("assignments", len(p.GetAssignments()), maxCaseAssignments),
		over("reminders", len(p.GetReminders()), maxCaseReminders),
		over("files", len(p.GetFiles()), maxCaseFiles),
	}
	for _, a := range p.GetAssignments() {
		errs = append(errs,
			over("consultations of "+a.GetName(), len(a.GetConsultations()), maxPartConsultations),
			over("reply rounds of "+a.GetName(), len(a.GetReplies()), maxPartRounds),
			over("changes of unit asked for "+a.GetName(), len(a.GetReassignmentRequests()), maxPartRequests),
			over("extensions asked for "+a.GetName(), len(a.GetExtensionRequests()), maxPartRequests),
			over("follow-up reports of "+a.GetName(), len(a.GetFollowUp().GetReports()), maxPartReports),
		)
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	if size := proto.Size(p); size > maxCaseBytes {
		return &caseLimitError{resource: p.GetName(), what: "bytes encoded", max: maxCaseBytes, got: size}
	}
	return nil
}

// caseLimitError is a change refused because the case would outgrow a
// bound.
type caseLimitError struct {
	resource, what string
	max, got       int
}

func (e *caseLimitError) Error() string {
	msg := fmt.Sprintf("%s would have more than %d %s", e.resource, e.max, e.what)
	if e.got > 0 {
		msg = fmt.Sprintf("%s would take %d bytes, more than the %d a case may", e.resource, e.got, e.max)
	}
	return msg + ": a case is bounded as a whole; shorten what is added, or record it outside the case"
}

func (e *caseLimitError) Unwrap() error { return ErrPrecondition }
