package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The audit trail: bucket "audit" holds records by sequence, each hashed
// with the hash of the one before (SHA-256), so that editing, removing or
// reordering records breaks the chain. meta's "audit_head" keeps the last
// sequence and hash, so appending needs no decode.

var keyAuditHead = []byte("audit_head")

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
	if head := meta.Get(keyAuditHead); len(head) == 8+sha256.Size {
		copy(prev, head[8:])
	}
	for _, rec := range tx.audit {
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		rec.Sequence = seq
		if rec.EventSequence == 0 {
			rec.EventSequence = lastEvent
		}
		rec.PreviousHash = prev
		rec.Hash = nil
		hash, err := auditHash(rec)
		if err != nil {
			return err
		}
		rec.Hash = hash
		value, err := proto.Marshal(rec)
		if err != nil {
			return err
		}
		if err := b.Put(u64(seq), value); err != nil {
			return err
		}
		prev = hash
		if err := meta.Put(keyAuditHead, append(u64(seq), hash...)); err != nil {
			return err
		}
	}
	return nil
}

// auditHash is SHA-256 over the previous hash and the record without its
// own hash, deterministically encoded.
func auditHash(rec *banliv1.AuditRecord) ([]byte, error) {
	clone := proto.Clone(rec).(*banliv1.AuditRecord)
	clone.Hash = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(clone)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	h.Write(rec.GetPreviousHash())
	h.Write(b)
	return h.Sum(nil), nil
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
}

// VerifyAudit recomputes the whole chain and reports the first record that
// does not check out: undecodable, out of sequence, not chained to the one
// before, or not hashing to its stored hash; or a head that does not match
// the last record (records removed from the end).
func (r *Reader) VerifyAudit() AuditVerdict {
	var v AuditVerdict
	prev := make([]byte, sha256.Size)
	var last uint64
	c := r.btx.Bucket(bucketAudit).Cursor()
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
		want, err := auditHash(rec)
		if err != nil || !bytes.Equal(want, rec.GetHash()) {
			return broken("record %d was changed: its content does not hash to its stored hash", seq)
		}
		prev, last = rec.GetHash(), seq
	}
	head := r.btx.Bucket(bucketMeta).Get(keyAuditHead)
	if last > 0 && (len(head) != 8+sha256.Size || binary.BigEndian.Uint64(head) != last || !bytes.Equal(head[8:], prev)) {
		v.FirstBroken, v.Problem = last+1, fmt.Sprintf("the chain's head says it ends elsewhere than record %d: records after it were removed", last)
	}
	return v
}
