package service

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// ListEvents returns the events the caller may read, from a sequence
// number (eventScope).
func (s *Server) ListEvents(ctx context.Context, req *banliv1.ListEventsRequest) (*banliv1.ListEventsResponse, error) {
	v := &violations{}
	v.pageSize(req.GetPageSize())
	f := validEventFilter(v, "", req.GetActions(), req.GetSession(), req.GetUnit(), req.GetProposal())
	if err := v.err(); err != nil {
		return nil, err
	}
	c, _ := CallerFrom(ctx)
	limit := pageSize(req.GetPageSize(), defaultEventPage)
	resp := &banliv1.ListEventsResponse{}
	err := s.store.View(func(r store.Reader) error {
		var err error
		if resp.LatestSequence, err = r.LatestEvent(); err != nil {
			return err
		}
		resp.Events, resp.NextAfterSequence, err = s.scopedEvents(r, c, f, req.GetAfterSequence(), limit)
		return err
	})
	return resp, err
}

// scanPerPage bounds how many stored events one scoped page looks at, so
// that a caller who may read few events still gets an answer soon; it
// goes on from next_after_sequence.
const scanPerPage = 2000

// scopedEvents reads up to limit events after `after` that c may read,
// looking at no more than scanPerPage, and returns them with the last
// sequence it looked at.
func (s *Server) scopedEvents(r store.Reader, c *Caller, f eventFilter, after uint64, limit int) ([]*banliv1.Event, uint64, error) {
	scope, err := newEventScope(r, c, f)
	if err != nil {
		return nil, after, err
	}
	var out []*banliv1.Event
	size, looked := 0, 0
	for looked < scanPerPage {
		batch, err := r.ListEvents(after, min(limit, scanPerPage-looked))
		if err != nil || len(batch) == 0 {
			return out, after, err
		}
		for _, ev := range batch {
			shown, err := scope.show(ev)
			if err != nil {
				return nil, after, err
			}
			if shown != nil {
				size += proto.Size(shown)
				if len(out) > 0 && size > maxPageBytes {
					return out, after, nil // the page is full; the next goes on from here
				}
				out = append(out, shown)
			}
			after, looked = ev.GetSequence(), looked+1
			if len(out) == limit {
				return out, after, nil
			}
		}
	}
	return out, after, nil
}

// validEventFilter checks the filters of ListEvents and WatchEvents.
func validEventFilter(v *violations, at string, actions []string, session, unit, proposal string) eventFilter {
	if len(actions) > maxEventActions {
		v.add(at+"actions", "at most %d actions", maxEventActions)
	}
	for i, a := range actions {
		v.line(fmt.Sprintf("%sactions[%d]", at, i), a, maxActionLen, true)
	}
	if session != "" {
		v.sessionID(at+"session", session)
	}
	if unit != "" {
		v.unitID(at+"unit", unit)
	}
	if proposal != "" {
		v.proposalID(at+"proposal", proposal)
	}
	return eventFilter{actions: actions, session: session, unit: unit, proposal: proposal}
}

// ListProposalEvents returns one case's history.
func (s *Server) ListProposalEvents(ctx context.Context, req *banliv1.ListProposalEventsRequest) (*banliv1.ListEventsResponse, error) {
	v := &violations{}
	id := v.proposalID("parent", req.GetParent())
	after := v.page(req, req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, err
	}
	resp := &banliv1.ListEventsResponse{}
	err := s.store.View(func(r store.Reader) error {
		if _, err := r.Proposal(id); err != nil {
			return notFoundOr(err, req.GetParent(), "parent")
		}
		list, more, err := r.ListResourceEvents(req.GetParent(), after, pageSize(req.GetPageSize(), defaultEventPage))
		if err != nil {
			return err
		}
		list, cut := fitPage(list)
		more = more || cut
		resp.Events = list
		if c, _ := CallerFrom(ctx); c != nil && c.Role == proposer {
			resp.Events = nil // the history as the proposer may see it
			for _, ev := range list {
				if shown := asProposerSees(c, ev); shown != nil {
					resp.Events = append(resp.Events, shown)
				}
			}
		}
		if resp.LatestSequence, err = r.LatestEvent(); err != nil {
			return err
		}
		if more {
			resp.NextPageToken = pageToken(req, list[len(list)-1].GetSequence())
		}
		return nil
	})
	return resp, err
}

// fitPage keeps the events that fit in maxPageBytes (always the first), and
// says whether it left any out: each event carries a whole case, so a page
// of many may not fit the transports. The caller pages on from the last
// one kept.
func fitPage(events []*banliv1.Event) ([]*banliv1.Event, bool) {
	total := 0
	for i, ev := range events {
		total += proto.Size(ev)
		if i > 0 && total > maxPageBytes {
			return events[:i], true
		}
	}
	return events, false
}
