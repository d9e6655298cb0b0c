package boltstore

import (
	"encoding/binary"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

func bucketOf(k store.Kind) []byte {
	switch k {
	case store.KindSession:
		return bucketSessions
	case store.KindUnit:
		return bucketUnits
	case store.KindCalendar:
		return bucketCalendars
	case store.KindAccount:
		return bucketAccounts
	case store.KindLeader:
		return bucketLeaders
	case store.KindScoringPolicy:
		return bucketScoring
	case store.KindWebhook:
		return bucketWebhooks
	default:
		return bucketProposals
	}
}

// reader is a store.Reader over one bbolt transaction.
type reader struct {
	btx   *bolt.Tx
	index *store.Index
	// chain keys the audit trail (see audit.go).
	chain store.AuditChain
}

// Session returns the session with the given id.
func (r *reader) Session(id uint64) (*banliv1.Session, error) {
	m := &banliv1.Session{}
	return m, r.get(store.KindSession, id, m)
}

// Leader returns the leader with the given id.
func (r *reader) Leader(id uint64) (*banliv1.Leader, error) {
	m := &banliv1.Leader{}
	return m, r.get(store.KindLeader, id, m)
}

// Webhook returns the webhook with the given id.
func (r *reader) Webhook(id uint64) (*banliv1.Webhook, error) {
	m := &banliv1.Webhook{}
	return m, r.get(store.KindWebhook, id, m)
}

// WebhookOutbox returns webhook id's delivery bookkeeping.
func (r *reader) WebhookOutbox(id uint64) (*banliv1.WebhookOutbox, error) {
	b := r.btx.Bucket(bucketWebhookOutboxes)
	var v []byte
	if b != nil {
		v = b.Get(u64(id))
	}
	if v == nil {
		return nil, fmt.Errorf("outbox of webhook %d: %w", id, store.ErrNotFound)
	}
	m := &banliv1.WebhookOutbox{}
	if err := proto.Unmarshal(v, m); err != nil {
		return nil, fmt.Errorf("decode outbox of webhook %d: %w", id, err)
	}
	return m, nil
}

// Unit returns the unit with the given id.
func (r *reader) Unit(id uint64) (*banliv1.Unit, error) {
	m := &banliv1.Unit{}
	return m, r.get(store.KindUnit, id, m)
}

// Proposal returns the proposal with the given id.
func (r *reader) Proposal(id uint64) (*banliv1.Proposal, error) {
	m := &banliv1.Proposal{}
	return m, r.get(store.KindProposal, id, m)
}

// ProposalByNumber returns the id of the proposal with that number in that
// session (a resource name), or 0.
func (r *reader) ProposalByNumber(session, number string) (uint64, error) {
	v := r.btx.Bucket(bucketNumbers).Get(numberKey(session, number))
	switch len(v) {
	case 0:
		return 0, nil
	case 8:
		return binary.BigEndian.Uint64(v), nil
	default:
		return 0, fmt.Errorf("number entry %q holds %d bytes, not an id", numberKey(session, number), len(v))
	}
}

func (r *reader) get(kind store.Kind, id uint64, m proto.Message) error {
	b := r.btx.Bucket(bucketOf(kind))
	if b == nil {
		return fmt.Errorf("%s %d: %w", kind, id, store.ErrNotFound) // a bucket this file does not have yet
	}
	v := b.Get(u64(id))
	if v == nil {
		return fmt.Errorf("%s %d: %w", kind, id, store.ErrNotFound)
	}
	// proto.Unmarshal copies, so m outlives the transaction.
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("decode %s %d: %w", kind, id, err)
	}
	return nil
}

// txn is a store.Tx: a reader that also stages writes. Nothing is written
// to bbolt until the decision using it returns without error; reads see
// the staged writes.
type txn struct {
	reader
	requestID string
	staged    []stagedWrite
	// latest maps a record to its newest staged write, for reads.
	latest map[recordKey]int
	// nextIDs holds ids handed out but not yet written, per kind.
	nextIDs map[store.Kind]uint64
	// storedIndex holds the index entries of proposals as read from the
	// file, so that reindexing them needs no second decode.
	storedIndex map[uint64]proposalIndex
	// counters holds statistics deltas, by encoded store.StatsKey.
	counters map[string][]int64
	// audit holds the audit records to append.
	audit []*banliv1.AuditRecord
	// stagedNumbers maps numberKey to the id of a proposal staged here.
	stagedNumbers map[string]uint64
	// versions holds the versions to record (SetVersion).
	versions map[string]int
	// outboxes holds the webhooks' bookkeeping to write (PutWebhookOutbox).
	outboxes map[uint64]*banliv1.WebhookOutbox
}

