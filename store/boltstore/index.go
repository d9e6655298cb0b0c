package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// proposalIndex is every index entry one proposal has.
type proposalIndex struct {
	terms []string          // posting-list terms, sorted
	due   map[string]string // proposal_due keys and values
}

// indexOf applies the declared index (store.Index) to one proposal.
func (r *reader) indexOf(id uint64, p *banliv1.Proposal) proposalIndex {
	terms := slices.Clone(r.index.Terms(p))
	slices.Sort(terms)
	out := proposalIndex{terms: slices.Compact(terms)}
	for _, d := range r.index.Due(p) {
		if out.due == nil {
			out.due = map[string]string{}
		}
		out.due[string(dueKey(d.At, id, d.Assignment))] = encodeDue(d)
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

// decodeDueKey reads dueKey's parts back.
func decodeDueKey(k []byte) (dueUnix int64, id uint64, assignment int) {
	return int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63)), binary.BigEndian.Uint64(k[8:16]), int(binary.BigEndian.Uint32(k[16:20]))
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
func (r *reader) ListProposals(q store.Query, after uint64, limit int) ([]*banliv1.Proposal, bool, error) {
	return r.ListProposalsSkipping(q, after, limit, nil)
}

// ListProposalsSkipping is ListProposals decoding each case without the
// fields skip names.
func (r *reader) ListProposalsSkipping(q store.Query, after uint64, limit int, skip store.Skip) ([]*banliv1.Proposal, bool, error) {
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
// each may end the page early by returning store.ErrPageFull for a record it
// cannot take (never the first): the page then ends before that record,
// with more reported.
func (r *reader) EachProposalRecord(q store.Query, after uint64, limit int, skip store.Skip, each func(id uint64, record []byte) error) (last uint64, more bool, err error) {
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
			return 0, false, fmt.Errorf("proposal %d: %w", id, store.ErrNotFound)
		}
		record = v
		if len(skip) > 0 {
			scratch = skip.AppendFiltered(scratch[:0], v)
			record = scratch
		}
		if err := each(id, record); err != nil {
			if errors.Is(err, store.ErrPageFull) && last != 0 {
				return last, true, nil
			}
			return 0, false, err
		}
		last = id
	}
	return last, more, nil
}

func (r *reader) matchProposals(q store.Query, after uint64, limit int) []uint64 {
	index := r.btx.Bucket(bucketProposalIndex)
	term := func(t string) idList {
		return &postingList{cursor: index.Cursor(), prefix: append([]byte(t), 0)}
	}
	var lists []idList
	for _, clause := range q.AllOf {
		switch len(clause) {
		case 0:
			return nil
		case 1:
			lists = append(lists, term(clause[0]))
		default:
			var any unionList
			for _, t := range clause {
				any = append(any, term(t))
			}
			lists = append(lists, any)
		}
	}
	if len(lists) == 0 {
		lists = append(lists, &allIDs{cursor: r.btx.Bucket(bucketProposals).Cursor()})
	}
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
		// Excluded terms are probed, not walked: "not key" saves a posting
		// entry on nearly every case.
		excluded := false
		for _, t := range q.NoneOf {
			if index.Get(postingKey(t, target)) != nil {
				excluded = true
				break
			}
		}
		if !excluded {
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
// freelist, reporting the first problem (store.PageChecker).
func (db *DB) CheckPages() error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		for err := range btx.Check() {
			return fmt.Errorf("bbolt check: %w", err)
		}
		return nil
	})
}

