package main

import (
	"strings"
	"testing"
)

// TestClientCommands takes a case from assignment to rating with the
// script subcommands.
func TestClientCommands(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	banli := func(args ...string) string {
		t.Helper()
		var out, errs strings.Builder
		cmd := args[0]
		if code := run(append([]string{cmd}, append(args[1:], "-addr", f.addrs.grpcAddr, "-actor", "script")...), &out, &errs); code != 0 {
			t.Fatalf("banli %s: %d %s", strings.Join(args, " "), code, errs.String())
		}
		return out.String()
	}
	banli("assign", p.GetName(), "-lead", f.unit(0))
	a := p.GetName() + "/assignments/1"
	banli("sign", a, "-person", "李明")
	f.consult(t, a)
	banli("reply", a, "-category", "A", "-text", "答复", "-signer", "张局长", "-contact", "李明", "-phone", "0755-1")
	out := banli("rate", a+"/replies/1", "-proposer", "1", "-satisfaction", "satisfied")
	if !strings.Contains(out, `"PROPOSAL_STATE_RATED"`) {
		t.Errorf("after rate:\n%s", out)
	}
	if out := banli("list", "-state", "rated"); !strings.Contains(out, p.GetName()) {
		t.Errorf("list:\n%s", out)
	}
	var errs strings.Builder
	if code := run([]string{"get", "proposals/404", "-addr", f.addrs.grpcAddr}, new(strings.Builder), &errs); code != 1 || !strings.Contains(errs.String(), "NotFound") {
		t.Errorf("get of a missing case: %d %s", code, errs.String())
	}
}
