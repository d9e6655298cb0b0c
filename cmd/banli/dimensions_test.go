package main

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestRatingDimensions: a session rates on one overall satisfaction by
// default; the Hongkou form (态度, 针对性, 结果 and 沟通) is a named
// alternative whose ratings give every dimension. A dimension the
// session's form does not define is refused, naming the field (#13,
// item 3).
func TestRatingDimensions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sat := banliv1.Satisfaction_SATISFACTION_SATISFIED
	dims := func(ds ...banliv1.RatingDimension) []*banliv1.DimensionRating {
		var out []*banliv1.DimensionRating
		for _, d := range ds {
			out = append(out, &banliv1.DimensionRating{Dimension: d, Satisfaction: sat})
		}
		return out
	}
	attitude, targeting, result, communication := banliv1.RatingDimension_RATING_DIMENSION_ATTITUDE, banliv1.RatingDimension_RATING_DIMENSION_TARGETING,
		banliv1.RatingDimension_RATING_DIMENSION_RESULT, banliv1.RatingDimension_RATING_DIMENSION_COMMUNICATION
	replied := func(session string, number string) string {
		in := f.receive(t)
		p := must(f.proposals.CreateProposal(office, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
			Session: session, Kind: in.GetKind(), Number: number, Period: in.GetPeriod(), Title: in.GetTitle(), Content: in.GetContent(), Proposers: in.GetProposers()[:1],
		}}))(t)
		p = f.assign(t, p, part(f.unit(0), roleLead))
		a := p.GetAssignments()[0].GetName()
		f.sign(t, a)
		f.consult(t, a)
		return must(f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t).GetAssignments()[0].GetReplies()[0].GetName()
	}

	// The default form: the overall satisfaction alone.
	reply := replied(f.session.GetName(), "D1")
	_, err := f.proposals.RateReply(ctx, &banliv1.RateReplyRequest{Name: reply, ProposerId: 1, Satisfaction: sat, Dimensions: dims(attitude)})
	wantCode(t, err, codes.InvalidArgument, "dimensions[0]")

	hongkou := must(f.sessions.CreateSession(as(f.adminKey), &banliv1.CreateSessionRequest{Session: &banliv1.Session{
		Body: banliv1.Body_BODY_CPPCC, Level: banliv1.Level_LEVEL_DISTRICT, Term: 7, Meeting: 1, Year: 2021, DisplayName: "虹口区政协七届一次会议",
		Policy: &banliv1.SessionPolicy{RatingForm: banliv1.RatingForm_RATING_FORM_HONGKOU, Raters: banliv1.Raters_RATERS_FIRST_PROPOSER},
	}}))(t)
	reply = replied(hongkou.GetName(), "H1")
	_, err = f.proposals.RateReply(ctx, &banliv1.RateReplyRequest{Name: reply, ProposerId: 1, Satisfaction: sat, Dimensions: dims(attitude, targeting, result)})
	wantCode(t, err, codes.InvalidArgument, "dimensions")
	_, err = f.proposals.RateReply(ctx, &banliv1.RateReplyRequest{Name: reply, ProposerId: 1, Satisfaction: sat, Dimensions: dims(attitude, targeting, result, communication, attitude)})
	wantCode(t, err, codes.InvalidArgument, "dimensions[4]")
	p := must(f.proposals.RateReply(ctx, &banliv1.RateReplyRequest{Name: reply, ProposerId: 1, Satisfaction: sat, Dimensions: dims(attitude, targeting, result, communication)}))(t)
	got := p.GetAssignments()[0].GetReplies()[0].GetRatings()[0]
	if len(got.GetDimensions()) != 4 || got.GetDimensions()[3].GetDimension() != communication {
		t.Errorf("the rating's dimensions: %v", got.GetDimensions())
	}
	if p.GetAssignments()[0].GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_RATED {
		t.Errorf("after the rating: %s", p.GetAssignments()[0].GetState())
	}
}
