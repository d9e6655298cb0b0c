package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	banliv1 "github.com/banli/banli/gen/banli/v1"
	"github.com/banli/banli/store"
	"github.com/banli/banli/store/boltstore"
)

// TestSIGTERMFinishesInFlightCalls runs the real binary, configured through
// BANLI_* variables, sends SIGTERM while clients are writing, and checks
// that it exits cleanly and that every acknowledged write is on disk.
func TestSIGTERMFinishesInFlightCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	data := filepath.Join(t.TempDir(), "data", "banli.db")
	p := startProcess(t, data, "BANLI_LOG_FORMAT=text")
	cmd := p.cmd

	conn := p.dial(t)
	defer conn.Close()
	units := banliv1.NewUnitServiceClient(conn)

	// Writers run until the server goes away; each records what was
	// acknowledged.
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil && i < 5000; i++ {
				u, err := units.CreateUnit(ctx, &banliv1.CreateUnitRequest{Unit: &banliv1.Unit{DisplayName: fmt.Sprintf("单位 %d-%d", w, i)}})
				if err != nil {
					if c := status.Code(err); c != codes.Unavailable && c != codes.Canceled {
						t.Errorf("during shutdown: %v", err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, u.GetName())
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(5 * time.Millisecond) // polling for progress, not waiting for a guess
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// The log is read to its end before Wait, which closes the pipe and
	// would drop what the reader has not taken yet: the last lines.
	<-p.logDone
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	wg.Wait()
	if last := p.log[len(p.log)-1]; !regexp.MustCompile(`msg="banli stopped"`).MatchString(last) {
		t.Errorf("last log line %q", last)
	}
	// The log says where the first admin key is, never the key.
	key := readAdminKey(t, data)
	said := false
	for _, line := range p.log {
		if strings.Contains(line, key[len(key)-20:]) {
			t.Errorf("the log shows the admin key: %s", line)
		}
		said = said || strings.Contains(line, "admin.key")
	}
	if !said {
		t.Error("the log does not say where the admin key is")
	}

	db, err := openDataFile(data, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(r store.Reader) error {
		for _, name := range acked {
			var id uint64
			fmt.Sscanf(name, "units/%d", &id)
			if _, err := r.Unit(id); err != nil {
				return fmt.Errorf("acknowledged %s is lost: %w", name, err)
			}
		}
		return r.CheckIndexes()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d writes acknowledged before shutdown, all on disk", len(acked))
}
