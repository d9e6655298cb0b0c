package service

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

var updateDocs = flag.Bool("update", false, "rewrite docs/lifecycle.md")

// TestLifecycleDocument prints the lifecycle table, with who may take each
// step from the access table, into docs/lifecycle.md, for the people who
// run an office, and fails when the file is not what the tables say.
// Rewrite it with: go test ./service -run TestLifecycleDocument -args -update
func TestLifecycleDocument(t *testing.T) {
	got := lifecycleDocument()
	const path = "../docs/lifecycle.md"
	if *updateDocs {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil || string(want) != got {
		t.Fatalf("%s is not what service/lifecycle.go and service/access.go say; rewrite it with "+
			"go test ./service -run TestLifecycleDocument -args -update", path)
	}
}

func lifecycleDocument() string {
	var b strings.Builder
	b.WriteString(`# The lifecycle of a case

Generated from the lifecycle table (service/lifecycle.go) and the access table (service/access.go)
by ` + "`go test ./service -run TestLifecycleDocument -args -update`" + `; do not edit by hand. A step not
listed for a state is refused with FAILED_PRECONDITION (reason INVALID_TRANSITION), naming the
state and the steps it allows. A step whose states allow it must also pass the rules in its
"and only if" column (service/guards.go), or is refused with FAILED_PRECONDITION (reason
PRECONDITION; INVALID_ARGUMENT for what the request names; PERMISSION_DENIED where the rule
is who signs off). Unit staff and heads take steps on
their own unit's parts only (or its departments'), a proposer on the cases it submitted.

## Steps on the whole case

| step | who may take it | from | to | and only if |
|---|---|---|---|---|
`)
	for _, tr := range proposalTransitions {
		to := "follows from its parts"
		if tr.to != stateUnderived {
			to = stateName(tr.to)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", tr.step, whoMay(tr.step), joinStates(tr.from), to, guardRules(tr.guards))
	}
	b.WriteString(`
## Steps on one unit's part

A part's steps need the case to be in ` + joinStates(handlingStates) + `. "stays" is no change of the part's state.

| step | who may take it | parts in the role | from → to | and only if |
|---|---|---|---|---|
`)
	for _, tr := range assignmentTransitions {
		var roles []string
		for _, r := range tr.roles {
			roles = append(roles, strings.ToLower(trimEnum(r.String(), "ASSIGNMENT_ROLE_")))
		}
		var moves []string
		for from, to := range tr.edges {
			target := partStateName(to)
			switch to {
			case assignmentStays:
				target = "stays"
			case assignmentGoesBack:
				target = "back to where it was (SIGNED, CONSULTED or REHANDLING)"
			}
			moves = append(moves, partStateName(from)+" → "+target)
		}
		sort.Strings(moves)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", tr.step, whoMay(tr.step), strings.Join(roles, ", "), strings.Join(moves, "; "), guardRules(tr.guards))
	}
	printSideMachine(&b, "Publication of a reply (公开)", disclosureMachine, "DISCLOSURE_STATE_")
	printSideMachine(&b, "Follow-up of a carried-over part (跨年度)", followUpMachine, "FOLLOW_UP_STATE_")
	return b.String()
}

// guardRules is the "and only if" column: each guard's rule.
func guardRules(guards []guard) string {
	var rules []string
	for _, g := range guards {
		rules = append(rules, g.rule)
	}
	return strings.Join(rules, "; ")
}

// printSideMachine prints one side machine's steps as a table.
func printSideMachine[S interface {
	~int32
	String() string
}](b *strings.Builder, title string, m sideMachine[S], prefix string) {
	fmt.Fprintf(b, "\n## %s\n\n| step | who may take it | from → to |\n|---|---|---|\n", title)
	for _, step := range sortedSteps(m.edges) {
		var moves []string
		for from, to := range m.edges[step] {
			moves = append(moves, trimEnum(from.String(), prefix)+" → "+trimEnum(to.String(), prefix))
		}
		sort.Strings(moves)
		fmt.Fprintf(b, "| %s | %s | %s |\n", step, whoMay(step), strings.Join(moves, "; "))
	}
}

// whoMay lists the roles the access table lets take a step: the rule of
// the method the step is named after ("DecideExtension (approve)" is
// DecideExtension's).
func whoMay(step Step) string {
	method, _, _ := strings.Cut(string(step), " (")
	if m := "server/" + method; m == closeRatingPeriodMethod || m == carryOverMethod || m == closePublicationMethod || m == noticeOverdueMethod {
		return "the server, by itself"
	}
	if step == StepSupersedeReply {
		return "whoever starts the new round"
	}
	for full, rule := range rules {
		if strings.HasSuffix(full, "/"+method) {
			var names []string
			for _, r := range rule.Roles {
				names = append(names, accountRoleName(r))
			}
			return strings.Join(names, ", ")
		}
	}
	panic("lifecycle: no access rule for the step " + string(step))
}

func joinStates(states []banliv1.ProposalState) string {
	names := make([]string, len(states))
	for i, s := range states {
		names[i] = stateName(s)
	}
	return strings.Join(names, ", ")
}

func sortedSteps[V any](m map[Step]V) []Step {
	steps := make([]Step, 0, len(m))
	for s := range m {
		steps = append(steps, s)
	}
	slices.Sort(steps)
	return steps
}

func partStateName(s banliv1.AssignmentState) string {
	return trimEnum(s.String(), "ASSIGNMENT_STATE_")
}
