// Package load holds the load tools: `banli seed` fills a running server
// with realistic cases, and `banli bench` drives it with a realistic mix of
// calls. Both speak to the server only through its API; so does the acting
// client they sign in with (acting.go), which the end-to-end tests use too.
package load

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/banli/banli/cmd/banli/dial"
	banliv1 "github.com/banli/banli/gen/banli/v1"
)

const (
	roleLead  = banliv1.AssignmentRole_ASSIGNMENT_ROLE_LEAD
	roleSplit = banliv1.AssignmentRole_ASSIGNMENT_ROLE_SPLIT
	roleCo    = banliv1.AssignmentRole_ASSIGNMENT_ROLE_CO_HANDLING
)

// Facts for realistic data: a city's handling units, and the topics of
// its deputies' and members' cases.
var (
	seedUnits = []string{
		"市发展改革委", "市教育局", "市科技创新局", "市工业和信息化局", "市公安局", "市民政局", "市司法局", "市财政局",
		"市人力资源保障局", "市规划和自然资源局", "市生态环境局", "市住房建设局", "市交通运输局", "市水务局", "市商务局",
		"市文化广电旅游体育局", "市卫生健康委", "市退役军人事务局", "市应急管理局", "市审计局", "市国资委", "市市场监管局",
		"市统计局", "市医疗保障局", "市城市管理和综合执法局", "市政务服务数据管理局", "市地方金融监管局", "市信访局",
		"市气象局", "市消防救援支队", "市残联", "市妇联", "团市委", "市总工会", "市科协", "市侨务办", "市口岸办",
		"市前海管理局", "市机关事务管理局", "市港务管理局", "市林业局", "市农业农村局", "市体育中心", "市图书馆",
		"市档案馆", "市社保基金中心", "市住房公积金中心", "市轨道交通公司", "市地铁集团", "市水务集团", "市燃气集团",
		"市能源集团", "市巴士集团", "市人才集团", "市投资控股", "市建筑工务署", "市交通工程中心", "市疾控中心",
		"市急救中心", "市血液中心",
	}
	seedTopics = []string{"数字政府", "智慧城市", "信息安全", "教育", "医疗卫生", "交通出行", "住房保障", "生态环境",
		"养老服务", "营商环境", "科技创新", "文化旅游", "食品安全", "社区治理", "就业创业", "乡村振兴"}
	seedAsks = []string{"加快推进", "进一步完善", "加强", "优化", "统筹推进", "规范", "支持", "提升"}
)

// SeedCommand is `banli seed`.
func SeedCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli seed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := dial.AddFlags(fs)
	cases := fs.Int("cases", 10000, "how many cases to create")
	clients := fs.Int("clients", 64, "concurrent clients")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: banli seed [-addr host:port] [-cases N] [-clients N]")
		return 2
	}
	start := time.Now()
	n, err := Seed(context.Background(), client, *cases, *clients, func(done int) {
		fmt.Fprintf(stderr, "seeded %d of %d cases (%.0f/s)\n", done, *cases, float64(done)/time.Since(start).Seconds())
	})
	if err != nil {
		fmt.Fprintln(stderr, "banli seed:", err)
		return 1
	}
	fmt.Fprintf(stdout, "seeded %d cases in %s\n", n, time.Since(start).Round(time.Millisecond))
	return 0
}

