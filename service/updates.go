package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Corrections (AIP-134). An update names the fields it changes in a field
// mask and gives the etag of what it corrects. What a mask may name is
// read from the contract: a field the proto marks OUTPUT_ONLY or
// IMMUTABLE is refused as such, and of the rest only those listed here
// for each resource may change. Every accepted change is an event that
// records each field's old and new value.

// updatable lists, for each resource, the paths an update may name; a
// path ending in ".*" admits the field and every field below it.
var updatable = map[protoreflect.FullName][]string{
	(&banliv1.Proposal{}).ProtoReflect().Descriptor().FullName(): {"title", "content", "topics", "proposers", "period", "serial", "attachments"},
	(&banliv1.Unit{}).ProtoReflect().Descriptor().FullName():     {"display_name", "contacts", "parent"},
	(&banliv1.Session{}).ProtoReflect().Descriptor().FullName():  {"display_name", "policy.*"},
	(&banliv1.Leader{}).ProtoReflect().Descriptor().FullName():   {"display_name", "title"},
	(&banliv1.Webhook{}).ProtoReflect().Descriptor().FullName():  {"display_name", "url", "actions", "session", "unit", "proposal", "paused"},
}

// maxMaskPaths bounds an update mask.
const maxMaskPaths = 20

// applyMask copies the fields mask names from src to dst and returns the
// changes it made. The request's resource field is named field (e.g.
// "proposal"), for the paths of refusals.
func applyMask(dst, src proto.Message, mask *fieldmaskpb.FieldMask, field string) ([]*banliv1.FieldChange, error) {
	paths := mask.GetPaths()
	switch {
	case len(paths) == 0:
		return nil, invalidField("update_mask", "required: name the fields to change, e.g. \"title\"")
	case len(paths) > maxMaskPaths:
		return nil, invalidField("update_mask", "at most %d paths", maxMaskPaths)
	}
	allowed := updatable[dst.ProtoReflect().Descriptor().FullName()]
	seen := map[string]bool{}
	var changes []*banliv1.FieldChange
	for i, path := range paths {
		at := fmt.Sprintf("update_mask.paths[%d]", i)
		fds, err := maskPath(dst.ProtoReflect().Descriptor(), path, allowed)
		if err != nil {
			return nil, invalidField(at, "%v", err)
		}
		if seen[path] {
			return nil, invalidField(at, "%q is named twice", path)
		}
		seen[path] = true
		if change := copyPath(dst.ProtoReflect(), src.ProtoReflect(), fds); change != nil {
			change.Path = path
			changes = append(changes, change)
		}
	}
	if len(changes) == 0 {
		return nil, invalidField(field, "the values given are the ones it has: nothing to correct")
	}
	return changes, nil
}

// maskPath resolves a path to its fields, refusing what the contract or
// the resource's list does not let an update change.
func maskPath(md protoreflect.MessageDescriptor, path string, allowed []string) ([]protoreflect.FieldDescriptor, error) {
	if path == "*" {
		return nil, fmt.Errorf(`"*" is not accepted: name each field to change`)
	}
	var fds []protoreflect.FieldDescriptor
	for i, name := range strings.Split(path, ".") {
		if md == nil {
			return nil, fmt.Errorf("%q: %s has no fields below it", path, fds[len(fds)-1].Name())
		}
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return nil, fmt.Errorf("%q: %s has no field %q", path, md.Name(), name)
		}
		for _, b := range proto.GetExtension(fd.Options(), annotations.E_FieldBehavior).([]annotations.FieldBehavior) {
			switch b {
			case annotations.FieldBehavior_OUTPUT_ONLY:
				return nil, fmt.Errorf("%q is output only: Banli sets it", path)
			case annotations.FieldBehavior_IMMUTABLE:
				return nil, fmt.Errorf("%q is immutable", path)
			}
		}
		fds = append(fds, fd)
		md = nil
		if fd.Kind() == protoreflect.MessageKind && !fd.IsList() && !fd.IsMap() {
			md = fd.Message()
		}
		if i == 0 && !slices.Contains(allowed, name) && !slices.Contains(allowed, name+".*") {
			return nil, fmt.Errorf("%q cannot be corrected; an update may change %s", path, strings.Join(allowed, ", "))
		}
		if i > 0 && !slices.Contains(allowed, string(fds[0].Name())+".*") {
			return nil, fmt.Errorf("%q: name %s whole", path, fds[0].Name())
		}
	}
	return fds, nil
}

