package service

import (
	"fmt"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// The offline checks: what the data tools run against a data file no
// server holds (`banli check`, `banli restore`, `banli audit verify`).
// They take the backend the wiring opened, so the tools need not know it.

// CheckData runs every check the backend offers: its own page check if it
// has one (store.PageChecker), the derived data (numbers, index terms, due
// entries, histories) against the records, and the statistics against a
// recount.
func CheckData(b store.Backend) error {
	if pc, ok := b.(store.PageChecker); ok {
		if err := pc.CheckPages(); err != nil {
			return err
		}
	}
	return b.View(func(r store.Reader) error {
		if err := r.CheckIndexes(); err != nil {
			return err
		}
		return CheckStatistics(r)
	})
}

// VerifyAuditTrail recomputes the audit chain, as VerifyAudit does, against
// an anchor (sequence 0: none).
func VerifyAuditTrail(b store.Backend, anchorSequence uint64, anchorHash []byte) (*banliv1.VerifyAuditResponse, error) {
	var v store.AuditVerdict
	err := b.View(func(r store.Reader) error {
		var err error
		v, err = r.VerifyAudit(store.AuditAnchor{Sequence: anchorSequence, Hash: anchorHash})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("verify the audit trail: %w", err)
	}
	return verdictResponse(v), nil
}

func verdictResponse(v store.AuditVerdict) *banliv1.VerifyAuditResponse {
	return &banliv1.VerifyAuditResponse{
		Intact: v.FirstBroken == 0, Records: v.Records, FirstBroken: v.FirstBroken, Problem: v.Problem,
		HeadSequence: v.HeadSequence, HeadHash: v.HeadHash,
	}
}
