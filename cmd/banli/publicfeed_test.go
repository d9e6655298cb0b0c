package main

import (
	"context"
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// repliedCase is a case with its lead unit's reply made, text as given.
func repliedCase(t *testing.T, f *fixture, text string) (*banliv1.Proposal, string) {
	t.Helper()
	p := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	a := p.GetAssignments()[0].GetName()
	f.sign(t, a)
	f.consult(t, a)
	req := letterReply(a, banliv1.DisclosureIntent_DISCLOSURE_INTENT_FULL)
	req.Reply.Text = text + "\n" + req.Reply.Text
	p = must(f.proposals.SubmitReply(context.Background(), req))(t)
	return p, p.GetAssignments()[0].GetReplies()[0].GetName()
}

// TestPublicFeed: without signing in, the public reads the published
// replies, masked, and nothing else: not a reply pending, withheld or
// withdrawn, not a case's content or proposers; as JSON and Atom, with an
// ETag, limited per address; and not at all when the flag turns it off
// (#17, item 5).
func TestPublicFeed(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	_, public := repliedCase(t, f, "公开的答复")
	must(f.proposals.PublishReply(ctx, &banliv1.PublishReplyRequest{Name: public}))(t)
	_, held := repliedCase(t, f, "依法不予公开的答复")
	must(f.proposals.WithholdReply(ctx, &banliv1.WithholdReplyRequest{Name: held, Reason: "涉及国家秘密，依法不予公开"}))(t)
	repliedCase(t, f, "尚未公开的答复")
	_, withdrawn := repliedCase(t, f, "撤回公开的答复")
	must(f.proposals.PublishReply(ctx, &banliv1.PublishReplyRequest{Name: withdrawn}))(t)
	must(f.proposals.WithdrawPublication(ctx, &banliv1.WithdrawPublicationRequest{Name: withdrawn, Reason: "涉及未公开的工作安排"}))(t)

	get := func(path string, header ...string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+f.addrs.HTTPAddr+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	resp, body := get("/v1/public/replies") // no Authorization at all
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "公开的答复") || !strings.Contains(body, public) {
		t.Fatalf("the feed: %d %s", resp.StatusCode, body)
	}
	// (The letter greets its member by name, as published letters do; the
	// case's proposers are not listed.)
	for _, secret := range []string{"依法不予公开的答复", "尚未公开的答复", "撤回公开的答复", "13812345678", "一、现状分析", "致公党", "proposers"} {
		if strings.Contains(body, secret) {
			t.Errorf("the public feed holds %q:\n%s", secret, body)
		}
	}

	// Over gRPC with no credentials.
	conn := must(grpc.NewClient(f.addrs.GRPCAddr, grpc.WithTransportCredentials(insecure.NewCredentials())))(t)
	defer conn.Close()
	list := must(banliv1.NewPublicationServiceClient(conn).ListPublishedReplies(ctx, &banliv1.ListPublishedRepliesRequest{}))(t)
	if len(list.GetReplies()) != 1 || list.GetReplies()[0].GetReply() != public || list.GetReplies()[0].GetUnitDisplayName() != f.bureaus[0].GetDisplayName() {
		t.Errorf("over gRPC: %v", list)
	}

	// The same answer again is 304.
	etag := resp.Header.Get("ETag")
	if again, _ := get("/v1/public/replies", "If-None-Match", etag); etag == "" || again.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %q: %d", etag, again.StatusCode)
	}

	// Atom for feed readers.
	resp, body = get("/v1/public/replies.atom")
	var feed struct {
		Title   string `xml:"title"`
		Entries []struct {
			ID      string `xml:"id"`
			Content string `xml:"content"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal([]byte(body), &feed); err != nil || resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" ||
		len(feed.Entries) != 1 || feed.Entries[0].ID != "urn:banli:"+public || !strings.Contains(feed.Entries[0].Content, "公开的答复") {
		t.Errorf("Atom: %d %s %v\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), err, body)
	}

	// Limited per address: a burst, then 429 with Retry-After.
	limited := 0
	for range 40 {
		if resp, _ := get("/v1/public/replies?pageSize=1"); resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") != "" {
			limited++
		}
	}
	if limited == 0 {
		t.Error("40 calls at once from one address were not limited")
	}

	// Turned off, it is not there.
	off := newFixture(t, func(c *server.Config) { c.PublicFeedOff = true })
	_, err := banliv1.NewPublicationServiceClient(off.conn).ListPublishedReplies(ctx, &banliv1.ListPublishedRepliesRequest{})
	wantCode(t, err, codes.NotFound, "")
}