// copyPath sets the field at fds in dst to its value in src (clearing it
// where src has none) and returns the change, or nil if the value is the
// same.
func copyPath(dst, src protoreflect.Message, fds []protoreflect.FieldDescriptor) *banliv1.FieldChange {
	last := fds[len(fds)-1]
	given := true
	for _, fd := range fds[:len(fds)-1] {
		dst = dst.Mutable(fd).Message()
		given = given && src.Has(fd)
		if given {
			src = src.Get(fd).Message()
		}
	}
	before := fieldJSON(dst, last)
	if given && src.Has(last) {
		// A copy, so that the stored record shares nothing with the request.
		holder := src.New()
		holder.Set(last, src.Get(last))
		dst.Set(last, proto.Clone(holder.Interface()).ProtoReflect().Get(last))
	} else {
		dst.Clear(last)
	}
	after := fieldJSON(dst, last)
	if before == after {
		return nil
	}
	return &banliv1.FieldChange{OldValue: before, NewValue: after}
}

// fieldJSON is a field's value in its protobuf JSON mapping; "" when it is
// unset.
func fieldJSON(m protoreflect.Message, fd protoreflect.FieldDescriptor) string {
	if !m.Has(fd) {
		return ""
	}
	holder := m.Type().New()
	holder.Set(fd, m.Get(fd))
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(holder.Interface())
	if err != nil {
		return ""
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(b, &obj) != nil {
		return ""
	}
	return string(obj[string(fd.Name())])
}

// describeChanges says which fields changed, for the event's details.
func describeChanges(changes []*banliv1.FieldChange, reason string) string {
	paths := make([]string, len(changes))
	for i, c := range changes {
		paths[i] = c.GetPath()
	}
	out := "corrected " + strings.Join(paths, ", ")
	if reason != "" {
		out += ": " + reason
	}
	return out
}

func (v *violations) update(etag, requestID string) {
	if etag == "" {
		v.add("etag", "required: the etag of the version being corrected")
	}
	v.mutation(etag, requestID)
}

// UpdateProposal corrects a case as it was received.
func (s *Server) UpdateProposal(ctx context.Context, req *banliv1.UpdateProposalRequest) (*banliv1.Proposal, error) {
	v := &violations{}
	id := v.proposalID("proposal.name", req.GetProposal().GetName())
	v.update(req.GetEtag(), req.GetRequestId())
	v.paragraph("reason", req.GetReason(), maxNoteLen, false)
	if err := v.err(); err != nil {
		return nil, err
	}
	return updateProposal(ctx, s, banliv1.ProposalService_UpdateProposal_FullMethodName, req, id, req.GetEtag(), StepUpdateProposal, func(c *caseChange) error {
		if err := checkCaseStep(StepUpdateProposal, guardInput{p: c.p, now: c.now, req: req}); err != nil {
			return err
		}
		before := proto.Clone(c.p).(*banliv1.Proposal)
		changes, err := applyMask(c.p, req.GetProposal(), req.GetUpdateMask(), "proposal")
		if err != nil {
			return err
		}
		if err := keepProposerIDs(before, c.p); err != nil {
			return err
		}
		if err := validateCreateProposal(&banliv1.CreateProposalRequest{Proposal: c.p}); err != nil {
			return err
		}
		sess, err := c.tx.Session(idOf(c.p.GetSession(), sessionsCollection))
		if err != nil {
			return err
		}
		if err := proposersFitTheBody(sess, c.p.GetProposers()); err != nil {
			return err
		}
		c.changes = changes
		c.details = describeChanges(changes, req.GetReason())
		return nil
	})
}

// keepProposerIDs gives the proposers of a corrected list their ids: one
// the case had keeps it, one with id 0 is new and gets the next, and a
// proposer who rated or was delivered to may not go. What the server
// records of a proposer (the case it was merged from, the account that
// submitted it) stays as recorded, and a new proposer has none.
func keepProposerIDs(before, after *banliv1.Proposal) error {
	had := map[int32]*banliv1.Proposer{}
	next := int32(0)
	for _, pr := range before.GetProposers() {
		had[pr.GetId()] = pr
		next = max(next, pr.GetId())
	}
	kept := map[int32]bool{}
	for i, pr := range after.GetProposers() {
		switch id := pr.GetId(); {
		case id == 0:
			next++
			pr.Id = next
		case had[id] == nil:
			return invalidField(fmt.Sprintf("proposal.proposers[%d].id", i), "%s has no proposer %d: give 0 for a new one", before.GetName(), id)
		case kept[id]:
			return invalidField(fmt.Sprintf("proposal.proposers[%d].id", i), "proposer %d is listed twice", id)
		}
		kept[pr.GetId()] = true
		pr.MergedFrom, pr.Submitter = had[pr.GetId()].GetMergedFrom(), had[pr.GetId()].GetSubmitter()
	}
	for _, a := range before.GetAssignments() {
		for _, r := range a.GetReplies() {
			for _, rt := range r.GetRatings() {
				if !kept[rt.GetProposerId()] {
					return invalidField("proposal.proposers", "proposer %d rated %s and stays on the case", rt.GetProposerId(), r.GetName())
				}
			}
			for _, d := range r.GetDeliveries() {
				if !kept[d.GetProposerId()] {
					return invalidField("proposal.proposers", "proposer %d was delivered %s and stays on the case", d.GetProposerId(), r.GetName())
				}
			}
		}
	}
	return nil
}

// UpdateUnit corrects a unit.
func (s *Server) UpdateUnit(ctx context.Context, req *banliv1.UpdateUnitRequest) (*banliv1.Unit, error) {
	v := &violations{}
	id := v.unitID("unit.name", req.GetUnit().GetName())
	v.update(req.GetEtag(), req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.UnitService_UpdateUnit_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Unit, error) {
		u, err := tx.Unit(id)
		if err != nil {
			return nil, notFoundOr(err, req.GetUnit().GetName(), "")
		}
		if err := checkEtag(req.GetEtag(), u.GetEtag(), u.GetName()); err != nil {
			return nil, err
		}
		changes, err := applyMask(u, req.GetUnit(), req.GetUpdateMask(), "unit")
		if err != nil {
			return nil, err
		}
		if err := validateCreateUnit(&banliv1.CreateUnitRequest{Unit: u}); err != nil {
			return nil, err
		}
		for _, ch := range changes {
			if ch.GetPath() == "display_name" {
				var was string
				json.Unmarshal([]byte(ch.GetOldValue()), &was)
				u.FormerNames = append(u.FormerNames, was) // the old name stays findable
			}
		}
		if err := checkNewParent(tx, u); err != nil {
			return nil, err
		}
		if u.GetActive() {
			if err := uniqueUnitName(tx, u, u.GetName()); err != nil {
				return nil, err
			}
		}
		u.Etag = nextEtag(u.GetEtag())
		state := "ACTIVE"
		if !u.GetActive() {
			state = "INACTIVE"
		}
		ev := newEvent(ctx, timestampOf(now), "UpdateUnit", "", state, state, describeChanges(changes, ""))
		ev.Changes = changes
		tx.PutUnit(id, u, ev)
		return u, nil
	})
}

