package main

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/banli/banli/cmd/banli/load"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// TestPrincipalHeadSignsOffKeyCases: where the session asks
// (principal_signs_off_key_cases), a key case's reply is signed off by
// the unit's principal head (主要负责人), not by another head; other cases
// by any head. Only a unit head may be its unit's principal (#13, item 2).
func TestPrincipalHeadSignsOffKeyCases(t *testing.T) {
	f := newFixture(t)
	accounts := banliv1.NewAccountServiceClient(f.conn)
	_, err := accounts.CreateAccount(as(f.adminKey), &banliv1.CreateAccountRequest{AccountId: "staff-principal",
		Account: &banliv1.Account{DisplayName: "李明", Role: banliv1.Role_ROLE_UNIT_STAFF, Unit: f.unit(0), Principal: true}})
	wantCode(t, err, codes.InvalidArgument, "account.principal")
	principal := must(accounts.CreateAccount(as(f.adminKey), &banliv1.CreateAccountRequest{AccountId: "director",
		Account: &banliv1.Account{DisplayName: "张局长", Role: banliv1.Role_ROLE_UNIT_HEAD, Unit: f.unit(0), Principal: true}}))(t)
	deputy := as(f.account(t, "deputy-director", banliv1.Role_ROLE_UNIT_HEAD, f.unit(0)))

	sess := f.cppccSession(t, 4, &banliv1.SessionPolicy{PrincipalSignsOffKeyCases: proto.Bool(true), CollectiveReviewForKeyCases: proto.Bool(false)})
	newCase := func(number string, key bool) string {
		p := f.assign(t, f.receiveIn(t, sess, number), part(f.unit(0), roleLead))
		if key {
			must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: p.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)
		}
		a := p.GetAssignments()[0].GetName()
		f.sign(t, a)
		f.consult(t, a)
		return a
	}
	key, plain := newCase("P1", true), newCase("P2", false)
	_, err = f.proposals.SubmitReply(deputy, load.ReplyRequest(key, banliv1.ReplyCategory_REPLY_CATEGORY_A))
	wantCode(t, err, codes.PermissionDenied, "")
	must(f.proposals.SubmitReply(deputy, load.ReplyRequest(plain, banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	p := must(f.proposals.SubmitReply(as(principal.GetKey()), load.ReplyRequest(key, banliv1.ReplyCategory_REPLY_CATEGORY_A)))(t)
	if by := p.GetAssignments()[0].GetReplies()[0].GetSignedOffBy(); by != "accounts/director" {
		t.Errorf("signed off by %s", by)
	}
}
