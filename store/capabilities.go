package store

import "io"

// Abilities only some backends have. The wiring asks for them with a type
// assertion and goes without (or says the operation is not available)
// when a backend lacks one.

// Snapshotter writes a consistent copy of all the data, from one read
// transaction while writes go on, in a form Restore (of the same backend)
// takes back. bbolt's is a complete data file.
type Snapshotter interface {
	Backup(w io.Writer) (int64, error)
}

// MappedPages is a backend that maps its file into memory and can give the
// pages it does not need back to the kernel.
type MappedPages interface {
	ReleaseMappedPages() error
}

// PageChecker is a backend with its own consistency check of its pages
// (bbolt's page and freelist check).
type PageChecker interface {
	CheckPages() error
}

// FileBacked is a backend kept in one local file.
type FileBacked interface {
	Path() string
	Size() (int64, error)
}

// ReadTransactions is a backend that counts its open read transactions
// (metrics show it: none should outlive the call that opened it).
type ReadTransactions interface {
	OpenReadTransactions() int
}