// checkNewParent checks a unit's parent after a correction: active, and
// not the unit itself or one of its departments.
func checkNewParent(r store.Reader, u *banliv1.Unit) error {
	parent := u.GetParent()
	if parent == "" {
		return nil
	}
	pu, err := r.Unit(idOf(parent, unitsCollection))
	if err != nil {
		return notFoundOr(err, parent, "unit.parent")
	}
	if !pu.GetActive() {
		return fmt.Errorf("unit.parent: %s is deactivated: %w", parent, ErrPrecondition)
	}
	if inUnit(r, u.GetName(), parent) {
		return invalidField("unit.parent", "%s is %s or one of its departments: a unit cannot be below itself", parent, u.GetName())
	}
	return nil
}

// UpdateSession corrects a session.
func (s *Server) UpdateSession(ctx context.Context, req *banliv1.UpdateSessionRequest) (*banliv1.Session, error) {
	v := &violations{}
	id := v.sessionID("session.name", req.GetSession().GetName())
	v.update(req.GetEtag(), req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	sess, err := write(ctx, s, banliv1.SessionService_UpdateSession_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Session, error) {
		sess, err := tx.Session(id)
		if err != nil {
			return nil, notFoundOr(err, req.GetSession().GetName(), "")
		}
		if err := checkEtag(req.GetEtag(), sess.GetEtag(), sess.GetName()); err != nil {
			return nil, err
		}
		before := storedPolicy(sess.GetPolicy())
		changes, err := applyMask(sess, req.GetSession(), req.GetUpdateMask(), "session")
		if err != nil {
			return nil, err
		}
		v := &violations{}
		v.line("session.display_name", sess.GetDisplayName(), maxNameLen, true)
		validatePolicy(v, "session.policy", sess.GetPolicy())
		if err := v.err(); err != nil {
			return nil, err
		}
		// A policy given whole takes the defaults for what it leaves out,
		// as at registration.
		sess.Policy = resolvePolicy(sess.GetPolicy())
		if err := queueDeadlineRecompute(tx, sess, before, now); err != nil {
			return nil, err
		}
		sess.Etag = nextEtag(sess.GetEtag())
		ev := newEvent(ctx, timestampOf(now), "UpdateSession", "", "", "", describeChanges(changes, ""))
		ev.Changes = changes
		tx.PutSession(id, sess, ev)
		return sess, nil
	})
	if err != nil || sess.GetPendingRecompute() == nil {
		return sess, err
	}
	// Done now, so that the answer's cases are right; a batch cut off is
	// resumed by the scheduled steps.
	if _, err := s.RunRecomputes(context.WithoutCancel(ctx)); err != nil {
		return nil, err
	}
	return s.GetSession(ctx, &banliv1.GetSessionRequest{Name: sess.GetName()})
}

