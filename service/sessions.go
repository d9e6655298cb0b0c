package service

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

func timestampOf(t time.Time) *timestamppb.Timestamp { return timestamppb.New(t) }

// CreateSession registers a session with its policy in force.
func (s *Server) CreateSession(ctx context.Context, req *banliv1.CreateSessionRequest) (*banliv1.Session, error) {
	if err := validateCreateSession(req); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.SessionService_CreateSession_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Session, error) {
		in := req.GetSession()
		if same, err := registeredSession(tx, in); err != nil || same != "" {
			if err == nil {
				err = &existsError{resource: same, what: fmt.Sprintf("a session of body %s, level %s, term %d, meeting %d",
					trimEnum(in.GetBody().String(), "BODY_"), trimEnum(in.GetLevel().String(), "LEVEL_"), in.GetTerm(), in.GetMeeting())}
			}
			return nil, err
		}
		id, err := tx.NewID(store.KindSession)
		if err != nil {
			return nil, err
		}
		sess := &banliv1.Session{
			Name:        sessionName(id),
			Body:        in.GetBody(),
			Level:       in.GetLevel(),
			Term:        in.GetTerm(),
			Meeting:     in.GetMeeting(),
			Year:        in.GetYear(),
			DisplayName: in.GetDisplayName(),
			Policy:      resolvePolicy(in.GetPolicy()),
			CreateTime:  timestampOf(now),
			Etag:        nextEtag(""),
			CaseKind:    KindOfBody(in.GetBody()),
		}
		tx.PutSession(id, sess, newEvent(ctx, sess.GetCreateTime(), "CreateSession", "", "", "", sess.GetDisplayName()))
		return sess, nil
	})
}

// GetSession returns one session.
func (s *Server) GetSession(ctx context.Context, req *banliv1.GetSessionRequest) (*banliv1.Session, error) {
	v := &violations{}
	id := v.sessionID("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	var sess *banliv1.Session
	err := s.store.View(func(r store.Reader) error {
		var err error
		if sess, err = r.Session(id); err != nil {
			return notFoundOr(err, req.GetName(), "")
		}
		sess.CaseKind = KindOfBody(sess.GetBody()) // sessions stored before the field
		sess.Policy = storedPolicy(sess.GetPolicy())
		return nil
	})
	return sess, err
}

// ListSessions lists sessions, oldest first.
func (s *Server) ListSessions(ctx context.Context, req *banliv1.ListSessionsRequest) (*banliv1.ListSessionsResponse, error) {
	v := &violations{}
	after := v.page(req, req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	resp := &banliv1.ListSessionsResponse{}
	err := s.store.View(func(r store.Reader) error {
		list, more, err := r.ListSessions(after, pageSize(req.GetPageSize(), defaultPageSize))
		if err != nil {
			return err
		}
		for _, sess := range list {
			sess.CaseKind = KindOfBody(sess.GetBody()) // sessions stored before the field
			sess.Policy = storedPolicy(sess.GetPolicy())
		}
		resp.Sessions = list
		if more && len(list) > 0 {
			resp.NextPageToken = pageToken(req, idOf(list[len(list)-1].GetName(), sessionsCollection))
		}
		return nil
	})
	return resp, err
}

// CreateUnit creates a unit or a department.
func (s *Server) CreateUnit(ctx context.Context, req *banliv1.CreateUnitRequest) (*banliv1.Unit, error) {
	if err := validateCreateUnit(req); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.UnitService_CreateUnit_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Unit, error) {
		in := req.GetUnit()
		if err := uniqueUnitName(tx, in, ""); err != nil {
			return nil, err
		}
		if parent := in.GetParent(); parent != "" {
			pu, err := tx.Unit(idOf(parent, unitsCollection))
			if err != nil {
				return nil, notFoundOr(err, parent, "unit.parent")
			}
			if !pu.GetActive() {
				return nil, fmt.Errorf("unit.parent: %s is deactivated: %w", parent, ErrPrecondition)
			}
		}
		id, err := tx.NewID(store.KindUnit)
		if err != nil {
			return nil, err
		}
		u := &banliv1.Unit{
			Name:        unitName(id),
			DisplayName: in.GetDisplayName(),
			Parent:      in.GetParent(),
			Contacts:    in.GetContacts(),
			Active:      true,
			CreateTime:  timestampOf(now),
			Etag:        nextEtag(""),
		}
		tx.PutUnit(id, u, newEvent(ctx, u.GetCreateTime(), "CreateUnit", "", "", "ACTIVE", u.GetDisplayName()))
		return u, nil
	})
}

