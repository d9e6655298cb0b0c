package service

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestGuards: every guard of the lifecycle table, passing and refusing,
// without a store.
func TestGuards(t *testing.T) {
	now := time.Date(2021, 3, 10, 9, 0, 0, 0, chinaTime)
	due := func(d time.Time) *banliv1.Deadline {
		return &banliv1.Deadline{DueTime: timestamppb.New(d), DueDate: d.Format(time.DateOnly)}
	}
	policy := resolvePolicy(nil)
	part := func(a *banliv1.Assignment) *banliv1.Assignment {
		if a.Name == "" {
			a.Name = "proposals/1/assignments/1"
		}
		return a
	}
	case1 := &banliv1.Proposal{Name: "proposals/1", Proposers: []*banliv1.Proposer{{Id: 1}, {Id: 2}}}
	rating := func(round, proposer int32) *banliv1.RateReplyRequest {
		return &banliv1.RateReplyRequest{Name: replyName(1, 1, int(round)), ProposerId: proposer}
	}
	replied := part(&banliv1.Assignment{Round: 2, Replies: []*banliv1.Reply{
		{Name: replyName(1, 1, 1), Round: 1},
		{Name: replyName(1, 1, 2), Round: 2, Ratings: []*banliv1.Rating{{ProposerId: 2}}},
	}})
	pending := part(&banliv1.Assignment{ExtensionRequests: []*banliv1.ExtensionRequest{{RequestTime: timestamppb.New(now)}}})
	tests := []struct {
		name  string
		g     guard
		in    guardInput
		allow bool
	}{
		{"consulted", consultedFirst, guardInput{a: part(&banliv1.Assignment{Consultations: []*banliv1.Consultation{{}}}), policy: policy}, true},
		{"not consulted", consultedFirst, guardInput{a: part(&banliv1.Assignment{}), policy: policy}, false},
		{"window open", reassignmentWindowOpen, guardInput{a: part(&banliv1.Assignment{ReassignmentDeadline: due(now.Add(time.Hour))}), now: now}, true},
		{"window closed", reassignmentWindowOpen, guardInput{a: part(&banliv1.Assignment{ReassignmentDeadline: due(now.Add(-time.Hour))}), now: now}, false},
		{"nothing pending", noExtensionPending, guardInput{a: part(&banliv1.Assignment{})}, true},
		{"one pending", noExtensionPending, guardInput{a: pending}, false},
		{"before the reply is due", beforeReplyDue, guardInput{a: part(&banliv1.Assignment{ResponseDeadline: due(now.Add(time.Hour))}), now: now}, true},
		{"after the reply was due", beforeReplyDue, guardInput{a: part(&banliv1.Assignment{ResponseDeadline: due(now.Add(-time.Hour))}), now: now}, false},
		{"a pending extension to decide", extensionPending, guardInput{a: pending}, true},
		{"no extension to decide", extensionPending, guardInput{a: part(&banliv1.Assignment{})}, false},
		{"the current round", ratesCurrentRound, guardInput{a: replied, req: rating(2, 1)}, true},
		{"an earlier round", ratesCurrentRound, guardInput{a: replied, req: rating(1, 1)}, false},
		{"a round with no reply (not found, later)", ratesCurrentRound, guardInput{a: replied, req: rating(7, 1)}, true},
		{"a proposer of the case", ratedByAProposer, guardInput{p: case1, a: replied, req: rating(2, 1)}, true},
		{"not a proposer of the case", ratedByAProposer, guardInput{p: case1, a: replied, req: rating(2, 9)}, false},
		{"a first rating", ratedOnce, guardInput{a: replied, req: rating(2, 1)}, true},
		{"a second rating", ratedOnce, guardInput{a: replied, req: rating(2, 2)}, false},
	}
	for _, tt := range tests {
		err := tt.g.check(tt.in)
		if (err == nil) != tt.allow {
			t.Errorf("%s: %v, want allowed=%v", tt.name, err, tt.allow)
		}
		if err != nil && !errors.Is(err, ErrPrecondition) && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%s: %v wraps neither ErrPrecondition nor ErrInvalidArgument", tt.name, err)
		}
	}
	// opinionsIn is covered by TestReplyRules.
}
