package boltstore

import (
	"golang.org/x/sys/unix"

	bolt "go.etcd.io/bbolt"
)

// ReleaseMappedPages drops the file's pages from this process's memory map.
// bbolt reads the file through a shared read-only mapping, and every page a
// call touches stays mapped, and counted in the process's resident memory,
// until the mapping is remade; on a large file that grew without bound.
// The pages stay in the operating system's page cache: the next read of
// one maps it again from there (a minor fault, no disk read). The read
// transaction holds off a remap, so the range is the live mapping.
func (db *DB) ReleaseMappedPages() error {
	return db.bolt.View(func(btx *bolt.Tx) error {
		// The mapping starts at Data and covers at least the file's size.
		_, _, errno := unix.Syscall(unix.SYS_MADVISE, db.bolt.Info().Data, uintptr(btx.Size()), unix.MADV_DONTNEED)
		if errno != 0 {
			return errno
		}
		return nil
	})
}
