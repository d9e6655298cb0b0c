package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestReadmeExample runs the README's worked example, as a newcomer would
// paste it, against a real server, so that the README cannot rot.
func TestReadmeExample(t *testing.T) {
	ts := startServer(t)
	out := runReadmeExample(t, "http://"+ts.addrs.HTTPAddr, ts.adminKey)
	checkReadmeExampleOutput(t, out)
}

// runReadmeExample runs the README's example block with bash against the
// REST address base, and returns what it printed.
func runReadmeExample(t *testing.T, base, adminKey string) []byte {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("the README example needs curl; .ci/run installs it")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(readme), "<!-- example:begin -->")
	block, _, ok2 := strings.Cut(block, "<!-- example:end -->")
	if !ok || !ok2 {
		t.Fatal("README has no example block")
	}
	script := strings.TrimSpace(block)
	script = strings.TrimPrefix(script, "```sh")
	script = strings.TrimSuffix(script, "```")

	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "BANLI="+base, "ADMIN="+adminKey)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the example failed: %v\n%s", err, out)
	}
	return out
}

// checkReadmeExampleOutput checks that the example ends as the README
// says: the case rated, and its history every step.
func checkReadmeExampleOutput(t *testing.T, out []byte) {
	t.Helper()
	// The last two lines are the case and its history, as JSON.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var final struct{ State string }
	var history struct{ Events []struct{ Action string } }
	if len(lines) < 2 || json.Unmarshal([]byte(lines[len(lines)-2]), &final) != nil || json.Unmarshal([]byte(lines[len(lines)-1]), &history) != nil {
		t.Fatalf("the example's output does not end with the case and its history:\n%s", out)
	}
	if final.State != "PROPOSAL_STATE_RATED" {
		t.Errorf("the example ends in %s, want PROPOSAL_STATE_RATED", final.State)
	}
	var steps []string
	for _, ev := range history.Events {
		steps = append(steps, ev.Action)
	}
	want := []string{"CreateProposal", "AssignProposal", "SignAssignment", "SignAssignment", "RecordConsultation", "SubmitOpinion",
		"SaveReplyDraft", "ReturnReplyDraft", "SaveReplyDraft", "SubmitReply", "RecordDelivery", "RateReply (satisfied or basically satisfied)"}
	if !slices.Equal(steps, want) {
		t.Errorf("the history's steps\n%v\nwant\n%v", steps, want)
	}
}
