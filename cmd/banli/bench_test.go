package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/banli/banli/cmd/banli/load"
	"github.com/banli/banli/cmd/banli/server"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

// The benchmarks drive the real server over loopback gRPC, with every
// commit fsynced, client and server on this one machine. Besides ns/op they
// report the latency percentiles of single calls (p50-ms, p99-ms) and
// throughput (calls/s or cases/s).

// latencies collects call durations from many goroutines.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	if len(l.all) == 0 {
		return
	}
	slices.Sort(l.all)
	at := func(q float64) float64 {
		return float64(l.all[int(q*float64(len(l.all)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func benchProposal(f *fixture, n int64) *banliv1.CreateProposalRequest {
	return &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: f.session.GetName(), Kind: banliv1.ProposalKind_PROPOSAL_KIND_CPPCC_PROPOSAL,
		Number: fmt.Sprintf("B%09d", n), Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING,
		Title:   "关于进一步推进数字政府建设、提升政务服务效能的提案",
		Content: "一、现状与问题：……（约一千字的分析）\n二、建议：（一）……（二）……（三）……",
		Topics:  []string{"数字政府", "政务服务"},
		Proposers: []*banliv1.Proposer{
			{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员", Affiliation: "经济界", Phone: "13800000001"},
			{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "李委员", Affiliation: "科技界"},
		},
	}}
}

// parallel runs body b.N times spread over clients goroutines, timed.
func parallel(b *testing.B, clients int, body func(i int64)) {
	b.ResetTimer()
	fanOut(int64(b.N), clients, body)
	b.StopTimer()
}

// fanOut calls body(1) … body(n) from clients goroutines.
func fanOut(n int64, clients int, body func(i int64)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= n; i = next.Add(1) {
				body(i)
			}
		}()
	}
	wg.Wait()
}

func BenchmarkCreateProposal(b *testing.B) {
	for _, clients := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			f := newFixture(b)
			var lat latencies
			start := time.Now()
			parallel(b, clients, func(i int64) {
				t0 := time.Now()
				if _, err := f.proposals.CreateProposal(office, benchProposal(f, i)); err != nil {
					b.Error(err)
				}
				lat.add(time.Since(t0))
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
			lat.report(b)
		})
	}
}

// BenchmarkAuthCost measures what signing in, the access rule, the rate
// limiter and the audit of denials cost CreateProposal at 64 clients: the
// same calls with and without the interceptor (the audit record of every
// mutation is written either way). The limiter is on, with a limit no
// client reaches.
func BenchmarkAuthCost(b *testing.B) {
	for _, auth := range []bool{false, true} {
		b.Run(fmt.Sprintf("auth=%v", auth), func(b *testing.B) {
			f := newFixture(b, func(c *server.Config) { c.WithoutAuth, c.RateLimit, c.RateBurst = !auth, 1e9, 1e9 })
			// Sign in once outside the timing: the office account is made on
			// first use.
			must(f.proposals.CreateProposal(office, benchProposal(f, -1)))(b)
			var lat latencies
			start := time.Now()
			parallel(b, 64, func(i int64) {
				t0 := time.Now()
				if _, err := f.proposals.CreateProposal(office, benchProposal(f, i)); err != nil {
					b.Error(err)
				}
				lat.add(time.Since(t0))
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
			lat.report(b)
		})
	}
}

// BenchmarkLifecycle takes each case through the five steps (receive,
// assign, sign, consult, reply, rate: six calls) with 64 clients.
func BenchmarkLifecycle(b *testing.B) {
	f := newFixture(b)
	unit := f.unit(0)
	start := time.Now()
	parallel(b, 64, func(i int64) {
		ctx := context.Background()
		p, err := f.proposals.CreateProposal(ctx, benchProposal(f, i))
		if err == nil {
			p, err = f.proposals.AssignProposal(ctx, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{{Unit: unit, Role: roleLead}}})
		}
		if err != nil {
			b.Error(err)
			return
		}
		a := p.GetAssignments()[0].GetName()
		steps := []func() error{
			func() error {
				_, err := f.proposals.SignAssignment(ctx, &banliv1.SignAssignmentRequest{Name: a})
				return err
			},
			func() error {
				_, err := f.proposals.RecordConsultation(ctx, &banliv1.RecordConsultationRequest{Name: a, Consultation: &banliv1.Consultation{
					Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_PHONE, Summary: "电话沟通"}})
				return err
			},
			func() error {
				_, err := f.proposals.SubmitReply(ctx, load.ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A))
				return err
			},
			func() error {
				_, err := f.proposals.RateReply(ctx, &banliv1.RateReplyRequest{Name: a + "/replies/1", ProposerId: 1, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED})
				return err
			},
		}
		for _, step := range steps {
			if err := step(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "cases/s")
}

func BenchmarkGetProposal(b *testing.B) {
	f := newFixture(b)
	p := must(f.proposals.CreateProposal(office, benchProposal(f, 0)))(b)
	req := &banliv1.GetProposalRequest{Name: p.GetName()}
	var lat latencies
	parallel(b, 1, func(int64) {
		t0 := time.Now()
		if _, err := f.proposals.GetProposal(office, req); err != nil {
			b.Error(err)
		}
		lat.add(time.Since(t0))
	})
	lat.report(b)
}

// BenchmarkAtScale seeds one store through the API, then measures reads
// that must stay fast however many cases there are: a filtered list page,
// a ledger view, and one unit's statistics for a year. A unit leads a
// tenth of the cases, a third of those in one state; the other parts go
// round sixty units, which the league table ranks. The store holds
// BANLI_BENCH_CASES cases (default 100,000; 5,000 with -short).
func BenchmarkAtScale(b *testing.B) {
	cases := int64(100_000)
	if testing.Short() {
		cases = 5_000
	}
	if n, err := strconv.ParseInt(os.Getenv("BANLI_BENCH_CASES"), 10, 64); err == nil && n > 0 {
		cases = n
	}
	f := newFixture(b)
	// Sixty units, as a city has bureaus: split parts go round them all,
	// so that the league table has a row for each.
	units := slices.Clone(f.bureaus)
	for i := len(units); i < 60; i++ {
		u, err := f.units.CreateUnit(office, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: fmt.Sprintf("市第%d局", i)}})
		if err != nil {
			b.Fatal(err)
		}
		units = append(units, u)
	}
	seed := time.Now()
	fanOut(cases, 64, func(i int64) {
		ctx := context.Background()
		p, err := f.proposals.CreateProposal(ctx, benchProposal(f, i))
		if err != nil {
			b.Error(err)
			return
		}
		role := roleSplit
		if i%10 == 0 {
			role = roleLead
		}
		unit := units[(i+i/10)%int64(len(units))].GetName() // every unit, though each tenth case is led by unit 5
		if role == roleLead {
			unit = f.unit(5)
		}
		p, err = f.proposals.AssignProposal(ctx, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{{Unit: unit, Role: role}}})
		if err == nil && i%3 == 0 {
			_, err = f.proposals.SignAssignment(ctx, &banliv1.SignAssignmentRequest{Name: p.GetAssignments()[0].GetName()})
		}
		if err != nil {
			b.Error(err)
		}
	})
	b.Logf("seeded %d cases in %s", cases, time.Since(seed).Round(time.Millisecond))
	// Sub-benchmarks, so that the seeding above runs once, not once per
	// calibration round.
	b.Run("list/unit+role+state", func(b *testing.B) {
		benchListPages(b, f, &banliv1.ListProposalsRequest{
			Session: f.session.GetName(), Unit: f.unit(5), Role: roleLead,
			State: banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, PageSize: 50,
		})
	})
	b.Run("list/year+state", func(b *testing.B) {
		benchListPages(b, f, &banliv1.ListProposalsRequest{Year: 2021, State: banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, PageSize: 50})
	})
	b.Run("ledger/awaiting-sign-in", func(b *testing.B) {
		req := &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_AWAITING_SIGN_IN, Unit: f.unit(5), PageSize: 50}
		benchCall(b, func() error { _, err := f.supervision().ListLedgerEntries(office, req); return err })
	})
	b.Run("ledger/due-soon", func(b *testing.B) {
		req := &banliv1.ListLedgerEntriesRequest{View: banliv1.LedgerView_LEDGER_VIEW_DUE_SOON, Unit: f.unit(5), PageSize: 50}
		benchCall(b, func() error { _, err := f.supervision().ListLedgerEntries(office, req); return err })
	})
	b.Run("statistics/unit-year", func(b *testing.B) {
		req := &banliv1.GetStatisticsRequest{Unit: f.unit(5), Year: 2021}
		benchCall(b, func() error { _, err := f.statistics().GetStatistics(office, req); return err })
	})
	b.Run("statistics/league-60-units", func(b *testing.B) {
		req := &banliv1.ListUnitStatisticsRequest{Year: 2021, OrderBy: "on_time_sign_in desc"}
		benchCall(b, func() error {
			resp, err := f.statistics().ListUnitStatistics(office, req)
			if err == nil && len(resp.GetRows()) != len(units) {
				err = fmt.Errorf("%d rows, want %d", len(resp.GetRows()), len(units))
			}
			return err
		})
	})
	b.Run("summary/unit-year", func(b *testing.B) {
		req := &banliv1.GetYearSummaryRequest{Unit: f.unit(5), Year: 2021}
		benchCall(b, func() error { _, err := f.statistics().GetYearSummary(office, req); return err })
	})
	// The dashboard's pages, as the office loads them: the server's time
	// for a whole page (its calls and its HTML), and its weight.
	page := newPageClient(b, f)
	page.signIn(f.officeKey(b))
	first := must(f.proposals.ListProposals(office, &banliv1.ListProposalsRequest{PageSize: 1}))(b).GetProposals()[0]
	for name, path := range map[string]string{
		"overview":   "/ui/?year=2021",
		"ledger":     "/ui/ledger",
		"case":       "/ui/" + first.GetName(),
		"statistics": "/ui/statistics?year=2021",
	} {
		b.Run("page/"+name, func(b *testing.B) { benchPage(b, page, path) })
	}
}

