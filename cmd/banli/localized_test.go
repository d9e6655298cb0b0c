package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// localizedMessage is the LocalizedMessage detail of err, if any.
func localizedMessage(err error) *errdetails.LocalizedMessage {
	for _, d := range status.Convert(err).Details() {
		if lm, ok := d.(*errdetails.LocalizedMessage); ok {
			return lm
		}
	}
	return nil
}

// TestErrorsSpeakTheCallersLanguage: a refusal carries a
// google.rpc.LocalizedMessage, in Chinese unless the caller asks for
// English (accept-language metadata, or Accept-Language over REST), beside
// the English status message for developers (AIP-193): a 400, a 403, a
// 404, a 409 and a failed sign-in, over gRPC and REST (#16, item 1).
func TestErrorsSpeakTheCallersLanguage(t *testing.T) {
	f := newFixture(t)
	p := f.receive(t)
	officeKey := f.officeKey(t)
	staff := f.account(t, "lang-staff", banliv1.Role_ROLE_UNIT_STAFF, f.unit(1))
	calls := []struct {
		what string
		code codes.Code
		call func(ctx context.Context) error
		// zh is a part of the Chinese message.
		zh string
	}{
		{"a bad field", codes.InvalidArgument, func(ctx context.Context) error {
			_, err := f.proposals.GetProposal(ctx, &banliv1.GetProposalRequest{Name: "proposals/x"})
			return err
		}, "请求有误，请检查以下字段：name"},
		{"another's case", codes.PermissionDenied, func(ctx context.Context) error {
			_, err := f.proposals.GetProposal(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+staff), &banliv1.GetProposalRequest{Name: p.GetName()})
			return err
		}, "无权"},
		{"a case not there", codes.NotFound, func(ctx context.Context) error {
			_, err := f.proposals.GetProposal(ctx, &banliv1.GetProposalRequest{Name: "proposals/999999"})
			return err
		}, "未找到proposals/999999"},
		{"a number taken", codes.AlreadyExists, func(ctx context.Context) error {
			_, err := f.proposals.CreateProposal(ctx, f.receiveRequest(p.GetNumber()))
			return err
		}, "已存在"},
		{"a stale etag", codes.Aborted, func(ctx context.Context) error {
			_, err := f.proposals.MarkKey(ctx, &banliv1.MarkKeyRequest{Name: p.GetName(), Key: true, SupervisingLeader: "陈副市长", Etag: "stale"})
			return err
		}, "请刷新后重试"},
		{"a bad key", codes.Unauthenticated, func(ctx context.Context) error {
			_, err := f.proposals.GetProposal(metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer nope"), &banliv1.GetProposalRequest{Name: p.GetName()})
			return err
		}, "未登录"},
	}
	for _, c := range calls {
		signed := func(lang string) context.Context {
			md := metadata.Pairs()
			if lang != "" {
				md.Set("accept-language", lang)
			}
			ctx := metadata.NewOutgoingContext(context.Background(), md)
			if c.code != codes.PermissionDenied && c.code != codes.Unauthenticated {
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+officeKey)
			}
			return ctx
		}
		err := c.call(signed(""))
		lm := localizedMessage(err)
		if status.Code(err) != c.code || lm.GetLocale() != "zh-CN" || !strings.Contains(lm.GetMessage(), c.zh) {
			t.Errorf("%s over gRPC: %v, localized %v; want %s with %q", c.what, err, lm, c.code, c.zh)
		}
		if strings.ContainsFunc(status.Convert(err).Message(), func(r rune) bool { return r >= 0x4e00 && r <= 0x9fff && !strings.ContainsRune("陈副市长", r) }) {
			t.Errorf("%s: the developer's message is not English: %s", c.what, status.Convert(err).Message())
		}
		if lm := localizedMessage(c.call(signed("en-GB,en;q=0.9"))); lm.GetLocale() != "en" || lm.GetMessage() == "" {
			t.Errorf("%s in English: %v", c.what, lm)
		}
	}

	// Each field violation says what is wrong in Chinese too.
	_, err := f.proposals.CreateProposal(as(officeKey), &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{Session: f.session.GetName()}})
	var violations []string
	for _, d := range status.Convert(err).Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				violations = append(violations, v.GetField()+"："+v.GetLocalizedMessage().GetMessage())
			}
		}
	}
	if got := strings.Join(violations, "; "); !strings.Contains(got, "proposal.title：必填") || strings.Contains(got, "required") {
		t.Errorf("field violations in Chinese: %s", got)
	}
	t.Logf("a case with nothing but its session: %s", strings.Join(violations, "; "))

	// Over REST: the header picks the language, the status carries the
	// message.
	for _, r := range []struct {
		method, path, body, key string
		code                    int
	}{
		{"GET", "/v1/proposals/x", "", officeKey, http.StatusBadRequest},
		{"GET", "/v1/" + p.GetName(), "", staff, http.StatusForbidden},
		{"GET", "/v1/proposals/999999", "", officeKey, http.StatusNotFound},
		{"POST", "/v1/proposals", `{"session":"` + f.session.GetName() + `","kind":"PROPOSAL_KIND_CPPCC_PROPOSAL","number":"` + p.GetNumber() +
			`","period":"SUBMISSION_PERIOD_DURING_MEETING","title":"关于加快数字政府建设的提案","content":"一、现状分析……","proposers":[{"type":"PROPOSER_TYPE_PERSON","displayName":"王委员"}]}`, officeKey, http.StatusConflict},
	} {
		for lang, want := range map[string]string{"": "zh-CN", "zh-CN,zh;q=0.9": "zh-CN", "en": "en"} {
			req, err := http.NewRequest(r.method, "http://"+f.addrs.HTTPAddr+r.path, strings.NewReader(r.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+r.key)
			req.Header.Set("Content-Type", "application/json")
			if lang != "" {
				req.Header.Set("Accept-Language", lang)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var body strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(buf)
				body.Write(buf[:n])
				if err != nil {
					break
				}
			}
			resp.Body.Close()
			if resp.StatusCode != r.code || !strings.Contains(body.String(), `"locale":"`+want+`"`) {
				t.Errorf("%s %s (Accept-Language %q): %d %s; want %d with a %s message", r.method, r.path, lang, resp.StatusCode, body.String(), r.code, want)
			}
		}
	}
}
