package boltstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Events that carry what changed (schema 6). Every event holds its
// resource's snapshot, and a case's snapshot is most of its event: seeded
// cases spent 48% of their file on it. So an event whose resource had an
// event before stores only the top-level fields of the snapshot that
// differ from the previous event's (a delta), and every maxDeltaChain-th
// change, or a change that would not be smaller, stores the snapshot
// whole. A reader rebuilds the snapshot from the last whole one and the
// deltas after it, byte for byte: the Event that clients, watchers,
// webhooks and a standby receive is unchanged, and so is what a standby
// stores, since it applies the same events the same way.
//
// A delta is checked when it is written: applied to its base it must give
// the snapshot exactly, or the event is stored whole.
//
// The stored form of a delta event:
//
//	deltaMark
//	uvarint   the sequence of the previous event of the resource (the base)
//	uvarint   how many deltas lead back to a whole snapshot, this one included
//	uvarint   the Event's snapshot field number
//	fixed64   the FNV-64a hash of the base's snapshot, checked on reading
//	bytes     the Event without its snapshot (length-prefixed)
//	fields    for each top-level field of the snapshot that changed: its
//	          number, then its occurrences' wire bytes as one bytes value
//	          (empty: the field is gone)
//
// A whole event is the Event's own wire form, which never starts with
// deltaMark (no field has number 0).

const (
	deltaMark = 0x01
	// maxDeltaChain bounds the deltas a reader applies to rebuild one
	// snapshot.
	maxDeltaChain = 8
)

// encodeStoredEvent is the stored form of ev, whose resource's snapshot
// encodes as value: a delta on the resource's previous event when that
// pays, else the whole event. base is the record as it was stored before
// this change (nil for a new one), which is the previous event's
// snapshot: every record is written with an event (txn.apply), so the
// two never part. The delta names its base's hash all the same, and a
// reader that rebuilds a different base refuses it (errBadDelta) rather
// than make up a snapshot.
func encodeStoredEvent(events, history *bolt.Bucket, ev *banliv1.Event, field protowire.Number, resource string, base, value []byte) ([]byte, error) {
	ev.Snapshot = nil
	without, err := proto.Marshal(ev)
	if err != nil {
		return nil, err
	}
	whole := withSnapshot(without, field, value)
	if base == nil {
		return whole, nil
	}
	prev, ok := previousEvent(history, resource, ev.GetSequence())
	if !ok {
		return whole, nil
	}
	stored := events.Get(u64(prev))
	depth := 0
	if len(stored) > 0 && stored[0] == deltaMark {
		h, err := parseDeltaHeader(stored)
		if err != nil {
			return nil, err
		}
		depth = h.depth
	}
	if depth+1 >= maxDeltaChain {
		return whole, nil
	}
	changes, err := diffFields(base, value)
	if err != nil {
		return whole, nil // not in the form a delta handles: kept whole
	}
	if got, err := applyFields(base, changes); err != nil || !bytes.Equal(got, value) {
		return whole, nil
	}
	b := []byte{deltaMark}
	b = protowire.AppendVarint(b, prev)
	b = protowire.AppendVarint(b, uint64(depth+1))
	b = protowire.AppendVarint(b, uint64(field))
	b = protowire.AppendFixed64(b, baseHash(base))
	b = protowire.AppendBytes(b, without)
	b = append(b, changes...)
	if len(b) >= len(whole) {
		return whole, nil
	}
	return b, nil
}

// previousEvent is the sequence of the resource's last event before seq.
func previousEvent(history *bolt.Bucket, resource string, seq uint64) (uint64, bool) {
	prefix := append([]byte(resource), 0)
	c := history.Cursor()
	k, _ := c.Seek(historyKey(resource, seq))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, prefix) || len(k) != len(prefix)+8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[len(prefix):]), true
}

type deltaHeader struct {
	base     uint64
	depth    int
	field    protowire.Number
	baseHash uint64
	without  []byte
	changes  []byte
}

