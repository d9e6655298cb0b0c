package ui

import (
	"context"
	"sort"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// directory is the reference data a page shows names and choices from:
// the sessions and units the caller may read, read through the API.
type directory struct {
	Sessions []*banliv1.Session
	// Units are the top-level units; Departments, each unit's departments.
	Units       []*banliv1.Unit
	Departments map[string][]*banliv1.Unit
	names       map[string]string
}

// readDirectory reads every session and unit (inactive ones too, since old
// cases name them).
func readDirectory(ctx context.Context, h *Handler) (*directory, error) {
	d := &directory{Departments: map[string][]*banliv1.Unit{}, names: map[string]string{}}
	sessions := banliv1.NewSessionServiceClient(h.conn)
	for token := ""; ; {
		resp, err := sessions.ListSessions(ctx, &banliv1.ListSessionsRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		d.Sessions = append(d.Sessions, resp.GetSessions()...)
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	units := banliv1.NewUnitServiceClient(h.conn)
	for token := ""; ; {
		resp, err := units.ListUnits(ctx, &banliv1.ListUnitsRequest{PageSize: 1000, PageToken: token, ShowInactive: true})
		if err != nil {
			return nil, err
		}
		for _, u := range resp.GetUnits() {
			if u.GetParent() == "" {
				d.Units = append(d.Units, u)
			} else {
				d.Departments[u.GetParent()] = append(d.Departments[u.GetParent()], u)
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			break
		}
	}
	for _, s := range d.Sessions {
		d.names[s.GetName()] = s.GetDisplayName()
	}
	for _, u := range d.Units {
		d.names[u.GetName()] = u.GetDisplayName()
	}
	for _, ds := range d.Departments {
		for _, u := range ds {
			d.names[u.GetName()] = u.GetDisplayName()
		}
	}
	// Newest sessions first: this year's is the one people want.
	sort.SliceStable(d.Sessions, func(i, j int) bool { return d.Sessions[i].GetYear() > d.Sessions[j].GetYear() })
	return d, nil
}

// Name is the display name of a session or unit, or the resource name
// itself when it is not known.
func (d *directory) Name(resource string) string {
	if n, ok := d.names[resource]; ok {
		return n
	}
	return resource
}

// ActiveUnits are the top-level units still handling cases, for the
// choices of a form.
func (d *directory) ActiveUnits() []*banliv1.Unit {
	var out []*banliv1.Unit
	for _, u := range d.Units {
		if u.GetActive() {
			out = append(out, u)
		}
	}
	return out
}
