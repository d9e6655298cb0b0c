//go:build !linux

package boltstore

// ReleaseMappedPages does nothing where madvise is not known to drop a
// shared mapping's pages safely.
func (db *DB) ReleaseMappedPages() error { return nil }