// PutWebhookOutbox stages a webhook's delivery bookkeeping.
func (tx *txn) PutWebhookOutbox(id uint64, o *banliv1.WebhookOutbox) {
	if tx.outboxes == nil {
		tx.outboxes = map[uint64]*banliv1.WebhookOutbox{}
	}
	tx.outboxes[id] = proto.Clone(o).(*banliv1.WebhookOutbox)
}

// WebhookOutbox also sees an outbox staged here.
func (tx *txn) WebhookOutbox(id uint64) (*banliv1.WebhookOutbox, error) {
	if o, ok := tx.outboxes[id]; ok {
		return proto.Clone(o).(*banliv1.WebhookOutbox), nil
	}
	return tx.reader.WebhookOutbox(id)
}

// Webhook returns the webhook as staged in this transaction, or as stored.
func (tx *txn) Webhook(id uint64) (*banliv1.Webhook, error) {
	if i, ok := tx.latest[recordKey{store.KindWebhook, id}]; ok {
		return proto.Clone(tx.staged[i].value).(*banliv1.Webhook), nil
	}
	return tx.reader.Webhook(id)
}

// PutWebhook stages a webhook and the event that records its change.
func (tx *txn) PutWebhook(id uint64, w *banliv1.Webhook, ev *banliv1.Event) {
	tx.put(store.KindWebhook, id, w, ev)
}

// SetVersion stages recording a version under name.
func (tx *txn) SetVersion(name string, v int) {
	if tx.versions == nil {
		tx.versions = map[string]int{}
	}
	tx.versions[name] = v
}

// Version also sees a version staged here.
func (tx *txn) Version(name string) (int, error) {
	if v, ok := tx.versions[name]; ok {
		return v, nil
	}
	return tx.reader.Version(name)
}

type recordKey struct {
	kind store.Kind
	id   uint64
}

type stagedWrite struct {
	kind  store.Kind
	id    uint64
	key   []byte // the record's key; u64(id) but for calendars
	value store.NamedMessage
	event *banliv1.Event
	// replicated: the event comes from a primary, whole, and must take the
	// sequence it has there.
	replicated bool
}

func newTx(btx *bolt.Tx, requestID string, index *store.Index, chain store.AuditChain) *txn {
	return &txn{reader: reader{btx: btx, index: index, chain: chain}, requestID: requestID}
}

// NewID returns the id the next record of this kind will have. Ids are
// taken from the bucket sequence only when the write commits, so a refused
// decision burns none.
func (tx *txn) NewID(kind store.Kind) (uint64, error) {
	if tx.nextIDs == nil {
		tx.nextIDs = map[store.Kind]uint64{}
	}
	id, ok := tx.nextIDs[kind]
	if !ok {
		id = tx.btx.Bucket(bucketOf(kind)).Sequence()
	}
	if id == lastPosition {
		return 0, fmt.Errorf("%s ids: %w", kind, errIDsExhausted)
	}
	id++
	tx.nextIDs[kind] = id
	return id, nil
}

// Proposal returns the proposal as staged in this transaction, or as stored.
func (tx *txn) Proposal(id uint64) (*banliv1.Proposal, error) {
	if i, ok := tx.latest[recordKey{store.KindProposal, id}]; ok {
		return proto.Clone(tx.staged[i].value).(*banliv1.Proposal), nil
	}
	p, err := tx.reader.Proposal(id)
	if err == nil {
		if tx.storedIndex == nil {
			tx.storedIndex = map[uint64]proposalIndex{}
		}
		tx.storedIndex[id] = tx.indexOf(id, p)
	}
	return p, err
}

// Unit returns the unit as staged in this transaction, or as stored.
func (tx *txn) Unit(id uint64) (*banliv1.Unit, error) {
	if i, ok := tx.latest[recordKey{store.KindUnit, id}]; ok {
		return proto.Clone(tx.staged[i].value).(*banliv1.Unit), nil
	}
	return tx.reader.Unit(id)
}

