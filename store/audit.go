package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The audit trail: bucket "audit" holds records by sequence, each chained
// to the one before by HMAC-SHA256 under the audit key, which is kept apart
// from the data file (Options.AuditKey). Editing, removing, reordering or
// recomputing records breaks the chain for anyone without the key. meta's
// "audit_head" keeps the last sequence and hash, and a MAC of both under
// the key, so that cutting records off the end and moving the head back
// is found too; "audit_keyed" says the trail was chained under a key.
// What the file alone cannot show (the whole file replaced by an older
// copy) an anchor shows: a head an auditor kept elsewhere, which a
// verification checks the trail still holds.

var (
	keyAuditHead  = []byte("audit_head")
	keyAuditKeyed = []byte("audit_keyed")
)

// AppendAudit stages an audit record. It is appended with the decision's
// other writes, or not at all; its event_sequence, if unset, becomes the
// last event the decision wrote.
func (tx *Tx) AppendAudit(rec *banliv1.AuditRecord) {
	tx.audit = append(tx.audit, rec)
}

// applyAudit appends the staged records after the decision's events.
func (tx *Tx) applyAudit(lastEvent uint64) error {
	if len(tx.audit) == 0 {
		return nil
	}
	b := tx.btx.Bucket(bucketAudit)
	meta := tx.btx.Bucket(bucketMeta)
	prev := make([]byte, sha256.Size)
	if head := meta.Get(keyAuditHead); len(head) >= 8+sha256.Size {
		copy(prev, head[8:8+sha256.Size])
	}
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
		rec.PreviousHash = prev
		if err := putAudit(b, tx.auditKey, rec); err != nil {
			return err
		}
		prev = rec.Hash
	}
	return meta.Put(keyAuditHead, auditHead(tx.auditKey, seq, prev))
}

// putAudit hashes rec (chained to its PreviousHash) and writes it.
func putAudit(b *bolt.Bucket, key []byte, rec *banliv1.AuditRecord) error {
	rec.Hash = nil
	sum, err := auditHash(key, rec)
	if err != nil {
		return err
	}
	rec.Hash = sum
	value, err := proto.Marshal(rec)
	if err != nil {
		return err
	}
	return b.Put(u64(rec.GetSequence()), value)
}

// auditMAC is HMAC-SHA256 under key, or plain SHA-256 without one.
func auditMAC(key []byte) hash.Hash {
	if key == nil {
		return sha256.New()
	}
	return hmac.New(sha256.New, key)
}

// auditHash is the MAC of the previous hash and the record without its own
// hash, deterministically encoded.
func auditHash(key []byte, rec *banliv1.AuditRecord) ([]byte, error) {
	clone := proto.Clone(rec).(*banliv1.AuditRecord)
	clone.Hash = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(clone)
	if err != nil {
		return nil, err
	}
	h := auditMAC(key)
	h.Write(rec.GetPreviousHash())
	h.Write(b)
	return h.Sum(nil), nil
}

// auditHead is meta's "audit_head": the last sequence and hash, and a MAC
// of both, so that the head cannot be moved without the key.
func auditHead(key []byte, seq uint64, last []byte) []byte {
	head := append(u64(seq), last...)
	h := auditMAC(key)
	h.Write([]byte("audit head"))
	h.Write(head)
	return h.Sum(head)
}

// keyAuditTrail re-chains a trail chained without a key under key, once,
// when a store is first opened with one. A trail that does not verify is
// not re-chained: that would make its breakage pass for intact.
func keyAuditTrail(btx *bolt.Tx, key []byte) error {
	meta := btx.Bucket(bucketMeta)
	if meta.Get(keyAuditKeyed) != nil {
		last, hash := uint64(0), []byte(nil)
		if head := meta.Get(keyAuditHead); len(head) >= 8+sha256.Size {
			last, hash = binary.BigEndian.Uint64(head), head[8:8+sha256.Size]
		}
		if last > 0 && !headMatches(key, meta.Get(keyAuditHead), last, hash) {
			return ErrAuditKey
		}
		return nil
	}
	if v := verifyAudit(btx, nil, AuditAnchor{}); v.FirstBroken != 0 {
		return fmt.Errorf("the audit trail does not verify (record %d: %s), so it is not re-chained under the audit key; "+
			"keep the file for investigation and restore a good backup", v.FirstBroken, v.Problem)
	}
	b := btx.Bucket(bucketAudit)
	prev := make([]byte, sha256.Size)
	var last uint64
	c := b.Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		rec := &banliv1.AuditRecord{}
		if err := proto.Unmarshal(val, rec); err != nil {
			return err
		}
		rec.PreviousHash = prev
		if err := putAudit(b, key, rec); err != nil {
			return err
		}
		prev, last = rec.Hash, rec.GetSequence()
	}
	if last > 0 {
		if err := meta.Put(keyAuditHead, auditHead(key, last, prev)); err != nil {
			return err
		}
	}
	return meta.Put(keyAuditKeyed, []byte{1})
}