// CheckIndexes verifies that proposal_numbers and proposal_index hold
// exactly the entries the stored proposals call for, and that every event's
// history entry exists. It reads the whole file: a test and repair tool,
// not a request path.
func (r *reader) CheckIndexes() error {
	want := map[string]bool{}
	wantDue := map[string]string{}
	wantNumbers := map[string]uint64{}
	err := r.btx.Bucket(bucketProposals).ForEach(func(k, v []byte) error {
		p := &banliv1.Proposal{}
		if err := proto.Unmarshal(v, p); err != nil {
			return err
		}
		id := binary.BigEndian.Uint64(k)
		entries := r.indexOf(id, p)
		for _, t := range entries.terms {
			want[string(postingKey(t, id))] = true
		}
		for k, v := range entries.due {
			wantDue[k] = v
		}
		wantNumbers[string(numberKey(p.GetSession(), p.GetNumber()))] = id
		return nil
	})
	if err != nil {
		return err
	}
	if r.indexedUnderThisVersion() {
		if err := r.checkPostings(want, wantDue); err != nil {
			return err
		}
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
	events := r.btx.Bucket(bucketEvents)
	return events.ForEach(func(k, v []byte) error {
		ev := &banliv1.Event{}
		// No cache: the whole file's snapshots would not fit; a delta's
		// chain is short.
		if err := decodeStoredEvent(events, binary.BigEndian.Uint64(k), v, ev, nil); err != nil {
			return err
		}
		if r.btx.Bucket(bucketResourceEvents).Get(historyKey(ev.GetResource(), binary.BigEndian.Uint64(k))) == nil {
			return fmt.Errorf("event %d has no history entry", binary.BigEndian.Uint64(k))
		}
		return nil
	})
}

// rebuildIndex rebuilds every posting list and due entry when the file was
// indexed under another store.Index.Version than index's, in the
// transaction that opens it: the index follows its declaration, whatever
// it was when the cases were written.
func rebuildIndex(btx *bolt.Tx, index *store.Index) error {
	meta := btx.Bucket(bucketMeta)
	if v := meta.Get(keyIndexVersion); len(v) == 8 && binary.BigEndian.Uint64(v) == uint64(index.Version) {
		return nil
	}
	for _, name := range [][]byte{bucketProposalIndex, bucketDue} {
		if err := btx.DeleteBucket(name); err != nil {
			return err
		}
		if _, err := btx.CreateBucket(name); err != nil {
			return err
		}
	}
	// The entries are gathered first and written in key order: bbolt
	// appends keys that come in order onto its pages, where keys in case
	// order (each case's terms scattered over the whole bucket) cost a
	// search and a split each. At 100,000 cases that was minutes.
	r := &reader{btx: btx, index: index}
	byTerm := map[string][]uint64{} // each term's cases, in id order
	dueEntries := map[string]string{}
	err := btx.Bucket(bucketProposals).ForEach(func(k, v []byte) error {
		p := &banliv1.Proposal{}
		if err := proto.Unmarshal(v, p); err != nil {
			return fmt.Errorf("decode proposal %d: %w", binary.BigEndian.Uint64(k), err)
		}
		id := binary.BigEndian.Uint64(k)
		entries := r.indexOf(id, p)
		for _, term := range entries.terms {
			byTerm[term] = append(byTerm[term], id)
		}
		maps.Copy(dueEntries, entries.due)
		return nil
	})
	if err != nil {
		return err
	}
	postings, due := btx.Bucket(bucketProposalIndex), btx.Bucket(bucketDue)
	postings.FillPercent, due.FillPercent = 0.9, 0.9 // written in order, read far more than changed
	for _, term := range slices.Sorted(maps.Keys(byTerm)) {
		for _, id := range byTerm[term] {
			if err := postings.Put(postingKey(term, id), nil); err != nil {
				return err
			}
		}
	}
	for _, key := range slices.Sorted(maps.Keys(dueEntries)) {
		if err := due.Put([]byte(key), []byte(dueEntries[key])); err != nil {
			return err
		}
	}
	return meta.Put(keyIndexVersion, u64(uint64(index.Version)))
}

// indexedUnderThisVersion reports whether the file's index was built under
// the reader's declaration (a read-only file may not be yet).
func (r *reader) indexedUnderThisVersion() bool {
	v := r.btx.Bucket(bucketMeta).Get(keyIndexVersion)
	return len(v) == 8 && binary.BigEndian.Uint64(v) == uint64(r.index.Version)
}

// Version returns the version the domain recorded under name.
func (r *reader) Version(name string) (int, error) {
	v := r.btx.Bucket(bucketMeta).Get([]byte(versionPrefix + name))
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return int(binary.BigEndian.Uint64(v)), nil
	}
	return 0, fmt.Errorf("version %q holds %d bytes", name, len(v))
}

// checkPostings compares the posting lists and due entries with what the
// stored proposals call for.
func (r *reader) checkPostings(want map[string]bool, wantDue map[string]string) error {
	err := r.btx.Bucket(bucketProposalIndex).ForEach(func(k, _ []byte) error {
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
	return nil
}

// encodeDue is a due entry's value: its names, 0x00 apart (names hold no
// control characters).
func encodeDue(d store.Due) string {
	return strings.Join([]string{d.Unit, d.Session, d.Department, d.Handler}, "\x00")
}

// decodeDue reads encodeDue's value; an entry from before departments has
// the unit and the session only.
func decodeDue(v []byte) store.Due {
	parts := strings.SplitN(string(v), "\x00", 4)
	parts = append(parts, make([]string, 4-len(parts))...)
	return store.Due{Unit: parts[0], Session: parts[1], Department: parts[2], Handler: parts[3]}
}
