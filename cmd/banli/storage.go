package main

import (
	"github.com/banli/banli/service"
	"github.com/banli/banli/store/boltstore"
)

// The storage backend is chosen here and nowhere else: this file is the
// binary's one link to a backend package. Everything past it holds a
// store.Backend and asks it for what only some backends can do
// (store.Snapshotter, store.MappedPages, …).

// openBoltFile opens the bbolt data file at path, with the domain's index
// declaration.
func openBoltFile(path string, opts boltstore.Options) (*boltstore.DB, error) {
	opts.Index = service.ProposalIndex
	return boltstore.Open(path, opts)
}
