package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/banli/banli/store"
)

func statsKeyBytes(k store.StatsKey) []byte {
	b := append([]byte(k.Scope), 0)
	b = binary.BigEndian.AppendUint32(b, uint32(k.Year))
	return append(b, k.Session...)
}

func statsPrefix(scope string, year int32) []byte {
	return binary.BigEndian.AppendUint32(append([]byte(scope), 0), uint32(year))
}

// AddCounters stages adding delta to the counters at key. Deltas of one
// decision are summed and applied with its records.
func (tx *txn) AddCounters(key store.StatsKey, delta []int64) {
	if tx.counters == nil {
		tx.counters = map[string][]int64{}
	}
	k := string(statsKeyBytes(key))
	sum := tx.counters[k]
	if len(sum) < len(delta) {
		sum = append(sum, make([]int64, len(delta)-len(sum))...)
	}
	for i, d := range delta {
		sum[i] += d
	}
	tx.counters[k] = sum
}

// applyCounters adds the staged deltas to the stored vectors, in key order
// so that commits are reproducible.
func (tx *txn) applyCounters() error {
	if len(tx.counters) == 0 {
		return nil
	}
	b := tx.btx.Bucket(bucketStatistics)
	keys := make([]string, 0, len(tx.counters))
	for k := range tx.counters {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		current, err := decodeCounters(b.Get([]byte(k)))
		if err != nil {
			return fmt.Errorf("counters %q: %w", k, err)
		}
		delta := tx.counters[k]
		if len(current) < len(delta) {
			current = append(current, make([]int64, len(delta)-len(current))...)
		}
		for i, d := range delta {
			current[i] += d
		}
		if err := b.Put([]byte(k), encodeCounters(current)); err != nil {
			return err
		}
	}
	return nil
}

// Counters returns the vector at key (nil if none).
func (r *reader) Counters(key store.StatsKey) ([]int64, error) {
	return decodeCounters(r.btx.Bucket(bucketStatistics).Get(statsKeyBytes(key)))
}

// SumCounters adds up the vectors of every session of a scope's year.
func (r *reader) SumCounters(scope string, year int32) ([]int64, error) {
	return r.sumPrefix(statsPrefix(scope, year))
}

// sumPrefix adds up the vectors whose keys start with prefix.
func (r *reader) sumPrefix(prefix []byte) ([]int64, error) {
	c := r.btx.Bucket(bucketStatistics).Cursor()
	var sum []int64
	for k, v := c.Seek(prefix); k != nil && len(k) >= len(prefix) && string(k[:len(prefix)]) == string(prefix); k, v = c.Next() {
		vec, err := decodeCounters(v)
		if err != nil {
			return nil, err
		}
		if len(sum) < len(vec) {
			sum = append(sum, make([]int64, len(vec)-len(sum))...)
		}
		for i, n := range vec {
			sum[i] += n
		}
	}
	return sum, nil
}

func encodeCounters(v []int64) []byte {
	b := make([]byte, 0, len(v)*2)
	for _, n := range v {
		b = protowire.AppendVarint(b, protowire.EncodeZigZag(n))
	}
	return b
}

func decodeCounters(b []byte) ([]int64, error) {
	var out []int64
	for len(b) > 0 {
		v, n := protowire.ConsumeVarint(b)
		if n < 0 {
			return nil, fmt.Errorf("corrupt counters")
		}
		out = append(out, protowire.DecodeZigZag(v))
		b = b[n:]
	}
	return out, nil
}

// ForEachCounters calls fn with every stored counter vector.
func (r *reader) ForEachCounters(fn func(key store.StatsKey, v []int64) error) error {
	return r.ForEachCountersOfScopes("", fn)
}

// ForEachCountersOfScopes calls fn with every stored counter vector whose
// scope starts with prefix: keys start with the scope, so they are one run.
func (r *reader) ForEachCountersOfScopes(prefix string, fn func(key store.StatsKey, v []int64) error) error {
	c := r.btx.Bucket(bucketStatistics).Cursor()
	for k, v := c.Seek([]byte(prefix)); k != nil && bytes.HasPrefix(k, []byte(prefix)); k, v = c.Next() {
		scope, rest, ok := bytesCut(k, 0)
		if !ok || len(rest) < 4 {
			return fmt.Errorf("corrupt counters key %q", k)
		}
		if !strings.HasPrefix(string(scope), prefix) {
			continue // the prefix ran into the year of a shorter scope
		}
		vec, err := decodeCounters(v)
		if err != nil {
			return err
		}
		if err := fn(store.StatsKey{Scope: string(scope), Year: int32(binary.BigEndian.Uint32(rest)), Session: string(rest[4:])}, vec); err != nil {
			return err
		}
	}
	return nil
}

func bytesCut(b []byte, sep byte) ([]byte, []byte, bool) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:], true
		}
	}
	return b, nil, false
}

// SumScope adds up every vector of a scope, all years and sessions.
func (r *reader) SumScope(scope string) ([]int64, error) {
	return r.sumPrefix(append([]byte(scope), 0))
}

// CountDue counts the entries of proposal_due due before (seconds since
// 1970): the parts overdue at that moment.
func (r *reader) CountDue(before int64) (int64, error) {
	c := r.btx.Bucket(bucketDue).Cursor()
	end := dueKey(before, 0, 0)
	var n int64
	for k, _ := c.First(); k != nil && bytes.Compare(k, end) < 0; k, _ = c.Next() {
		n++
	}
	return n, nil
}
