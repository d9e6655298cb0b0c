package service

import (
	"context"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// ListEvents returns the global event stream from a sequence number.
func (s *Server) ListEvents(ctx context.Context, req *banliv1.ListEventsRequest) (*banliv1.ListEventsResponse, error) {
	v := &violations{}
	v.pageSize(req.GetPageSize())
	if err := v.err(); err != nil {
		return nil, toStatus(err)
	}
	resp := &banliv1.ListEventsResponse{}
	err := s.store.View(func(r *store.Reader) error {
		list, err := r.ListEvents(req.GetAfterSequence(), pageSize(req.GetPageSize(), defaultEventPage))
		resp.Events = list
		resp.LatestSequence = r.LatestEvent()
		return err
	})
	return resp, toStatus(err)
}

// ListProposalEvents returns one case's history.
func (s *Server) ListProposalEvents(ctx context.Context, req *banliv1.ListProposalEventsRequest) (*banliv1.ListEventsResponse, error) {
	v := &violations{}
	id := v.proposalID("parent", req.GetParent())
	after := v.page(req, req.GetPageSize(), req.GetPageToken())
	if err := v.err(); err != nil {
		return nil, toStatus(err)
	}
	resp := &banliv1.ListEventsResponse{}
	err := s.store.View(func(r *store.Reader) error {
		if _, err := r.Proposal(id); err != nil {
			return resourceNotFound(req.GetParent(), "parent")
		}
		list, more, err := r.ListResourceEvents(req.GetParent(), after, pageSize(req.GetPageSize(), defaultEventPage))
		if err != nil {
			return err
		}
		resp.Events = list
		resp.LatestSequence = r.LatestEvent()
		if more {
			resp.NextPageToken = pageToken(req, list[len(list)-1].GetSequence())
		}
		return nil
	})
	return resp, toStatus(err)
}
