package store

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Sentinel errors. Callers test them with errors.Is; a backend wraps them
// with the name of what was missing or in conflict.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrRequestReused: a request id came back with a different request.
	ErrRequestReused = errors.New("request id reused with a different request")
	// ErrLocked: another process holds the data.
	ErrLocked = errors.New("data file is locked by another process")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("store is closed")
	// ErrDiverged: a replicated event does not follow this store's last.
	ErrDiverged = errors.New("replicated event out of sequence")
	// ErrPageFull: a page's callback has taken all the page may hold; the
	// page ends before the record it was offered.
	ErrPageFull = errors.New("the page is full")
	// ErrAuditKey: the audit trail is chained under another key than the
	// one given.
	ErrAuditKey = errors.New("the audit trail is chained under another key")
	// ErrReadOnly: a write to a backend opened for reading only.
	ErrReadOnly = errors.New("the data file is open for reading only")
)

// Backend keeps Banli's state. It is safe for concurrent use.
type Backend interface {
	// Write runs decide in a write transaction and commits what it staged,
	// with an event per record and the idempotency record of req, durably
	// before it returns. If req names a request already done, decide does
	// not run and the first answer is returned, unmarshalled into
	// req.Replay; the same id with a different hash gives ErrRequestReused.
	//
	// decide may run more than once (a backend may group decisions into
	// one transaction and rerun them one by one when that fails), so it
	// must have no effects outside tx. When it returns an error nothing it
	// staged is written, and no id it was handed is used up.
	Write(ctx context.Context, req Request, decide Decision) (proto.Message, error)
	// View runs fn in a read-only transaction: a consistent snapshot.
	// Messages fn reads are copies and stay valid after it returns.
	View(fn func(r Reader) error) error
	// Close stops accepting writes, commits those already accepted, and
	// releases the data.
	Close() error
}

// Request identifies a mutating call for idempotency (AIP-155). A zero
// Request (empty ID) is not remembered.
type Request struct {
	// Account is the caller, whose id it is: ids of different accounts
	// never meet.
	Account string
	// Method scopes the id, e.g. "/banli.v1.ProposalService/AssignProposal".
	Method string
	// ID is the caller's request_id.
	ID string
	// Hash is the SHA-256 of the request as sent, without its request_id.
	Hash [32]byte
	// Replay receives the first answer when the request was already done.
	Replay proto.Message
}

// Decision is what the service decides inside a write transaction: it reads
// and stages writes through tx and returns the response. When it returns an
// error, nothing it staged is written.
type Decision func(tx Tx) (proto.Message, error)

// Kind tells which resource a record or an event belongs to.
type Kind byte

// The resource kinds. Their bytes are part of the bbolt layout.
const (
	KindSession  Kind = 's'
	KindUnit     Kind = 'u'
	KindProposal Kind = 'p'
	KindCalendar Kind = 'c'
	KindAccount  Kind = 'a'
	KindLeader   Kind = 'l'
	// KindScoringPolicy: an office's saved scoring policies, versioned
	// by name like calendar years by year.
	KindScoringPolicy Kind = 'k'
	// KindWebhook: the URLs events are posted to.
	KindWebhook Kind = 'w'
)

func (k Kind) String() string {
	switch k {
	case KindSession:
		return "session"
	case KindUnit:
		return "unit"
	case KindCalendar:
		return "calendar"
	case KindAccount:
		return "account"
	case KindLeader:
		return "leader"
	case KindScoringPolicy:
		return "scoring policy"
	case KindWebhook:
		return "webhook"
	default:
		return "proposal"
	}
}

