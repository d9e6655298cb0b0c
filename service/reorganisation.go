package service

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Reorganisations (机构改革): a unit merged into another hands over its open
// parts, its departments and (as the admin chooses) its accounts, in one
// decision, and leaves its closed parts and their figures behind.

// MergeUnit merges a unit into another.
func (s *Server) MergeUnit(ctx context.Context, req *banliv1.MergeUnitRequest) (*banliv1.Unit, error) {
	v := &violations{}
	id := v.unitID("name", req.GetName())
	intoID := v.unitID("into", req.GetInto())
	if id != 0 && id == intoID {
		v.add("into", "a unit is not merged into itself")
	}
	v.enum("accounts", req.GetAccounts(), true)
	v.paragraph("reason", req.GetReason(), maxNoteLen, true)
	v.mutation(req.GetEtag(), req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	movedAccounts := false
	defer func() {
		if movedAccounts {
			s.signIns.forget("")
		}
	}()
	return write(ctx, s, banliv1.UnitService_MergeUnit_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Unit, error) {
		old, err := tx.Unit(id)
		if err != nil {
			return nil, notFoundOr(err, req.GetName(), "")
		}
		into, err := tx.Unit(intoID)
		if err != nil {
			return nil, notFoundOr(err, req.GetInto(), "into")
		}
		if err := checkEtag(req.GetEtag(), old.GetEtag(), old.GetName()); err != nil {
			return nil, err
		}
		switch {
		case !old.GetActive():
			return nil, &TransitionError{Step: "MergeUnit", Resource: old.GetName(), State: "INACTIVE"}
		case !into.GetActive():
			return nil, fmt.Errorf("into: %s is deactivated: %w", into.GetName(), ErrPrecondition)
		case inUnit(tx, old.GetName(), into.GetName()):
			return nil, invalidField("into", "%s is a department of %s: merge it the other way, or move it first", into.GetName(), old.GetName())
		}
		moved, err := moveOpenParts(ctx, tx, now, s.clock, old.GetName(), into.GetName(), req.GetReason())
		if err != nil {
			return nil, err
		}
		if err := moveDepartments(ctx, tx, now, old.GetName(), into.GetName()); err != nil {
			return nil, err
		}
		n, err := handOverAccounts(ctx, tx, now, old.GetName(), into.GetName(), req.GetAccounts())
		if err != nil {
			return nil, err
		}
		movedAccounts = n > 0
		stamp := timestampOf(now)
		old.Active, old.DeactivateTime, old.MergedInto, old.Etag = false, stamp, into.GetName(), nextEtag(old.GetEtag())
		tx.PutUnit(id, old, newEvent(ctx, stamp, "MergeUnit", "", "ACTIVE", "INACTIVE",
			fmt.Sprintf("merged into %s (%s); %d open parts and %d accounts handed over: %s", into.GetName(), into.GetDisplayName(), moved, n, req.GetReason())))
		into.Predecessors, into.Etag = append(into.Predecessors, old.GetName()), nextEtag(into.GetEtag())
		tx.PutUnit(intoID, into, newEvent(ctx, stamp, "MergeUnit (the successor)", "", "ACTIVE", "ACTIVE",
			fmt.Sprintf("%s (%s) merged into it: %s", old.GetName(), old.GetDisplayName(), req.GetReason())))
		return old, nil
	})
}

// isOpen reports whether a part still has work: not rated yet, or on the
// follow-up register and not closed.
func isOpen(a *banliv1.Assignment) bool {
	if !isCurrent(a) {
		return false
	}
	if f := a.GetFollowUp(); f != nil && f.GetState() != followClosed {
		return true
	}
	return a.GetState() != aRated
}

// moveOpenParts moves every open part of unit from to unit to, each case
// with an event of its own, and returns how many parts moved.
func moveOpenParts(ctx context.Context, tx store.Tx, now time.Time, clock deadlineClock, from, to, reason string) (int, error) {
	q := store.Query{}
	q.And(unitTerm(from))
	var ids []uint64
	if err := eachMatching(tx, q, func(p *banliv1.Proposal) { ids = append(ids, idOf(p.GetName(), proposalsCollection)) }); err != nil {
		return 0, err
	}
	moved := 0
	for _, id := range ids {
		p, err := tx.Proposal(id)
		if err != nil {
			return moved, err
		}
		if !slices.Contains(handlingStates, p.GetState()) {
			continue // withdrawn, merged or not filed: no open work
		}
		c, err := newCaseChange(ctx, tx, now, clock, id, p, StepMovePart)
		if err != nil {
			return moved, err
		}
		changed := false
		for _, a := range p.GetAssignments() {
			if a.GetUnit() != from || !isOpen(a) {
				continue
			}
			err := c.moveAssignment(a, StepMovePart, nil, func() error {
				a.Unit = to
				a.Corrections = append(a.Corrections, &banliv1.PartCorrection{What: fmt.Sprintf("moved from %s, merged into %s", from, to),
					Reason: reason, CorrectedBy: callerAccount(ctx), CorrectTime: timestamppb.New(now)})
				return nil
			})
			if err != nil {
				return moved, fmt.Errorf("%s: %w", a.GetName(), err)
			}
			changed = true
			moved++
		}
		if changed {
			c.commit()
		}
	}
	return moved, nil
}

// moveDepartments puts a merged unit's departments under its successor.
func moveDepartments(ctx context.Context, tx store.Tx, now time.Time, from, to string) error {
	for after := uint64(0); ; {
		page, more, err := tx.ListUnits(after, 500, func(u *banliv1.Unit) bool { return u.GetParent() == from })
		if err != nil {
			return err
		}
		for _, d := range page {
			before := d.GetParent()
			d.Parent, d.Etag = to, nextEtag(d.GetEtag())
			ev := newEvent(ctx, timestampOf(now), "MergeUnit (the department moves)", "", "", "", fmt.Sprintf("now a department of %s", to))
			ev.Changes = []*banliv1.FieldChange{{Path: "parent", OldValue: fmt.Sprintf("%q", before), NewValue: fmt.Sprintf("%q", to)}}
			tx.PutUnit(idOf(d.GetName(), unitsCollection), d, ev)
		}
		if !more || len(page) == 0 {
			return nil
		}
		after = idOf(page[len(page)-1].GetName(), unitsCollection)
	}
}

// handOverAccounts moves a merged unit's own accounts to its successor, or
// disables them, and returns how many it changed.
func handOverAccounts(ctx context.Context, tx store.Tx, now time.Time, from, to string, how banliv1.MergedUnitAccounts) (int, error) {
	n := 0
	for after := ""; ; {
		page, more, err := tx.ListAccounts(after, 500)
		if err != nil {
			return n, err
		}
		for _, a := range page {
			if a.GetUnit() != from {
				continue
			}
			was := accountState(a)
			details := "acts for " + to
			if how == banliv1.MergedUnitAccounts_MERGED_UNIT_ACCOUNTS_MOVE {
				a.Unit = to
			} else if a.GetActive() {
				a.Active, a.DisableTime = false, timestamppb.New(now)
				details = "disabled: its unit merged into " + to
			}
			a.Etag = nextEtag(a.GetEtag())
			tx.PutAccount(a, accountEvent(ctx, now, "MergeUnit (the account)", was, a, details))
			n++
		}
		if !more || len(page) == 0 {
			return n, nil
		}
		after = page[len(page)-1].GetName()[len("accounts/"):]
	}
}
