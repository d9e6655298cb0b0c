package service

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/banli/banli/store"
)

// Resource names (AIP-122). Ids are positive decimal numbers given by the
// server: sessions/3, units/12, proposals/7, proposals/7/assignments/2,
// proposals/7/assignments/2/replies/1 (the reply of round 1).
const (
	sessionsCollection    = "sessions"
	unitsCollection       = "units"
	proposalsCollection   = "proposals"
	assignmentsCollection = "assignments"
	repliesCollection     = "replies"
	leadersCollection     = "leaders"
	webhooksCollection    = "webhooks"
)

func sessionName(id uint64) string  { return fmt.Sprintf("sessions/%d", id) }
func unitName(id uint64) string     { return fmt.Sprintf("units/%d", id) }
func proposalName(id uint64) string { return fmt.Sprintf("proposals/%d", id) }
func leaderName(id uint64) string   { return fmt.Sprintf("leaders/%d", id) }
func webhookName(id uint64) string  { return fmt.Sprintf("webhooks/%d", id) }

func assignmentName(proposal uint64, assignment int) string {
	return fmt.Sprintf("proposals/%d/assignments/%d", proposal, assignment)
}

func replyName(proposal uint64, assignment, round int) string {
	return fmt.Sprintf("proposals/%d/assignments/%d/replies/%d", proposal, assignment, round)
}

// parseName splits name into the ids of the given collections, in order,
// e.g. parseName("proposals/7/assignments/2", "proposals", "assignments")
// gives [7 2]. It fails unless name has exactly that shape.
func parseName(name string, collections ...string) ([]uint64, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 2*len(collections) {
		return nil, false
	}
	ids := make([]uint64, len(collections))
	for i, c := range collections {
		if parts[2*i] != c {
			return nil, false
		}
		s := parts[2*i+1]
		if s == "" || s[0] == '0' || len(s) > 18 {
			return nil, false
		}
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return nil, false
		}
		ids[i] = id
	}
	return ids, true
}

// id parses a name of one collection ("units/12"), recording a violation
// on field if it is not one.
func (v *violations) id(field, name, collection string) uint64 {
	ids, ok := parseName(name, collection)
	if !ok {
		v.badName(field, name, collection+"/{id}")
		return 0
	}
	return ids[0]
}

func (v *violations) badName(field, name, pattern string) {
	if name == "" {
		v.add(field, "required: a resource name like %s", pattern)
		return
	}
	v.add(field, "%q is not a resource name like %s", name, pattern)
}

func (v *violations) sessionID(field, name string) uint64 {
	return v.id(field, name, sessionsCollection)
}

func (v *violations) unitID(field, name string) uint64 { return v.id(field, name, unitsCollection) }

func (v *violations) leaderID(field, name string) uint64 {
	return v.id(field, name, leadersCollection)
}

func (v *violations) webhookID(field, name string) uint64 {
	return v.id(field, name, webhooksCollection)
}

func (v *violations) proposalID(field, name string) uint64 {
	return v.id(field, name, proposalsCollection)
}

// idOf returns the id in a name of one collection that was already
// validated (or came from the store); 0 if it is not such a name.
func idOf(name, collection string) uint64 {
	ids, ok := parseName(name, collection)
	if !ok {
		return 0
	}
	return ids[0]
}

// assignmentRef points at one assignment of one proposal.
type assignmentRef struct {
	proposal   uint64
	assignment int
}

func (v *violations) assignmentRef(field, name string) assignmentRef {
	ids, ok := parseName(name, proposalsCollection, assignmentsCollection)
	if !ok || ids[1] > maxAssignments*4 {
		v.badName(field, name, "proposals/{id}/assignments/{id}")
		return assignmentRef{}
	}
	return assignmentRef{proposal: ids[0], assignment: int(ids[1])}
}

// replyRef points at the reply of one round of one assignment.
type replyRef struct {
	assignmentRef
	round int
}

func (v *violations) replyRef(field, name string) replyRef {
	ids, ok := parseName(name, proposalsCollection, assignmentsCollection, repliesCollection)
	if !ok || ids[1] > maxAssignments*4 || ids[2] > 1000 {
		v.badName(field, name, "proposals/{id}/assignments/{id}/replies/{round}")
		return replyRef{}
	}
	return replyRef{assignmentRef: assignmentRef{proposal: ids[0], assignment: int(ids[1])}, round: int(ids[2])}
}

// displayNames reads the names people know sessions and units by, each
// once for what it is used for (a ledger page, an event).
type displayNames struct {
	r     store.Reader
	names map[string]string
}

func newDisplayNames(r store.Reader) *displayNames {
	return &displayNames{r: r, names: map[string]string{}}
}

// of is the display name of a session or a unit ("" for none, or for one
// that cannot be read).
func (d *displayNames) of(name string) string {
	if name == "" {
		return ""
	}
	if n, ok := d.names[name]; ok {
		return n
	}
	n := ""
	if ids, ok := parseName(name, unitsCollection); ok {
		if u, err := d.r.Unit(ids[0]); err == nil {
			n = u.GetDisplayName()
		}
	} else if ids, ok := parseName(name, sessionsCollection); ok {
		if s, err := d.r.Session(ids[0]); err == nil {
			n = s.GetDisplayName()
		}
	}
	d.names[name] = n
	return n
}

// orName is the display name of a session or a unit, or its resource
// name when it has none that can be read.
func (d *displayNames) orName(name string) string {
	if n := d.of(name); n != "" {
		return n
	}
	return name
}