// seed creates sessions for 2019-2024 (NPC and CPPCC), the units, and then
// cases: about 70% with a lead unit only, 15% with a lead and one to three
// co-handling units, 15% split between two or three units. Cases of past
// years are carried through to rated; this year's stop along the way.
func Seed(ctx context.Context, client *dial.Flags, cases, clients int, progress func(int)) (int, error) {
	conn, _, err := DialActing(client, "load")
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	sessions := banliv1.NewSessionServiceClient(conn)
	unitsClient := banliv1.NewUnitServiceClient(conn)
	proposals := banliv1.NewProposalServiceClient(conn)

	var sess []*banliv1.Session
	for year := int32(2019); year <= 2024; year++ {
		for _, body := range []banliv1.Body{banliv1.Body_BODY_NPC, banliv1.Body_BODY_CPPCC} {
			name := fmt.Sprintf("市人大%d年会议", year)
			if body == banliv1.Body_BODY_CPPCC {
				name = fmt.Sprintf("市政协%d年会议", year)
			}
			s, err := sessions.CreateSession(ctx, &banliv1.CreateSessionRequest{Session: &banliv1.Session{
				Body: body, Level: banliv1.Level_LEVEL_CITY, Term: 7, Meeting: year - 2018, Year: year, DisplayName: name}})
			if err != nil {
				return 0, err
			}
			sess = append(sess, s)
		}
	}
	var units []string
	for _, name := range seedUnits {
		u, err := unitsClient.CreateUnit(ctx, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: name}})
		if err != nil {
			return 0, err
		}
		units = append(units, u.GetName())
	}

	var next, done atomic.Int64
	var firstErr error
	var errOnce sync.Once
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for i := next.Add(1); i <= int64(cases); i = next.Add(1) {
				if err := seedCase(ctx, proposals, rng, sess[int(i)%len(sess)], units, i); err != nil {
					errOnce.Do(func() { firstErr = err })
					return
				}
				if n := done.Add(1); progress != nil && n%10000 == 0 {
					progress(int(n))
				}
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), firstErr
}

func seedCase(ctx context.Context, c banliv1.ProposalServiceClient, rng *rand.Rand, s *banliv1.Session, units []string, i int64) error {
	topic := seedTopics[rng.IntN(len(seedTopics))]
	kind, noun := kindOf(s), nounOf(s)
	p, err := c.CreateProposal(ctx, &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
		Session: s.GetName(), Kind: kind, Number: fmt.Sprintf("%d%06d", s.GetYear(), i), Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_DURING_MEETING,
		Title:   fmt.Sprintf("关于%s%s工作的%s", seedAsks[rng.IntN(len(seedAsks))], topic, noun),
		Content: "一、基本情况……\n二、存在问题……\n三、具体建议……", Topics: []string{topic},
		Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "委员" + fmt.Sprint(i%997)}},
	}})
	if err != nil {
		return err
	}
	perm := rng.Perm(len(units))
	var parts []*banliv1.UnitAssignment
	switch r := rng.IntN(100); {
	case r < 70:
		parts = []*banliv1.UnitAssignment{{Unit: units[perm[0]], Role: roleLead}}
	case r < 85:
		parts = []*banliv1.UnitAssignment{{Unit: units[perm[0]], Role: roleLead}}
		for k := range 1 + rng.IntN(3) {
			parts = append(parts, &banliv1.UnitAssignment{Unit: units[perm[1+k]], Role: roleCo})
		}
	default:
		for k := range 2 + rng.IntN(2) {
			parts = append(parts, &banliv1.UnitAssignment{Unit: units[perm[k]], Role: roleSplit})
		}
	}
	if p, err = c.AssignProposal(ctx, &banliv1.AssignProposalRequest{Name: p.GetName(), Assignments: parts}); err != nil {
		return err
	}
	// This year's cases stop at a random step; past years' are rated.
	depth := 6
	if s.GetYear() == 2024 {
		depth = rng.IntN(6)
	}
	return advance(ctx, c, p, depth)
}

