package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// ListSessions returns up to limit sessions with ids greater than after, in
// id order, and whether more follow.
func (r *reader) ListSessions(after uint64, limit int) ([]*banliv1.Session, bool, error) {
	var out []*banliv1.Session
	more, err := r.scan(store.KindSession, after, limit, func(v []byte) (bool, error) {
		s := &banliv1.Session{}
		if err := proto.Unmarshal(v, s); err != nil {
			return false, err
		}
		out = append(out, s)
		return true, nil
	})
	return out, more, err
}

// ListUnits returns up to limit units with ids greater than after that keep
// (a filter; nil keeps all), in id order, and whether more follow. Units
// are few (hundreds), so a filtered scan is cheap.
func (r *reader) ListUnits(after uint64, limit int, keep func(*banliv1.Unit) bool) ([]*banliv1.Unit, bool, error) {
	var out []*banliv1.Unit
	more, err := r.scan(store.KindUnit, after, limit, func(v []byte) (bool, error) {
		u := &banliv1.Unit{}
		if err := proto.Unmarshal(v, u); err != nil {
			return false, err
		}
		if keep != nil && !keep(u) {
			return false, nil
		}
		out = append(out, u)
		return true, nil
	})
	return out, more, err
}

// lastPosition is the largest id or sequence: nothing comes after it, and
// after+1 would wrap to the start. Every walk "after" a position checks it.
const lastPosition = math.MaxUint64

// scan walks a record bucket from after+1, handing each value to take until
// take has accepted limit of them. It reports whether any record follows
// the last one accepted; with a filter that one may not match, so the next
// page can come back empty (AIP-158 allows that).
func (r *reader) scan(kind store.Kind, after uint64, limit int, take func(v []byte) (bool, error)) (bool, error) {
	if after == lastPosition {
		return false, nil
	}
	b := r.btx.Bucket(bucketOf(kind))
	if b == nil {
		return false, nil // a bucket this file does not have yet
	}
	c := b.Cursor()
	taken := 0
	for k, v := c.Seek(u64(after + 1)); k != nil; k, v = c.Next() {
		if taken == limit {
			return true, nil
		}
		ok, err := take(v)
		if err != nil {
			return false, err
		}
		if ok {
			taken++
		}
	}
	return false, nil
}

// ListLeaders returns up to limit leaders with ids greater than after, in
// id order, and whether more follow.
func (r *reader) ListLeaders(after uint64, limit int) ([]*banliv1.Leader, bool, error) {
	var out []*banliv1.Leader
	more, err := r.scan(store.KindLeader, after, limit, func(v []byte) (bool, error) {
		l := &banliv1.Leader{}
		if err := proto.Unmarshal(v, l); err != nil {
			return false, err
		}
		out = append(out, l)
		return true, nil
	})
	return out, more, err
}

// ListWebhooks pages webhooks by id.
func (r *reader) ListWebhooks(after uint64, limit int) ([]*banliv1.Webhook, bool, error) {
	var out []*banliv1.Webhook
	more, err := r.scan(store.KindWebhook, after, limit, func(v []byte) (bool, error) {
		w := &banliv1.Webhook{}
		if err := proto.Unmarshal(v, w); err != nil {
			return false, err
		}
		out = append(out, w)
		return true, nil
	})
	return out, more, err
}

// LastID returns the id of the newest record of a kind (0 when none).
func (r *reader) LastID(kind store.Kind) (uint64, error) {
	b := r.btx.Bucket(bucketOf(kind))
	if b == nil {
		return 0, nil
	}
	return b.Sequence(), nil
}

// ListEvents returns up to limit events with sequences greater than after,
// in order.
func (r *reader) ListEvents(after uint64, limit int) ([]*banliv1.Event, error) {
	if after == lastPosition {
		return nil, nil
	}
	events := r.btx.Bucket(bucketEvents)
	c := events.Cursor()
	var out []*banliv1.Event
	snapshots := map[uint64][]byte{} // a case's events in one page share their rebuilding
	for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		ev := &banliv1.Event{}
		if err := decodeStoredEvent(events, binary.BigEndian.Uint64(k), v, ev, snapshots); err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, nil
}

// LatestEvent returns the sequence of the newest event (0 when none).
func (r *reader) LatestEvent() (uint64, error) {
	return r.btx.Bucket(bucketEvents).Sequence(), nil
}

// ListResourceEvents returns up to limit events of one resource (by resource
// name) with sequences greater than after, in order, and whether more follow.
func (r *reader) ListResourceEvents(resource string, after uint64, limit int) ([]*banliv1.Event, bool, error) {
	if after == lastPosition {
		return nil, false, nil
	}
	prefix := append([]byte(resource), 0)
	events := r.btx.Bucket(bucketEvents)
	c := r.btx.Bucket(bucketResourceEvents).Cursor()
	var out []*banliv1.Event
	snapshots := map[uint64][]byte{}
	for k, _ := c.Seek(historyKey(resource, after+1)); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+8; k, _ = c.Next() {
		if len(out) == limit {
			return out, true, nil
		}
		ev := &banliv1.Event{}
		seq := k[len(prefix):]
		if err := decodeStoredEvent(events, binary.BigEndian.Uint64(seq), events.Get(seq), ev, snapshots); err != nil {
			return nil, false, err
		}
		out = append(out, ev)
	}
	return out, false, nil
}

