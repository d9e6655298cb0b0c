package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestClientCommands takes a case from assignment to rating with the
// script subcommands.
func TestClientCommands(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	office := f.clientAs(t, f.officeKey(t)).TokenFile
	staff := f.clientAs(t, f.account(t, "staff-li", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0))).TokenFile
	head := f.clientAs(t, f.account(t, "head-zhang", banliv1.Role_ROLE_UNIT_HEAD, f.unit(0))).TokenFile
	banli := func(tokenFile string, args ...string) string {
		t.Helper()
		var out, errs strings.Builder
		cmd := args[0]
		if code := run(append([]string{cmd}, append(args[1:], "-addr", f.addrs.GRPCAddr, "-token-file", tokenFile)...), &out, &errs); code != 0 {
			t.Fatalf("banli %s: %d %s", strings.Join(args, " "), code, errs.String())
		}
		return out.String()
	}
	banli(office, "assign", p.GetName(), "-lead", f.unit(0))
	a := p.GetName() + "/assignments/1"
	banli(staff, "sign", a, "-person", "李明")
	f.consult(t, a)
	banli(head, "reply", a, "-category", "A", "-text", "答复", "-signer", "张局长", "-contact", "李明", "-phone", "0755-1")
	out := banli(office, "rate", a+"/replies/1", "-proposer", "1", "-satisfaction", "satisfied")
	if !strings.Contains(out, `"PROPOSAL_STATE_RATED"`) {
		t.Errorf("after rate:\n%s", out)
	}
	if out := banli(staff, "list", "-state", "rated"); !strings.Contains(out, p.GetName()) {
		t.Errorf("list:\n%s", out)
	}
	if out := banli(staff, "list", "-state", "rated", "-o", "table"); !strings.HasPrefix(out, "NAME ") || !strings.Contains(out, p.GetName()+"  ") || !strings.Contains(out, "RATED") {
		t.Errorf("list -o table:\n%s", out)
	}
	if code := run([]string{"list", "-o", "yaml", "-addr", f.addrs.GRPCAddr, "-token-file", staff}, new(strings.Builder), new(strings.Builder)); code != 2 {
		t.Errorf("list -o yaml: exit %d, want 2", code)
	}
	var errs strings.Builder
	if code := run([]string{"get", "proposals/404", "-addr", f.addrs.GRPCAddr, "-token-file", office}, new(strings.Builder), &errs); code != 1 || !strings.Contains(errs.String(), "NotFound") {
		t.Errorf("get of a missing case: %d %s", code, errs.String())
	}
	errs.Reset()
	if code := run([]string{"get", p.GetName(), "-addr", f.addrs.GRPCAddr}, new(strings.Builder), &errs); code != 1 || !strings.Contains(errs.String(), "BANLI_TOKEN") || !strings.Contains(errs.String(), "-token-file") {
		t.Errorf("get without a key: %d %s, want it to say where a key goes", code, errs.String())
	}
	// Flags before the name, as after it.
	var got strings.Builder
	if code := run([]string{"get", "-addr", f.addrs.GRPCAddr, "-token-file", office, p.GetName()}, &got, new(strings.Builder)); code != 0 || !strings.Contains(got.String(), p.GetName()) {
		t.Errorf("get with the flags first: %d %s", code, got.String())
	}
	errs.Reset()
	if code := run([]string{"get", "-addr", f.addrs.GRPCAddr, p.GetName(), "proposals/2"}, new(strings.Builder), &errs); code != 2 || !strings.Contains(errs.String(), "usage: banli get NAME") {
		t.Errorf("get of two names: %d %s", code, errs.String())
	}
}

// TestClientWarnsOfAnOpenKeyFile: a key file others may read works, with
// a warning that says how to close it.
func TestClientWarnsOfAnOpenKeyFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the binary")
	}
	f := newFixture(t)
	key := filepath.Join(t.TempDir(), "office.key")
	if err := os.WriteFile(key, []byte(f.officeKey(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd := exec.Command(binary(t), "list", "-addr", f.addrs.GRPCAddr, "-token-file", key)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "readable by others (mode 0644); chmod 600 "+key) {
		t.Errorf("no warning: %q", stderr.String())
	}
}

// TestHelpListsTheCommands: banli --help lists every command, not the
// server's flags alone.
func TestHelpListsTheCommands(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		var out strings.Builder
		if code := run([]string{arg}, &out, new(strings.Builder)); code != 0 {
			t.Errorf("banli %s: exit %d", arg, code)
		}
		for _, cmd := range []string{"banli import FILE", "banli export -o FILE", "banli backup FILE", "banli version", "banli serve -h"} {
			if !strings.Contains(out.String(), cmd) {
				t.Errorf("banli %s does not list %q:\n%s", arg, cmd, out.String())
			}
		}
	}
}

// TestCompletion: the bash completion, run in bash, completes a command
// and a command's flags as its -h lists them.
func TestCompletion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	bin := binary(t)
	complete := func(words ...string) string {
		t.Helper()
		script := `source <(banli completion bash); COMP_WORDS=(` + strings.Join(words, " ") + `); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); _banli; echo "${COMPREPLY[@]}"`
		cmd := exec.Command(bash, "-c", script)
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v %s", words, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("banli", "exp"); got != "export" {
		t.Errorf("banli exp<TAB>: %q", got)
	}
	if got := complete("banli", "import", "-dr"); got != "-dry-run" {
		t.Errorf("banli import -dr<TAB>: %q", got)
	}
	if got := complete("banli", "certs", "init", "-if"); got != "-if-missing" {
		t.Errorf("banli certs init -if<TAB>: %q", got)
	}
}