// Session returns the session as staged in this transaction, or as stored.
func (tx *txn) Session(id uint64) (*banliv1.Session, error) {
	if i, ok := tx.latest[recordKey{store.KindSession, id}]; ok {
		return proto.Clone(tx.staged[i].value).(*banliv1.Session), nil
	}
	return tx.reader.Session(id)
}

// ProposalByNumber also sees proposals staged in this transaction.
func (tx *txn) ProposalByNumber(session, number string) (uint64, error) {
	if id, ok := tx.stagedNumbers[string(numberKey(session, number))]; ok {
		return id, nil
	}
	return tx.reader.ProposalByNumber(session, number)
}

// PutSession stages a session and the event that records its change.
func (tx *txn) PutSession(id uint64, s *banliv1.Session, ev *banliv1.Event) {
	tx.put(store.KindSession, id, s, ev)
}

// Leader returns the leader as staged in this transaction, or as stored.
func (tx *txn) Leader(id uint64) (*banliv1.Leader, error) {
	if i, ok := tx.latest[recordKey{store.KindLeader, id}]; ok {
		return proto.Clone(tx.staged[i].value).(*banliv1.Leader), nil
	}
	return tx.reader.Leader(id)
}

// PutLeader stages a leader and the event that records its change.
func (tx *txn) PutLeader(id uint64, l *banliv1.Leader, ev *banliv1.Event) {
	tx.put(store.KindLeader, id, l, ev)
}

// PutUnit stages a unit and the event that records its change.
func (tx *txn) PutUnit(id uint64, u *banliv1.Unit, ev *banliv1.Event) {
	tx.put(store.KindUnit, id, u, ev)
}

// PutProposal stages a proposal and the event that records its change.
// Its number index and posting lists follow it.
func (tx *txn) PutProposal(id uint64, p *banliv1.Proposal, ev *banliv1.Event) {
	if tx.stagedNumbers == nil {
		tx.stagedNumbers = map[string]uint64{}
	}
	tx.stagedNumbers[string(numberKey(p.GetSession(), p.GetNumber()))] = id
	tx.put(store.KindProposal, id, p, ev)
}

// PutCalendarYear stages a new version of a year's schedule and its event.
// Versions are never overwritten.
func (tx *txn) PutCalendarYear(cy *banliv1.CalendarYear, ev *banliv1.Event) {
	tx.stage(stagedWrite{kind: store.KindCalendar, key: calendarKey(cy.GetYear(), cy.GetVersion()), value: cy, event: ev})
}

// PutScoringPolicy stages a new version of a saved scoring policy and its
// event. Versions are never overwritten.
func (tx *txn) PutScoringPolicy(sp *banliv1.SavedScoringPolicy, ev *banliv1.Event) {
	tx.stage(stagedWrite{kind: store.KindScoringPolicy, key: scoringKey(sp.GetName(), sp.GetVersion()), value: sp, event: ev})
}

func (tx *txn) put(kind store.Kind, id uint64, value store.NamedMessage, ev *banliv1.Event) {
	if tx.latest == nil {
		tx.latest = map[recordKey]int{}
	}
	tx.latest[recordKey{kind, id}] = len(tx.staged)
	tx.stage(stagedWrite{kind: kind, id: id, key: u64(id), value: value, event: ev})
}

func (tx *txn) stage(w stagedWrite) {
	if !w.replicated {
		w.event.Resource = w.value.GetName()
		w.event.RequestId = tx.requestID
	}
	tx.staged = append(tx.staged, w)
}