// baseHash is what a delta checks its rebuilt base against.
func baseHash(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

var errBadDelta = errors.New("a stored event delta is corrupt")

func parseDeltaHeader(b []byte) (deltaHeader, error) {
	var h deltaHeader
	b = b[1:]
	ok := true
	varint := func() uint64 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			ok = false
			return 0
		}
		b = b[n:]
		return v
	}
	h.base, h.depth, h.field = varint(), int(varint()), protowire.Number(varint())
	if !ok {
		return h, errBadDelta
	}
	hash, n := protowire.ConsumeFixed64(b)
	if n < 0 {
		return h, errBadDelta
	}
	without, m := protowire.ConsumeBytes(b[n:])
	if m < 0 {
		return h, errBadDelta
	}
	h.baseHash, h.without, h.changes = hash, without, b[n+m:]
	return h, nil
}

// decodeStoredEvent decodes a stored event, whole or a delta, into ev.
// cache, if not nil, keeps the snapshots rebuilt, by sequence, for the
// events read after it in the same pass.
func decodeStoredEvent(events *bolt.Bucket, seq uint64, stored []byte, ev *banliv1.Event, cache map[uint64][]byte) error {
	if len(stored) == 0 || stored[0] != deltaMark {
		return proto.Unmarshal(stored, ev)
	}
	h, err := parseDeltaHeader(stored)
	if err != nil {
		return err
	}
	snapshot, err := snapshotAt(events, seq, cache)
	if err != nil {
		return err
	}
	return proto.Unmarshal(withSnapshot(h.without, h.field, snapshot), ev)
}

// snapshotAt is the wire form of the snapshot event seq carries.
func snapshotAt(events *bolt.Bucket, seq uint64, cache map[uint64][]byte) ([]byte, error) {
	if s, ok := cache[seq]; ok {
		return s, nil
	}
	stored := events.Get(u64(seq))
	if stored == nil {
		return nil, fmt.Errorf("event %d is missing: %w", seq, errBadDelta)
	}
	var snapshot []byte
	if stored[0] != deltaMark {
		s, err := wholeSnapshot(stored)
		if err != nil {
			return nil, err
		}
		snapshot = s
	} else {
		h, err := parseDeltaHeader(stored)
		if err != nil {
			return nil, err
		}
		if h.base >= seq {
			return nil, fmt.Errorf("event %d is a delta on a later event: %w", seq, errBadDelta)
		}
		base, err := snapshotAt(events, h.base, cache)
		if err != nil {
			return nil, err
		}
		if baseHash(base) != h.baseHash {
			return nil, fmt.Errorf("event %d: its base, event %d, rebuilds otherwise than it was: %w", seq, h.base, errBadDelta)
		}
		if snapshot, err = applyFields(base, h.changes); err != nil {
			return nil, err
		}
	}
	if cache != nil {
		cache[seq] = snapshot
	}
	return snapshot, nil
}

// wholeSnapshot finds the snapshot in a whole event's wire form: the one
// length-delimited field of Event's snapshot oneof.
func wholeSnapshot(stored []byte) ([]byte, error) {
	var snapshot []byte
	for b := stored; len(b) > 0; {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, errBadDelta
		}
		b = b[n:]
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return nil, errBadDelta
		}
		if typ == protowire.BytesType && snapshotFieldNumbers[num] {
			v, _ := protowire.ConsumeBytes(b)
			snapshot = v
		}
		b = b[m:]
	}
	if snapshot == nil {
		return nil, fmt.Errorf("a whole event holds no snapshot: %w", errBadDelta)
	}
	return snapshot, nil
}

// snapshotFieldNumbers are Event's snapshot fields, from snapshotFields.
var snapshotFieldNumbers = func() map[protowire.Number]bool {
	m := map[protowire.Number]bool{}
	for _, n := range snapshotFields {
		m[n] = true
	}
	return m
}()

// A fieldRun is one top-level field of a message: its number and the wire
// bytes of all its occurrences.
type fieldRun struct {
	num protowire.Number
	run []byte
}