// advance takes every part of a case through up to depth steps: sign,
// consult, opinions, reply, rate.
func advance(ctx context.Context, c banliv1.ProposalServiceClient, p *banliv1.Proposal, depth int) error {
	var co, replying []string
	for _, a := range p.GetAssignments() {
		if a.GetRole() == roleCo {
			co = append(co, a.GetName())
		} else {
			replying = append(replying, a.GetName())
		}
	}
	all := append(slices.Clone(replying), co...)
	steps := []func(a string) error{
		func(a string) error {
			_, err := c.SignAssignment(ctx, &banliv1.SignAssignmentRequest{Name: a})
			return err
		},
		func(a string) error {
			_, err := c.RecordConsultation(ctx, &banliv1.RecordConsultationRequest{Name: a, Consultation: &banliv1.Consultation{
				Phase: banliv1.ConsultationPhase_CONSULTATION_PHASE_BEFORE, Channel: banliv1.ConsultationChannel_CONSULTATION_CHANNEL_VISIT, Summary: "面商"}})
			return err
		},
	}
	for d, step := range steps {
		if d >= depth {
			return nil
		}
		for _, a := range all {
			if err := step(a); err != nil {
				return err
			}
		}
	}
	if depth < 3 {
		return nil
	}
	for _, a := range co {
		if _, err := c.SubmitOpinion(ctx, &banliv1.SubmitOpinionRequest{Name: a, Opinion: &banliv1.Opinion{Text: "会办意见", Signer: "副局长"}}); err != nil {
			return err
		}
	}
	if depth < 4 {
		return nil
	}
	for _, a := range replying {
		if _, err := c.SubmitReply(ctx, ReplyRequest(a, banliv1.ReplyCategory_REPLY_CATEGORY_A)); err != nil {
			return err
		}
	}
	if depth < 5 {
		return nil
	}
	for _, a := range replying {
		if _, err := c.RateReply(ctx, &banliv1.RateReplyRequest{Name: a + "/replies/1", ProposerId: 1, Satisfaction: banliv1.Satisfaction_SATISFACTION_SATISFIED}); err != nil {
			return err
		}
	}
	return nil
}

func ReplyRequest(assignment string, category banliv1.ReplyCategory) *banliv1.SubmitReplyRequest {
	return &banliv1.SubmitReplyRequest{Name: assignment, Reply: &banliv1.Reply{
		Category: category, Text: "一、关于……\n二、关于……", DocumentNumber: "函〔2021〕12号", Signer: "张局长",
		ContactPerson: "李明", ContactPhone: "0755-88000000", DisclosureIntent: banliv1.DisclosureIntent_DISCLOSURE_INTENT_FULL,
	}}
}

// caller makes one kind of call over one transport.
type caller interface {
	call(ctx context.Context, method string, req, resp proto.Message) error
}

type grpcCaller struct{ conn *grpc.ClientConn }

func (g grpcCaller) call(ctx context.Context, method string, req, resp proto.Message) error {
	return g.conn.Invoke(ctx, method, req, resp)
}

// restCaller sends the same requests as JSON to the gateway's routes.
type restCaller struct {
	base   string
	client *http.Client
	acting *ActingClient
}

func (r restCaller) call(ctx context.Context, method string, req, resp proto.Message) error {
	verb, path, body := restRoute(method, req)
	var reader io.Reader
	if body != nil {
		b, err := protojson.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(b)
	}
	httpReq, err := http.NewRequestWithContext(ctx, verb, r.base+path, reader)
	if err != nil {
		return err
	}
	httpReq.Header.Set("Content-Type", "application/json")
	key, err := r.acting.KeyFor(ctx, method, req)
	if err != nil {
		return err
	}
	httpReq.Header.Set("Authorization", "Bearer "+key)
	res, err := r.client.Do(httpReq)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	buf := answerBuffers.Get().(*bytes.Buffer)
	defer answerBuffers.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(res.Body); err != nil {
		return err
	}
	raw := buf.Bytes()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: HTTP %d: %s", verb, path, res.StatusCode, raw)
	}
	if _, skip := resp.(*emptypb.Empty); skip {
		return nil // an answer the mix does not use (see unused)
	}
	if err := protojson.Unmarshal(raw, resp); err != nil {
		return err
	}
	if p, ok := resp.(*banliv1.Proposal); ok {
		r.acting.learn(p)
	}
	return nil
}

// answerBuffers hold answers while they are read, so that reading a page
// of cases does not grow a new buffer each time.
var answerBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// restRoute is the REST form of the calls the load tool makes.
func restRoute(method string, req proto.Message) (verb, path string, body proto.Message) {
	switch r := req.(type) {
	case *banliv1.CreateProposalRequest:
		return "POST", "/v1/proposals", r.GetProposal()
	case *banliv1.GetProposalRequest:
		return "GET", "/v1/" + r.GetName(), nil
	case *banliv1.ListProposalsRequest:
		return "GET", fmt.Sprintf("/v1/proposals?unit=%s&state=%s&pageSize=%d", r.GetUnit(), r.GetState(), r.GetPageSize()), nil
	case *banliv1.GetStatisticsRequest:
		return "GET", fmt.Sprintf("/v1/statistics?unit=%s&year=%d", r.GetUnit(), r.GetYear()), nil
	case *banliv1.AssignProposalRequest:
		return "POST", "/v1/" + r.GetName() + ":assign", &banliv1.AssignProposalRequest{Assignments: r.GetAssignments()}
	case *banliv1.SignAssignmentRequest:
		return "POST", "/v1/" + r.GetName() + ":sign", &banliv1.SignAssignmentRequest{}
	}
	panic("no REST route for " + method)
}

