package server

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
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
// the indexes, the statistics against a recount, and the uploaded files
// beside it (each one a case names is there, and each hashes to its
// name).
func CheckDataFile(path string) error {
	db, err := openBoltFile(path, boltstore.Options{LockTimeout: 200 * time.Millisecond, ReadOnly: true})
	if err != nil {
		return err
	}
	defer db.Close()
	if err := service.CheckData(db); err != nil {
		return err
	}
	files, err := openFiles(path)
	if err != nil {
		return err
	}
	return service.CheckFiles(db, files)
}

// CheckBackup checks a backup as `banli restore` would take it: unpacked
// into a temporary directory, every check of CheckDataFile.
func CheckBackup(path string) error {
	dir, err := os.MkdirTemp(filepath.Dir(path), ".banli-check-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data := filepath.Join(dir, "banli.db")
	if err := UnpackBackup(path, data); err != nil {
		return err
	}
	return CheckDataFile(data)
}

// UnpackBackup writes the backup at backupPath as the data file data,
// with its files beside it. A backup is a tar archive (service.Backup) or,
// from a server that kept no files, the data file itself. Each file's
// content is checked against its name as it is unpacked.
func UnpackBackup(backupPath, data string) error {
	src, err := os.Open(backupPath)
	if err != nil {
		return err
	}
	defer src.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(src, head)
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	if n < 512 || string(head[257:262]) != "ustar" {
		return copySynced(data, src)
	}
	files, err := openFiles(data)
	if err != nil {
		return err
	}
	tr := tar.NewReader(src)
	sawData := false
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("%s: %w", backupPath, err)
		}
		switch sha, isFile := strings.CutPrefix(h.Name, service.BackupArchiveFiles); {
		case h.Name == service.BackupArchiveData:
			if err := copySynced(data, tr); err != nil {
				return err
			}
			sawData = true
		case isFile && store.ValidSHA256(sha):
			staged, err := files.Stage(tr, h.Size)
			if err != nil {
				return err
			}
			if staged.SHA256() != sha {
				staged.Discard()
				return fmt.Errorf("%s: the file %s hashes to %s: %w", backupPath, sha, staged.SHA256(), store.ErrCorrupt)
			}
			if err := staged.Keep(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: %q is not part of a Banli backup", backupPath, h.Name)
		}
	}
	if !sawData {
		return fmt.Errorf("%s holds no data file (%s)", backupPath, service.BackupArchiveData)
	}
	return nil
}

// copySynced writes what r gives to path and syncs it.
func copySynced(path string, r io.Reader) error {
	out, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, r)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
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

// Unpack is UnpackBackup.
func (DataFiles) Unpack(backupPath, data string) error { return UnpackBackup(backupPath, data) }

// Move renames a data file and its files directory, if it has one.
func (DataFiles) Move(from, to string) error {
	if err := os.Rename(from, to); err != nil {
		return err
	}
	err := os.Rename(FilesDir(from), FilesDir(to))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Remove removes a data file and its files directory.
func (DataFiles) Remove(path string) error {
	os.RemoveAll(FilesDir(path))
	return os.Remove(path)
}

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
