package server

import (
	"errors"
	"fmt"
	"os"
	"time"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/service"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
	"github.com/banli/banli/store/filedir"
)

// The storage backend is chosen here and nowhere else: this file is the
// binary's one link to a backend package. Everything past it holds a
// store.Backend and asks it for what only some backends can do
// (store.Snapshotter, store.MappedPages, …); the offline tools get
// DataFiles.

// openBoltFile opens the bbolt data file at path, with the domain's index
// declaration.
func openBoltFile(path string, opts boltstore.Options) (*boltstore.DB, error) {
	opts.Index = service.ProposalIndex
	return boltstore.Open(path, opts)
}

// openBackend opens the server's data file under its audit key.
// A key made just now for a trail already chained under another key means
// the key file is missing: the new one is removed again and the server
// does not start, rather than start a trail nobody can verify.
func openBackend(cfg Config, observer boltstore.Observer) (store.Backend, error) {
	opts := boltstore.Options{LockTimeout: cfg.LockTimeout, Observer: observer}
	path := auditKeyPath(cfg.AuditKey, cfg.DataPath)
	key, made, err := openAuditKey(path)
	if err != nil {
		return nil, fmt.Errorf("audit key: %w", err)
	}
	opts.AuditKey = key
	db, err := openBoltFile(cfg.DataPath, opts)
	if errors.Is(err, store.ErrAuditKey) {
		if made {
			os.Remove(path)
			return nil, fmt.Errorf("%w: the key file %s is missing; put it back (from where it is kept with the backups), or give its path with -audit-key", err, path)
		}
		return nil, fmt.Errorf("%w: %s is not this data file's audit key", err, path)
	}
	if err != nil {
		return nil, err // not a nil *DB in a non-nil interface
	}
	return db, nil
}

// FilesDir is where the uploaded files of the data file at path are kept:
// beside it, so that the two are backed up, restored and moved together.
func FilesDir(path string) string { return path + ".files" }

// openFiles opens the file store of the data file at path.
func openFiles(path string) (*filedir.Dir, error) {
	return filedir.Open(FilesDir(path))
}

// CheckDataFile opens a data file and runs every check: bbolt's pages,
// the indexes, and the statistics against a recount.
func CheckDataFile(path string) error {
	db, err := openBoltFile(path, boltstore.Options{LockTimeout: 200 * time.Millisecond, ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	return service.CheckData(db)
}

// DataFiles are the bbolt data files, for the offline tools
// (datatool.Files).
type DataFiles struct{}

// InUse reports whether another process holds the file's lock.
func (DataFiles) InUse(path string) bool {
	db, err := openBoltFile(path, boltstore.Options{LockTimeout: 200 * time.Millisecond, ReadOnly: true})
	if err == nil {
		db.Close()
	}
	return errors.Is(err, store.ErrLocked)
}

// Check is CheckDataFile.
func (DataFiles) Check(path string) error { return CheckDataFile(path) }

// VerifyAudit opens the file read-only under its audit key and verifies
// the trail.
func (DataFiles) VerifyAudit(path, keyFile string, anchorSequence uint64, anchorHash []byte) (*banliv1.VerifyAuditResponse, error) {
	key, err := readAuditKey(auditKeyPath(keyFile, path))
	if err != nil {
		return nil, fmt.Errorf("%w (the trail is checked under its key; give the key file with -audit-key)", err)
	}
	db, err := openBoltFile(path, boltstore.Options{LockTimeout: 500 * time.Millisecond, ReadOnly: true, AuditKey: key})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	return service.VerifyAuditTrail(db, anchorSequence, anchorHash)
}
