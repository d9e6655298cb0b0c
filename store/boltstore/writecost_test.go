package boltstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/storetest"
)

// BenchmarkWriteCost measures what reaches the disk for each write, the
// figure issue #19 is about: bbolt pages written per commit (every page
// it dirties, of every size, and the meta page) and KiB per write, for creates and for steps on existing cases (a case rewritten,
// its index entries moved, an event appended), with the writers that
// share one commit. The store first holds BANLI_BENCH_CASES cases
// (default 3,000; 500 with -short) of a realistic size (about 1.5 KB, two
// parts with Chinese text).
func BenchmarkWriteCost(b *testing.B) {
	cases := 3000
	if testing.Short() {
		cases = 500
	}
	if n, err := strconv.Atoi(os.Getenv("BANLI_BENCH_CASES")); err == nil && n > 0 {
		cases = n
	}
	commits := &countingObserver{}
	db, err := Open(filepath.Join(b.TempDir(), "banli.db"), Options{Index: storetest.Index, Observer: commits})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var mu sync.Mutex
	ids := make([]uint64, 0, cases)
	create := func(i int) {
		id := uint64(0)
		_, err := db.Write(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
			var err error
			if id, err = tx.NewID(store.KindProposal); err != nil {
				return nil, err
			}
			p := realisticCase(i)
			p.Name = fmt.Sprintf("proposals/%d", id)
			tx.PutProposal(id, p, &banliv1.Event{Action: "CreateProposal"})
			return p, nil
		})
		if err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		ids = append(ids, id)
		mu.Unlock()
	}
	concurrently(cases, 16, create)

	step := func(i int) {
		mu.Lock()
		id := ids[rand.IntN(len(ids))]
		mu.Unlock()
		_, err := db.Write(ctx, store.Request{}, func(tx store.Tx) (proto.Message, error) {
			p, err := tx.Proposal(id)
			if err != nil {
				return nil, err
			}
			p.State = banliv1.ProposalState_PROPOSAL_STATE_CONSULTED
			p.Assignments[0].State = banliv1.AssignmentState_ASSIGNMENT_STATE_CONSULTED
			p.Assignments[0].Consultations = append(p.Assignments[0].Consultations, &banliv1.Consultation{Summary: strings.Repeat("电话沟通办理思路。", 6)})
			tx.PutProposal(id, p, &banliv1.Event{Action: "RecordConsultation"})
			return p, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	for _, w := range []struct {
		name string
		do   func(int)
	}{{"create", create}, {"step", step}} {
		for _, writers := range []int{1, 16, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", w.name, writers), func(b *testing.B) {
				commits.commits.Store(0)
				st := db.bolt.Stats()
				before := st.TxStats.GetPageAlloc()
				b.ResetTimer()
				concurrently(b.N, writers, w.do)
				b.StopTimer()
				after := db.bolt.Stats()
				// Every page a commit dirties is allocated anew (bbolt is
				// copy-on-write) and written once; the meta page is
				// written in place, one per commit.
				pageSize := float64(db.bolt.Info().PageSize)
				n := float64(commits.commits.Load())
				pages := float64(after.TxStats.GetPageAlloc()-before)/pageSize + n
				b.ReportMetric(pages*pageSize/1024/float64(b.N), "KiB/write")
				b.ReportMetric(pages/n, "pages/commit")
				b.ReportMetric(float64(b.N)/n, "writes/commit")
			})
		}
	}
	size, _ := db.Size()
	b.Logf("data file: %.1f KiB per case after the runs (%d cases)", float64(size)/1024/float64(len(ids)), len(ids))
}

// realisticCase is a case of the size `banli seed` makes: a title, a
// content of a few hundred characters, two proposers and two parts.
func realisticCase(i int) *banliv1.Proposal {
	p := storetest.Proposal("sessions/1", fmt.Sprintf("2026%05d", i), banliv1.ProposalState_PROPOSAL_STATE_ASSIGNED, "units/1", "units/2")
	p.Title = "关于加快推进数字政府建设的提案"
	p.Content = strings.Repeat("建议进一步完善政务数据共享机制，推动跨部门业务协同。", 12)
	p.Proposers = []*banliv1.Proposer{{Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "王委员"}, {Type: banliv1.ProposerType_PROPOSER_TYPE_PERSON, DisplayName: "李委员"}}
	return p
}

// concurrently runs do(0) … do(n-1) on writers goroutines.
func concurrently(n, writers int, do func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				do(int(i))
			}
		}()
	}
	wg.Wait()
}

type countingObserver struct{ commits atomic.Int64 }

func (o *countingObserver) ObserveCommit(int, time.Duration, error) { o.commits.Add(1) }