// Replicate stages a primary's event and the record in its snapshot (kind
// and id as the caller parsed them from the event's resource). The event is
// stored as it is and must get the same sequence here.
func (tx *txn) Replicate(kind store.Kind, id uint64, value store.NamedMessage, ev *banliv1.Event) {
	key := u64(id)
	switch v := value.(type) {
	case *banliv1.CalendarYear:
		key = calendarKey(v.GetYear(), v.GetVersion())
	case *banliv1.Account:
		key = accountKey(v.GetName())
	case *banliv1.SavedScoringPolicy:
		key = scoringKey(v.GetName(), v.GetVersion())
	}
	if !keyedByName(kind) {
		if tx.latest == nil {
			tx.latest = map[recordKey]int{}
		}
		tx.latest[recordKey{kind, id}] = len(tx.staged)
	}
	if p, ok := value.(*banliv1.Proposal); ok {
		if tx.stagedNumbers == nil {
			tx.stagedNumbers = map[string]uint64{}
		}
		tx.stagedNumbers[string(numberKey(p.GetSession(), p.GetNumber()))] = id
	}
	tx.stage(stagedWrite{kind: kind, id: id, key: key, value: value, event: ev, replicated: true})
}

// apply writes the staged records, their indexes and their events. An error
// here is a storage failure and aborts the whole bbolt transaction.
func (tx *txn) apply() error {
	for kind, id := range tx.nextIDs {
		b := tx.btx.Bucket(bucketOf(kind))
		if id > b.Sequence() {
			if err := b.SetSequence(id); err != nil {
				return err
			}
		}
	}
	events := tx.btx.Bucket(bucketEvents)
	events.FillPercent = appendFill
	history := tx.btx.Bucket(bucketResourceEvents)
	var lastEvent uint64
	for _, w := range tx.staged {
		key := w.key
		bucket := tx.btx.Bucket(bucketOf(w.kind))
		bucket.FillPercent = appendFill
		old := slices.Clone(bucket.Get(key)) // the previous event's snapshot, the delta's base
		if p, ok := w.value.(*banliv1.Proposal); ok {
			if err := tx.reindexProposal(w.id, old, p); err != nil {
				return err
			}
		}
		if a, ok := w.value.(*banliv1.Account); ok {
			if err := tx.reindexAccount(old, a); err != nil {
				return err
			}
		}
		value, err := proto.Marshal(w.value)
		if err != nil {
			return fmt.Errorf("encode %s %d: %w", w.kind, w.id, err)
		}
		if err := bucket.Put(key, value); err != nil {
			return err
		}
		if !keyedByName(w.kind) && w.id > bucket.Sequence() {
			// A replicated record: later ids must not reuse this one.
			if err := bucket.SetSequence(w.id); err != nil {
				return err
			}
		}
		seq, err := events.NextSequence()
		if err != nil {
			return err
		}
		if w.replicated && seq != w.event.GetSequence() {
			return fmt.Errorf("event %d would be stored as %d: %w", w.event.GetSequence(), seq, store.ErrDiverged)
		}
		w.event.Sequence = seq
		lastEvent = seq
		ev, err := encodeStoredEvent(events, history, w.event, snapshotFields[w.kind], w.value.GetName(), old, value)
		if err != nil {
			return fmt.Errorf("encode event %d: %w", seq, err)
		}
		if err := events.Put(u64(seq), ev); err != nil {
			return err
		}
		if err := history.Put(historyKey(w.value.GetName(), seq), nil); err != nil {
			return err
		}
	}
	if err := tx.applyCounters(); err != nil {
		return err
	}
	outboxes := tx.btx.Bucket(bucketWebhookOutboxes)
	for id, o := range tx.outboxes {
		v, err := proto.Marshal(o)
		if err != nil {
			return fmt.Errorf("encode outbox of webhook %d: %w", id, err)
		}
		if err := outboxes.Put(u64(id), v); err != nil {
			return err
		}
	}
	meta := tx.btx.Bucket(bucketMeta)
	for name, v := range tx.versions {
		if err := meta.Put([]byte(versionPrefix+name), u64(uint64(v))); err != nil {
			return err
		}
	}
	return tx.applyAudit(lastEvent)
}

// encodeEvent encodes ev whole, with the resource snapshot (Event field
// number field) whose encoding is value. The snapshot is appended as its oneof field's bytes rather than
// marshalled a second time: the wire format defines a message field as its
// encoded bytes, so the result is exactly what proto.Marshal would give.
func encodeEvent(ev *banliv1.Event, field protowire.Number, value []byte) ([]byte, error) {
	ev.Snapshot = nil
	without, err := proto.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return withSnapshot(without, field, value), nil
}

