// Package boltstore is the bbolt backend of store: one data file, laid out
// as store/doc.go draws it, with one commit loop that gives the decisions
// queued at one moment one transaction and one fsync.
package boltstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/store"
)

// SchemaVersion is the layout drawn in doc.go. Version 2 keys idempotency
// records by account too; version 3 adds the leaders bucket, version 4
// the scoring policies', version 5 the webhooks'; version 6 stores events
// as deltas (see migrations).
const SchemaVersion = 6

// errIDsExhausted: a kind's ids reached the largest uint64.
var errIDsExhausted = errors.New("no ids are left")

var (
	bucketMeta           = []byte("meta")
	bucketSessions       = []byte("sessions")
	bucketUnits          = []byte("units")
	bucketProposals      = []byte("proposals")
	bucketNumbers        = []byte("proposal_numbers")
	bucketProposalIndex  = []byte("proposal_index")
	bucketEvents         = []byte("events")
	bucketResourceEvents = []byte("resource_events")
	bucketRequests       = []byte("requests")
	bucketCalendars      = []byte("calendars")
	bucketDue            = []byte("proposal_due")
	bucketStatistics     = []byte("statistics")
	bucketAudit          = []byte("audit")
	bucketAccounts       = []byte("accounts")
	bucketLeaders        = []byte("leaders")
	bucketScoring        = []byte("scoring_policies")
	bucketWebhooks       = []byte("webhooks")
	// bucketWebhookOutboxes holds each webhook's delivery bookkeeping, by
	// the webhook's id.
	bucketWebhookOutboxes = []byte("webhook_outboxes")

	bucketAccountCertificates = []byte("account_certificates")

	keySchemaVersion = []byte("schema_version")
	// keyIndexVersion is the store.Index.Version the posting lists and due
	// entries were built under.
	keyIndexVersion = []byte("index_version")
	// versionPrefix prefixes the versions the domain records (SetVersion).
	versionPrefix = "version/"

	allBuckets = [][]byte{
		bucketMeta, bucketSessions, bucketUnits, bucketProposals, bucketNumbers,
		bucketProposalIndex, bucketEvents, bucketResourceEvents, bucketRequests,
		bucketCalendars, bucketDue, bucketStatistics, bucketAudit, bucketAccounts,
		bucketAccountCertificates, bucketLeaders, bucketScoring, bucketWebhooks, bucketWebhookOutboxes,
	}
)

// Options tune Open. Index is required; the rest may be left zero.
type Options struct {
	// Index declares the proposals' index terms and due entries
	// (service.ProposalIndex).
	Index store.Index
	// LockTimeout is how long Open waits for another process to release the
	// file before it gives up with store.ErrLocked. Default 1s.
	LockTimeout time.Duration
	// MaxBatch caps how many decisions share one transaction. Default 256.
	MaxBatch int
	// Observer, if set, hears of every commit (for metrics).
	Observer Observer
	// AuditKey keys the audit trail's hash chain (HMAC-SHA256), and is kept
	// apart from the data file, so that whoever can write the file but not
	// read the key cannot recompute the chain. A trail chained without a
	// key (before keys, or by a store opened without one) is re-chained
	// under the key when a writable store is first opened with it, if it
	// verifies. nil chains with plain SHA-256: tests, and tools that do not
	// read the trail.
	AuditKey []byte
	// ReadOnly opens an existing data file for reading only (the offline
	// tools): a missing or empty file is an error, nothing is created or
	// migrated, and every write fails with store.ErrReadOnly.
	ReadOnly bool
}

// Observer hears how commits go. It is called from the commit loop, after
// the transaction: it must be quick and must not call the store.
type Observer interface {
	ObserveCommit(batch int, took time.Duration, err error)
}

// DB is the bbolt-backed store. It is safe for concurrent use.
type DB struct {
	bolt     *bolt.DB
	maxBatch int
	observer Observer

	writes    chan *writeOp
	closeOnce sync.Once
	closing   chan struct{}
	loopDone  chan struct{}
	mu        sync.RWMutex // held for reading while submitting, for writing by Close
	closed    bool
	readOnly  bool
	index     *store.Index
	chain     store.AuditChain
}