// Reader reads inside one transaction. Every read can fail: a missing
// record is ErrNotFound, anything else is a storage failure.
//
// Pages are asked for "after" a position: an id, a sequence, or a Cursor
// the previous page returned. A position past every record (the largest
// uint64) gives an empty page.
type Reader interface {
	Session(id uint64) (*banliv1.Session, error)
	Unit(id uint64) (*banliv1.Unit, error)
	Leader(id uint64) (*banliv1.Leader, error)
	Proposal(id uint64) (*banliv1.Proposal, error)
	// ProposalByNumber returns the id of the proposal with that number in
	// that session (a resource name), or 0 when there is none.
	ProposalByNumber(session, number string) (uint64, error)
	// Account returns the account with the given id (the last part of its
	// name).
	Account(id string) (*banliv1.Account, error)
	// AccountByCertificate returns the id of the account that a client
	// certificate with this common name signs in as, or "".
	AccountByCertificate(commonName string) (string, error)
	HasAccounts() (bool, error)
	// ListAccounts pages accounts by id.
	ListAccounts(after string, limit int) ([]*banliv1.Account, bool, error)
	ListSessions(after uint64, limit int) ([]*banliv1.Session, bool, error)
	// ListUnits pages units whose keep (nil keeps all) accepts. The last
	// page may come back short, even empty, with more reported.
	ListUnits(after uint64, limit int, keep func(*banliv1.Unit) bool) ([]*banliv1.Unit, bool, error)
	ListLeaders(after uint64, limit int) ([]*banliv1.Leader, bool, error)
	Webhook(id uint64) (*banliv1.Webhook, error)
	// ListWebhooks pages webhooks by id, deleted ones too.
	ListWebhooks(after uint64, limit int) ([]*banliv1.Webhook, bool, error)
	// WebhookOutbox returns a webhook's delivery bookkeeping (ErrNotFound
	// before the first is put).
	WebhookOutbox(id uint64) (*banliv1.WebhookOutbox, error)
	// LastID returns the id of the newest record of a kind (0 when none).
	LastID(kind Kind) (uint64, error)

	// ListProposals returns up to limit proposals matching q with ids
	// greater than after, in id order, and whether more follow.
	ListProposals(q Query, after uint64, limit int) ([]*banliv1.Proposal, bool, error)
	// ListProposalsSkipping is ListProposals decoding each case without
	// the fields skip names.
	ListProposalsSkipping(q Query, after uint64, limit int, skip Skip) ([]*banliv1.Proposal, bool, error)
	// EachProposalRecord calls each with the stored wire form of up to
	// limit proposals matching q with ids greater than after, in id order,
	// less the fields skip names. It returns the last id passed and whether
	// more match. The record is only valid during the call. A stored
	// record is exactly the API's Proposal message, so a caller may send
	// it on without decoding it. each may end the page early by returning
	// ErrPageFull for a record it cannot take (never the first): the page
	// then ends before that record, with more reported.
	EachProposalRecord(q Query, after uint64, limit int, skip Skip, each func(id uint64, record []byte) error) (last uint64, more bool, err error)
	// ForEachProposal calls fn with every proposal, in id order: for
	// checks and tools, not for requests.
	ForEachProposal(fn func(p *banliv1.Proposal) error) error
	// ListDue returns up to limit due entries (see Due) due from from to
	// to (seconds since 1970, inclusive), in due order, after the entry at
	// after (nil: from the start), that keep accepts (nil keeps all), and
	// whether more follow. keep is given the entry whole: its time,
	// assignment and names.
	ListDue(from, to int64, after Cursor, keep func(Due) bool, limit int) ([]DueRef, bool, error)
	// CountDue counts the due entries due before a time: the parts
	// overdue at that moment.
	CountDue(before int64) (int64, error)

	// ListEvents returns up to limit events after a sequence, in order.
	ListEvents(after uint64, limit int) ([]*banliv1.Event, error)
	// LatestEvent returns the newest event's sequence (0 when none).
	LatestEvent() (uint64, error)
	// ListResourceEvents pages one resource's events (by resource name).
	ListResourceEvents(resource string, after uint64, limit int) ([]*banliv1.Event, bool, error)

	// CalendarYears returns the newest loaded version of each year's
	// schedule, oldest year first.
	CalendarYears() ([]*banliv1.CalendarYear, error)
	// CalendarYear returns one version of a year's schedule; version 0 is
	// the newest.
	CalendarYear(year, version int32) (*banliv1.CalendarYear, error)

	// ScoringPolicy returns one saved version of a scoring policy (by
	// its resource name); version 0 is the newest.
	ScoringPolicy(name string, version int32) (*banliv1.SavedScoringPolicy, error)
	// ScoringPolicies returns the newest version of every saved scoring
	// policy, by name.
	ScoringPolicies() ([]*banliv1.SavedScoringPolicy, error)

	// Counters returns one vector of statistics counters (nil if none).
	Counters(key StatsKey) ([]int64, error)
	// SumCounters adds up a scope's vectors of one year, all sessions.
	SumCounters(scope string, year int32) ([]int64, error)
	// SumScope adds up every vector of a scope, all years and sessions.
	SumScope(scope string) ([]int64, error)
	// ForEachCounters calls fn with every stored vector, in key order.
	ForEachCounters(fn func(key StatsKey, v []int64) error) error
	// ForEachCountersOfScopes calls fn with every stored vector whose
	// scope starts with prefix, in key order: the scopes of one kind
	// ("topic=…"), which a caller cannot name ahead.
	ForEachCountersOfScopes(prefix string, fn func(key StatsKey, v []int64) error) error

	// ListAudit returns up to limit audit records after a sequence.
	ListAudit(after uint64, limit int) ([]*banliv1.AuditRecord, error)
	// AuditHead returns the newest audit record's sequence (0 when none).
	AuditHead() (uint64, error)
	// VerifyAudit recomputes the audit chain (see AuditChain.Verify).
	VerifyAudit(anchor AuditAnchor) (AuditVerdict, error)

	// CheckIndexes verifies that the derived data (numbers, index terms,
	// due entries, histories) is exactly what the stored records call for.
	// It reads everything: a test and repair tool, not a request path.
	// Data indexed under another Index.Version is not compared term by
	// term: it is rebuilt when a writable backend opens it.
	CheckIndexes() error

	// Version returns the version recorded under name (0 if none): what
	// the domain derived data under (the statistics' counters, say), so
	// that it knows when to derive it again.
	Version(name string) (int, error)
}

