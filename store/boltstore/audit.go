package boltstore

import (
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
)

// The audit trail (store.AuditChain): bucket "audit" holds records by
// sequence; meta's "audit_head" keeps the chain's head, and
// "audit_keyed" says the trail was chained under a key.

var (
	keyAuditHead  = []byte("audit_head")
	keyAuditKeyed = []byte("audit_keyed")
)

// AppendAudit stages an audit record. It is appended with the decision's
// other writes, or not at all; its event_sequence, if unset, becomes the
// last event the decision wrote.
func (tx *txn) AppendAudit(rec *banliv1.AuditRecord) {
	tx.audit = append(tx.audit, rec)
}

// applyAudit appends the staged records after the decision's events.
func (tx *txn) applyAudit(lastEvent uint64) error {
	if len(tx.audit) == 0 {
		return nil
	}
	b := tx.btx.Bucket(bucketAudit)
	meta := tx.btx.Bucket(bucketMeta)
	prev := store.HeadHash(meta.Get(keyAuditHead))
	var seq uint64
	for _, rec := range tx.audit {
		var err error
		if seq, err = b.NextSequence(); err != nil {
			return err
		}
		rec.Sequence = seq
		if rec.EventSequence == 0 {
			rec.EventSequence = lastEvent
		}
		if err := putAudit(b, tx.chain, rec, prev); err != nil {
			return err
		}
		prev = rec.Hash
	}
	return meta.Put(keyAuditHead, tx.chain.Head(seq, prev))
}

// putAudit chains rec to prev and writes it.
func putAudit(b *bolt.Bucket, chain store.AuditChain, rec *banliv1.AuditRecord, prev []byte) error {
	if err := chain.Seal(rec, prev); err != nil {
		return err
	}
	value, err := proto.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put(u64(rec.GetSequence()), value)
}

// keyAuditTrail re-chains a trail chained without a key under key, once,
// when a store is first opened with one. A trail that does not verify is
// not re-chained: that would make its breakage pass for intact.
func keyAuditTrail(btx *bolt.Tx, key []byte) error {
	chain := store.AuditChain{Key: key}
	meta := btx.Bucket(bucketMeta)
	if meta.Get(keyAuditKeyed) != nil {
		head := meta.Get(keyAuditHead)
		if last := store.HeadSequence(head); last > 0 && !chain.HeadMatches(head, last, store.HeadHash(head)) {
			return store.ErrAuditKey
		}
		return nil
	}
	if v := verifyAudit(btx, store.AuditChain{}, store.AuditAnchor{}); v.FirstBroken != 0 {
		return fmt.Errorf("the audit trail does not verify (record %d: %s), so it is not re-chained under the audit key; "+
			"keep the file for investigation and restore a good backup", v.FirstBroken, v.Problem)
	}
	b := btx.Bucket(bucketAudit)
	prev := store.GenesisHash()
	var last uint64
	c := b.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		rec := &banliv1.AuditRecord{}
		if err := proto.Unmarshal(val, rec); err != nil {
			return err
		}
		if err := putAudit(b, chain, rec, prev); err != nil {
			return err
		}
		prev, last = rec.Hash, rec.GetSequence()
	}
	if last > 0 {
		if err := meta.Put(keyAuditHead, chain.Head(last, prev)); err != nil {
			return err
		}
	}
	return meta.Put(keyAuditKeyed, []byte{1})
}

// ListAudit returns up to limit records after a sequence.
func (r *reader) ListAudit(after uint64, limit int) ([]*banliv1.AuditRecord, error) {
	if after == lastPosition {
		return nil, nil
	}
	c := r.btx.Bucket(bucketAudit).Cursor()
	var out []*banliv1.AuditRecord
	for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
		rec := &banliv1.AuditRecord{}
		if err := proto.Unmarshal(v, rec); err != nil {
			return nil, fmt.Errorf("audit record %d: %w", binary.BigEndian.Uint64(k), err)
		}
		out = append(out, rec)
	}
	return out, nil
}

// AuditHead returns the newest record's sequence: the bucket's sequence,
// which only appends move.
func (r *reader) AuditHead() (uint64, error) {
	return r.btx.Bucket(bucketAudit).Sequence(), nil
}

// VerifyAudit recomputes the whole chain under the reader's audit key.
func (r *reader) VerifyAudit(anchor store.AuditAnchor) (store.AuditVerdict, error) {
	return verifyAudit(r.btx, r.chain, anchor), nil
}

func verifyAudit(btx *bolt.Tx, chain store.AuditChain, anchor store.AuditAnchor) store.AuditVerdict {
	v := chain.Verify(anchor)
	c := btx.Bucket(bucketAudit).Cursor()
	for k, val := c.First(); k != nil && v.Next(binary.BigEndian.Uint64(k), val); k, val = c.Next() {
	}
	return v.Verdict(btx.Bucket(bucketMeta).Get(keyAuditHead), btx.Bucket(bucketAccounts).Stats().KeyN > 0)
}
