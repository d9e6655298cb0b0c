package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// screenshotsEnv names a folder for the PNGs of the main pages, for a
// person to look at: BANLI_SCREENSHOTS=/tmp/shots go test -run Browser.
const screenshotsEnv = "BANLI_SCREENSHOTS"

// chromium finds the browser the page tests drive: Debian's chromium, which
// .ci/run installs. Without one a test skips, saying how to run it, except
// under CI=true, where a missing browser is a failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium on this machine: .ci/run installs Debian's chromium package, and under CI=true the browser tests must run")
	}
	t.Skip("no Chromium here: install it (apt-get install chromium) or run .ci/run to run the browser tests")
	return ""
}

// browserTab is one headless Chromium tab, closed with the test.
type browserTab struct {
	t    *testing.T
	ctx  context.Context
	base string
	// shots is where the tab's screenshots go: the test's temp dir.
	shots string
	n     int
}

func newBrowser(t *testing.T, f *fixture) *browserTab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "zh-CN"),
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(alloc)
	ctx, cancelTime := context.WithTimeout(ctx, 30*time.Second)
	t.Cleanup(func() { cancelTime(); cancelTab(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return &browserTab{t: t, ctx: ctx, base: "http://" + f.addrs.HTTPAddr, shots: t.TempDir()}
}

// run runs browser actions, and on failure saves a screenshot of where it
// stood.
func (b *browserTab) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v (screenshots in %s)", what, err, b.shots)
	}
}

// screenshot saves the whole page as a PNG in the test's temp dir, and in
// the folder screenshotsEnv names, if any.
func (b *browserTab) screenshot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.n++
	os.WriteFile(filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name)), png, 0o644)
	if dir := os.Getenv(screenshotsEnv); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err == nil {
			os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
		}
	}
}

// value runs an action that gives a value.
func value[T any](b *browserTab, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.screenshot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v (screenshots in %s)", what, err, b.shots)
	}
	return v
}