// fieldRuns splits a message's wire form into its fields, in order. Only
// the form proto.Marshal writes is taken: each field's occurrences
// together, the fields in number order. Another (which the writer never
// sees from its own records) is not made a delta of.
func fieldRuns(msg []byte) ([]fieldRun, error) {
	var out []fieldRun
	for off := 0; off < len(msg); {
		num, typ, n := protowire.ConsumeTag(msg[off:])
		if n < 0 {
			return nil, errBadDelta
		}
		m := protowire.ConsumeFieldValue(num, typ, msg[off+n:])
		if m < 0 {
			return nil, errBadDelta
		}
		end := off + n + m
		switch last := len(out) - 1; {
		case last >= 0 && out[last].num == num:
			// Another occurrence: the run, which ends here, grows.
			out[last].run = msg[off-len(out[last].run) : end]
		case last >= 0 && out[last].num > num:
			return nil, errBadDelta
		default:
			out = append(out, fieldRun{num, msg[off:end]})
		}
		off = end
	}
	return out, nil
}

// A change of one field is an op and its operand:
//
//	opReplace   bytes: the field's occurrences, whole (empty: the field is gone)
//	opElements  uvarint: how many occurrences the field now has; uvarint:
//	            how many of them changed; then, for each that changed, in
//	            order, uvarint: its index, and bytes: its change,
//	            an op and operand again, of the occurrence's payload (a
//	            message's changes, or the payload whole)
//
// so a step that changes one part of a case, deep in its assignments,
// stores that part's changed fields and not the whole list.
const (
	opReplace  = 0
	opElements = 1
	// maxDiffDepth bounds how deep a change goes into nested messages.
	maxDiffDepth = 3
)

// diffFields lists the top-level fields of to that differ from from's,
// each as its number and its change.
func diffFields(from, to []byte) ([]byte, error) {
	return diffMessage(from, to, 0)
}

func diffMessage(from, to []byte, depth int) ([]byte, error) {
	a, err := fieldRuns(from)
	if err != nil {
		return nil, err
	}
	b, err := fieldRuns(to)
	if err != nil {
		return nil, err
	}
	// Both are in number order: the changes are too.
	var out []byte
	for i, j := 0, 0; i < len(a) || j < len(b); {
		switch {
		case j == len(b) || (i < len(a) && a[i].num < b[j].num): // gone
			out = protowire.AppendVarint(out, uint64(a[i].num))
			out = append(out, opReplace)
			out = protowire.AppendBytes(out, nil)
			i++
		case i == len(a) || b[j].num < a[i].num: // new
			out = protowire.AppendVarint(out, uint64(b[j].num))
			out = protowire.AppendBytes(append(out, opReplace), b[j].run)
			j++
		default:
			if !bytes.Equal(a[i].run, b[j].run) {
				out = protowire.AppendVarint(out, uint64(b[j].num))
				out = append(out, fieldChange(a[i].run, b[j].run, depth)...)
			}
			i++
			j++
		}
	}
	return out, nil
}

// fieldChange is the change from one run of a field's occurrences to
// another: element by element when both are length-delimited occurrences
// (messages, most of all) and that is smaller, else the new run whole.
func fieldChange(from, to []byte, depth int) []byte {
	whole := protowire.AppendBytes([]byte{opReplace}, to)
	if depth >= maxDiffDepth {
		return whole
	}
	old, okOld := occurrences(from)
	now, okNew := occurrences(to)
	if !okOld || !okNew || len(from) == 0 {
		return whole
	}
	var changed []byte
	n := 0
	for i, payload := range now {
		if i < len(old) && bytes.Equal(old[i], payload) {
			continue
		}
		change := protowire.AppendBytes([]byte{opReplace}, payload)
		if i < len(old) {
			if nested, err := diffMessage(old[i], payload, depth+1); err == nil && len(nested) < len(payload) {
				change = protowire.AppendBytes([]byte{opElements}, nested)
			}
		}
		changed = protowire.AppendVarint(changed, uint64(i))
		changed = protowire.AppendBytes(changed, change)
		n++
	}
	elements := protowire.AppendVarint([]byte{opElements}, uint64(len(now)))
	elements = protowire.AppendVarint(elements, uint64(n))
	elements = append(elements, changed...)
	if len(elements) >= len(whole) {
		return whole
	}
	return elements
}

