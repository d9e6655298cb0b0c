package service

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The seeds run with every `go test`; `go test -fuzz FuzzX ./service`
// explores further.

func FuzzPageToken(f *testing.F) {
	req := &banliv1.ListProposalsRequest{Session: "sessions/1"}
	f.Add(pageToken(req, 42))
	f.Add("")
	f.Add("AQAAAAAAAAABAAAAAAAAAAA")
	f.Add("%%%")
	f.Fuzz(func(t *testing.T, token string) {
		after, err := parsePageToken(req, token)
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Fatalf("%q: %v is not INVALID_ARGUMENT", token, err)
		}
		if err == nil && token != "" && pageToken(req, after) != token {
			t.Fatalf("%q decodes to %d, which encodes differently", token, after)
		}
	})
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{"proposals/1/assignments/2", "proposals/01", "proposals/", "proposals/18446744073709551616", "units/1/x/2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		ids, ok := parseName(name, proposalsCollection, assignmentsCollection)
		if ok && assignmentName(ids[0], int(ids[1])) != name {
			t.Fatalf("%q parses to %v, which formats differently", name, ids)
		}
	})
}

// FuzzValidateRequests: any bytes that decode as a request are either
// accepted or refused with field violations; validation never panics.
func FuzzValidateRequests(f *testing.F) {
	seed, _ := proto.Marshal(&banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: "sessions/1", Kind: 2, Number: "20210090", Period: 1, Title: "t", Content: "c",
		Proposers: []*banliv1.Proposer{{Type: 1, DisplayName: "王委员", Phone: "138", Email: "a@b.cn"}},
	}})
	f.Add(seed)
	reply, _ := proto.Marshal(replyRequestForFuzz())
	f.Add(reply)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(err error) {
			var ve *ValidationError
			if err != nil && (!errors.As(err, &ve) || len(ve.Violations) == 0) {
				t.Fatalf("not a field violation: %v", err)
			}
		}
		create := &banliv1.CreateProposalRequest{}
		if proto.Unmarshal(b, create) == nil {
			check(validateCreateProposal(create))
		}
		sub := &banliv1.SubmitReplyRequest{}
		if proto.Unmarshal(b, sub) == nil {
			_, err := validateReply(sub, now)
			check(err)
		}
		assign := &banliv1.AssignProposalRequest{}
		if proto.Unmarshal(b, assign) == nil {
			check(validateAssign(assign))
		}
		sess := &banliv1.CreateSessionRequest{}
		if proto.Unmarshal(b, sess) == nil {
			check(validateCreateSession(sess))
		}
	})
}

func replyRequestForFuzz() *banliv1.SubmitReplyRequest {
	return &banliv1.SubmitReplyRequest{Name: "proposals/1/assignments/1", Reply: &banliv1.Reply{
		Category: 1, Text: "答复", Signer: "局长", ContactPerson: "李", ContactPhone: "0755-1", DisclosureIntent: 1,
	}}
}