func (b *browserTab) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(value(b, "read "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// count is how many elements match sel (at once, without waiting).
func (b *browserTab) count(sel string) int {
	b.t.Helper()
	return len(value(b, "count "+sel, chromedp.Nodes(chromedp.CSSAll(sel), chromedp.AtLeast(0))))
}

// leave runs actions that leave the page (a form sent, a link followed)
// and waits until the next page has loaded: the page left is marked first,
// so that a wait cannot be met by the page that is going away.
func leave(actions ...chromedp.Action[chromedp.Void]) chromedp.Action[chromedp.Void] {
	mark := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Evaluate[bool](`(document.documentElement.dataset.left = "yes") === "yes"`)(ctx, t)
		return err
	})
	// The page's context goes with the page: an evaluation that meets the
	// navigation fails, and is tried again.
	arrived := chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for {
			loaded, err := chromedp.Evaluate[bool](`document.readyState === "complete" && document.documentElement.dataset.left !== "yes"`)(ctx, t)
			if err == nil && loaded {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the next page did not load: %w (last: %v)", ctx.Err(), err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	return chromedp.Steps(append(append([]chromedp.Action[chromedp.Void]{mark}, actions...), arrived)...)
}

// unlabelled counts the form controls of the page with no label, which a
// screen reader could not name.
func (b *browserTab) unlabelled() int {
	b.t.Helper()
	return value(b, "count unlabelled controls", chromedp.Evaluate[int](`[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].filter(e => e.labels.length === 0 && !e.getAttribute("aria-label")).length`))
}

// signIn fills and sends the sign-in form.
func (b *browserTab) signIn(key string) {
	b.t.Helper()
	b.run("sign in",
		chromedp.Navigate(b.base+"/ui/login"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.SendKeys(chromedp.CSS("#key"), key),
		leave(chromedp.Submit(chromedp.CSS("#key"))),
		chromedp.WaitVisible(chromedp.CSS("form.who")),
	)
}

// rateText is how the page writes a rate.
func pageRate(r *banliv1.Rate) string {
	if r.GetDenominator() == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f%%（%d/%d）", r.GetRate()*100, r.GetNumerator(), r.GetDenominator())
}

// TestDashboardInABrowser signs in to the page in headless Chromium as the
// office and as a unit, and checks what each sees against the API.
func TestDashboardInABrowser(t *testing.T) {
	f := newFixture(t)
	cases := dashboardYear(t, f)
	b := newBrowser(t, f)

	// The office signs in and sees the year's figures, as the API gives them.
	b.signIn(f.officeKey(t))
	if h1 := b.text("h1"); h1 != "2021 年办理概况" {
		t.Errorf("overview heading %q", h1)
	}
	st := must(f.statistics().GetStatistics(office, &banliv1.GetStatisticsRequest{Year: 2021}))(t)
	for sel, want := range map[string]string{
		"#on-time-sign-in": pageRate(st.GetOnTimeSignIn()),
		"#on-time-reply":   pageRate(st.GetOnTimeReply()),
		"#satisfaction":    pageRate(st.GetSatisfaction()),
		"#handled-cases":   fmt.Sprint(st.GetHandledCases()),
	} {
		if got := b.text(sel); got != want {
			t.Errorf("overview %s: %q, the API says %q", sel, got, want)
		}
	}
	if rows := b.count("#cases-by-state tbody tr"); rows != len(st.GetCasesByState()) {
		t.Errorf("cases by state: %d rows, the API has %d states", rows, len(st.GetCasesByState()))
	}
	if n := b.count("figure.chart svg"); n < 4 {
		t.Errorf("%d charts on the overview, want the states and three rates", n)
	}
	if key := b.text("#key tbody"); !strings.Contains(key, cases[3].GetNumber()) || !strings.Contains(key, "陈副市长") {
		t.Errorf("key cases: %q", key)
	}
	b.screenshot("overview")

	// The ledger, filtered by unit and state through its form.
	b.run("filter the ledger",
		chromedp.Navigate(b.base+"/ui/ledger"),
		chromedp.WaitVisible(chromedp.CSS("#ledger")),
		chromedp.SetValue(chromedp.CSS("#unit"), f.unit(0)),
		chromedp.SetValue(chromedp.CSS("#state"), "ASSIGNMENT_STATE_CONSULTED"),
		leave(chromedp.Click(chromedp.CSS(`form.filters button[type="submit"]`))),
		chromedp.WaitVisible(chromedp.CSS("#ledger")),
	)
	if rows, body := b.count("#ledger tbody tr"), b.text("#ledger tbody"); rows != 1 || !strings.Contains(body, cases[1].GetNumber()) || !strings.Contains(body, f.bureaus[0].GetDisplayName()) {
		t.Errorf("unit 0's consulted parts: %d rows: %q", rows, body)
	}
	b.run("the whole ledger", chromedp.Navigate(b.base+"/ui/ledger"), chromedp.WaitVisible(chromedp.CSS("#ledger")))
	want := must(f.supervision().ListLedgerEntries(office, &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_ALL_OPEN}))(t)
	if rows := b.count("#ledger tbody tr"); rows != len(want.GetEntries()) {
		t.Errorf("the ledger shows %d parts, the API %d", rows, len(want.GetEntries()))
	}
	if n := b.unlabelled(); n != 0 {
		t.Errorf("the ledger has %d form controls without a label", n)
	}
	b.screenshot("ledger")

	// A case, from its ledger link: its parts and its whole history.
	b.run("open a case",
		leave(chromedp.Click(chromedp.CSS(fmt.Sprintf(`#ledger a[href="/ui/%s"]`, cases[2].GetName())))),
		chromedp.WaitVisible(chromedp.CSS("#timeline")),
	)
	events := must(f.events.ListProposalEvents(office, &banliv1.ListProposalEventsRequest{Parent: cases[2].GetName()}))(t).GetEvents()
	if n := b.count("#timeline li"); n != len(events) {
		t.Errorf("timeline: %d entries, %d events", n, len(events))
	}
	if tl := b.text("#timeline"); !strings.Contains(tl, events[len(events)-1].GetDescriptionZh()) || !strings.Contains(tl, "签收") {
		t.Errorf("timeline %q lacks %q", tl, events[len(events)-1].GetDescriptionZh())
	}
	if parts := b.text("#parts"); !strings.Contains(parts, "主办") || !strings.Contains(parts, "个工作日") {
		t.Errorf("parts with their deadlines' rules: %q", parts)
	}
	if n := b.unlabelled(); n != 0 {
		t.Errorf("a case's page has %d form controls without a label", n)
	}
	b.screenshot("case")

	// The office reminds a unit, from the case's page.
	b.run("remind",
		chromedp.Navigate(b.base+"/ui/"+cases[0].GetName()),
		chromedp.WaitVisible(chromedp.CSS("#remind-message")),
		leave(chromedp.Click(chromedp.CSS(`form[action$="/remind"] button`))),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if flash := b.text(".flash"); flash != "已催办。" {
		t.Errorf("after reminding: %q", flash)
	}
	if n := len(must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: cases[0].GetName()}))(t).GetReminders()); n != 1 {
		t.Errorf("reminders after the form: %d", n)
	}

	// The statistics page: the summary and the league table of units.
	b.run("statistics", chromedp.Navigate(b.base+"/ui/statistics"), chromedp.WaitVisible(chromedp.CSS("#league")))
	league := must(f.statistics().ListUnitStatistics(office, &banliv1.ListUnitStatisticsRequest{Year: 2021}))(t)
	if rows := b.count("#league tbody tr"); rows != len(league.GetRows()) {
		t.Errorf("league table: %d rows, the API %d", rows, len(league.GetRows()))
	}
	if summary := b.text("#summary-text"); summary == "" || strings.ContainsAny(summary, "abcdefghijklmnopqrstuvwxyz") {
		t.Errorf("the summary is not Chinese throughout: %q", summary)
	}
	b.screenshot("statistics")

	// Logging out leaves the pages closed.
	b.run("log out",
		leave(chromedp.Click(chromedp.CSS(`form.who button`))),
		chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.Navigate(b.base+"/ui/ledger"),
		chromedp.WaitVisible(chromedp.CSS("#key")),
	)

	// A unit's staff sees its own parts only, signs for one, and is refused
	// another unit's case.
	b.signIn(f.account(t, "staff-0", banliv1.Role_ROLE_UNIT_STAFF, f.unit(0)))
	b.run("the unit's ledger", chromedp.Navigate(b.base+"/ui/ledger"), chromedp.WaitVisible(chromedp.CSS("#ledger")))
	rows := b.count("#ledger tbody tr")
	if mine := strings.Count(b.text("#ledger tbody"), f.bureaus[0].GetDisplayName()); rows != 2 || mine != rows {
		t.Errorf("unit 0's ledger: %d rows, %d of them unit 0's", rows, mine)
	}
	b.run("sign",
		chromedp.Navigate(b.base+"/ui/"+cases[0].GetName()),
		chromedp.WaitVisible(chromedp.CSS("#sign-person")),
		chromedp.SendKeys(chromedp.CSS("#sign-person"), "李明"),
		leave(chromedp.Click(chromedp.CSS(`form[action$="/sign"] button`))),
		chromedp.WaitVisible(chromedp.CSS(".flash")),
	)
	if flash := b.text(".flash"); flash != "已签收。" {
		t.Errorf("after signing: %q", flash)
	}
	if a := must(f.proposals.GetProposal(office, &banliv1.GetProposalRequest{Name: cases[0].GetName()}))(t).GetAssignments()[0]; a.GetState() != banliv1.AssignmentState_ASSIGNMENT_STATE_SIGNED || a.GetResponsiblePerson() != "李明" {
		t.Errorf("after the unit signed on the page: %v", a)
	}
	b.run("another unit's case",
		chromedp.Navigate(b.base+"/ui/"+cases[2].GetName()),
		chromedp.WaitVisible(chromedp.CSS("h1")),
	)
	if h1 := b.text("h1"); h1 != "无权访问" {
		t.Errorf("unit 0 opening unit 1's case: %q", h1)
	}
	b.screenshot("refused")

	// The page loads nothing from elsewhere and runs no script.
	b.run("the overview", chromedp.Navigate(b.base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("h1")))
	external := value(b, "count outside resources", chromedp.Evaluate[int](fmt.Sprintf(`[...document.querySelectorAll("[src],[href]")].filter(e => new URL(e.getAttribute("src") || e.getAttribute("href"), location.href).origin !== %q).length`, mustOrigin(b.base))))
	scripts := value(b, "count scripts", chromedp.Evaluate[int](`document.scripts.length`))
	if external != 0 || scripts != 0 {
		t.Errorf("the overview loads %d outside resources and has %d scripts", external, scripts)
	}
}

func mustOrigin(base string) string {
	u, _ := url.Parse(base)
	return u.Scheme + "://" + u.Host
}