// benchPage loads a page of the dashboard b.N times and reports its weight
// (the HTML and its style sheet) beside the latencies.
func benchPage(b *testing.B, page *pageClient, path string) {
	var lat latencies
	var weight int
	_, css := page.do("GET", "/ui/static/banli.css", nil)
	parallel(b, 1, func(int64) {
		t0 := time.Now()
		resp, html := page.do("GET", path, nil)
		lat.add(time.Since(t0))
		if resp.StatusCode != http.StatusOK {
			b.Errorf("%s: %d", path, resp.StatusCode)
		}
		weight = len(html) + len(css)
	})
	lat.report(b)
	b.ReportMetric(float64(weight)/1024, "page-KiB")
}

// benchCall times one call, b.N times, from one client.
func benchCall(b *testing.B, call func() error) {
	var lat latencies
	parallel(b, 1, func(int64) {
		t0 := time.Now()
		if err := call(); err != nil {
			b.Error(err)
		}
		lat.add(time.Since(t0))
	})
	lat.report(b)
}

// benchListPages reads req's pages one after another, starting again at
// the first page after the last.
func benchListPages(b *testing.B, f *fixture, req *banliv1.ListProposalsRequest) {
	var lat latencies
	var token string
	parallel(b, 1, func(int64) {
		req.PageToken = token
		t0 := time.Now()
		resp, err := f.proposals.ListProposals(office, req)
		lat.add(time.Since(t0))
		if err != nil {
			b.Error(err)
			return
		}
		if len(resp.GetProposals()) != 50 && resp.GetNextPageToken() != "" {
			b.Errorf("page of %d", len(resp.GetProposals()))
		}
		token = resp.GetNextPageToken()
	})
	lat.report(b)
}

