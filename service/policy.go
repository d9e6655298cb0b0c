package service

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The defaults of DOMAIN.md ("Deadlines"; "The lifecycle"). A session
// stores its policy with every field filled in, so a later change of these
// defaults never changes the rules of a session already registered.
const (
	defaultSignInWorkingDays       = 5
	defaultReassignmentWorkingDays = 5
	defaultOpinionMonths           = 1
	defaultReplyMonths             = 3
	defaultReplyMaxMonths          = 6
	defaultRereplyMonths           = 1
	defaultDisclosureWorkingDays   = 20
	defaultRatingWorkingDays       = 15
	defaultConsultBeforeReply      = true
	defaultOpinionsBeforeLeadReply = true
	defaultCarryOverCategoryC      = false
	defaultCountersignLeadReply    = false
	defaultPrincipalSignsOffKey    = false
	defaultOfficeReviewsReplies    = false
	defaultOfficeVetsUnsatisfied   = true
	defaultRaters                  = banliv1.Raters_RATERS_EVERY_PROPOSER
	defaultUnreturnedRatings       = banliv1.UnreturnedRatings_UNRETURNED_RATINGS_COUNTED_APART
	defaultFollowUpReportDate      = "03-31"
	// Rules added after sessions were first registered: a new session gets
	// the default, one stored before the rule existed reads false (see
	// storedPolicy), so that its rules do not change under it.
	defaultCollectiveReviewForKeyCases = true
)

// resolvePolicy returns p with every omitted field set to its default.
func resolvePolicy(p *banliv1.SessionPolicy) *banliv1.SessionPolicy {
	out := &banliv1.SessionPolicy{}
	if p != nil {
		out = proto.Clone(p).(*banliv1.SessionPolicy)
	}
	setInt := func(f **int32, def int32) {
		if *f == nil {
			*f = proto.Int32(def)
		}
	}
	setInt(&out.SignInWorkingDays, defaultSignInWorkingDays)
	setInt(&out.ReassignmentWorkingDays, defaultReassignmentWorkingDays)
	setInt(&out.OpinionMonths, defaultOpinionMonths)
	setInt(&out.ReplyMonths, defaultReplyMonths)
	setInt(&out.ReplyMaxMonths, defaultReplyMaxMonths)
	setInt(&out.RereplyMonths, defaultRereplyMonths)
	setInt(&out.DisclosureWorkingDays, defaultDisclosureWorkingDays)
	setInt(&out.RatingWorkingDays, defaultRatingWorkingDays)
	if out.ConsultBeforeReply == nil {
		out.ConsultBeforeReply = proto.Bool(defaultConsultBeforeReply)
	}
	if out.OpinionsBeforeLeadReply == nil {
		out.OpinionsBeforeLeadReply = proto.Bool(defaultOpinionsBeforeLeadReply)
	}
	if out.CarryOverCategoryC == nil {
		out.CarryOverCategoryC = proto.Bool(defaultCarryOverCategoryC)
	}
	if out.CollectiveReviewForKeyCases == nil {
		out.CollectiveReviewForKeyCases = proto.Bool(defaultCollectiveReviewForKeyCases)
	}
	if out.CountersignLeadReply == nil {
		out.CountersignLeadReply = proto.Bool(defaultCountersignLeadReply)
	}
	if out.PrincipalSignsOffKeyCases == nil {
		out.PrincipalSignsOffKeyCases = proto.Bool(defaultPrincipalSignsOffKey)
	}
	if out.OfficeReviewsReplies == nil {
		out.OfficeReviewsReplies = proto.Bool(defaultOfficeReviewsReplies)
	}
	if out.OfficeVetsUnsatisfied == nil {
		out.OfficeVetsUnsatisfied = proto.Bool(defaultOfficeVetsUnsatisfied)
	}
	if out.Raters == banliv1.Raters_RATERS_UNSPECIFIED {
		out.Raters = defaultRaters
	}
	if out.UnreturnedRatings == banliv1.UnreturnedRatings_UNRETURNED_RATINGS_UNSPECIFIED {
		out.UnreturnedRatings = defaultUnreturnedRatings
	}
	if out.FollowUpReportDate == "" {
		out.FollowUpReportDate = defaultFollowUpReportDate
	}
	if out.RatingForm == banliv1.RatingForm_RATING_FORM_UNSPECIFIED {
		out.RatingForm = banliv1.RatingForm_RATING_FORM_OVERALL
	}
	if out.ReplyCategories == banliv1.ReplyCategorySet_REPLY_CATEGORY_SET_UNSPECIFIED {
		out.ReplyCategories = banliv1.ReplyCategorySet_REPLY_CATEGORY_SET_A_TO_D
	}
	return out
}

// storedPolicy is the policy a stored session holds: every field was
// filled in when it was registered, but for the rules added since, which
// read false.
func storedPolicy(p *banliv1.SessionPolicy) *banliv1.SessionPolicy {
	out := &banliv1.SessionPolicy{}
	if p != nil {
		out = proto.Clone(p).(*banliv1.SessionPolicy)
	}
	if out.CollectiveReviewForKeyCases == nil {
		out.CollectiveReviewForKeyCases = proto.Bool(false)
	}
	if out.Raters == banliv1.Raters_RATERS_UNSPECIFIED {
		out.Raters = banliv1.Raters_RATERS_ANY_PROPOSER
	}
	if out.OfficeVetsUnsatisfied == nil {
		out.OfficeVetsUnsatisfied = proto.Bool(false)
	}
	if out.UnreturnedRatings == banliv1.UnreturnedRatings_UNRETURNED_RATINGS_UNSPECIFIED {
		out.UnreturnedRatings = banliv1.UnreturnedRatings_UNRETURNED_RATINGS_WAIT
	}
	return resolvePolicy(out)
}

