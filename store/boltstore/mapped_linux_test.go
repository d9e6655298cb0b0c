package boltstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/storetest"
)

// rssFileKB is this process's resident memory backed by files, which
// includes the pages of bbolt's mapping that are mapped in.
func rssFileKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status:", err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "RssFile:"); ok {
			kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Skip("no RssFile in /proc/self/status")
	return 0
}

func TestReleaseMappedPages(t *testing.T) {
	db, _ := openTest(t)
	const cases = 300
	content := strings.Repeat("建议内容", 4000) // 48 KB
	_, err := db.Write(context.Background(), store.Request{}, func(tx store.Tx) (proto.Message, error) {
		for range cases {
			id, err := tx.NewID(store.KindProposal)
			if err != nil {
				return nil, err
			}
			p := storetest.Proposal("sessions/1", fmt.Sprint(id), banliv1.ProposalState_PROPOSAL_STATE_RECEIVED, "units/1")
			p.Name, p.Content = fmt.Sprintf("proposals/%d", id), content
			tx.PutProposal(id, p, &banliv1.Event{Action: "test"})
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	readAll := func() {
		t.Helper()
		err := db.View(func(r store.Reader) error {
			for id := uint64(1); id <= cases; id++ {
				p, err := r.Proposal(id)
				if err != nil {
					return err
				}
				if p.GetContent() != content {
					return fmt.Errorf("proposal %d: content differs", id)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	readAll()
	mapped := rssFileKB(t)
	if err := db.ReleaseMappedPages(); err != nil {
		t.Fatal(err)
	}
	released := rssFileKB(t)
	// The cases alone are 14 MB; at least half must have left.
	if mapped-released < 7*1024 {
		t.Errorf("resident file pages went from %d kB to %d kB", mapped, released)
	}
	readAll() // every page reads back from the page cache
}