// withSnapshot is a whole event's encoding: without, the event's encoding
// with no snapshot, then the snapshot (Event field number field) whose
// encoding is snapshot. without is not changed.
func withSnapshot(without []byte, field protowire.Number, snapshot []byte) []byte {
	b := make([]byte, 0, len(without)+protowire.SizeTag(field)+protowire.SizeBytes(len(snapshot)))
	b = append(b, without...)
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, snapshot)
}

// snapshotFields are the numbers of Event's snapshot fields.
var snapshotFields = map[store.Kind]protowire.Number{
	store.KindSession:       protowire.Number((&banliv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("session").Number()),
	store.KindUnit:          protowire.Number((&banliv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("unit").Number()),
	store.KindProposal:      protowire.Number((&banliv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("proposal").Number()),
	store.KindCalendar:      protowire.Number((&banliv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("calendar_year").Number()),
	store.KindAccount:       protowire.Number((&banliv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("account").Number()),
	store.KindLeader:        protowire.Number((&banliv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("leader").Number()),
	store.KindScoringPolicy: protowire.Number((&banliv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("scoring_policy").Number()),
	store.KindWebhook:       protowire.Number((&banliv1.Event{}).ProtoReflect().Descriptor().Fields().ByName("webhook").Number()),
}

// reindexProposal replaces the index entries (posting lists, the due
// index, and for a new proposal its number) of a proposal whose stored bytes
// were old (nil for a new one) by those of p.
func (tx *txn) reindexProposal(id uint64, old []byte, p *banliv1.Proposal) error {
	var before proposalIndex
	if old != nil {
		var ok bool
		if before, ok = tx.storedIndex[id]; !ok {
			prev := &banliv1.Proposal{}
			if err := proto.Unmarshal(old, prev); err != nil {
				return fmt.Errorf("decode proposal %d: %w", id, err)
			}
			before = tx.indexOf(id, prev)
		}
	} else {
		if err := tx.btx.Bucket(bucketNumbers).Put(numberKey(p.GetSession(), p.GetNumber()), u64(id)); err != nil {
			return err
		}
	}
	after := tx.indexOf(id, p)
	if tx.storedIndex != nil {
		tx.storedIndex[id] = after // in case the decision staged p twice
	}
	postings := tx.btx.Bucket(bucketProposalIndex)
	postings.FillPercent = appendFill
	for _, term := range difference(before.terms, after.terms) {
		if err := postings.Delete(postingKey(term, id)); err != nil {
			return err
		}
	}
	for _, term := range difference(after.terms, before.terms) {
		if err := postings.Put(postingKey(term, id), nil); err != nil {
			return err
		}
	}
	due := tx.btx.Bucket(bucketDue)
	for key := range before.due {
		if _, keep := after.due[key]; !keep {
			if err := due.Delete([]byte(key)); err != nil {
				return err
			}
		}
	}
	for key, value := range after.due {
		if was, ok := before.due[key]; !ok || was != value {
			if err := due.Put([]byte(key), []byte(value)); err != nil {
				return err
			}
		}
	}
	return nil
}

// appendFill is how full bbolt packs a page before splitting it, for the
// buckets whose keys mostly grow: records and events by id, and each
// posting list by id within its term. The default (half) suits random
// inserts; here it would leave every page half empty for good, doubling
// the pages each commit writes.
const appendFill = 0.9

func numberKey(session, number string) []byte {
	return append(append([]byte(session), 0), number...)
}

func calendarKey(year, version int32) []byte {
	k := binary.BigEndian.AppendUint32(nil, uint32(year))
	return binary.BigEndian.AppendUint32(k, uint32(version))
}

// scoringKey keys a version of a saved scoring policy: its name, then the
// version, so that a policy's versions are one run, oldest first.
func scoringKey(name string, version int32) []byte {
	k := append([]byte(name), 0)
	return binary.BigEndian.AppendUint32(k, uint32(version))
}

// keyedByName reports whether a kind's records are keyed by what they
// are (a year and version, an account id, a policy's name and version)
// rather than by an id from the bucket's sequence.
func keyedByName(k store.Kind) bool {
	return k == store.KindCalendar || k == store.KindAccount || k == store.KindScoringPolicy
}

func historyKey(resource string, seq uint64) []byte {
	k := make([]byte, 0, len(resource)+9)
	k = append(append(k, resource...), 0)
	return binary.BigEndian.AppendUint64(k, seq)
}