// UpdateLeader corrects a leader.
func (s *Server) UpdateLeader(ctx context.Context, req *banliv1.UpdateLeaderRequest) (*banliv1.Leader, error) {
	v := &violations{}
	id := v.leaderID("leader.name", req.GetLeader().GetName())
	v.update(req.GetEtag(), req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.LeaderService_UpdateLeader_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Leader, error) {
		l, err := tx.Leader(id)
		if err != nil {
			return nil, notFoundOr(err, req.GetLeader().GetName(), "")
		}
		if err := checkEtag(req.GetEtag(), l.GetEtag(), l.GetName()); err != nil {
			return nil, err
		}
		changes, err := applyMask(l, req.GetLeader(), req.GetUpdateMask(), "leader")
		if err != nil {
			return nil, err
		}
		if err := validateCreateLeader(&banliv1.CreateLeaderRequest{Leader: l}); err != nil {
			return nil, err
		}
		if same, err := sameLeader(tx, l); err != nil || (same != "" && same != l.GetName()) {
			if err == nil {
				err = fmt.Errorf("%s is %s already: %w", same, leaderTitle(l), ErrAlreadyExists)
			}
			return nil, err
		}
		l.Etag = nextEtag(l.GetEtag())
		ev := newEvent(ctx, timestampOf(now), "UpdateLeader", "", "ACTIVE", "ACTIVE", describeChanges(changes, ""))
		ev.Changes = changes
		tx.PutLeader(id, l, ev)
		return l, nil
	})
}
