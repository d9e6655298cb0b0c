package service

import (
	"context"
	"fmt"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// The public disclosure feed (建议提案办理结果公开): published replies, as
// the public may read them, without signing in. It is the one method of
// the API that needs no account: the door limits it by address
// (limitPublic), and its pages are at most 100.

const (
	// defaultPublicPage and maxPublicPage are its page sizes.
	defaultPublicPage = 20
	maxPublicPage     = 100
)

// ListPublishedReplies lists the published replies, in case order.
func (s *Server) ListPublishedReplies(ctx context.Context, req *banliv1.ListPublishedRepliesRequest) (*banliv1.ListPublishedRepliesResponse, error) {
	if s.publicFeedOff {
		return nil, fmt.Errorf("the public disclosure feed is turned off on this server (-public-feed=false): %w", store.ErrNotFound)
	}
	v := &violations{}
	after := v.page(req, 0, req.GetPageToken())
	if n := req.GetPageSize(); n < 0 || n > maxPublicPage {
		v.add("page_size", "must be from 0 to %d", maxPublicPage)
	}
	v.caseFilters(req.GetSession(), req.GetUnit(), req.GetYear())
	if err := v.err(); err != nil {
		return nil, err
	}
	limit := pageSize(req.GetPageSize(), defaultPublicPage)
	resp := &banliv1.ListPublishedRepliesResponse{}
	err := s.store.View(func(r store.Reader) error {
		sessions, err := sessionsMatching(r, req.GetSession(), 0, req.GetYear())
		if err != nil {
			return err
		}
		q := caseFilter{sessions: sessions}.query()
		q.And(publishedTerm)
		names := newDisplayNames(r)
		for {
			page, more, err := r.ListProposals(q, after, limit)
			if err != nil {
				return err
			}
			for _, p := range page {
				found := publishedReplies(p, req.GetUnit(), names)
				if len(resp.Replies) > 0 && len(resp.Replies)+len(found) > limit {
					resp.NextPageToken = pageToken(req, after) // a page ends with whole cases
					return nil
				}
				resp.Replies = append(resp.Replies, found...)
				after = idOf(p.GetName(), proposalsCollection)
			}
			if !more {
				return nil
			}
			if len(resp.Replies) >= limit {
				resp.NextPageToken = pageToken(req, after)
				return nil
			}
		}
	})
	return resp, err
}

// publishedReplies are the replies of case p that are published (of unit,
// if given), as the public reads them: the published text only.
func publishedReplies(p *banliv1.Proposal, unit string, names *displayNames) []*banliv1.PublishedReply {
	var out []*banliv1.PublishedReply
	for _, a := range p.GetAssignments() {
		if unit != "" && a.GetUnit() != unit {
			continue
		}
		for _, r := range a.GetReplies() {
			if r.GetDisclosureState() != published {
				continue
			}
			out = append(out, &banliv1.PublishedReply{
				Reply: r.GetName(), Proposal: p.GetName(), Number: p.GetNumber(), Title: p.GetTitle(), Kind: p.GetKind(),
				Session: p.GetSession(), SessionDisplayName: names.of(p.GetSession()),
				Unit: a.GetUnit(), UnitDisplayName: names.of(a.GetUnit()),
				DisclosureIntent: r.GetDisclosureIntent(), PublishedText: r.GetPublishedText(),
				ReplyTime: r.GetReplyTime(), PublishTime: r.GetPublishTime(),
			})
		}
	}
	return out
}
