package service

import (
	"context"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// ListEvents returns the global event stream from a sequence number.
func (s *Server) ListEvents(ctx context.Context, req *banliv1.ListEventsRequest) (*banliv1.ListEventsResponse, error) {
	v := &violations{}
	v.pageSize(req.GetPageSize())
	if err := v.err(); err != nil {
		return nil, err
	}
	resp := &banliv1.ListEventsResponse{}
	err := s.store.View(func(r store.Reader) error {
		list, err := r.ListEvents(req.GetAfterSequence(), pageSize(req.GetPageSize(), defaultEventPage))
		if err != nil {
			return err
		}
		resp.Events, _ = fitPage(list)
		resp.LatestSequence, err = r.LatestEvent()
		return err
	})
	return resp, err
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
