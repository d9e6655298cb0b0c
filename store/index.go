package store

import (
	"bytes"
	"encoding/binary"
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
	Session string // resource name
	Kind    banliv1.ProposalKind
	State   banliv1.ProposalState
	Unit    string // resource name; current assignments only
	Role    banliv1.AssignmentRole
	Key     *bool
	Year    int32
	Topic   string
}

// proposalTerms lists the index terms a proposal is found under. It is the
// one place that decides what ListProposals can filter on; query.terms must
// use the same spelling.
func proposalTerms(p *banliv1.Proposal) []string {
	terms := []string{
		"session=" + p.GetSession(),
		"kind=" + strconv.Itoa(int(p.GetKind())),
		"state=" + strconv.Itoa(int(p.GetState())),
		"year=" + strconv.Itoa(int(p.GetYear())),
		"key=" + strconv.FormatBool(p.GetKey()),
	}
	for _, a := range p.GetAssignments() {
		// A reassigned part is history: the case is no longer that unit's.
		if a.GetState() == banliv1.AssignmentState_ASSIGNMENT_STATE_REASSIGNED {
			continue
		}
		role := strconv.Itoa(int(a.GetRole()))
		terms = append(terms, "unit="+a.GetUnit(), "role="+role, "unit_role="+a.GetUnit()+"|"+role)
	}
	for _, t := range p.GetTopics() {
		terms = append(terms, "topic="+t)
	}
	slices.Sort(terms)
	return slices.Compact(terms)
}

func (q ProposalQuery) terms() []string {
	var terms []string
	add := func(ok bool, term string) {
		if ok {
			terms = append(terms, term)
		}
	}
	add(q.Session != "", "session="+q.Session)
	add(q.Kind != 0, "kind="+strconv.Itoa(int(q.Kind)))
	add(q.State != 0, "state="+strconv.Itoa(int(q.State)))
	add(q.Year != 0, "year="+strconv.Itoa(int(q.Year)))
	add(q.Key != nil, "key="+strconv.FormatBool(q.Key != nil && *q.Key))
	add(q.Topic != "", "topic="+q.Topic)
	switch {
	case q.Unit != "" && q.Role != 0:
		terms = append(terms, "unit_role="+q.Unit+"|"+strconv.Itoa(int(q.Role)))
	case q.Unit != "":
		terms = append(terms, "unit="+q.Unit)
	case q.Role != 0:
		terms = append(terms, "role="+strconv.Itoa(int(q.Role)))
	}
	return terms
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
// than after, in id order, and whether more follow. Several filters are
// intersected by walking their posting lists together (a leapfrog join), so
// only matching records are read.
func (r *Reader) ListProposals(q ProposalQuery, after uint64, limit int) ([]*banliv1.Proposal, bool, error) {
	ids := r.matchProposals(q.terms(), after, limit+1)
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	out := make([]*banliv1.Proposal, 0, len(ids))
	for _, id := range ids {
		p, err := r.Proposal(id)
		if err != nil {
			return nil, false, err
		}
		out = append(out, p)
	}
	return out, more, nil
}

func (r *Reader) matchProposals(terms []string, after uint64, limit int) []uint64 {
	var ids []uint64
	if len(terms) == 0 {
		c := r.btx.Bucket(bucketProposals).Cursor()
		for k, _ := c.Seek(u64(after + 1)); k != nil && len(ids) < limit; k, _ = c.Next() {
			ids = append(ids, binary.BigEndian.Uint64(k))
		}
		return ids
	}
	index := r.btx.Bucket(bucketProposalIndex)
	lists := make([]postingList, len(terms))
	for i, t := range terms {
		lists[i] = postingList{cursor: index.Cursor(), prefix: append([]byte(t), 0)}
	}
	target := after + 1
	for len(ids) < limit {
		agreed := true
		for i := range lists {
			id, ok := lists[i].seek(target)
			if !ok {
				return ids
			}
			if id != target {
				agreed = false
				target = id // every list is at or past id now; restart there
				break
			}
		}
		if agreed {
			ids = append(ids, target)
			target++
		}
	}
	return ids
}

// postingList walks one term's ids in order.
type postingList struct {
	cursor *bolt.Cursor
	prefix []byte
}

// seek returns the first id >= target in the list, or false at its end.
func (l *postingList) seek(target uint64) (uint64, bool) {
	k, _ := l.cursor.Seek(binary.BigEndian.AppendUint64(slices.Clip(l.prefix), target))
	if k == nil || !bytes.HasPrefix(k, l.prefix) || len(k) != len(l.prefix)+8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(l.prefix):]), true
}

// CheckIndexes verifies that proposal_numbers and proposal_index hold
// exactly the entries the stored proposals call for, and that every event's
// history entry exists. It reads the whole file: a test and repair tool,
// not a request path.
func (r *Reader) CheckIndexes() error {
	want := map[string]bool{}
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