// validatePolicy checks the fields that were given; omitted ones take
// their defaults and need no check.
func validatePolicy(v *violations, field string, p *banliv1.SessionPolicy) {
	if p == nil {
		return
	}
	between := func(name string, val *int32, lo, hi int32) {
		if val != nil && (*val < lo || *val > hi) {
			v.add(field+"."+name, "must be from %d to %d", lo, hi)
		}
	}
	between("sign_in_working_days", p.SignInWorkingDays, 1, 60)
	between("reassignment_working_days", p.ReassignmentWorkingDays, 1, 60)
	between("opinion_months", p.OpinionMonths, 1, 12)
	between("reply_months", p.ReplyMonths, 1, 12)
	between("reply_max_months", p.ReplyMaxMonths, 1, 12)
	between("rereply_months", p.RereplyMonths, 1, 12)
	between("disclosure_working_days", p.DisclosureWorkingDays, 1, 120)
	between("rating_working_days", p.RatingWorkingDays, 1, 60)
	resolved := resolvePolicy(p)
	if resolved.GetReplyMaxMonths() < resolved.GetReplyMonths() {
		v.add(field+".reply_max_months", "must be at least reply_months (%d)", resolved.GetReplyMonths())
	}
	v.enum(field+".reply_categories", p.GetReplyCategories(), false)
	v.enum(field+".raters", p.GetRaters(), false)
	v.enum(field+".rating_form", p.GetRatingForm(), false)
	v.enum(field+".unreturned_ratings", p.GetUnreturnedRatings(), false)
	if r := p.GetCalendarRegion(); r != "" && !validAccountID(r) {
		v.add(field+".calendar_region", "a region's id: 2 to 63 lowercase letters, digits and hyphens, starting with a letter, e.g. guangxi")
	}
	if d := p.GetReplyDueDate(); d != "" {
		v.date(field+".reply_due_date", d)
	}
	if len(p.GetReplyDueDates()) > 10 {
		v.add(field+".reply_due_dates", "at most 10, one per proposer type")
	}
	types := map[banliv1.ProposerType]bool{}
	for i, d := range p.GetReplyDueDates() {
		f := fmt.Sprintf("%s.reply_due_dates[%d]", field, i)
		v.enum(f+".proposer_type", d.GetProposerType(), true)
		if types[d.GetProposerType()] {
			v.add(f+".proposer_type", "%s has a day already", d.GetProposerType())
		}
		types[d.GetProposerType()] = true
		v.date(f+".due_date", d.GetDueDate())
	}
	if d := p.GetFollowUpReportDate(); d != "" {
		// A day of every year: 02-29 is not one.
		if _, err := time.Parse("2006-01-02", "2021-"+d); err != nil || len(d) != 5 {
			v.add(field+".follow_up_report_date", "must be a day of every year as MM-DD, e.g. 03-31")
		}
	}
}

// fixedReplyDate is the session's fixed reply day for case p, if it has
// one: the day for the type of its first proposer, else the session's.
func fixedReplyDate(policy *banliv1.SessionPolicy, p *banliv1.Proposal) string {
	if proposers := p.GetProposers(); len(proposers) > 0 {
		for _, d := range policy.GetReplyDueDates() {
			if d.GetProposerType() == proposers[0].GetType() {
				return d.GetDueDate()
			}
		}
	}
	return policy.GetReplyDueDate()
}

// categoryAllowed says whether the session's policy accepts a reply
// category.
func categoryAllowed(p *banliv1.SessionPolicy, c banliv1.ReplyCategory) bool {
	if c == banliv1.ReplyCategory_REPLY_CATEGORY_D {
		return p.GetReplyCategories() != banliv1.ReplyCategorySet_REPLY_CATEGORY_SET_A_TO_C
	}
	return true
}

// ratingsExpected is how many ratings a reply to p waits for.
func ratingsExpected(policy *banliv1.SessionPolicy, p *banliv1.Proposal) int32 {
	if policy.GetRaters() == banliv1.Raters_RATERS_EVERY_PROPOSER {
		return int32(len(p.GetProposers()))
	}
	return 1
}

// formDimensions are the dimensions each rating form asks for, besides the
// overall satisfaction.
var formDimensions = map[banliv1.RatingForm][]banliv1.RatingDimension{
	banliv1.RatingForm_RATING_FORM_OVERALL: nil,
	banliv1.RatingForm_RATING_FORM_HONGKOU: {
		banliv1.RatingDimension_RATING_DIMENSION_ATTITUDE, banliv1.RatingDimension_RATING_DIMENSION_TARGETING,
		banliv1.RatingDimension_RATING_DIMENSION_RESULT, banliv1.RatingDimension_RATING_DIMENSION_COMMUNICATION,
	},
}

// firstProposer is the id of the case's first proposer (领衔).
func firstProposer(p *banliv1.Proposal) int32 {
	if len(p.GetProposers()) == 0 {
		return 0
	}
	return p.GetProposers()[0].GetId()
}

// carriesOver says whether a reply of this category puts the part on the
// follow-up register (跨年度): B always, C where the policy says so.
func carriesOver(p *banliv1.SessionPolicy, c banliv1.ReplyCategory) bool {
	return c == banliv1.ReplyCategory_REPLY_CATEGORY_B || (c == banliv1.ReplyCategory_REPLY_CATEGORY_C && p.GetCarryOverCategoryC())
}