// Tx is a Reader that also stages writes. Nothing is written until the
// decision using it returns without error; its reads see its staged writes.
type Tx interface {
	Reader
	// NewID returns the id the next record of this kind will have. An id
	// is used up only when the write commits, so a refused decision burns
	// none.
	NewID(kind Kind) (uint64, error)
	// The Put methods stage a record and the event that records its
	// change; the event's resource, request id and sequence are filled in.
	PutSession(id uint64, s *banliv1.Session, ev *banliv1.Event)
	PutUnit(id uint64, u *banliv1.Unit, ev *banliv1.Event)
	PutLeader(id uint64, l *banliv1.Leader, ev *banliv1.Event)
	// PutProposal also keeps the proposal's number, index terms and due
	// entries in step.
	PutProposal(id uint64, p *banliv1.Proposal, ev *banliv1.Event)
	// PutCalendarYear stages a new version of a year's schedule; versions
	// are never overwritten.
	PutCalendarYear(cy *banliv1.CalendarYear, ev *banliv1.Event)
	// PutScoringPolicy stages a new version of a saved scoring policy;
	// versions are never overwritten.
	PutScoringPolicy(sp *banliv1.SavedScoringPolicy, ev *banliv1.Event)
	PutAccount(a *banliv1.Account, ev *banliv1.Event)
	PutWebhook(id uint64, w *banliv1.Webhook, ev *banliv1.Event)
	// PutWebhookOutbox stages a webhook's delivery bookkeeping, replacing
	// what was there. It writes no event: where a delivery stands is the
	// server's own business, not a change anyone follows.
	PutWebhookOutbox(id uint64, o *banliv1.WebhookOutbox)
	// Replicate stages a primary's event and the record in its snapshot
	// (kind and id as the caller parsed them from the event's resource).
	// The event is stored as it is and must get the same sequence here,
	// or the commit fails with ErrDiverged.
	Replicate(kind Kind, id uint64, value NamedMessage, ev *banliv1.Event)
	// AddCounters stages adding delta to the counters at key. Deltas of
	// one decision are summed and applied with its records.
	AddCounters(key StatsKey, delta []int64)
	// AppendAudit stages an audit record, appended after the decision's
	// events and chained (see AuditChain); its event_sequence, if unset,
	// becomes the last event the decision wrote.
	AppendAudit(rec *banliv1.AuditRecord)
	// SetVersion stages recording a version under name (see
	// Reader.Version). It writes no event.
	SetVersion(name string, v int)
}

// NamedMessage is a resource: it knows its own resource name.
type NamedMessage interface {
	proto.Message
	GetName() string
}

// StatsKey names one vector of statistics counters: a scope (a unit's name,
// or "*" for the whole office), a year, and a session. The service decides
// what each position of a vector counts; a backend only adds them up.
type StatsKey struct {
	Scope   string
	Year    int32
	Session string
}

// Cursor is a position in a page walk that a backend handed out. It is
// opaque: pass it back as it is.
type Cursor []byte

// DueRef points at one due entry: an assignment with a current deadline.
type DueRef struct {
	Proposal   uint64
	Assignment int
	// Position is where the entry is, for the next page.
	Position Cursor
}
