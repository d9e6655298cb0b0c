package store

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

func TestSkipDropsExactlyTheNamedFields(t *testing.T) {
	full := &banliv1.Proposal{
		Name: "proposals/1", Title: "t", Content: "long content", Topics: []string{"a"},
		Proposers: []*banliv1.Proposer{{Id: 1, DisplayName: "王委员", Phone: "138"}},
		Assignments: []*banliv1.Assignment{{
			Name: "proposals/1/assignments/1", Unit: "units/1", Round: 2,
			// A skipped reply long enough that the assignment's length
			// prefix shrinks from two bytes to one.
			Replies:  []*banliv1.Reply{{Text: strings.Repeat("答复", 60)}},
			FollowUp: &banliv1.FollowUp{CarriedToYear: 2022, Reports: []*banliv1.FollowUpReport{{Text: "r"}}},
		}},
	}
	raw, _ := proto.Marshal(full)
	skip := Skip{8: nil, 10: {5: nil}, 15: {18: nil, 22: {4: nil}}}
	got := &banliv1.Proposal{}
	if err := proto.Unmarshal(skip.AppendFiltered(nil, raw), got); err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(full).(*banliv1.Proposal)
	want.Content = ""
	want.Proposers[0].Phone = ""
	want.Assignments[0].Replies = nil
	want.Assignments[0].FollowUp.Reports = nil
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("filtered (-want +got):\n%s", diff)
	}
	if string(Skip(nil).AppendFiltered(nil, raw)) != string(raw) {
		t.Error("no skip must leave the bytes as they are")
	}
	if bad := []byte{0xff}; string(skip.AppendFiltered(nil, bad)) != string(bad) {
		t.Error("unparsable bytes are returned as they are, for decoding to report")
	}
}

func TestSkipClearMatchesTheWireFilter(t *testing.T) {
	p := &banliv1.Proposal{Content: "正文", Title: "题", Assignments: []*banliv1.Assignment{
		{Unit: "units/1", Drafts: []*banliv1.ReplyDraft{{Version: 1}}, PendingReply: &banliv1.Reply{Text: "待审"}},
		{Unit: "units/2"},
	}}
	skip := SkipPaths(&banliv1.Proposal{}, "content").With(SkipPaths(&banliv1.Proposal{}, "assignments.drafts", "assignments.pending_reply"))
	raw, err := proto.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	filtered := &banliv1.Proposal{}
	if err := proto.Unmarshal(skip.AppendFiltered(nil, raw), filtered); err != nil {
		t.Fatal(err)
	}
	cleared := proto.Clone(p).(*banliv1.Proposal)
	skip.Clear(cleared.ProtoReflect())
	if !proto.Equal(filtered, cleared) {
		t.Errorf("filtered %v\ncleared %v", filtered, cleared)
	}
	if cleared.GetContent() != "" || cleared.GetAssignments()[0].GetPendingReply() != nil || len(cleared.GetAssignments()[0].GetDrafts()) != 0 || cleared.GetTitle() != "题" {
		t.Errorf("cleared %v", cleared)
	}
}