// occurrences splits a run of one field into its occurrences' payloads,
// if every occurrence is length-delimited.
func occurrences(run []byte) ([][]byte, bool) {
	var out [][]byte
	for len(run) > 0 {
		_, typ, n := protowire.ConsumeTag(run)
		if n < 0 || typ != protowire.BytesType {
			return nil, false
		}
		v, m := protowire.ConsumeBytes(run[n:])
		if m < 0 {
			return nil, false
		}
		out = append(out, v)
		run = run[n+m:]
	}
	return out, true
}

// applyFields applies diffFields' changes to base, writing the fields in
// number order, as proto.Marshal does.
func applyFields(base, changes []byte) ([]byte, error) {
	return applyMessage(base, changes)
}

func applyMessage(base, changes []byte) ([]byte, error) {
	runs, err := fieldRuns(base)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(base)+len(changes))
	i := 0
	last := protowire.Number(0)
	for b := changes; len(b) > 0; {
		num, n := protowire.ConsumeVarint(b)
		if n < 0 || len(b) == n || protowire.Number(num) <= last {
			return nil, errBadDelta
		}
		field := protowire.Number(num)
		last = field
		op := b[n]
		b = b[n+1:]
		// The base's fields before this one stay as they are.
		for i < len(runs) && runs[i].num < field {
			out = append(out, runs[i].run...)
			i++
		}
		var old []byte
		if i < len(runs) && runs[i].num == field {
			old = runs[i].run
			i++
		}
		switch op {
		case opReplace:
			run, m := protowire.ConsumeBytes(b)
			if m < 0 {
				return nil, errBadDelta
			}
			b = b[m:]
			out = append(out, run...)
		case opElements:
			run, rest, err := applyElements(field, old, b)
			if err != nil {
				return nil, err
			}
			out = append(out, run...)
			b = rest
		default:
			return nil, errBadDelta
		}
	}
	for ; i < len(runs); i++ {
		out = append(out, runs[i].run...)
	}
	return out, nil
}

// applyElements applies an element-by-element change (after its op) to
// the run of field's occurrences, and returns the new run and what
// follows the change.
func applyElements(field protowire.Number, run, b []byte) ([]byte, []byte, error) {
	old, ok := occurrences(run)
	if !ok {
		return nil, nil, errBadDelta
	}
	count, n := protowire.ConsumeVarint(b)
	if n < 0 || count > uint64(len(old))+uint64(len(b)) {
		return nil, nil, errBadDelta
	}
	b = b[n:]
	changed, n := protowire.ConsumeVarint(b)
	if n < 0 || changed > count {
		return nil, nil, errBadDelta
	}
	b = b[n:]
	now := make([][]byte, count)
	copy(now, old)
	// The changed elements, each an index below count, in rising order.
	next := -1
	for range changed {
		i, n := protowire.ConsumeVarint(b)
		if n < 0 || int(i) <= next || i >= count {
			return nil, nil, errBadDelta
		}
		change, m := protowire.ConsumeBytes(b[n:])
		if m < 0 || len(change) == 0 {
			return nil, nil, errBadDelta
		}
		switch change[0] {
		case opReplace:
			payload, k := protowire.ConsumeBytes(change[1:])
			if k < 0 {
				return nil, nil, errBadDelta
			}
			now[i] = payload
		case opElements:
			nested, k := protowire.ConsumeBytes(change[1:])
			if k < 0 || int(i) >= len(old) {
				return nil, nil, errBadDelta
			}
			payload, err := applyMessage(old[i], nested)
			if err != nil {
				return nil, nil, err
			}
			now[i] = payload
		default:
			return nil, nil, errBadDelta
		}
		next = int(i)
		b = b[n+m:]
	}
	var out []byte
	for _, payload := range now {
		if payload == nil {
			return nil, nil, errBadDelta // an element neither kept nor given
		}
		out = protowire.AppendTag(out, field, protowire.BytesType)
		out = protowire.AppendBytes(out, payload)
	}
	return out, b, nil
}
