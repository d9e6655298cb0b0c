package service

import (
	"context"
	"fmt"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Leaders are records, so that a key case names the same leader the same
// way wherever it appears, the ledger lists key cases by leader, and a
// leader can sign in (ROLE_LEADER, Account.leader) to read its own.

// maxCaseLeaders bounds the leaders of one key case.
const maxCaseLeaders = 5

// CreateLeader registers a leader.
func (s *Server) CreateLeader(ctx context.Context, req *banliv1.CreateLeaderRequest) (*banliv1.Leader, error) {
	if err := validateCreateLeader(req); err != nil {
		return nil, err
	}
	return write(ctx, s, banliv1.LeaderService_CreateLeader_FullMethodName, req, func(tx store.Tx, now time.Time) (*banliv1.Leader, error) {
		in := req.GetLeader()
		if unit := in.GetUnit(); unit != "" {
			u, err := tx.Unit(idOf(unit, unitsCollection))
			if err != nil {
				return nil, notFoundOr(err, unit, "leader.unit")
			}
			if !u.GetActive() {
				return nil, fmt.Errorf("leader.unit: %s is deactivated: %w", unit, ErrPrecondition)
			}
		}
		if same, err := sameLeader(tx, in); err != nil || same != "" {
			if err == nil {
				err = fmt.Errorf("%s is %s %s already: %w", same, in.GetTitle(), in.GetDisplayName(), ErrAlreadyExists)
			}
			return nil, err
		}
		id, err := tx.NewID(store.KindLeader)
		if err != nil {
			return nil, err
		}
		l := &banliv1.Leader{
			Name: leaderName(id), DisplayName: in.GetDisplayName(), Title: in.GetTitle(), Body: in.GetBody(), Unit: in.GetUnit(),
			CreateTime: timestampOf(now), Etag: nextEtag(""),
		}
		tx.PutLeader(id, l, newEvent(ctx, l.GetCreateTime(), "CreateLeader", "", "", "ACTIVE", leaderTitle(l)))
		return l, nil
	})
}

// sameLeader is the leader registered with l's name, title and body, if
// there is one. Leaders are few (tens), so they are read whole.
func sameLeader(r store.Reader, l *banliv1.Leader) (string, error) {
	for after := uint64(0); ; {
		page, more, err := r.ListLeaders(after, 1000)
		if err != nil {
			return "", err
		}
		for _, x := range page {
			if x.GetDisplayName() == l.GetDisplayName() && x.GetTitle() == l.GetTitle() && x.GetBody() == l.GetBody() && x.GetUnit() == l.GetUnit() {
				return x.GetName(), nil
			}
		}
		if !more || len(page) == 0 {
			return "", nil
		}
		after = idOf(page[len(page)-1].GetName(), leadersCollection)
	}
}

// leaderTitle is a leader as people write it: "市政协副主席 王某".
func leaderTitle(l *banliv1.Leader) string { return l.GetTitle() + " " + l.GetDisplayName() }

// GetLeader returns one leader.
func (s *Server) GetLeader(ctx context.Context, req *banliv1.GetLeaderRequest) (*banliv1.Leader, error) {
	v := &violations{}
	id := v.leaderID("name", req.GetName())
	if err := v.err(); err != nil {
		return nil, err
	}
	var l *banliv1.Leader
	err := s.store.View(func(r store.Reader) error {
		var err error
		if l, err = r.Leader(id); err != nil {
			return notFoundOr(err, req.GetName(), "")
		}
		return nil
	})
	return l, err
}

// ListLeaders lists leaders, oldest first.
func (s *Server) ListLeaders(ctx context.Context, req *banliv1.ListLeadersRequest) (*banliv1.ListLeadersResponse, error) {
	v := &violations{}
	after := v.page(req, req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	resp := &banliv1.ListLeadersResponse{}
	err := s.store.View(func(r store.Reader) error {
		list, more, err := r.ListLeaders(after, pageSize(req.GetPageSize(), defaultPageSize))
		if err != nil {
			return err
		}
		resp.Leaders = list
		if more && len(list) > 0 {
			resp.NextPageToken = pageToken(req, idOf(list[len(list)-1].GetName(), leadersCollection))
		}
		return nil
	})
	return resp, err
}

func validateCreateLeader(r *banliv1.CreateLeaderRequest) error {
	v := &violations{}
	v.requestID(r.GetRequestId())
	l := r.GetLeader()
	if l == nil {
		v.add("leader", "required")
		return v.err()
	}
	v.line("leader.display_name", l.GetDisplayName(), maxPersonLen, true)
	v.line("leader.title", l.GetTitle(), maxPersonLen, true)
	v.enum("leader.body", l.GetBody(), true)
	switch unit := l.GetUnit(); {
	case l.GetBody() == banliv1.LeaderBody_LEADER_BODY_UNIT:
		v.unitID("leader.unit", unit)
	case unit != "":
		v.add("leader.unit", "only for a unit's own head (LEADER_BODY_UNIT)")
	}
	return v.err()
}

// keyLeaders resolves MarkKeyRequest.leaders against the registered
// leaders: each exists, once; at least one supervises; at most one leads
// the handling.
func keyLeaders(r store.Reader, given []*banliv1.KeyCaseLeader) ([]*banliv1.KeyCaseLeader, error) {
	out := make([]*banliv1.KeyCaseLeader, 0, len(given))
	seen := map[string]bool{}
	handling, supervising := 0, 0
	for i, g := range given {
		field := fmt.Sprintf("leaders[%d].leader", i)
		l, err := r.Leader(idOf(g.GetLeader(), leadersCollection))
		if err != nil {
			return nil, notFoundOr(err, g.GetLeader(), field)
		}
		if seen[l.GetName()] {
			return nil, invalidField(field, "%s is named twice", l.GetName())
		}
		seen[l.GetName()] = true
		if g.GetRole() == banliv1.KeyCaseRole_KEY_CASE_ROLE_HANDLING {
			handling++
		} else {
			supervising++
		}
		out = append(out, &banliv1.KeyCaseLeader{Leader: l.GetName(), Role: g.GetRole(), DisplayName: leaderTitle(l)})
	}
	switch {
	case supervising == 0:
		return nil, invalidField("leaders", "a key case needs a supervising leader (KEY_CASE_ROLE_SUPERVISING)")
	case handling > 1:
		return nil, invalidField("leaders", "one leader leads a case's handling (KEY_CASE_ROLE_HANDLING), not %d", handling)
	}
	return out, nil
}

// validateKeyLeaders checks the shape of MarkKeyRequest.leaders.
func (v *violations) keyLeaders(list []*banliv1.KeyCaseLeader) {
	if len(list) > maxCaseLeaders {
		v.add("leaders", "at most %d", maxCaseLeaders)
		return
	}
	for i, l := range list {
		f := fmt.Sprintf("leaders[%d]", i)
		v.leaderID(f+".leader", l.GetLeader())
		v.enum(f+".role", l.GetRole(), true)
	}
}

// isKeyLeader reports whether leader is one of p's key-case leaders.
func isKeyLeader(p *banliv1.Proposal, leader string) bool {
	for _, l := range p.GetKeyLeaders() {
		if l.GetLeader() == leader {
			return true
		}
	}
	return false
}
