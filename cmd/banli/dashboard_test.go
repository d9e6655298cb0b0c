package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// dashboardYear seeds a small year for the page: a case waiting to be
// signed for, one signed and consulted, one replied and rated, and a key
// case, across two units. It returns the cases in that order.
func dashboardYear(t *testing.T, f *fixture) []*banliv1.Proposal {
	t.Helper()
	awaiting := f.assign(t, f.receive(t), part(f.unit(0), roleLead))
	working := f.assign(t, f.receive(t), part(f.unit(0), roleLead), part(f.unit(1), roleCo))
	f.sign(t, working.Assignments[0].GetName())
	f.consult(t, working.Assignments[0].GetName())
	rated := f.assign(t, f.receive(t), part(f.unit(1), roleLead))
	ra := rated.Assignments[0].GetName()
	f.sign(t, ra)
	f.consult(t, ra)
	f.reply(t, ra)
	f.rate(t, ra+"/replies/1", 1, banliv1.Satisfaction_SATISFACTION_SATISFIED)
	key := f.assign(t, f.receive(t), part(f.unit(1), roleLead))
	must(f.proposals.MarkKey(office, &banliv1.MarkKeyRequest{Name: key.GetName(), Key: true, SupervisingLeader: "陈副市长"}))(t)
	var out []*banliv1.Proposal
	for _, p := range []*banliv1.Proposal{awaiting, working, rated, key} {
		out = append(out, must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: p.GetName()}))(t))
	}
	return out
}

// pageClient is a browser without a browser: a cookie jar, and no
// following of redirects, so that a test sees where it is sent.
type pageClient struct {
	t    testing.TB
	base string
	http *http.Client
}

