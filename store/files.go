package store

import (
	"errors"
	"io"
)

// Files keeps the contents of uploaded files beside the records that name
// them. Contents are addressed by their SHA-256 and never change. A
// content goes in in two steps, so that a record never names a content
// that is not durable and no content outlives a record that was refused:
//
//  1. Stage writes it whole and syncs it, named by no record yet;
//  2. once the record naming it has committed, Keep makes it the store's;
//     if the record was refused, Discard removes it.
//
// A crash between the two leaves a staged content behind: Recover, run
// before the server serves, keeps the ones a committed record names and
// removes the rest.
type Files interface {
	// Stage writes what r gives, at most limit bytes (ErrTooLarge after),
	// and syncs it.
	Stage(r io.Reader, limit int64) (StagedFile, error)
	// Open opens a content by its hex SHA-256: ErrNotFound if it is not
	// held, kept or staged.
	Open(sha256 string) (ContentReader, error)
	// Has reports whether a content is held.
	Has(sha256 string) (bool, error)
	// Kept lists the SHA-256 of every content kept, in order.
	Kept() ([]string, error)
	// Recover keeps the staged contents that referenced says a committed
	// record names, and removes every other staged or kept one, and every
	// half-written one.
	Recover(referenced func(sha256 string) (bool, error)) (Recovery, error)
	// Verify reads every kept content and reports the first whose bytes
	// no longer hash to its name.
	Verify() error
}

// StagedFile is a content written and synced, named by no record yet.
type StagedFile interface {
	io.ReaderAt
	SHA256() string
	Size() int64
	// Keep makes the content the store's: the record naming it has
	// committed. Keeping a content already held is no error.
	Keep() error
	// Discard removes it: no record names it.
	Discard() error
}

// ContentReader reads one content.
type ContentReader interface {
	io.ReadSeekCloser
	Size() int64
}

// Recovery says what Recover did.
type Recovery struct {
	// Kept: staged contents a record named, now kept.
	Kept int
	// Removed: staged, half-written or kept contents no record names.
	Removed int
}

// ErrTooLarge: a content ran past its limit.
var ErrTooLarge = errors.New("larger than allowed")

// ErrCorrupt: a kept content's bytes no longer hash to its name.
var ErrCorrupt = errors.New("content does not match its SHA-256")

// ValidSHA256 reports whether s is a SHA-256 as Banli writes it: 64
// lower-case hex digits.
func ValidSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