// BenchmarkImport streams rows in batches of 1,000 through ImportProposals
// on loopback (rows with a lead unit, as a session's file has them),
// reading answers while it sends, as banli import does, and reports rows
// per second.
func BenchmarkImport(b *testing.B) {
	f := newFixture(b)
	stream, err := banliv1.NewImportServiceClient(f.conn).ImportProposals(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	answered := make(chan int64, 1)
	go func() {
		var created int64
		for {
			resp, err := stream.Recv()
			if err != nil {
				answered <- created
				return
			}
			created += resp.GetCreated()
		}
	}()
	rows := make([]*banliv1.ImportRow, 0, batch)
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rows = append(rows, &banliv1.ImportRow{Row: int64(i + 1), Proposal: benchProposal(f, int64(i)).GetProposal(),
			Assignments: []*banliv1.UnitAssignment{{Unit: f.unit(i % 6), Role: roleLead}}})
		if len(rows) == batch || i == b.N-1 {
			if err := stream.Send(&banliv1.ImportProposalsRequest{Rows: rows}); err != nil {
				b.Fatal(err)
			}
			rows = make([]*banliv1.ImportRow, 0, batch)
		}
	}
	stream.CloseSend()
	if created := <-answered; created != int64(b.N) {
		b.Fatalf("created %d of %d", created, b.N)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkRecompute loads a corrected calendar year over a store of
// BANLI_BENCH_CASES open parts (default 20,000; 2,000 with -short) and
// times the recompute of every deadline it causes: each iteration loads
// one more version, moving a day off, so every part's deadlines change.
func BenchmarkRecompute(b *testing.B) {
	cases := 20000
	if testing.Short() {
		cases = 2000
	}
	if n, err := strconv.Atoi(os.Getenv("BANLI_BENCH_CASES")); err == nil && n > 0 {
		cases = n
	}
	f := newFixture(b)
	imports := banliv1.NewImportServiceClient(f.conn)
	for start := 0; start < cases; start += 1000 {
		batch := &banliv1.ImportProposalsRequest{}
		for i := start; i < min(start+1000, cases); i++ {
			batch.Rows = append(batch.Rows, &banliv1.ImportRow{Row: int64(i + 1), Proposal: benchProposal(f, int64(i)).GetProposal(),
				Assignments: []*banliv1.UnitAssignment{{Unit: f.unit(i % 6), Role: roleLead}}})
		}
		if _, err := imports.BulkImportProposals(office, &banliv1.BulkImportProposalsRequest{Batch: batch}); err != nil {
			b.Fatal(err)
		}
	}
	calendars := banliv1.NewCalendarServiceClient(f.conn)
	year := must(calendars.GetCalendarYear(office, &banliv1.GetCalendarYearRequest{Name: "calendars/2021"}))(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Alternately with and without an extra day off in early March,
		// which every deadline counted from the fixture's 1 March crosses.
		days := year.GetDaysOff()
		if i%2 == 0 {
			days = append(slices.Clone(days), &banliv1.CalendarDay{Date: "2021-03-05", Holiday: "测试"})
		}
		etag := must(calendars.GetCalendarYear(office, &banliv1.GetCalendarYearRequest{Name: "calendars/2021"}))(b).GetEtag()
		if _, err := calendars.LoadCalendarYear(office, &banliv1.LoadCalendarYearRequest{Name: "calendars/2021", DaysOff: days,
			MakeUpWorkingDays: year.GetMakeUpWorkingDays(), Sources: []string{"bench"}, Etag: etag}); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cases)*float64(b.N)/b.Elapsed().Seconds(), "parts/s")
}

// BenchmarkWatch measures the watch: creates at 64 clients with no
// watcher and beside one that never reads (which must not slow them), and
// 100 watchers following the creates, with the events delivered per
// second to all of them and the lag from a create's answer to each
// watcher's receipt (watch-p50-ms, watch-p99-ms).
func BenchmarkWatch(b *testing.B) {
	creates := func(b *testing.B, f *fixture) {
		start := time.Now()
		parallel(b, 64, func(i int64) {
			if _, err := f.proposals.CreateProposal(office, benchProposal(f, i)); err != nil {
				b.Error(err)
			}
		})
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
	}
	b.Run("creates/no-watcher", func(b *testing.B) { creates(b, newFixture(b)) })
	b.Run("creates/stalled-watcher", func(b *testing.B) {
		f := newFixture(b)
		if _, err := f.events.WatchEvents(office, &banliv1.WatchEventsRequest{}); err != nil {
			b.Fatal(err)
		}
		creates(b, f) // the watcher's stream is never read
	})
	b.Run("fan-out/100-watchers", func(b *testing.B) {
		f := newFixture(b)
		from := must(f.events.ListEvents(office, &banliv1.ListEventsRequest{PageSize: 1}))(b).GetLatestSequence()
		var acked sync.Map // case name -> when its create was answered
		var lat latencies
		var delivered atomic.Int64
		ctx, cancel := context.WithCancel(office)
		defer cancel()
		var watching sync.WaitGroup
		for range 100 {
			stream, err := f.events.WatchEvents(ctx, &banliv1.WatchEventsRequest{AfterSequence: from, Actions: []string{"CreateProposal"}})
			if err != nil {
				b.Fatal(err)
			}
			watching.Add(1)
			go func() {
				defer watching.Done()
				for seen := 0; seen < b.N; {
					msg, err := stream.Recv()
					if err != nil {
						return
					}
					ev := msg.GetEvent()
					if ev == nil {
						continue
					}
					seen++
					delivered.Add(1)
					if at, ok := acked.Load(ev.GetResource()); ok {
						lat.add(max(0, time.Since(at.(time.Time))))
					}
				}
			}()
		}
		start := time.Now()
		parallel(b, 64, func(i int64) {
			p, err := f.proposals.CreateProposal(office, benchProposal(f, i))
			if err != nil {
				b.Error(err)
				return
			}
			acked.Store(p.GetName(), time.Now())
		})
		watching.Wait()
		b.ReportMetric(float64(delivered.Load())/time.Since(start).Seconds(), "events/s")
		slices.Sort(lat.all)
		if n := len(lat.all); n > 0 {
			b.ReportMetric(float64(lat.all[n/2].Microseconds())/1000, "watch-p50-ms")
			b.ReportMetric(float64(lat.all[n*99/100].Microseconds())/1000, "watch-p99-ms")
		}
	})
}

// BenchmarkWebhooks measures creates at 64 clients with no webhook and
// with 3 webhooks delivering every event to receivers on loopback (which
// must not slow them), and the delivery latency: from a create's answer
// to its event's arrival at each receiver (hook-p50-ms, hook-p99-ms),
// after a burst (which the posts' cap, -webhook-rate, spreads out) and
// at 100 creates a second (within the cap).
func BenchmarkWebhooks(b *testing.B) {
	var acked sync.Map // case name -> when its create was answered
	var lat latencies
	var arrived atomic.Int64
	// The receivers share the server's two cores, so they read no more of
	// a delivery than the case it is about.
	resource := regexp.MustCompile(`"resource":"([^"]+)"`)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if m := resource.FindSubmatch(body); m != nil && bytes.Contains(body, []byte(`"type":"CreateProposal"`)) {
			if at, ok := acked.Load(string(m[1])); ok {
				lat.add(max(0, time.Since(at.(time.Time))))
			}
			arrived.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer receiver.Close()
	run := func(b *testing.B, hooks int, paced bool) {
		f := newFixture(b, func(c *server.Config) {
			c.WebhookAllow = mustAllow(receiver.URL + "/")
			if n, err := strconv.ParseFloat(os.Getenv("BANLI_BENCH_WEBHOOK_RATE"), 64); err == nil && n > 0 {
				c.WebhookRate = n // -webhook-rate, to weigh the cap against the creates
			}
		})
		for i := range hooks {
			must(banliv1.NewWebhookServiceClient(f.conn).CreateWebhook(as(f.adminKey), &banliv1.CreateWebhookRequest{
				Webhook: &banliv1.Webhook{Url: fmt.Sprintf("%s/hook/%d", receiver.URL, i)}}))(b)
		}
		acked.Clear()
		lat.mu.Lock()
		lat.all = nil
		lat.mu.Unlock()
		arrived.Store(0)
		create := func(i int64) {
			p, err := f.proposals.CreateProposal(office, benchProposal(f, i))
			if err != nil {
				b.Error(err)
				return
			}
			acked.Store(p.GetName(), time.Now())
		}
		start := time.Now()
		if paced { // 100 creates a second: what the cap lets through at once
			tick := time.NewTicker(10 * time.Millisecond)
			for i := range int64(b.N) {
				<-tick.C
				create(i)
			}
			tick.Stop()
		} else {
			parallel(b, 64, create)
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "calls/s")
		if hooks == 0 {
			return
		}
		b.StopTimer()
		for deadline := time.Now().Add(2 * time.Minute); arrived.Load() < int64(hooks*b.N) && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
		lat.mu.Lock()
		defer lat.mu.Unlock()
		slices.Sort(lat.all)
		if n := len(lat.all); n > 0 {
			b.ReportMetric(float64(lat.all[n/2].Microseconds())/1000, "hook-p50-ms")
			b.ReportMetric(float64(lat.all[n*99/100].Microseconds())/1000, "hook-p99-ms")
		}
	}
	b.Run("creates/0-webhooks", func(b *testing.B) { run(b, 0, false) })
	b.Run("creates/3-webhooks", func(b *testing.B) { run(b, 3, false) })
	b.Run("latency/3-webhooks-100-creates-per-second", func(b *testing.B) { run(b, 3, true) })
}