func newPageClient(t testing.TB, f *fixture) *pageClient {
	jar, _ := cookiejar.New(nil)
	return &pageClient{t: t, base: "http://" + f.addrs.HTTPAddr, http: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *pageClient) do(method, path string, form url.Values, header ...string) (*http.Response, string) {
	c.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, c.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// hidden is the value of the named hidden input of a page.
func hidden(page, name string) string {
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return m[1]
}

// signIn signs the client in with key through the sign-in form.
func (c *pageClient) signIn(key string) {
	c.t.Helper()
	_, login := c.do("GET", "/ui/login", nil)
	resp, page := c.do("POST", "/ui/login", url.Values{"token": {hidden(login, "token")}, "key": {key}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
		c.t.Fatalf("sign-in: %d %s\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
	}
}

// TestDashboardSignInAndItsLocks: the page's session cookie, its headers,
// and the locks on its forms, as a browser would meet them.
func TestDashboardSignInAndItsLocks(t *testing.T) {
	f := newFixture(t)
	cases := dashboardYear(t, f)
	c := newPageClient(t, f)

	// Signed out, every page sends to the sign-in form.
	resp, _ := c.do("GET", "/ui/ledger", nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Fatalf("signed out: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, login := c.do("GET", "/ui/login", nil)
	for header, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := resp.Header.Get(header); got != want {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}
	if !strings.Contains(login, `<html lang="zh-CN">`) || strings.Contains(login, "<script") {
		t.Errorf("the sign-in page is not a script-free Chinese page:\n%s", login)
	}

	// A wrong key is refused, in Chinese, and makes no session.
	resp, page := c.do("POST", "/ui/login", url.Values{"token": {hidden(login, "token")}, "key": {"banli_nobody_wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(page, "class=\"error\"") || len(resp.Cookies()) != 1 {
		t.Errorf("a wrong key: %d %v\n%s", resp.StatusCode, resp.Cookies(), page)
	}
	// A sign-in form posted without its token (from another site) is refused.
	resp, _ = c.do("POST", "/ui/login", url.Values{"key": {f.officeKey(t)}})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("sign-in without the form's token: %d", resp.StatusCode)
	}

	c.signIn(f.officeKey(t))
	var session *http.Cookie
	u, _ := url.Parse(c.base + "/ui/")
	for _, ck := range c.http.Jar.Cookies(u) {
		if ck.Name == "banli_session" {
			session = ck
		}
	}
	if session == nil {
		t.Fatal("no session cookie")
	}
	_, overview := c.do("GET", "/ui/", nil)
	csrf := hidden(overview, "csrf")
	if csrf == "" {
		t.Fatalf("no form token on the overview:\n%s", overview)
	}

	// The cookie is HttpOnly, SameSite=Strict and for the page only.
	other := newPageClient(t, f)
	_, fresh := other.do("GET", "/ui/login", nil)
	resp, _ = other.do("POST", "/ui/login", url.Values{"token": {hidden(fresh, "token")}, "key": {f.officeKey(t)}})
	setCookie := resp.Header.Values("Set-Cookie")
	if !slices.ContainsFunc(setCookie, func(s string) bool {
		return strings.HasPrefix(s, "banli_session=") && strings.Contains(s, "HttpOnly") && strings.Contains(s, "SameSite=Strict") && strings.Contains(s, "Path=/ui/") && strings.Contains(s, "Max-Age=")
	}) {
		t.Errorf("session cookie: %v", setCookie)
	}

	remind := url.Values{"assignment": {cases[0].Assignments[0].GetName()}, "message": {"请抓紧办理"}, "request_id": {"ui-remind-1"}}
	stepPath := "/ui/" + cases[0].GetName() + "/remind"
	// A form without the token is refused and changes nothing.
	resp, _ = c.do("POST", stepPath, remind)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a step without the form token: %d", resp.StatusCode)
	}
	// So is one posted from another site, even with the token.
	remind.Set("csrf", csrf)
	resp, _ = c.do("POST", stepPath, remind, "Origin", "http://evil.example")
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a step posted from another origin: %d", resp.StatusCode)
	}
	if n := len(must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: cases[0].GetName()}))(t).GetReminders()); n != 0 {
		t.Fatalf("refused forms left %d reminders", n)
	}
	// With its token it is taken once, however often it is posted.
	for range 2 {
		resp, _ = c.do("POST", stepPath, remind, "Origin", c.base)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the reminder: %d", resp.StatusCode)
		}
	}
	if n := len(must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: cases[0].GetName()}))(t).GetReminders()); n != 1 {
		t.Errorf("reminders after the form was posted twice: %d, want 1", n)
	}
	_, casePage := c.do("GET", "/ui/"+cases[0].GetName(), nil)
	if !strings.Contains(casePage, "已催办。") {
		t.Errorf("the case page does not say the reminder was sent")
	}

	// The download is the ledger as filtered: a unit's open parts.
	resp, csv := c.do("GET", "/ui/ledger/download?format=csv&unit="+url.QueryEscape(f.unit(0)), nil)
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") || !strings.HasPrefix(csv, "\ufeff案号,案由") || len(lines) != 3 {
		t.Errorf("CSV download of unit 0's ledger: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), csv)
	}
	resp, xlsx := c.do("GET", "/ui/ledger/download?unit="+url.QueryEscape(f.unit(0)), nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(xlsx, "PK") || !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Errorf("XLSX download: %d %q", resp.StatusCode, resp.Header.Get("Content-Disposition"))
	}

	// Logging out ends the session on the server: the old cookie opens nothing.
	resp, _ = c.do("POST", "/ui/logout", url.Values{"csrf": {csrf}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/login" {
		t.Errorf("logout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	replay, _ := http.NewRequest("GET", c.base+"/ui/ledger", nil)
	replay.AddCookie(session)
	old, err := (&http.Client{CheckRedirect: c.http.CheckRedirect}).Do(replay)
	if err != nil {
		t.Fatal(err)
	}
	old.Body.Close()
	if old.StatusCode != http.StatusSeeOther || old.Header.Get("Location") != "/ui/login" {
		t.Errorf("the old cookie after logout: %d %s", old.StatusCode, old.Header.Get("Location"))
	}
}