// Open opens or creates the data file at path, creating its directory, and
// starts the commit loop.
func Open(path string, opts Options) (*DB, error) {
	if opts.LockTimeout <= 0 {
		opts.LockTimeout = time.Second
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 256
	}
	if opts.Index.Terms == nil || opts.Index.Due == nil {
		return nil, errors.New("boltstore: Options.Index is required: it declares what each proposal is found under")
	}
	if opts.ReadOnly {
		if err := checkExisting(path); err != nil {
			return nil, err
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	b, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      opts.LockTimeout,
		FreelistType: bolt.FreelistMapType,
		ReadOnly:     opts.ReadOnly,
		// Map 1 GiB of address space up front (not memory): growing the
		// file then needs no remap, which would stall every reader.
		InitialMmapSize: 1 << 30,
	})
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, fmt.Errorf("open %s: %w (waited %s)", path, store.ErrLocked, opts.LockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	check := b.Update
	if opts.ReadOnly {
		check = b.View
	}
	err = check(func(btx *bolt.Tx) error {
		if err := initSchema(btx); err != nil || !btx.Writable() {
			return err
		}
		if err := rebuildIndex(btx, &opts.Index); err != nil {
			return fmt.Errorf("rebuild the index: %w", err)
		}
		return nil
	})
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	if opts.AuditKey != nil && !opts.ReadOnly {
		if err := b.Update(func(btx *bolt.Tx) error { return keyAuditTrail(btx, opts.AuditKey) }); err != nil {
			b.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	db := &DB{
		index:    &opts.Index,
		chain:    store.AuditChain{Key: opts.AuditKey},
		bolt:     b,
		maxBatch: opts.MaxBatch,
		observer: opts.Observer,
		writes:   make(chan *writeOp, 4*opts.MaxBatch),
		closing:  make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	if opts.ReadOnly {
		db.readOnly = true
		close(db.loopDone)
		return db, nil
	}
	go db.commitLoop()
	return db, nil
}

// checkExisting refuses to read a data file that is not there or is empty:
// bbolt would make a new one, and an offline check of nothing must not
// pass for a check of a file.
func checkExisting(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("no data file at %s", path)
	case err != nil:
		return err
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case fi.Size() == 0:
		return fmt.Errorf("%s is empty: not a Banli data file", path)
	}
	return nil
}

// initSchema creates the buckets of a new file and checks the version of an
// existing one (in a read-only transaction it only checks). Version 1 is the first layout, so there is nothing to
// migrate yet; a later version adds its migration here.
func initSchema(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if !tx.Writable() {
			if tx.Bucket(name) == nil && !addedLater(tx, name) {
				return fmt.Errorf("not a Banli data file: it has no %q bucket", name)
			}
			continue
		}
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	meta := tx.Bucket(bucketMeta)
	v := meta.Get(keySchemaVersion)
	switch {
	case v == nil && !tx.Writable():
		return errors.New("not a Banli data file: it has no schema version")
	case v == nil:
		return meta.Put(keySchemaVersion, u64(SchemaVersion))
	case len(v) != 8:
		return fmt.Errorf("corrupt schema version %x", v)
	case binary.BigEndian.Uint64(v) > SchemaVersion:
		return fmt.Errorf("schema version %d is newer than this binary's %d", binary.BigEndian.Uint64(v), SchemaVersion)
	case !tx.Writable():
		return nil // an offline tool reads older layouts as they are
	}
	for from := binary.BigEndian.Uint64(v); from < SchemaVersion; from++ {
		if err := migrations[from](tx); err != nil {
			return fmt.Errorf("migrate schema %d to %d: %w", from, from+1, err)
		}
	}
	return meta.Put(keySchemaVersion, u64(SchemaVersion))
}

// migrations[n] takes a file from schema version n to n+1, inside the
// transaction that opens it.
var migrations = map[uint64]func(tx *bolt.Tx) error{
	// 1 → 2: idempotency records were keyed <method> 0x00 <request id>,
	// shared by every account. Whose they were is not recorded, so they
	// are dropped: a retry across the upgrade runs as a new request, which
	// the case number's uniqueness still guards for creations.
	1: func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketRequests); err != nil {
			return err
		}
		_, err := tx.CreateBucket(bucketRequests)
		return err
	},
	// 2 → 3: leaders are records; their bucket was made with the others.
	2: func(tx *bolt.Tx) error { return nil },
	// 3 → 4: saved scoring policies; their bucket was made with the others.
	3: func(tx *bolt.Tx) error { return nil },
	// 4 → 5: webhooks and their outboxes; their buckets were made with the
	// others.
	4: func(tx *bolt.Tx) error { return nil },
	// 5 → 6: an event may be stored as a delta on its resource's previous
	// one (eventdelta.go); the events already stored stay whole, which
	// the reader still reads. A binary of schema 5 would read a delta as
	// garbage, hence the version.
	5: func(tx *bolt.Tx) error { return nil },
}

// bucketsSince names the buckets later versions added, with the version.
// An offline tool reads a file of an older version as it is, without the
// buckets it does not have yet: it finds nothing in them.
var bucketsSince = map[string]uint64{string(bucketLeaders): 3, string(bucketScoring): 4, string(bucketWebhooks): 5, string(bucketWebhookOutboxes): 5}

// addedLater reports whether a bucket came after the file's version.
func addedLater(tx *bolt.Tx, name []byte) bool {
	since, ok := bucketsSince[string(name)]
	v := tx.Bucket(bucketMeta).Get(keySchemaVersion)
	return ok && len(v) == 8 && binary.BigEndian.Uint64(v) < since
}

// Close stops accepting writes, commits those already queued, and closes
// the file.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	close(db.closing)
	db.mu.Unlock()
	<-db.loopDone
	return db.bolt.Close()
}