// ListAudit returns up to limit records after a sequence.
func (r *Reader) ListAudit(after uint64, limit int) ([]*banliv1.AuditRecord, error) {
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

// AuditVerdict is the outcome of VerifyAudit.
type AuditVerdict struct {
	Records     uint64
	FirstBroken uint64 // 0 when the chain is intact
	Problem     string
	// HeadSequence and HeadHash are the last record's: the anchor of the
	// next verification.
	HeadSequence uint64
	HeadHash     []byte
}

// VerifyAudit recomputes the whole chain under the reader's audit key and
// reports the first record that does not check out: undecodable, out of
// sequence, not chained to the one before, or not hashing to its stored
// hash; a head that does not match the last record, or whose MAC fails
// (records cut off the end); an empty trail in a file that has accounts
// (the first admin's creation is always record 1); or, given an anchor
// (a Sequence), a trail that no longer holds that record with that hash.
func (r *Reader) VerifyAudit(anchor AuditAnchor) AuditVerdict {
	return verifyAudit(r.btx, r.auditKey, anchor)
}

// AuditAnchor is a head of the trail an auditor saw and kept elsewhere
// (zero: none).
type AuditAnchor struct {
	Sequence uint64
	Hash     []byte
}

func verifyAudit(btx *bolt.Tx, key []byte, anchor AuditAnchor) AuditVerdict {
	var v AuditVerdict
	prev := make([]byte, sha256.Size)
	var last uint64
	anchored := anchor.Sequence == 0
	c := btx.Bucket(bucketAudit).Cursor()
	for k, val := c.First(); k != nil; k, val = c.Next() {
		seq := binary.BigEndian.Uint64(k)
		broken := func(format string, args ...any) AuditVerdict {
			v.FirstBroken, v.Problem = seq, fmt.Sprintf(format, args...)
			return v
		}
		v.Records++
		rec := &banliv1.AuditRecord{}
		if err := proto.Unmarshal(val, rec); err != nil {
			return broken("record %d does not decode: %v", seq, err)
		}
		if seq != last+1 || rec.GetSequence() != seq {
			return broken("record %d follows record %d (says it is %d): records are missing or moved", seq, last, rec.GetSequence())
		}
		if !bytes.Equal(rec.GetPreviousHash(), prev) {
			return broken("record %d is not chained to record %d", seq, last)
		}
		want, err := auditHash(key, rec)
		if err != nil || !hmac.Equal(want, rec.GetHash()) {
			return broken("record %d was changed: its content does not hash to its stored hash under the audit key", seq)
		}
		if seq == anchor.Sequence {
			if !hmac.Equal(rec.GetHash(), anchor.Hash) {
				return broken("record %d is not the one the anchor names: the trail was replaced from there on", seq)
			}
			anchored = true
		}
		prev, last = rec.GetHash(), seq
	}
	v.HeadSequence, v.HeadHash = last, prev
	head := btx.Bucket(bucketMeta).Get(keyAuditHead)
	switch {
	case last == 0 && btx.Bucket(bucketAccounts).Stats().KeyN > 0:
		v.FirstBroken, v.Problem = 1, "the trail is empty, but the file has accounts, whose creation is always recorded: every record was removed"
	case last > 0 && !headMatches(key, head, last, prev):
		v.FirstBroken, v.Problem = last+1, fmt.Sprintf("the chain's head does not end at record %d, or was not set with the audit key: records after it were removed", last)
	case !anchored:
		v.FirstBroken, v.Problem = last+1, fmt.Sprintf("the trail ends at record %d, before the anchor's record %d: records were cut off", last, anchor.Sequence)
	}
	return v
}

// headMatches checks meta's head against the last record. A trail chained
// before keys has a head without a MAC (sequence and hash alone).
func headMatches(key, head []byte, last uint64, hash []byte) bool {
	if key == nil && len(head) == 8+sha256.Size {
		return bytes.Equal(head, append(u64(last), hash...))
	}
	return hmac.Equal(head, auditHead(key, last, hash))
}
