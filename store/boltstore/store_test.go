package boltstore

import (
	"errors"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/storetest"
)

// TestConformance holds the bbolt backend to the storage contract.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string, index store.Index, auditKey []byte) store.Backend {
		db, err := Open(filepath.Join(dir, "banli.db"), Options{Index: index, AuditKey: auditKey})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	})
}

func openTest(t *testing.T) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "banli.db")
	db, err := Open(path, Options{Index: storetest.Index})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// TestOpenNeedsTheIndex: a backend opened without the index declaration
// would store cases no list could find.
func TestOpenNeedsTheIndex(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "banli.db"), Options{}); err == nil {
		t.Fatal("opened without an index declaration")
	}
}

// TestMigrateFromVersion1: a file of schema 1 opens as schema 2, its
// idempotency records (whose account is unknown) dropped, the rest kept.
func TestMigrateFromVersion1(t *testing.T) {
	db, path := openTest(t)
	storetest.PutProposal(t, db, 0, storetest.Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	db.Close()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketRequests).Put([]byte("/m\x00req-1"), make([]byte, 32)); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, u64(1))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{Index: storetest.Index})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.bolt.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchemaVersion); string(v) != string(u64(SchemaVersion)) {
			t.Errorf("schema version %x after opening", v)
		}
		if k, _ := tx.Bucket(bucketRequests).Cursor().First(); k != nil {
			t.Errorf("a version 1 request record is left: %q", k)
		}
		if tx.Bucket(bucketProposals).Stats().KeyN != 1 {
			t.Error("the migration lost the case")
		}
		return nil
	})
}

// TestVersion2WithoutLeaders: a file of schema 2 has no leaders bucket.
// Read-only, it reads as it is, with no leaders; opened to write, it
// becomes schema 3 with the bucket.
func TestVersion2WithoutLeaders(t *testing.T) {
	db, path := openTest(t)
	storetest.PutProposal(t, db, 0, storetest.Proposal("sessions/1", "1", banliv1.ProposalState_PROPOSAL_STATE_RECEIVED))
	db.Close()
	b, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = b.Update(func(tx *bolt.Tx) error {
		for _, later := range [][]byte{bucketLeaders, bucketScoring, bucketWebhooks, bucketWebhookOutboxes} {
			if err := tx.DeleteBucket(later); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, u64(2))
	})
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	ro, err := Open(path, Options{Index: storetest.Index, ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a version 2 file: %v", err)
	}
	ro.View(func(r store.Reader) error {
		if _, err := r.Leader(1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a leader of a file without leaders: %v", err)
		}
		if leaders, _, err := r.ListLeaders(0, 10); err != nil || len(leaders) != 0 {
			t.Errorf("ListLeaders: %v, %v", leaders, err)
		}
		if _, err := r.ScoringPolicy("scoringPolicies/x", 0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a saved policy of a file without them: %v", err)
		}
		if saved, err := r.ScoringPolicies(); err != nil || len(saved) != 0 {
			t.Errorf("ScoringPolicies: %v, %v", saved, err)
		}
		if hooks, _, err := r.ListWebhooks(0, 10); err != nil || len(hooks) != 0 {
			t.Errorf("ListWebhooks: %v, %v", hooks, err)
		}
		if _, err := r.WebhookOutbox(1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("an outbox of a file without them: %v", err)
		}
		return nil
	})
	ro.Close()
	db, err = Open(path, Options{Index: storetest.Index})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.bolt.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketLeaders) == nil || tx.Bucket(bucketScoring) == nil || tx.Bucket(bucketWebhookOutboxes) == nil || string(tx.Bucket(bucketMeta).Get(keySchemaVersion)) != string(u64(SchemaVersion)) {
			t.Errorf("not upgraded to schema %d with the leaders', scoring policies' and webhooks' buckets", SchemaVersion)
		}
		return nil
	})
}

func TestLockedFileFailsFast(t *testing.T) {
	_, path := openTest(t)
	_, err := Open(path, Options{Index: storetest.Index, LockTimeout: 50_000_000})
	if !errors.Is(err, store.ErrLocked) {
		t.Fatalf("second open: %v, want store.ErrLocked", err)
	}
}