// Path returns the data file's path.
func (db *DB) Path() string { return db.bolt.Path() }

type writeOp struct {
	ctx    context.Context
	req    store.Request
	decide store.Decision
	result proto.Message
	err    error
	done   chan struct{}
}

// Write runs decide in a write transaction and commits (with fsync) what it
// staged, together with an event per write and the idempotency record of
// req. If req names a request already done, decide does not run and the
// first answer is returned, unmarshalled into req.Replay; the same id with
// a different hash gives store.ErrRequestReused.
//
// Concurrent writes are grouped: the decisions queued while one commit is
// in progress share the next transaction, in arrival order, each seeing the
// ones before it. decide may therefore run more than once if a commit fails
// and is retried one by one; it must have no effects outside tx.
func (db *DB) Write(ctx context.Context, req store.Request, decide store.Decision) (proto.Message, error) {
	if db.readOnly {
		return nil, store.ErrReadOnly
	}
	op := &writeOp{ctx: ctx, req: req, decide: decide, done: make(chan struct{})}
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return nil, store.ErrClosed
	}
	select {
	case db.writes <- op:
		db.mu.RUnlock()
	case <-ctx.Done():
		db.mu.RUnlock()
		return nil, ctx.Err()
	}
	// Once queued, the op is always answered: the loop drains the queue
	// before it stops. Waiting for it even if ctx ends keeps the answer
	// truthful: the caller never hears "cancelled" about a committed write.
	<-op.done
	return op.result, op.err
}

