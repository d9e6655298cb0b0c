package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// ProposalQuery selects proposals; zero fields match everything. Every
// field is answered from the posting lists in proposal_index.
type ProposalQuery struct {
	// Sessions, if not nil, keeps proposals of any of these sessions
	// (resource names); an empty, non-nil slice matches nothing. The kind
	// and the year of a case follow from its session, so the service turns
	// those filters into a set of sessions instead of indexing them.
	Sessions []string
	State    banliv1.ProposalState
	Unit     string // resource name; current assignments only
	Role     banliv1.AssignmentRole
	Key      *bool
	Topic    string
	// Submitter keeps proposals submitted by this account (a resource name).
	Submitter string
	// AssignmentStates keeps proposals with a current assignment in any of
	// these states (of Unit, if set).
	AssignmentStates []banliv1.AssignmentState
	// Leader keeps key cases supervised by this leader.
	Leader string
	// Provisional keeps proposals with a deadline computed without the
	// official calendar of a year it spans.
	Provisional bool
	// CarriedYear, with Sessions, also keeps proposals with a part carried
	// over into this year (跨年度), whatever their session.
	CarriedYear int32
}

// proposalIndex is every index entry one proposal has.
type proposalIndex struct {
	terms []string          // posting-list terms, sorted
	due   map[string]string // proposal_due keys and values
}

func indexOf(id uint64, p *banliv1.Proposal) proposalIndex {
	return proposalIndex{terms: proposalTerms(p), due: dueEntries(id, p)}
}

// provisionalTerm lists the proposals with a deadline computed without
// the year's official calendar, to recompute when it is loaded.
const provisionalTerm = "deadline=provisional"

// keyTerm marks key cases. Only key cases are listed under it: "not key"
// is answered by probing it, which saves a posting entry on nearly every
// case.
const keyTerm = "key=true"

// proposalTerms lists the index terms a proposal is found under. It is the
// one place that decides what ListProposals can filter on;
// matchProposals, which turns a query into posting lists, must use the
// same spelling.
func proposalTerms(p *banliv1.Proposal) []string {
	terms := []string{
		"session=" + p.GetSession(),
		"state=" + strconv.Itoa(int(p.GetState())),
	}
	if p.GetSubmitter() != "" {
		terms = append(terms, "submitter="+p.GetSubmitter())
	}
	if p.GetKey() {
		terms = append(terms, keyTerm, "leader="+p.GetSupervisingLeader())
	}
	provisional := false
	for _, a := range p.GetAssignments() {
		for _, d := range []*banliv1.Deadline{a.GetSignDeadline(), a.GetReassignmentDeadline(), a.GetResponseDeadline()} {
			provisional = provisional || d.GetProvisional()
		}
		for _, r := range a.GetReplies() {
			provisional = provisional || r.GetDisclosureDeadline().GetProvisional()
		}
		// A reassigned part is history: the case is no longer that unit's.
		if a.GetState() == banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED {
			continue
		}
		if f := a.GetFollowUp(); f != nil {
			terms = append(terms, "carried="+strconv.Itoa(int(f.GetCarriedToYear())))
		}
		role := strconv.Itoa(int(a.GetRole()))
		state := strconv.Itoa(int(a.GetState()))
		terms = append(terms, "unit="+a.GetUnit(), "role="+role, "unit_role="+a.GetUnit()+"|"+role,
			"astate="+state, "unit_astate="+a.GetUnit()+"|"+state)
	}
	if provisional {
		terms = append(terms, provisionalTerm)
	}
	for _, t := range p.GetTopics() {
		terms = append(terms, "topic="+t)
	}
	slices.Sort(terms)
	return slices.Compact(terms)
}

