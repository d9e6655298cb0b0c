package server

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The audit trail's key (see store.Options.AuditKey) lives in a file of its
// own, beside the data file by default (-audit-key), readable by the
// server's user only: someone who can write the data file but not read the
// key cannot recompute the chain. It goes with every backup, kept apart
// from it: a restored file's trail verifies only under its key.

const auditKeyBytes = 32

// auditKeyPath is -audit-key, or audit.key beside the data file.
func auditKeyPath(flagValue, dataPath string) string {
	if flagValue != "" {
		return flagValue
	}
	return filepath.Join(filepath.Dir(dataPath), "audit.key")
}

// readAuditKey reads a key file: the key as hex on one line.
func readAuditKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != auditKeyBytes {
		return nil, fmt.Errorf("%s does not hold an audit key (%d hex bytes on one line)", path, auditKeyBytes)
	}
	return key, nil
}

// openAuditKey reads the key file, or, on a server's first start, makes
// one. It says whether it made it.
func openAuditKey(path string) (key []byte, made bool, err error) {
	key, err = readAuditKey(path)
	if !errors.Is(err, os.ErrNotExist) {
		return key, false, err
	}
	key = make([]byte, auditKeyBytes)
	rand.Read(key) // never fails (crypto/rand)
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	_, err = fmt.Fprintln(f, hex.EncodeToString(key))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, false, err
	}
	return key, true, nil
}
