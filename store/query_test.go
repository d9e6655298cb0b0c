package store

import "testing"

// TestQueryMatches: Matches reads a query as a backend searches for it:
// one term of every clause, and none of NoneOf.
func TestQueryMatches(t *testing.T) {
	var q Query
	q.And("session=1", "session=2")
	q.And("state=3")
	q.NoneOf = []string{"key"}
	for _, c := range []struct {
		terms []string
		want  bool
	}{
		{[]string{"session=2", "state=3"}, true},
		{[]string{"session=1", "state=3", "topic=x"}, true},
		{[]string{"session=3", "state=3"}, false},
		{[]string{"session=1"}, false},
		{[]string{"session=1", "state=3", "key"}, false},
	} {
		if got := q.Matches(c.terms); got != c.want {
			t.Errorf("%v: %v, want %v", c.terms, got, c.want)
		}
	}
	if !(Query{}).Matches(nil) {
		t.Error("a query with no clauses matches every proposal")
	}
	if (Query{AllOf: [][]string{{}}}).Matches([]string{"a"}) {
		t.Error("a clause with no terms matches nothing")
	}
}
