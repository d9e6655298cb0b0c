package store

import (
	"slices"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// Index declares what a backend keeps of each proposal to find it again:
// the terms it is listed under and its due entries. The domain declares it
// (service.ProposalIndex), so the rules of what is current and what is due
// have one home; a backend is opened with it, applies it on every
// PutProposal and answers Queries and ListDue from what it returned.
type Index struct {
	// Version names this declaration. Change it whenever Terms or Due
	// change what they return: a backend that opens data indexed under
	// another version rebuilds every entry before it serves.
	Version int
	// Terms lists the terms a proposal is found under, e.g. "state=3".
	// Terms hold no control characters.
	Terms func(p *banliv1.Proposal) []string
	// Due lists a proposal's due entries.
	Due func(p *banliv1.Proposal) []Due
}

// Due is one assignment of a proposal with a current deadline.
type Due struct {
	// At is when it is due, in seconds since 1970.
	At int64
	// Assignment is the part's position in the case, from 1.
	Assignment int
	// Unit, Session, Department and Handler are resource names, for
	// ListDue's keep: the part's unit, its case's session, the department
	// it is delegated to and its handler (both may be empty).
	Unit, Session, Department, Handler string
}

// Query selects proposals by their index terms. A proposal matches when,
// for every clause of AllOf, it is listed under at least one of the
// clause's terms, and under none of NoneOf. A clause with no terms matches
// nothing; a Query with no clauses matches every proposal.
type Query struct {
	AllOf  [][]string
	NoneOf []string
}

// Matches reports whether a proposal listed under terms matches q, as a
// backend's search would find it.
func (q Query) Matches(terms []string) bool {
	for _, none := range q.NoneOf {
		if slices.Contains(terms, none) {
			return false
		}
	}
	for _, clause := range q.AllOf {
		if !slices.ContainsFunc(clause, func(t string) bool { return slices.Contains(terms, t) }) {
			return false
		}
	}
	return true
}

// And adds a clause: the proposal must be listed under one of terms.
func (q *Query) And(terms ...string) {
	q.AllOf = append(q.AllOf, terms)
}