// dueEntries lists a proposal's entries in proposal_due: one per
// assignment with a current deadline, keyed by when it is due.
func dueEntries(id uint64, p *banliv1.Proposal) map[string]string {
	var out map[string]string
	for n, a := range p.GetAssignments() {
		d := a.GetCurrentDeadline()
		if d == nil {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		out[string(dueKey(d.GetDueTime().GetSeconds(), id, n+1))] = a.GetUnit() + "\x00" + p.GetSession()
	}
	return out
}

// dueKey orders entries by due time (seconds since 1970, offset so that
// byte order is numeric order for earlier times too), then case, then
// assignment.
func dueKey(dueUnix int64, id uint64, assignment int) []byte {
	k := binary.BigEndian.AppendUint64(nil, uint64(dueUnix)^(1<<63))
	k = binary.BigEndian.AppendUint64(k, id)
	return binary.BigEndian.AppendUint32(k, uint32(assignment))
}

func postingKey(term string, id uint64) []byte {
	k := make([]byte, 0, len(term)+9)
	k = append(append(k, term...), 0)
	return binary.BigEndian.AppendUint64(k, id)
}

// difference returns the sorted terms of a that are not in b (both sorted).
func difference(a, b []string) []string {
	var out []string
	for _, t := range a {
		if _, found := slices.BinarySearch(b, t); !found {
			out = append(out, t)
		}
	}
	return out
}

// ListProposals returns up to limit proposals matching q with ids greater
// than after, in id order, and whether more follow. The filters' posting
// lists are walked together (a leapfrog join: each list seeks to the
// largest id any other has reached), so only matching records are read.
func (r *Reader) ListProposals(q ProposalQuery, after uint64, limit int) ([]*banliv1.Proposal, bool, error) {
	return r.ListProposalsSkipping(q, after, limit, nil)
}

// ListProposalsSkipping is ListProposals decoding each case without the
// fields skip names.
func (r *Reader) ListProposalsSkipping(q ProposalQuery, after uint64, limit int, skip Skip) ([]*banliv1.Proposal, bool, error) {
	var out []*banliv1.Proposal
	_, more, err := r.EachProposalRecord(q, after, limit, skip, func(id uint64, record []byte) error {
		p := &banliv1.Proposal{}
		if err := proto.Unmarshal(record, p); err != nil {
			return fmt.Errorf("decode proposal %d: %w", id, err)
		}
		out = append(out, p)
		return nil
	})
	return out, more, err
}

// EachProposalRecord calls each with the stored wire form of up to limit
// proposals matching q with ids greater than after, in id order, less the
// fields skip names. It returns the last id passed and whether more match.
// The record is only valid during the call. A stored record is exactly the
// API's Proposal message, so a caller may send it on without decoding it.
// each may end the page early by returning ErrPageFull for a record it
// cannot take (never the first): the page then ends before that record,
// with more reported.
func (r *Reader) EachProposalRecord(q ProposalQuery, after uint64, limit int, skip Skip, each func(id uint64, record []byte) error) (last uint64, more bool, err error) {
	ids := r.matchProposals(q, after, limit+1)
	more = len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	bucket := r.btx.Bucket(bucketProposals)
	var record, scratch []byte
	for _, id := range ids {
		v := bucket.Get(u64(id))
		if v == nil {
			return 0, false, fmt.Errorf("proposal %d: %w", id, ErrNotFound)
		}
		record = v
		if len(skip) > 0 {
			scratch = skip.appendFiltered(scratch[:0], v)
			record = scratch
		}
		if err := each(id, record); err != nil {
			if errors.Is(err, ErrPageFull) && last != 0 {
				return last, true, nil
			}
			return 0, false, err
		}
		last = id
	}
	return last, more, nil
}

func (r *Reader) matchProposals(q ProposalQuery, after uint64, limit int) []uint64 {
	if q.Sessions != nil && len(q.Sessions) == 0 && q.CarriedYear == 0 {
		return nil
	}
	index := r.btx.Bucket(bucketProposalIndex)
	term := func(t string) idList {
		return &postingList{cursor: index.Cursor(), prefix: append([]byte(t), 0)}
	}
	var lists []idList
	if q.Sessions != nil {
		var any unionList
		for _, s := range q.Sessions {
			any = append(any, term("session="+s))
		}
		if q.CarriedYear != 0 {
			any = append(any, term("carried="+strconv.Itoa(int(q.CarriedYear))))
		}
		lists = append(lists, any)
	}
	if q.State != 0 {
		lists = append(lists, term("state="+strconv.Itoa(int(q.State))))
	}
	if q.Topic != "" {
		lists = append(lists, term("topic="+q.Topic))
	}
	if q.Submitter != "" {
		lists = append(lists, term("submitter="+q.Submitter))
	}
	if len(q.AssignmentStates) > 0 {
		var any unionList
		for _, st := range q.AssignmentStates {
			if q.Unit != "" {
				any = append(any, term("unit_astate="+q.Unit+"|"+strconv.Itoa(int(st))))
			} else {
				any = append(any, term("astate="+strconv.Itoa(int(st))))
			}
		}
		lists = append(lists, any)
	}
	if q.Leader != "" {
		lists = append(lists, term("leader="+q.Leader))
	}
	if q.Provisional {
		lists = append(lists, term(provisionalTerm))
	}
	switch {
	case q.Unit != "" && q.Role != 0:
		lists = append(lists, term("unit_role="+q.Unit+"|"+strconv.Itoa(int(q.Role))))
	case q.Unit != "":
		lists = append(lists, term("unit="+q.Unit))
	case q.Role != 0:
		lists = append(lists, term("role="+strconv.Itoa(int(q.Role))))
	}
	wantKey := q.Key != nil && *q.Key
	if wantKey {
		lists = append(lists, term(keyTerm))
	}
	if len(lists) == 0 {
		lists = append(lists, &allIDs{cursor: r.btx.Bucket(bucketProposals).Cursor()})
	}
	excludeKey := q.Key != nil && !*q.Key

	if after == lastPosition {
		return nil
	}
	var ids []uint64
	target := after + 1
	for len(ids) < limit {
		agreed := true
		for _, l := range lists {
			id, ok := l.seek(target)
			if !ok {
				return ids
			}
			if id != target {
				agreed = false
				target = id // every list is at or past id now; restart there
				break
			}
		}
		if !agreed {
			continue
		}
		if !excludeKey || index.Get(postingKey(keyTerm, target)) == nil {
			ids = append(ids, target)
		}
		target++
	}
	return ids
}

// idList is an ascending list of proposal ids that can skip ahead.
type idList interface {
	// seek returns the first id >= target, or false past the end. Each
	// call's target is at least the previous one's.
	seek(target uint64) (uint64, bool)
}

// postingList walks one term's ids.
type postingList struct {
	cursor *bolt.Cursor
	prefix []byte
	key    []byte // scratch for the keys Seek is given

	at         uint64 // the id the cursor is on, once positioned
	positioned bool
	ended      bool
}

// nextSteps is how many entries seek steps over with Next before it pays
// for a Seek from the root. The join's targets are usually a few entries
// ahead (a unit's cases are mostly in the state asked for), and Next
// within a page is far cheaper than a descent through the tree.
const nextSteps = 16

// seek assumes its targets never decrease, as the join's do.
func (l *postingList) seek(target uint64) (uint64, bool) {
	if l.ended {
		return 0, false
	}
	if l.positioned {
		if l.at >= target {
			return l.at, true
		}
		for range nextSteps {
			k, _ := l.cursor.Next()
			if !l.land(k) {
				return 0, false
			}
			if l.at >= target {
				return l.at, true
			}
		}
	}
	l.key = binary.BigEndian.AppendUint64(append(l.key[:0], l.prefix...), target)
	k, _ := l.cursor.Seek(l.key)
	if !l.land(k) {
		return 0, false
	}
	return l.at, true
}

// land records the entry the cursor moved to, or the end of the term.
func (l *postingList) land(k []byte) bool {
	if k == nil || !bytes.HasPrefix(k, l.prefix) || len(k) != len(l.prefix)+8 {
		l.ended = true
		return false
	}
	l.at, l.positioned = binary.BigEndian.Uint64(k[len(l.prefix):]), true
	return true
}

// unionList walks the ids in any of its lists.
type unionList []idList

func (u unionList) seek(target uint64) (uint64, bool) {
	best, found := uint64(0), false
	for _, l := range u {
		if id, ok := l.seek(target); ok && (!found || id < best) {
			best, found = id, true
		}
	}
	return best, found
}

// allIDs walks every proposal id.
type allIDs struct {
	cursor *bolt.Cursor
}

func (a *allIDs) seek(target uint64) (uint64, bool) {
	k, _ := a.cursor.Seek(u64(target))
	if k == nil {
		return 0, false
	}
	return binary.BigEndian.Uint64(k), true
}

// CheckPages runs bbolt's own consistency check of the file's pages and
// freelist, reporting the first problem.
func (r *Reader) CheckPages() error {
	for err := range r.btx.Check() {
		return fmt.Errorf("bbolt check: %w", err)
	}
	return nil
}

// CheckIndexes verifies that proposal_numbers and proposal_index hold
// exactly the entries the stored proposals call for, and that every event's
// history entry exists. It reads the whole file: a test and repair tool,
// not a request path.
func (r *Reader) CheckIndexes() error {
	want := map[string]bool{}
	wantDue := map[string]string{}
	wantNumbers := map[string]uint64{}
	err := r.btx.Bucket(bucketProposals).ForEach(func(k, v []byte) error {
		p := &banliv1.Proposal{}
		if err := proto.Unmarshal(v, p); err != nil {
			return err
		}
		id := binary.BigEndian.Uint64(k)
		for _, t := range proposalTerms(p) {
			want[string(postingKey(t, id))] = true
		}
		for k, v := range dueEntries(id, p) {
			wantDue[k] = v
		}
		wantNumbers[string(numberKey(p.GetSession(), p.GetNumber()))] = id
		return nil
	})
	if err != nil {
		return err
	}
	err = r.btx.Bucket(bucketProposalIndex).ForEach(func(k, _ []byte) error {
		if !want[string(k)] {
			return fmt.Errorf("stray index entry %q", k)
		}
		delete(want, string(k))
		return nil
	})
	if err != nil {
		return err
	}
	for k := range want {
		return fmt.Errorf("missing index entry %q", k)
	}
	err = r.btx.Bucket(bucketDue).ForEach(func(k, v []byte) error {
		want, ok := wantDue[string(k)]
		if !ok || want != string(v) {
			return fmt.Errorf("stray due entry %x = %q", k, v)
		}
		delete(wantDue, string(k))
		return nil
	})
	if err != nil {
		return err
	}
	for k := range wantDue {
		return fmt.Errorf("missing due entry %x", k)
	}
	numbers := r.btx.Bucket(bucketNumbers)
	if n := numbers.Stats().KeyN; n != len(wantNumbers) {
		return fmt.Errorf("proposal_numbers has %d entries, want %d", n, len(wantNumbers))
	}
	for k, id := range wantNumbers {
		v := numbers.Get([]byte(k))
		if len(v) != 8 || binary.BigEndian.Uint64(v) != id {
			return fmt.Errorf("number entry %q points at %x, want proposal %d", k, v, id)
		}
	}
	return r.btx.Bucket(bucketEvents).ForEach(func(k, v []byte) error {
		ev := &banliv1.Event{}
		if err := proto.Unmarshal(v, ev); err != nil {
			return err
		}
		if r.btx.Bucket(bucketResourceEvents).Get(historyKey(ev.GetResource(), binary.BigEndian.Uint64(k))) == nil {
			return fmt.Errorf("event %d has no history entry", binary.BigEndian.Uint64(k))
		}
		return nil
	})
}