// benchCommand is `banli bench`.
func BenchCommand(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("banli bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := dial.AddFlags(fs)
	httpAddr := fs.String("http", dial.EnvOr("BANLI_HTTP_ADDR", "127.0.0.1:8080"), "the server's REST address")
	transport := fs.String("transport", "grpc", "grpc or rest")
	clients := fs.Int("clients", 64, "concurrent clients")
	duration := fs.Duration("duration", 30*time.Second, "how long to run")
	only := fs.String("only", "", "run one kind of call only: get, list, stats or create")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || (*transport != "grpc" && *transport != "rest") {
		fmt.Fprintln(stderr, "usage: banli bench [-addr host:port] [-http host:port] [-transport grpc|rest] [-clients N] [-duration D]")
		return 2
	}
	report, err := RunBench(context.Background(), client, *httpAddr, *transport, *clients, *duration, *only)
	if err != nil {
		fmt.Fprintln(stderr, "banli bench:", err)
		return 1
	}
	fmt.Fprint(stdout, report)
	return 0
}

// BenchResult is one run of the mix.
type BenchResult struct {
	Calls   int64
	Errors  int64
	Elapsed time.Duration
	// Latencies are each call's, by kind of call ("create", "get" …).
	Latencies map[string][]time.Duration
}

func (r *BenchResult) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d calls in %s: %.0f calls/s, %d errors\n", r.Calls, r.Elapsed.Round(time.Millisecond), float64(r.Calls)/r.Elapsed.Seconds(), r.Errors)
	fmt.Fprintf(&b, "%-10s %8s %9s %9s %9s\n", "call", "count", "p50 ms", "p95 ms", "p99 ms")
	var names []string
	for name := range r.Latencies {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range append(names, "all") {
		l := r.Latencies[name]
		if name == "all" {
			for _, n := range names {
				l = append(l, r.Latencies[n]...)
			}
		}
		slices.Sort(l)
		q := func(p float64) float64 { return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000 }
		fmt.Fprintf(&b, "%-10s %8d %9.3f %9.3f %9.3f\n", name, len(l), q(0.5), q(0.95), q(0.99))
	}
	return b.String()
}

// runBench runs the mix: of every 100 calls, 10 create a case (and 10
// assign it), 10 sign a part, 40 read a case, 20 list a unit's cases in a
// state, 10 read a unit's statistics.
func RunBench(ctx context.Context, client *dial.Flags, httpAddr, transport string, clients int, duration time.Duration, only string) (*BenchResult, error) {
	pick := map[string][2]int{"create": {0, 10}, "get": {20, 60}, "list": {60, 80}, "stats": {80, 100}}[only]
	conn, acting, err := DialActing(client, "load")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	var c caller = grpcCaller{conn}
	if transport == "rest" {
		c = restCaller{base: "http://" + httpAddr, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}, acting: acting}
	}
	// What the mix reads: the first session, units and cases there are.
	g := grpcCaller{conn}
	sess := &banliv1.ListSessionsResponse{}
	if err := g.call(ctx, "/banli.v1.SessionService/ListSessions", &banliv1.ListSessionsRequest{PageSize: 1000}, sess); err != nil {
		return nil, err
	}
	units := &banliv1.ListUnitsResponse{}
	if err := g.call(ctx, "/banli.v1.UnitService/ListUnits", &banliv1.ListUnitsRequest{PageSize: 1000}, units); err != nil {
		return nil, err
	}
	if len(sess.GetSessions()) == 0 || len(units.GetUnits()) == 0 {
		return nil, errors.New("the server has no sessions or units: run banli seed first")
	}
	target := sess.GetSessions()[len(sess.GetSessions())-1]
	cases := &banliv1.ListProposalsResponse{}
	if err := g.call(ctx, "/banli.v1.ProposalService/ListProposals", &banliv1.ListProposalsRequest{PageSize: 1000}, cases); err != nil {
		return nil, err
	}
	var unitNames []string
	for _, u := range units.GetUnits() {
		unitNames = append(unitNames, u.GetName())
	}
	if err := acting.prepare(ctx, unitNames); err != nil {
		return nil, err
	}
	// The reads' answers are received whole but not decoded: the mix does
	// not use them, and decoding them here, on the server's own cores,
	// would measure this client rather than the server. Creates and
	// assignments are decoded, for the names the next steps need.
	unused := func() proto.Message { return &emptypb.Empty{} }

	res := &BenchResult{Latencies: map[string][]time.Duration{}}
	var mu sync.Mutex
	var seq atomic.Int64
	seq.Store(time.Now().UnixNano() % 1e9 * 1000)
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			local := map[string][]time.Duration{}
			var calls, errs int64
			var mine []string // assignments this client made, to sign
			timed := func(name, method string, req, resp proto.Message) error {
				t0 := time.Now()
				err := c.call(ctx, method, req, resp)
				local[name] = append(local[name], time.Since(t0))
				calls++
				if err != nil {
					errs++
				}
				return err
			}
			for time.Now().Before(deadline) {
				unit := units.GetUnits()[rng.IntN(len(units.GetUnits()))].GetName()
				r := rng.IntN(100)
				if only != "" {
					r = pick[0] + rng.IntN(pick[1]-pick[0])
				}
				switch {
				case r < 10:
					p := &banliv1.Proposal{}
					n := seq.Add(1)
					req := &banliv1.CreateProposalRequest{Proposal: &banliv1.Proposal{
						Session: target.GetName(), Kind: kindOf(target), Number: fmt.Sprintf("B%d", n),
						Period: banliv1.SubmissionPeriod_SUBMISSION_PERIOD_BETWEEN_MEETINGS, Title: "关于优化营商环境的" + nounOf(target), Content: "建议……",
						Proposers: []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "委员"}},
					}}
					if timed("create", "/banli.v1.ProposalService/CreateProposal", req, p) != nil {
						continue
					}
					if timed("assign", "/banli.v1.ProposalService/AssignProposal", &banliv1.AssignProposalRequest{
						Name: p.GetName(), Assignments: []*banliv1.UnitAssignment{{Unit: unit, Role: roleLead}}}, p) == nil {
						mine = append(mine, p.GetAssignments()[0].GetName())
					}
				case r < 20:
					if len(mine) > 0 {
						a := mine[len(mine)-1]
						mine = mine[:len(mine)-1]
						timed("sign", "/banli.v1.ProposalService/SignAssignment", &banliv1.SignAssignmentRequest{Name: a}, unused())
					}
				case r < 60:
					if n := len(cases.GetProposals()); n > 0 {
						timed("get", "/banli.v1.ProposalService/GetProposal", &banliv1.GetProposalRequest{Name: cases.GetProposals()[rng.IntN(n)].GetName()}, unused())
					}
				case r < 80:
					timed("list", "/banli.v1.ProposalService/ListProposals", &banliv1.ListProposalsRequest{
						Unit: unit, State: banliv1.ProposalState_PROPOSAL_STATE_RATED, PageSize: 50}, unused())
				default:
					timed("stats", "/banli.v1.StatisticsService/GetStatistics", &banliv1.GetStatisticsRequest{Unit: unit, Year: target.GetYear()}, unused())
				}
			}
			mu.Lock()
			defer mu.Unlock()
			res.Calls += calls
			res.Errors += errs
			for k, v := range local {
				res.Latencies[k] = append(res.Latencies[k], v...)
			}
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res, nil
}

func kindOf(s *banliv1.Session) banliv1.ProposalKind { return s.GetCaseKind() }

// nounOf is what a session's cases are called in a title.
func nounOf(s *banliv1.Session) string {
	if kindOf(s) == banliv1.ProposalKind_PROPOSAL_KIND_NPC_SUGGESTION {
		return "建议"
	}
	return "提案"
}
