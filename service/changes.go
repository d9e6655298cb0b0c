package service

import (
	"errors"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// Changed-since sync: ListProposals' updated_after and order_by, with
// which a platform back from an outage reads what changed, without
// reading everything.

// changedScan bounds how many cases (or, in update order, events) one page
// of a list looks at while few match, so that an answer comes soon.
const changedScan = 5000

// orderByUpdate is ListProposals' one order_by: the order cases last
// changed in.
const orderByUpdate = "update_time"

// pageOfCases gathers a page of a list: take adds a case's record (or
// ends the page with store.ErrPageFull), full says the page is full.
type pageOfCases struct {
	take func(record []byte) error
	full func() bool
}

// casesInOrder reads the cases q matches in case order, after the case
// after; with since, it passes over the cases that have not changed since,
// reading on until the page is full or changedScan cases were looked at.
// It returns the last case looked at and whether more may match.
func casesInOrder(r store.Reader, q store.Query, skip store.Skip, since *timestamppb.Timestamp, after uint64, limit int, page pageOfCases) (uint64, bool, error) {
	last, more, looked := after, true, 0
	for more && !page.full() && (looked == 0 || since != nil && looked < changedScan) {
		pass := limit
		if since != nil {
			pass = min(changedScan-looked, 1000)
		}
		passLast, passMore, err := r.EachProposalRecord(q, last, pass, skip, func(_ uint64, record []byte) error {
			if page.full() {
				return store.ErrPageFull
			}
			looked++
			if since != nil && !changedAfter(record, since) {
				return nil
			}
			return page.take(record)
		})
		if err != nil {
			return 0, false, err
		}
		more = passMore
		if passLast == 0 {
			break
		}
		last = passLast
	}
	return last, more, nil
}

// casesByUpdate reads the cases q matches in the order they last changed,
// from the history: each case at its latest change (the event whose case
// is at the version the case is now), after the event `after`, or with
// since and no position yet, from the first event after since (less a
// minute: events committed together may carry times a little apart). It
// looks at changedScan events at most, and returns the last one looked at
// and whether more follow.
func casesByUpdate(r store.Reader, q store.Query, skip store.Skip, since *timestamppb.Timestamp, after uint64, page pageOfCases) (uint64, bool, error) {
	latest, err := r.LatestEvent()
	if err != nil {
		return 0, false, err
	}
	if after == 0 && since != nil {
		if after, err = lastEventBefore(r, since.AsTime().Add(-time.Minute), latest); err != nil {
			return 0, false, err
		}
	}
	cases := map[uint64]*banliv1.Proposal{} // each read once, however often it changed
	for looked := 0; after < latest && looked < changedScan && !page.full(); {
		events, err := r.ListEvents(after, 200)
		if err != nil || len(events) == 0 {
			return after, false, err
		}
		for _, ev := range events {
			ids, ok := parseName(ev.GetResource(), proposalsCollection)
			if ok && ev.GetProposal() != nil {
				p, ok := cases[ids[0]]
				if !ok {
					if p, err = r.Proposal(ids[0]); err != nil {
						return 0, false, err
					}
					cases[ids[0]] = p
				}
				if p.GetEtag() == ev.GetProposal().GetEtag() && (since == nil || p.GetUpdateTime().AsTime().After(since.AsTime())) &&
					q.Matches(ProposalIndex.Terms(p)) {
					shown := proto.Clone(p)
					skip.Clear(shown.ProtoReflect())
					record, err := proto.Marshal(shown)
					if err != nil {
						return 0, false, err
					}
					if err := page.take(record); err != nil {
						if errors.Is(err, store.ErrPageFull) {
							return after, true, nil
						}
						return 0, false, err
					}
				}
			}
			after, looked = ev.GetSequence(), looked+1
			if page.full() || looked == changedScan {
				break
			}
		}
	}
	return after, after < latest, nil
}

// lastEventBefore is the sequence of the last event at or before t (0 if
// there is none), found by halving: events are in commit order, and their
// times with it.
func lastEventBefore(r store.Reader, t time.Time, latest uint64) (uint64, error) {
	lo, hi := uint64(0), latest // the answer is in [lo, hi]
	for lo < hi {
		mid := lo + (hi-lo+1)/2
		events, err := r.ListEvents(mid-1, 1)
		if err != nil {
			return 0, err
		}
		if len(events) == 0 || events[0].GetTime().AsTime().After(t) {
			hi = mid - 1
		} else {
			lo = mid
		}
	}
	return lo, nil
}

// changedAfter reports whether a case's wire form has an update_time
// later than since, read without decoding the case.
func changedAfter(record []byte, since *timestamppb.Timestamp) bool {
	var updated *timestamppb.Timestamp
	eachBytesField(record, func(num protowire.Number, v []byte) {
		if num == updateTimeField {
			updated = &timestamppb.Timestamp{}
			proto.Unmarshal(v, updated)
		}
	})
	if updated == nil {
		return false
	}
	return updated.GetSeconds() > since.GetSeconds() || updated.GetSeconds() == since.GetSeconds() && updated.GetNanos() > since.GetNanos()
}