// CalendarYears returns the newest stored version of each year's schedule,
// oldest year first. Versions are few, so it reads them all.
func (r *reader) CalendarYears() ([]*banliv1.CalendarYear, error) {
	var out []*banliv1.CalendarYear
	err := r.btx.Bucket(bucketCalendars).ForEach(func(_, v []byte) error {
		cy := &banliv1.CalendarYear{}
		if err := proto.Unmarshal(v, cy); err != nil {
			return err
		}
		// Keys sort by year, then version: a later one of a year replaces.
		if n := len(out); n > 0 && out[n-1].GetYear() == cy.GetYear() {
			out[n-1] = cy
		} else {
			out = append(out, cy)
		}
		return nil
	})
	return out, err
}

// CalendarYear returns one stored version of a year's schedule; version 0
// is the newest. store.ErrNotFound if there is none.
func (r *reader) CalendarYear(year, version int32) (*banliv1.CalendarYear, error) {
	b := r.btx.Bucket(bucketCalendars)
	var v []byte
	if version > 0 {
		v = b.Get(calendarKey(year, version))
	} else {
		c := b.Cursor()
		k, val := c.Seek(calendarKey(year+1, 0))
		if k == nil {
			k, val = c.Last()
		} else {
			k, val = c.Prev()
		}
		if k != nil && bytes.Equal(k[:4], calendarKey(year, 0)[:4]) {
			v = val
		}
	}
	if v == nil {
		return nil, fmt.Errorf("calendar %d version %d: %w", year, version, store.ErrNotFound)
	}
	cy := &banliv1.CalendarYear{}
	return cy, proto.Unmarshal(v, cy)
}

// ScoringPolicy returns one stored version of a saved scoring policy;
// version 0 is the newest. store.ErrNotFound if there is none.
func (r *reader) ScoringPolicy(name string, version int32) (*banliv1.SavedScoringPolicy, error) {
	b := r.btx.Bucket(bucketScoring)
	if b == nil {
		return nil, fmt.Errorf("%s: %w", name, store.ErrNotFound) // a file older than saved policies
	}
	c := b.Cursor()
	prefix := append([]byte(name), 0)
	var v []byte
	if version > 0 {
		v = b.Get(scoringKey(name, version))
	} else {
		for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix) && len(k) == len(prefix)+4; k, val = c.Next() {
			v = val
		}
	}
	if v == nil {
		return nil, fmt.Errorf("%s version %d: %w", name, version, store.ErrNotFound)
	}
	sp := &banliv1.SavedScoringPolicy{}
	return sp, proto.Unmarshal(v, sp)
}

// ScoringPolicies returns the newest stored version of every saved
// scoring policy, by name. They are few, so it reads them all.
func (r *reader) ScoringPolicies() ([]*banliv1.SavedScoringPolicy, error) {
	var out []*banliv1.SavedScoringPolicy
	b := r.btx.Bucket(bucketScoring)
	if b == nil {
		return nil, nil // a file older than saved policies
	}
	err := b.ForEach(func(_, v []byte) error {
		sp := &banliv1.SavedScoringPolicy{}
		if err := proto.Unmarshal(v, sp); err != nil {
			return err
		}
		// Keys sort by name, then version: a later one of a name replaces.
		if n := len(out); n > 0 && out[n-1].GetName() == sp.GetName() {
			out[n-1] = sp
		} else {
			out = append(out, sp)
		}
		return nil
	})
	return out, err
}

// ListDue returns up to limit entries of proposal_due due from from to to
// (seconds since 1970, inclusive), after the entry at key after (nil: from
// the start), that keep accepts (nil keeps all; it is given the entry
// whole), and whether more follow.
func (r *reader) ListDue(from, to int64, after store.Cursor, keep func(store.Due) bool, limit int) ([]store.DueRef, bool, error) {
	c := r.btx.Bucket(bucketDue).Cursor()
	end := dueKey(to, ^uint64(0), -1)
	var k, v []byte
	if after != nil {
		k, v = c.Seek(after)
		if k != nil && bytes.Equal(k, after) {
			k, v = c.Next()
		}
	} else {
		k, v = c.Seek(dueKey(from, 0, 0))
	}
	var out []store.DueRef
	for ; k != nil && bytes.Compare(k, end) <= 0; k, v = c.Next() {
		if len(k) != 20 {
			continue
		}
		at, proposal, assignment := decodeDueKey(k)
		if keep != nil {
			d := decodeDue(v)
			d.At, d.Assignment = at, assignment
			if !keep(d) {
				continue
			}
		}
		if len(out) == limit {
			return out, true, nil
		}
		out = append(out, store.DueRef{Proposal: proposal, Assignment: assignment, Position: bytes.Clone(k)})
	}
	return out, false, nil
}

// ForEachProposal calls fn with every proposal, in id order. It reads the
// whole bucket: for checks and tools, not for requests.
func (r *reader) ForEachProposal(fn func(p *banliv1.Proposal) error) error {
	return r.btx.Bucket(bucketProposals).ForEach(func(_, v []byte) error {
		p := &banliv1.Proposal{}
		if err := proto.Unmarshal(v, p); err != nil {
			return err
		}
		return fn(p)
	})
}