// GetUnit returns one unit.
func (s *Server) GetUnit(ctx context.Context, req *banliv1.GetUnitRequest) (*banliv1.Unit, error) {
	v := &violations{}
	id := v.unitID("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	var u *banliv1.Unit
	err := s.store.View(func(r store.Reader) error {
		var err error
		if u, err = r.Unit(id); err != nil {
			return notFoundOr(err, req.GetName(), "")
		}
		return nil
	})
	return u, err
}

// ListUnits lists units, oldest first.
func (s *Server) ListUnits(ctx context.Context, req *banliv1.ListUnitsRequest) (*banliv1.ListUnitsResponse, error) {
	v := &violations{}
	after := v.page(req, req.GetPageSize(), req.GetPageToken())
	if req.GetParent() != "" {
		v.unitID("parent", req.GetParent())
	}
	v.line("name_contains", req.GetNameContains(), maxNameLen, false)
	if err := v.err(); err != nil {
		return nil, err
	}
	named := func(u *banliv1.Unit) bool {
		if req.GetNameContains() == "" {
			return true
		}
		return slices.ContainsFunc(append([]string{u.GetDisplayName()}, u.GetFormerNames()...), func(n string) bool {
			return strings.Contains(n, req.GetNameContains())
		})
	}
	keep := func(u *banliv1.Unit) bool {
		return (req.GetShowInactive() || u.GetActive()) && (req.GetParent() == "" || u.GetParent() == req.GetParent()) && named(u)
	}
	resp := &banliv1.ListUnitsResponse{}
	err := s.store.View(func(r store.Reader) error {
		list, more, err := r.ListUnits(after, pageSize(req.GetPageSize(), defaultPageSize), keep)
		if err != nil {
			return err
		}
		resp.Units = list
		if more && len(list) > 0 {
			resp.NextPageToken = pageToken(req, idOf(list[len(list)-1].GetName(), unitsCollection))
		}
		return nil
	})
	return resp, err
}

// DeactivateUnit stops new assignments to a unit.
func (s *Server) DeactivateUnit(ctx context.Context, req *banliv1.DeactivateUnitRequest) (*banliv1.Unit, error) {
	v := &violations{}
	id := v.unitID("name", req.GetName())
	v.mutation(req.GetEtag(), req.GetRequestId())
	if err := v.err(); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.UnitService_DeactivateUnit_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Unit, error) {
		u, err := tx.Unit(id)
		if err != nil {
			return nil, notFoundOr(err, req.GetName(), "")
		}
		if err := checkEtag(req.GetEtag(), u.GetEtag(), u.GetName()); err != nil {
			return nil, err
		}
		if !u.GetActive() {
			return nil, &TransitionError{Step: "DeactivateUnit", Resource: u.GetName(), State: "INACTIVE"}
		}
		u.Active = false
		u.DeactivateTime = timestampOf(now)
		u.Etag = nextEtag(u.GetEtag())
		tx.PutUnit(id, u, newEvent(ctx, u.GetDeactivateTime(), "DeactivateUnit", "", "ACTIVE", "INACTIVE", ""))
		return u, nil
	})
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

// registeredSession is the session of in's body, level, term and meeting,
// if one is registered.
func registeredSession(r store.Reader, in *banliv1.Session) (string, error) {
	same := ""
	err := eachSession(r, func(s *banliv1.Session) bool {
		if s.GetBody() == in.GetBody() && s.GetLevel() == in.GetLevel() && s.GetTerm() == in.GetTerm() && s.GetMeeting() == in.GetMeeting() {
			same = s.GetName()
		}
		return same != ""
	})
	return same, err
}

// uniqueUnitName refuses a unit named as an active unit under the same
// parent is, other than the unit itself (self, when it is renamed).
// Units are few (a city's bureaus and their departments), so they are
// read whole.
func uniqueUnitName(r store.Reader, in *banliv1.Unit, self string) error {
	for after := uint64(0); ; {
		page, more, err := r.ListUnits(after, 1000, nil)
		if err != nil {
			return err
		}
		for _, u := range page {
			if u.GetActive() && u.GetParent() == in.GetParent() && u.GetDisplayName() == in.GetDisplayName() && u.GetName() != self {
				return &existsError{resource: u.GetName(), what: fmt.Sprintf("an active unit named %s under %q", in.GetDisplayName(), in.GetParent())}
			}
		}
		if !more || len(page) == 0 {
			return nil
		}
		after = idOf(page[len(page)-1].GetName(), unitsCollection)
	}
}