func (db *DB) commitLoop() {
	defer close(db.loopDone)
	batch := make([]*writeOp, 0, db.maxBatch)
	for {
		var first *writeOp
		select {
		case first = <-db.writes:
		case <-db.closing:
			// Drain what was queued before Close took the lock.
			for {
				select {
				case op := <-db.writes:
					db.commit([]*writeOp{op})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	gather:
		for len(batch) < db.maxBatch {
			select {
			case op := <-db.writes:
				batch = append(batch, op)
			default:
				break gather
			}
		}
		db.commit(batch)
	}
}

// commit runs the batch in one transaction. If the transaction itself fails
// (not a decision: those are isolated by staging), every op is retried in a
// transaction of its own so that one bad op cannot fail its neighbours.
func (db *DB) commit(batch []*writeOp) {
	start := time.Now()
	err := db.bolt.Update(func(btx *bolt.Tx) error {
		for _, op := range batch {
			if err := db.run(btx, op); err != nil {
				return err
			}
		}
		return nil
	})
	if db.observer != nil {
		db.observer.ObserveCommit(len(batch), time.Since(start), err)
	}
	if err != nil && len(batch) > 1 {
		for _, op := range batch {
			db.commit([]*writeOp{op})
		}
		return
	}
	for _, op := range batch {
		if err != nil {
			op.result, op.err = nil, err
		}
		close(op.done)
	}
}

// run decides one op inside btx. It returns an error only for a storage
// failure, which aborts the transaction; the op's own refusal is kept in
// op.err.
func (db *DB) run(btx *bolt.Tx, op *writeOp) error {
	op.result, op.err = nil, nil
	if err := op.ctx.Err(); err != nil {
		op.err = err
		return nil
	}
	var reqKey []byte
	if op.req.ID != "" {
		reqKey = requestKey(op.req)
		if rec := btx.Bucket(bucketRequests).Get(reqKey); rec != nil {
			if len(rec) < sha256.Size || !bytes.Equal(rec[:sha256.Size], op.req.Hash[:]) {
				op.err = fmt.Errorf("request_id %q: %w", op.req.ID, store.ErrRequestReused)
				return nil
			}
			if err := proto.Unmarshal(rec[sha256.Size:], op.req.Replay); err != nil {
				return fmt.Errorf("decode stored answer of request %q: %w", op.req.ID, err)
			}
			op.result = op.req.Replay
			return nil
		}
	}
	tx := newTx(btx, op.req.ID, db.index, db.chain)
	result, err := safeDecide(op.decide, tx)
	if err != nil {
		op.err = err
		return nil
	}
	if err := tx.apply(); err != nil {
		return err
	}
	if reqKey != nil {
		answer, err := proto.Marshal(result)
		if err != nil {
			return fmt.Errorf("encode answer of request %q: %w", op.req.ID, err)
		}
		rec := make([]byte, 0, sha256.Size+len(answer))
		rec = append(append(rec, op.req.Hash[:]...), answer...)
		if err := btx.Bucket(bucketRequests).Put(reqKey, rec); err != nil {
			return err
		}
	}
	op.result = result
	return nil
}

// requestKey is where a request's idempotency record lives:
// <account> 0x00 <method> 0x00 <request id>. Account and method names hold
// no 0x00, so one caller's keys never run into another's.
func requestKey(req store.Request) []byte {
	key := make([]byte, 0, len(req.Account)+len(req.Method)+len(req.ID)+2)
	key = append(append(key, req.Account...), 0)
	key = append(append(key, req.Method...), 0)
	return append(key, req.ID...)
}

// safeDecide runs a decision, turning a panic into an error: a bug in one
// decision must not take down the commit loop and every other caller. The
// decision only staged writes, so nothing needs undoing.
func safeDecide(decide store.Decision, tx *txn) (result proto.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			result, err = nil, fmt.Errorf("decision panicked: %v", r)
		}
	}()
	return decide(tx)
}

// View runs fn in a read-only transaction. Messages fn reads are copies and
// stay valid after it returns.
func (db *DB) View(fn func(r store.Reader) error) error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		return fn(&reader{btx: btx, index: db.index, chain: db.chain})
	})
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}

// Backup writes a consistent copy of the whole file to w, from one read
// transaction, while writes go on, and returns its size. The copy is a
// complete bbolt file.
func (db *DB) Backup(w io.Writer) (int64, error) {
	var n int64
	err := db.bolt.View(func(btx *bolt.Tx) error {
		var err error
		n, err = btx.WriteTo(w)
		return err
	})
	return n, err
}

// OpenReadTransactions is how many read transactions are open now: none
// should outlive the call that opened it (metrics show it).
func (db *DB) OpenReadTransactions() int { return db.bolt.Stats().OpenTxN }

// Size returns the data file's size in bytes.
func (db *DB) Size() (int64, error) {
	var n int64
	err := db.bolt.View(func(btx *bolt.Tx) error {
		n = btx.Size()
		return nil
	})
	return n, err
}
