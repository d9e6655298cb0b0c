package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The audit trail is a chain: each record carries the hash of the one
// before it and its own, HMAC-SHA256 under the audit key, which is kept
// apart from the data. Editing, removing, reordering or recomputing
// records breaks the chain for anyone without the key. A backend keeps the
// records by sequence and a head (the last sequence and hash, with a MAC of
// both, see AuditChain.Head), so that cutting records off the end and
// moving the head back is found too. What the data alone cannot show (all
// of it replaced by an older copy) an anchor shows: a head an auditor kept
// elsewhere, which a verification checks the trail still holds.
//
// AuditChain is that rule, once, for every backend.
type AuditChain struct {
	// Key is the audit key; nil chains with plain SHA-256 (tests, and
	// trails from before keys).
	Key []byte
}

// AuditAnchor is a head of the trail an auditor saw and kept elsewhere
// (zero: none).
type AuditAnchor struct {
	Sequence uint64
	Hash     []byte
}

// AuditVerdict is the outcome of a verification.
type AuditVerdict struct {
	Records     uint64
	FirstBroken uint64 // 0 when the chain is intact
	Problem     string
	// HeadSequence and HeadHash are the last record's: the anchor of the
	// next verification.
	HeadSequence uint64
	HeadHash     []byte
}

// GenesisHash is the previous hash of record 1.
func GenesisHash() []byte { return make([]byte, sha256.Size) }

func (c AuditChain) mac() hash.Hash {
	if c.Key == nil {
		return sha256.New()
	}
	return hmac.New(sha256.New, c.Key)
}

// Seal chains rec to prev and sets its hash.
func (c AuditChain) Seal(rec *banliv1.AuditRecord, prev []byte) error {
	rec.PreviousHash = prev
	rec.Hash = nil
	sum, err := c.hash(rec)
	if err != nil {
		return err
	}
	rec.Hash = sum
	return nil
}

// hash is the MAC of the previous hash and the record without its own
// hash, deterministically encoded.
func (c AuditChain) hash(rec *banliv1.AuditRecord) ([]byte, error) {
	clone := proto.Clone(rec).(*banliv1.AuditRecord)
	clone.Hash = nil
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(clone)
	if err != nil {
		return nil, err
	}
	h := c.mac()
	h.Write(rec.GetPreviousHash())
	h.Write(b)
	return h.Sum(nil), nil
}

// Head is what a backend keeps as the trail's head: the last sequence and
// hash, and a MAC of both, so that the head cannot be moved without the key.
func (c AuditChain) Head(seq uint64, last []byte) []byte {
	head := binary.BigEndian.AppendUint64(nil, seq)
	head = append(head, last...)
	h := c.mac()
	h.Write([]byte("audit head"))
	h.Write(head)
	return h.Sum(head)
}

// HeadHash returns the last hash a stored head names (GenesisHash for none).
func HeadHash(head []byte) []byte {
	if len(head) < 8+sha256.Size {
		return GenesisHash()
	}
	return bytes.Clone(head[8 : 8+sha256.Size])
}

// HeadSequence returns the last sequence a stored head names (0 for none).
func HeadSequence(head []byte) uint64 {
	if len(head) < 8+sha256.Size {
		return 0
	}
	return binary.BigEndian.Uint64(head)
}

// HeadMatches checks a stored head against the last record. A trail
// chained before keys has a head without a MAC (sequence and hash alone).
func (c AuditChain) HeadMatches(head []byte, last uint64, hash []byte) bool {
	if c.Key == nil && len(head) == 8+sha256.Size {
		return bytes.Equal(head, append(binary.BigEndian.AppendUint64(nil, last), hash...))
	}
	return hmac.Equal(head, c.Head(last, hash))
}

// A Verification recomputes the chain record by record: a backend feeds it
// every stored record in sequence order, then asks for the verdict.
type Verification struct {
	chain    AuditChain
	anchor   AuditAnchor
	verdict  AuditVerdict
	prev     []byte
	last     uint64
	anchored bool
}

// Verify starts a verification, against an anchor if it has a Sequence.
func (c AuditChain) Verify(anchor AuditAnchor) *Verification {
	return &Verification{chain: c, anchor: anchor, prev: GenesisHash(), anchored: anchor.Sequence == 0}
}

// Next checks the record stored under seq as raw. It returns false once the
// chain is broken: the verdict is then known and later records do not
// matter.
func (v *Verification) Next(seq uint64, raw []byte) bool {
	broken := func(format string, args ...any) bool {
		v.verdict.FirstBroken, v.verdict.Problem = seq, fmt.Sprintf(format, args...)
		return false
	}
	v.verdict.Records++
	rec := &banliv1.AuditRecord{}
	if err := proto.Unmarshal(raw, rec); err != nil {
		return broken("record %d does not decode: %v", seq, err)
	}
	if seq != v.last+1 || rec.GetSequence() != seq {
		return broken("record %d follows record %d (says it is %d): records are missing or moved", seq, v.last, rec.GetSequence())
	}
	if !bytes.Equal(rec.GetPreviousHash(), v.prev) {
		return broken("record %d is not chained to record %d", seq, v.last)
	}
	want, err := v.chain.hash(rec)
	if err != nil || !hmac.Equal(want, rec.GetHash()) {
		return broken("record %d was changed: its content does not hash to its stored hash under the audit key", seq)
	}
	if seq == v.anchor.Sequence {
		if !hmac.Equal(rec.GetHash(), v.anchor.Hash) {
			return broken("record %d is not the one the anchor names: the trail was replaced from there on", seq)
		}
		v.anchored = true
	}
	v.prev, v.last = rec.GetHash(), seq
	return true
}

// Verdict ends the verification, given the stored head and whether the
// data holds accounts (the first admin's creation is always record 1, so an
// empty trail beside accounts had every record removed).
func (v *Verification) Verdict(head []byte, hasAccounts bool) AuditVerdict {
	if v.verdict.FirstBroken != 0 {
		return v.verdict
	}
	out := v.verdict
	out.HeadSequence, out.HeadHash = v.last, v.prev
	switch {
	case v.last == 0 && hasAccounts:
		out.FirstBroken, out.Problem = 1, "the trail is empty, but the file has accounts, whose creation is always recorded: every record was removed"
	case v.last > 0 && !v.chain.HeadMatches(head, v.last, v.prev):
		out.FirstBroken, out.Problem = v.last+1, fmt.Sprintf("the chain's head does not end at record %d, or was not set with the audit key: records after it were removed", v.last)
	case !v.anchored:
		out.FirstBroken, out.Problem = v.last+1, fmt.Sprintf("the trail ends at record %d, before the anchor's record %d: records were cut off", v.last, v.anchor.Sequence)
	}
	return out
}
